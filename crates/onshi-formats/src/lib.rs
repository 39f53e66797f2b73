//! File formats onshi reads and writes at its edges.
//!
//! Each module owns one external format: its columns or elements, the parser (which never
//! panics, whatever the input) and the writer. Formats carry no business rules beyond what the
//! format itself promises (check digits, code tables, dates that exist); the services that
//! consume them decide what the data means.
//!
//! - [`registry_csv`]: the insurers' bulk-import files (qualifications and cards), see
//!   `docs/formats/registry-csv.md`.
//! - [`uke`]: the monthly claim files (レセプト電算処理システム, UKE), see `docs/formats/uke.md`.

pub mod registry_csv;
pub mod terminal_xml;
pub mod uke;
