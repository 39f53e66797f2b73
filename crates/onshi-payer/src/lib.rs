//! The payer (審査支払機関: 社会保険診療報酬支払基金 and 国民健康保険団体連合会).
//!
//! The life of a claim through the payer (docs/payer.md):
//! 1. **intake** — a facility submits a month's UKE file; it is validated whole and refused
//!    whole with every reason, or accepted whole; the same file twice is one submission;
//! 2. **review** (R21, [`review`]) — 振替 / 分割 against the central's registry;
//! 3. **identification** (R22, [`identify`]) — 不詳 claims and lost claims 振替 could not
//!    settle: one candidate → assigned with evidence; several → staff worklist; none → pool;
//! 4. **按分** (R22, [`apportion`]) — each facility's pool shared among the payer's insurers by
//!    their payments to it, exact to the yen;
//! 5. **settlement** — per insurer and facility; a statement per facility
//!    (docs/formats/settlement.md), the facility's hook (which purges settled 申立書, R27).
//!
//! Module boundaries: `model`, `rules`, `review`, `identify` and `apportion` are pure (no I/O,
//! no clock); `registry` is the payer's read-only role over the central's registry; `store` is
//! the payer's own database behind [`store::PayerStore`] (SQLite there, PostgreSQL in
//! `store_pg`); `service` ties them together; `api` and `screens` are the HTTP side.

pub mod api;
pub mod apportion;
pub mod folder;
pub mod form_keys;
pub mod identify;
pub mod intake;
pub mod model;
pub mod registry;
pub mod review;
pub mod rules;
pub mod screens;
pub mod service;
pub mod signing;
pub mod store;
pub mod store_pg;
pub mod synth;
pub mod uke_intake;
