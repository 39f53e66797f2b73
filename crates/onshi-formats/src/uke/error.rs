//! Errors of the UKE reader and writer. Each names the line (record number in the file), the
//! record id, the field (number and layout name) and the rule broken.

use std::fmt;

/// The rule a line, record or field breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Bytes that are not Windows-31J.
    NotShiftJis,
    /// Windows-31J, but written in a form onshi would not write back identically (one of the
    /// duplicate codes of CP932, e.g. an NEC-selected IBM extension).
    NonCanonicalEncoding,
    /// A character Windows-31J cannot carry (writer), or one that would read back as another
    /// character (U+00A5 `¥`, U+203E `‾`).
    Unencodable(char),
    /// A record not ended by CR LF.
    LineEnding,
    /// A line longer than the reader accepts.
    LineTooLong {
        max: usize,
    },
    /// An empty line.
    EmptyLine,
    /// Bytes after the end-of-file mark 0x1A.
    DataAfterEof,
    /// A record id that is not two upper-case letters or digits.
    BadRecordId,
    /// An unknown record written with the id of a known one.
    ReservedRecordId,
    /// A record with the wrong number of fields.
    FieldCount {
        expected: usize,
        found: usize,
    },
    /// A field wider than the layout allows (Shift_JIS bytes).
    TooWide {
        max: usize,
        found: usize,
    },
    /// A fixed-width field of another width (Shift_JIS bytes).
    TooNarrow {
        width: usize,
        found: usize,
    },
    /// A required field left empty.
    Required,
    NotDigits,
    NotDecimal,
    NotAscii,
    NotFullWidth,
    BadDate,
    BadYearMonth,
    BadInsurerNumber,
    /// `,` `"` CR LF or another control character inside a field.
    ForbiddenChar(char),
    /// Records in an order the file layout does not allow.
    Order(String),
    /// A GO total that does not match the file's claims.
    Total {
        expected: u64,
        found: u64,
    },
    /// The underlying reader or writer failed.
    Io(String),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::NotShiftJis => write!(f, "not Windows-31J (Shift_JIS) text"),
            Rule::NonCanonicalEncoding => write!(
                f,
                "a duplicate CP932 code (e.g. an NEC-selected IBM extension) that would not be written back identically"
            ),
            Rule::Unencodable(c) => write!(
                f,
                "the character {c:?} (U+{:04X}) cannot be carried by Windows-31J",
                u32::from(*c)
            ),
            Rule::LineEnding => write!(f, "every record must end with CR LF"),
            Rule::LineTooLong { max } => write!(f, "line longer than {max} bytes"),
            Rule::EmptyLine => write!(f, "empty line"),
            Rule::DataAfterEof => write!(f, "data after the end-of-file mark 0x1A"),
            Rule::BadRecordId => write!(f, "record id must be two upper-case letters or digits"),
            Rule::ReservedRecordId => {
                write!(f, "an unknown record may not use the id of a known record")
            }
            Rule::FieldCount { expected, found } => {
                write!(f, "{found} fields, the layout has {expected}")
            }
            Rule::TooWide { max, found } => {
                write!(f, "{found} bytes in Shift_JIS, at most {max} allowed")
            }
            Rule::TooNarrow { width, found } => {
                write!(f, "{found} bytes in Shift_JIS, the layout fixes {width}")
            }
            Rule::Required => write!(f, "required, but empty"),
            Rule::NotDigits => write!(f, "digits 0-9 only"),
            Rule::NotDecimal => write!(f, "digits with at most one '.' only"),
            Rule::NotAscii => write!(f, "half-width letters and digits only"),
            Rule::NotFullWidth => write!(f, "full-width (全角) characters only"),
            Rule::BadDate => write!(f, "not a date YYYYMMDD that exists"),
            Rule::BadYearMonth => write!(f, "not a month YYYYMM that exists"),
            Rule::BadInsurerNumber => write!(
                f,
                "8 digits, or a 6-digit 国保 number right-justified with two spaces"
            ),
            Rule::ForbiddenChar(c) => write!(
                f,
                "the character {c:?} may not appear in a field (no ',' '\"' CR LF or control characters)"
            ),
            Rule::Order(what) => write!(f, "record order: {what}"),
            Rule::Total { expected, found } => {
                write!(f, "{found} written, the claims of the file make {expected}")
            }
            Rule::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

/// The field an error is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRef {
    /// 1-based position in the record.
    pub number: usize,
    pub ja: String,
    pub en: String,
}

/// One problem in a UKE file (or in a record given to the writer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UkeError {
    /// 1-based line (record) number in the file.
    pub line: u64,
    /// The record id (`"HO"`), empty when the line has none.
    pub record: String,
    pub field: Option<FieldRef>,
    pub rule: Rule,
}

impl UkeError {
    pub(crate) fn line(line: u64, record: &str, rule: Rule) -> Self {
        UkeError {
            line,
            record: record.to_owned(),
            field: None,
            rule,
        }
    }
}

impl fmt::Display for UkeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if !self.record.is_empty() {
            write!(f, ", record {}", self.record)?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field {} {} ({})", field.number, field.ja, field.en)?;
        }
        write!(f, ": {}", self.rule)
    }
}

impl std::error::Error for UkeError {}

/// Every problem found in one record, one claim or one file (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UkeErrors(pub Vec<UkeError>);

impl UkeErrors {
    pub fn iter(&self) -> impl Iterator<Item = &UkeError> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<UkeError> for UkeErrors {
    fn from(e: UkeError) -> Self {
        UkeErrors(vec![e])
    }
}

impl fmt::Display for UkeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UkeErrors {}

/// Why the writer refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UkeWriteError {
    /// A value that does not fit the layout; nothing of that record was written.
    #[error("{0}")]
    Invalid(UkeErrors),
    #[error("I/O error writing the UKE file: {0}")]
    Io(#[from] std::io::Error),
}
