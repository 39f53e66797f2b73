//! The fields of one row and the parsers shared by both files.
//!
//! [`Fields`] borrows the row's fields as `&str` (no copy), collects every fault of the row and
//! remembers which fields were unusable (bad UTF-8, a line break) so that later checks on them
//! stay silent instead of piling up follow-on errors.

use chrono::{Datelike, NaiveDate};
use csv::ByteRecord;
use onshi_domain::kana;
use onshi_domain::numbers::{InsurerNumber, MyNumber, NumberError};
use onshi_domain::wareki::{self, DateError};

use onshi_domain::codes::CodeError;

use super::source::quote;
use super::{RowError, rule};

/// Why a field was refused: a rule id and the message.
pub(crate) struct Fault {
    pub rule: &'static str,
    pub message: String,
}

impl Fault {
    pub(crate) fn new(rule: &'static str, message: impl Into<String>) -> Self {
        Fault {
            rule,
            message: message.into(),
        }
    }
}

/// An optional field: empty, present but refused (already reported), or a value.
pub(crate) enum Opt<T> {
    Empty,
    Invalid,
    Value(T),
}

impl<T> Opt<T> {
    pub(crate) fn value(self) -> Option<T> {
        match self {
            Opt::Value(v) => Some(v),
            _ => None,
        }
    }
    pub(crate) fn as_ref(&self) -> Opt<&T> {
        match self {
            Opt::Empty => Opt::Empty,
            Opt::Invalid => Opt::Invalid,
            Opt::Value(v) => Opt::Value(v),
        }
    }
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Opt::Empty)
    }
}

/// The fields of one row, with the faults found so far.
pub(crate) struct Fields<'a, const N: usize> {
    file: &'a str,
    line: u64,
    columns: &'static [&'static str; N],
    values: [&'a str; N],
    /// Bit i set: field i could not be read (already reported).
    unusable: u64,
    errors: Vec<RowError>,
}

impl<'a, const N: usize> Fields<'a, N> {
    /// Splits a record of a file with `width` columns (its header's; fewer than `N` for a
    /// file of an earlier version, whose missing columns read as empty) into its fields; a
    /// wrong field count is one error for the whole row.
    pub(crate) fn split(
        file: &'a str,
        line: u64,
        columns: &'static [&'static str; N],
        width: usize,
        record: &'a ByteRecord,
    ) -> Result<Self, Vec<RowError>> {
        if record.len() != width {
            let column = if record.len() < width {
                columns[record.len()]
            } else {
                "(row)"
            };
            return Err(vec![RowError {
                file: file.to_string(),
                line,
                column: column.to_string(),
                rule: rule::MALFORMED,
                message: format!(
                    "the row has {} fields, the header {width} (a missing or extra comma, or an unbalanced quote?)",
                    record.len()
                ),
            }]);
        }
        let mut f = Fields {
            file,
            line,
            columns,
            values: [""; N],
            unusable: 0,
            errors: Vec::new(),
        };
        // Validate the record's UTF-8 once; fields are then slices of it (their bounds are
        // ASCII commas and quotes, so always on character boundaries).
        let whole = std::str::from_utf8(record.as_slice()).ok();
        for (i, bytes) in record.iter().enumerate() {
            let text = match whole {
                Some(w) => {
                    let start = (bytes.as_ptr() as usize).wrapping_sub(w.as_ptr() as usize);
                    w.get(start..start + bytes.len())
                        .or_else(|| std::str::from_utf8(bytes).ok())
                }
                None => std::str::from_utf8(bytes).ok(),
            };
            match text {
                Some(s) if s.bytes().any(|b| b == b'\n' || b == b'\r') => {
                    f.unusable |= 1 << i;
                    f.fault(
                        i,
                        Fault::new(
                            rule::MALFORMED,
                            "a line break inside a field (an unbalanced quote?)",
                        ),
                    );
                }
                Some(s) => f.values[i] = trim(s),
                None => {
                    f.unusable |= 1 << i;
                    f.fault(i, Fault::new(rule::ENCODING, "not valid UTF-8"));
                }
            }
        }
        Ok(f)
    }

    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Records a fault on column `col`.
    pub(crate) fn fault(&mut self, col: usize, fault: Fault) {
        self.errors.push(RowError {
            file: self.file.to_string(),
            line: self.line,
            column: self.columns[col].to_string(),
            rule: fault.rule,
            message: fault.message,
        });
    }

    /// The trimmed field, or `None` when it could not be read.
    fn get(&self, col: usize) -> Option<&'a str> {
        (self.unusable & (1 << col) == 0).then_some(self.values[col])
    }

    /// A required field: empty → `required`; else parsed by `p`.
    pub(crate) fn req<T>(
        &mut self,
        col: usize,
        p: impl FnOnce(&'a str) -> Result<T, Fault>,
    ) -> Option<T> {
        let s = self.get(col)?;
        if s.is_empty() {
            self.fault(col, Fault::new(rule::REQUIRED, "required, but empty"));
            return None;
        }
        match p(s) {
            Ok(v) => Some(v),
            Err(f) => {
                self.fault(col, f);
                None
            }
        }
    }

    /// An optional field: empty → [`Opt::Empty`]; else parsed by `p`.
    pub(crate) fn opt<T>(
        &mut self,
        col: usize,
        p: impl FnOnce(&'a str) -> Result<T, Fault>,
    ) -> Opt<T> {
        let Some(s) = self.get(col) else {
            return Opt::Invalid;
        };
        if s.is_empty() {
            return Opt::Empty;
        }
        match p(s) {
            Ok(v) => Opt::Value(v),
            Err(f) => {
                self.fault(col, f);
                Opt::Invalid
            }
        }
    }

    /// The row's faults so far.
    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Ends the row: its errors, or the value built by `build` (which sees only fields that
    /// all parsed, so it returns `Some`; `None` would be a bug and is reported, not panicked).
    pub(crate) fn finish<T>(mut self, build: Option<T>) -> Result<T, Vec<RowError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        match build {
            Some(v) => Ok(v),
            None => {
                self.errors.push(RowError {
                    file: self.file.to_string(),
                    line: self.line,
                    column: "(row)".into(),
                    rule: rule::MALFORMED,
                    message: "the row could not be read".into(),
                });
                Err(self.errors)
            }
        }
    }
}

/// `str::trim`, skipping the work when the ends are visibly not whitespace (most fields).
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        (None, _) => s,
        _ => s.trim(),
    }
}

