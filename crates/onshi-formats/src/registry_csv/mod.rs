//! The insurers' bulk-import files for the registry (`docs/formats/registry-csv.md`).
//!
//! Two files, both UTF-8 (a BOM is tolerated), one header row, comma-separated, RFC 4180
//! quoting, LF or CRLF line ends:
//!
//! - the **qualifications** file ([`QUALIFICATION_COLUMNS`], [`read_qualifications`]): one row
//!   per registered qualification (資格) of a person, a person's history being several rows;
//! - the **cards** file ([`CARD_COLUMNS`], [`read_cards`]): one row per issued My Number card
//!   with the holder's facts as printed on it.
//!
//! Reading streams row by row (memory does not grow with the file) and never panics. Every
//! refusal is a [`RowError`] naming the file, the physical line, the column and a stable rule id
//! from [`rule`]; a row reports every wrong field it has, not just the first.
//!
//! The writers ([`QualificationCsvWriter`], [`CardCsvWriter`]) take plain string rows
//! ([`QualificationCsvRow`], [`CardCsvRow`]) so that the synthetic-population generator and the
//! tests share this one definition of the columns.

mod cards;
mod fields;
mod qualifications;
mod source;

#[cfg(test)]
mod tests;

pub use cards::{
    CARD_COLUMNS, CARD_COLUMNS_REQUIRED, CardCsvRow, CardCsvWriter, CardParser, CardRecord,
    CardRows, CardStatusCode, read_cards,
};
pub use qualifications::{
    QUALIFICATION_COLUMNS, QUALIFICATION_COLUMNS_REQUIRED, QualificationCsvRow,
    QualificationCsvWriter, QualificationParser, QualificationRecord, QualificationRows,
    read_qualifications,
};
pub use source::{UnparsedRow, UnparsedRows};

/// Stable ids of the rules a row can break; [`RowError::rule`] is one of these. Tools and tests
/// match on them, so they never change meaning.
pub mod rule {
    /// The header row is not exactly the expected column list.
    pub const HEADER: &str = "header";
    /// Not a well-formed row: wrong number of fields, a line break inside a field (typically an
    /// unbalanced quote), a record too long to be a row.
    pub const MALFORMED: &str = "malformed";
    /// A field is not valid UTF-8.
    pub const ENCODING: &str = "encoding";
    /// Reading the file failed.
    pub const IO: &str = "io";
    /// A required field is empty (or a field required by another one, e.g. `reason_of_loss`
    /// once `disqualification_date` is set).
    pub const REQUIRED: &str = "required";
    /// A field that is allowed only together with another one (`reason_of_loss` without a
    /// `disqualification_date`, status `pin_locked` on a card without a PIN).
    pub const ONLY_WITH: &str = "only_with";
    /// Fields that come as a group (the 高齢受給者 elderly_* fields) are partly filled.
    pub const ALL_OR_NOTHING: &str = "all_or_nothing";
    /// Wrong shape: length, characters, digits where digits are expected.
    pub const FORMAT: &str = "format";
    /// The check digit of a 保険者番号 or 個人番号 does not match.
    pub const CHECK_DIGIT: &str = "check_digit";
    /// Eight digits that are not a calendar day (20230229), or a day before 明治 (1868).
    pub const IMPOSSIBLE_DATE: &str = "impossible_date";
    /// Not a code of the column's code table (OQSCD…).
    pub const UNKNOWN_CODE: &str = "unknown_code";
    /// Dates in the wrong order (qualification before birth, loss not after qualification …).
    pub const ORDER: &str = "order";
    /// `name_kana` is not a kana name.
    pub const KANA: &str = "kana";
    /// A 負担割合 other than 10, 20 or 30 percent.
    pub const RATIO: &str = "ratio";

    /// Every rule id, for documentation and exhaustive tests.
    pub const ALL: &[&str] = &[
        HEADER,
        MALFORMED,
        ENCODING,
        IO,
        REQUIRED,
        ONLY_WITH,
        ALL_OR_NOTHING,
        FORMAT,
        CHECK_DIGIT,
        IMPOSSIBLE_DATE,
        UNKNOWN_CODE,
        ORDER,
        KANA,
        RATIO,
    ];
}

/// One refusal: which file, physical line (header = line 1), column and rule.
///
/// Displayed as `"{file}:{line}: column {column}: {message}"`. Messages never contain a
/// 個人番号 or a PIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: column {column}: {message}")]
pub struct RowError {
    pub file: String,
    pub line: u64,
    /// The column's name as in the header (or `"(row)"` where the whole row is malformed).
    pub column: String,
    /// One of [`rule`].
    pub rule: &'static str,
    pub message: String,
}
