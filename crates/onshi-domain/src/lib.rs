//! Pure domain of onshi: numbers, dates, kana, cost share, the qualification model and
//! the code tables of the OQS interface.
//!
//! Invariants at this crate's boundary:
//! - no I/O and no clock: every rule that depends on "today" takes the date as an argument;
//! - a value of a type defined here is valid (parse, don't validate): the only way to get an
//!   `InsurerNumber`, `MyNumber`, `WarekiDate` … is through its `parse` constructor;
//! - rules of the notices carry their R-number (see SPEC.md) in the doc comment where they live.

pub mod card;
pub mod claims;
pub mod codes;
pub mod cost_share;
pub mod desk;
pub mod kana;
pub mod medinfo;
pub mod numbers;
pub mod qualification;
pub mod wareki;

pub use chrono::NaiveDate;