/// Free text (names, addresses): no control characters.
pub(crate) fn text(s: &str) -> Result<String, Fault> {
    if s.chars().any(char::is_control) {
        return Err(Fault::new(rule::FORMAT, "contains control characters"));
    }
    Ok(s.to_string())
}

/// A kana name (`name_kana`).
pub(crate) fn kana_name(s: &str) -> Result<String, Fault> {
    if !kana::is_kana_name(s) {
        return Err(Fault::new(
            rule::KANA,
            format!("must be a name in katakana (or hiragana), got {}", quote(s)),
        ));
    }
    Ok(s.to_string())
}

/// The first day the files accept: 明治 began in 1868.
const FIRST_YEAR: i32 = 1868;

/// A `YYYYMMDD` date.
pub(crate) fn date(s: &str) -> Result<NaiveDate, Fault> {
    match wareki::parse_yyyymmdd(s) {
        Ok(d) if d.year() < FIRST_YEAR => Err(Fault::new(
            rule::IMPOSSIBLE_DATE,
            format!("{s} is before 1868 (明治), no registry date can be"),
        )),
        Ok(d) => Ok(d),
        Err(e @ DateError::NoSuchDay { .. }) => {
            Err(Fault::new(rule::IMPOSSIBLE_DATE, e.to_string()))
        }
        Err(_) => Err(Fault::new(
            rule::FORMAT,
            format!("a date must be 8 digits YYYYMMDD, got {}", quote(s)),
        )),
    }
}

/// 個人番号. Messages never repeat the number.
pub(crate) fn my_number(s: &str) -> Result<MyNumber, Fault> {
    MyNumber::parse(s).map_err(|e| match e {
        NumberError::CheckDigit { .. } => Fault::new(
            rule::CHECK_DIGIT,
            "the check digit of the 個人番号 does not match (number not shown)",
        ),
        _ => Fault::new(
            rule::FORMAT,
            "a 個人番号 is 12 digits 0-9 (number not shown)",
        ),
    })
}

/// 保険者番号 (8 digits, or 6 for 国保).
pub(crate) fn insurer_number(s: &str) -> Result<InsurerNumber, Fault> {
    InsurerNumber::parse(s).map_err(|e| {
        let r = match e {
            NumberError::CheckDigit { .. } => rule::CHECK_DIGIT,
            _ => rule::FORMAT,
        };
        Fault::new(r, number_message(&e))
    })
}

/// A domain number error's message without its leading "field: " (the report names the
/// column already).
pub(crate) fn number_message(e: &NumberError) -> String {
    let m = e.to_string();
    match m.split_once(": ") {
        Some((_, rest)) => rest.to_string(),
        None => m,
    }
}

/// A domain number type's error as a `format` fault.
pub(crate) fn format_fault(e: NumberError) -> Fault {
    Fault::new(rule::FORMAT, number_message(&e))
}

/// A code-table error as an `unknown_code` fault.
pub(crate) fn code_fault(e: CodeError) -> Fault {
    Fault::new(
        rule::UNKNOWN_CODE,
        format!(
            "{} is not a code of {} (allowed: {})",
            quote(&e.got),
            e.table,
            e.allowed
        ),
    )
}

/// 性別 (OQSCD007).
pub(crate) fn sex(s: &str) -> Result<onshi_domain::numbers::Sex, Fault> {
    onshi_domain::numbers::Sex::parse(s)
        .map_err(|e| Fault::new(rule::UNKNOWN_CODE, number_message(&e)))
}

/// 負担割合 in percent as the OQS writes it: "030" or "30" for 3割; 10, 20 or 30.
pub(crate) fn ratio(s: &str) -> Result<u8, Fault> {
    let n = if !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u8>().ok()
    } else {
        None
    };
    match n {
        Some(p @ (10 | 20 | 30)) => Ok(p),
        Some(_) => Err(Fault::new(
            rule::RATIO,
            format!(
                "a share is 10, 20 or 30 percent (\"010\", \"020\", \"030\"), got {}",
                quote(s)
            ),
        )),
        None => Err(Fault::new(
            rule::FORMAT,
            format!(
                "a share is percent in up to 3 digits (\"030\" = 3割), got {}",
                quote(s)
            ),
        )),
    }
}

/// 郵便番号: 7 digits, "1234567" or "123-4567"; stored without the hyphen.
pub(crate) fn post_number(s: &str) -> Result<String, Fault> {
    let b = s.as_bytes();
    let ok = match b.len() {
        7 => b.iter().all(u8::is_ascii_digit),
        8 => b[3] == b'-' && b[..3].iter().chain(&b[4..]).all(u8::is_ascii_digit),
        _ => false,
    };
    if !ok {
        return Err(Fault::new(
            rule::FORMAT,
            format!(
                "a post number is 7 digits (\"1234567\" or \"123-4567\"), got {}",
                quote(s)
            ),
        ));
    }
    Ok(s.bytes()
        .filter(u8::is_ascii_digit)
        .map(char::from)
        .collect())
}

/// The 特定疾病療養受療証 of a qualification: entries separated by `;`, each
/// `category:issued:valid_from:valid_to:self_pay` — category OQSCD013 (1 人工透析, 2 血友病,
/// 3 HIV), dates `YYYYMMDD` (issued and valid_to may be empty), self_pay the monthly limit in
/// yen (digits, may be empty). E.g. `1:20240325:20240401::10000`.
pub(crate) fn specific_diseases(
    s: &str,
) -> Result<Vec<onshi_domain::qualification::SpecificDiseaseCertificate>, Fault> {
    use onshi_domain::codes::SpecificDisease;
    use onshi_domain::qualification::SpecificDiseaseCertificate;
    let mut out = Vec::new();
    for (i, entry) in s.split(';').map(str::trim).enumerate() {
        let n = i + 1;
        let bad = |what: String| {
            Fault::new(
                rule::FORMAT,
                format!(
                    "entry {n} {}: {what} (each entry is category:issued:valid_from:valid_to:self_pay, e.g. 1:20240325:20240401::10000)",
                    quote(entry)
                ),
            )
        };
        let parts: Vec<&str> = entry.split(':').map(str::trim).collect();
        let [category, issued, from, to, self_pay] = parts[..] else {
            return Err(bad(format!("has {} parts, not 5", parts.len())));
        };
        let category =
            SpecificDisease::parse_for("specific_diseases", category).map_err(code_fault)?;
        let opt_date = |p: &str| -> Result<Option<NaiveDate>, Fault> {
            if p.is_empty() {
                Ok(None)
            } else {
                date(p).map(Some)
            }
        };
        let issued_on = opt_date(issued)?;
        let valid_from = match opt_date(from)? {
            Some(d) => d,
            None => return Err(bad("valid_from is required".into())),
        };
        let valid_to = opt_date(to)?;
        if valid_to.is_some_and(|t| t < valid_from) {
            return Err(Fault::new(
                rule::ORDER,
                format!("entry {n} {}: valid_to is before valid_from", quote(entry)),
            ));
        }
        let self_pay = if self_pay.is_empty() {
            None
        } else if self_pay.len() <= 7 && self_pay.bytes().all(|b| b.is_ascii_digit()) {
            self_pay.parse::<u32>().ok()
        } else {
            return Err(bad(format!(
                "self_pay {} is not yen in digits",
                quote(self_pay)
            )));
        };
        out.push(SpecificDiseaseCertificate {
            category,
            issued_on,
            valid_from,
            valid_to,
            self_pay,
        });
    }
    Ok(out)
}

/// The field a list of 特定疾病療養受療証 is written as (see [`specific_diseases`]).
pub(crate) fn specific_diseases_field(
    list: &[onshi_domain::qualification::SpecificDiseaseCertificate],
) -> String {
    let date = |d: Option<NaiveDate>| d.map(wareki::format_yyyymmdd).unwrap_or_default();
    list.iter()
        .map(|c| {
            format!(
                "{}:{}:{}:{}:{}",
                c.category.code(),
                date(c.issued_on),
                date(Some(c.valid_from)),
                date(c.valid_to),
                c.self_pay.map(|y| y.to_string()).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(";")
}
