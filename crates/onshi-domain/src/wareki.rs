//! Japanese era dates (和暦) and the 8-digit Gregorian dates of files.
//!
//! The My Number card, the 被保険者資格申立書 (R25: birth date as 明治 / 大正 / 昭和 / 平成 /
//! 令和 + year, month, day) and the electronic claims all write dates in the Japanese calendar;
//! the folder interface and most files use `YYYYMMDD`. This module converts between the two.
//!
//! - [`Era`]: the five modern eras, with their kanji, initial letter, claims code and first day.
//! - [`WarekiDate`]: an era date that exists and lies inside its era. Its only constructors
//!   ([`WarekiDate::new`], [`WarekiDate::parse`], [`WarekiDate::from_date`]) check that, so a
//!   value in hand is valid (昭和64年1月8日 and 平成元年1月7日 cannot be built).
//! - [`parse_yyyymmdd`] / [`format_yyyymmdd`]: the strict 8-digit form used in files.
//!
//! Era years are limited to 1–99: the claims form `GYYMMDD` has two digits for the year, and
//! no era has yet reached 100 (令和100年 would be 2118).
//!
//! Pure code: no clock; every function takes the date it works on.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::UnicodeNormalization;

/// Builds a date in a `const` context; a bad literal fails the build, never a run.
const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid date literal"),
    }
}

const MEIJI_START: NaiveDate = ymd(1868, 1, 25);
const TAISHO_START: NaiveDate = ymd(1912, 7, 30);
const SHOWA_START: NaiveDate = ymd(1926, 12, 25);
const HEISEI_START: NaiveDate = ymd(1989, 1, 8);
const REIWA_START: NaiveDate = ymd(2019, 5, 1);

/// Highest era year onshi represents (two digits in the claims form `GYYMMDD`).
pub const MAX_ERA_YEAR: u32 = 99;

/// A Japanese era (元号) of the modern calendar, in chronological order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Era {
    /// 明治 (M, code 1).
    Meiji,
    /// 大正 (T, code 2).
    Taisho,
    /// 昭和 (S, code 3).
    Showa,
    /// 平成 (H, code 4).
    Heisei,
    /// 令和 (R, code 5).
    Reiwa,
}

impl Era {
    /// All eras, oldest first.
    pub const ALL: [Era; 5] = [Era::Meiji, Era::Taisho, Era::Showa, Era::Heisei, Era::Reiwa];

    /// The era name in kanji: "明治", "大正", "昭和", "平成", "令和".
    pub const fn kanji(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    /// The initial letter used in short forms: 'M', 'T', 'S', 'H', 'R'.
    pub const fn initial(self) -> char {
        match self {
            Era::Meiji => 'M',
            Era::Taisho => 'T',
            Era::Showa => 'S',
            Era::Heisei => 'H',
            Era::Reiwa => 'R',
        }
    }

    /// The era digit of the claims (元号区分): 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和.
    pub const fn code(self) -> u8 {
        match self {
            Era::Meiji => 1,
            Era::Taisho => 2,
            Era::Showa => 3,
            Era::Heisei => 4,
            Era::Reiwa => 5,
        }
    }

    /// The first Gregorian day of the era (its 元年 starts here).
    ///
    /// 明治 starts on 1868-01-25: the era was proclaimed on 1868-10-23 (明治元年9月8日 in the
    /// lunisolar calendar) but made retroactive to the first day of that lunar year (慶応4年1月1日),
    /// which is 1868-01-25 in the Gregorian calendar. onshi takes that day so that every date
    /// from it onwards has exactly one era date. The others: 大正 1912-07-30, 昭和 1926-12-25,
    /// 平成 1989-01-08, 令和 2019-05-01.
    pub const fn start(self) -> NaiveDate {
        match self {
            Era::Meiji => MEIJI_START,
            Era::Taisho => TAISHO_START,
            Era::Showa => SHOWA_START,
            Era::Heisei => HEISEI_START,
            Era::Reiwa => REIWA_START,
        }
    }

    /// The era that follows this one, if any.
    pub const fn next(self) -> Option<Era> {
        match self {
            Era::Meiji => Some(Era::Taisho),
            Era::Taisho => Some(Era::Showa),
            Era::Showa => Some(Era::Heisei),
            Era::Heisei => Some(Era::Reiwa),
            Era::Reiwa => None,
        }
    }

    /// The last day of the era (the day before the next era starts); `None` for 令和.
    pub fn last_day(self) -> Option<NaiveDate> {
        self.next().and_then(|next| next.start().pred_opt())
    }

    /// The era a Gregorian date falls in; `None` before 明治 (1868-01-25).
    pub fn containing(date: NaiveDate) -> Option<Era> {
        Era::ALL.into_iter().rev().find(|era| date >= era.start())
    }

    /// The era named by its kanji ("平成" → 平成).
    pub fn from_kanji(kanji: &str) -> Option<Era> {
        Era::ALL.into_iter().find(|era| era.kanji() == kanji)
    }

    /// The era named by its initial letter, either case ('h' or 'H' → 平成).
    pub fn from_initial(initial: char) -> Option<Era> {
        let upper = initial.to_ascii_uppercase();
        Era::ALL.into_iter().find(|era| era.initial() == upper)
    }

    /// The era named by its claims digit (4 → 平成).
    pub fn from_code(code: u8) -> Option<Era> {
        Era::ALL.into_iter().find(|era| era.code() == code)
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kanji())
    }
}

/// Why an era date (和暦) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarekiError {
    /// Nothing but whitespace was given.
    #[error("wareki date (和暦) is empty")]
    Empty,
    /// The text matches none of the accepted forms.
    #[error(
        "wareki date (和暦) {input:?} is not in a recognised form \
         (e.g. 令和7年11月25日, 平成元年1月8日, R7.11.25, H1/1/8, or GYYMMDD like 5071125)"
    )]
    Unrecognised {
        /// The input (shortened when long).
        input: String,
    },
    /// The first digit of the 7-digit claims form is not an era code.
    #[error("era code (元号区分) {code} is not one of 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和")]
    UnknownEraCode {
        /// The digit found.
        code: u32,
    },
    /// Year 0 of an era does not exist: the first year is 元年 (1).
    #[error("era year (年) of {era} must be 1 (元年) or more, got 0")]
    YearZero {
        /// The era.
        era: Era,
    },
    /// Era years above [`MAX_ERA_YEAR`] are not represented.
    #[error("era year (年) {year} of {era} is above 99, which the two-digit era year cannot hold")]
    YearTooLarge {
        /// The era.
        era: Era,
        /// The year given.
        year: u32,
    },
    /// Month and day do not form a calendar day in that year.
    #[error("{era}{year}年{month}月{day}日 is not a calendar day")]
    NoSuchDay {
        /// The era.
        era: Era,
        /// The era year.
        year: u32,
        /// The month.
        month: u32,
        /// The day.
        day: u32,
    },
    /// The day is before the era began (e.g. 平成元年1月7日, still 昭和).
    #[error("{date} is before the first day of {era} ({start}), so it has no {era} date", start = .era.start())]
    BeforeEraStart {
        /// The era asked for.
        era: Era,
        /// The Gregorian day the era date would be.
        date: NaiveDate,
    },
    /// The day is after the era ended (e.g. 昭和64年1月8日, already 平成).
    #[error("{date} is after the last day of {era}, so it has no {era} date")]
    AfterEraEnd {
        /// The era asked for.
        era: Era,
        /// The Gregorian day the era date would be.
        date: NaiveDate,
    },
    /// The Gregorian day is before 明治 began.
    #[error("{date} is before 明治 began (1868-01-25), so it has no era date (和暦)")]
    BeforeMeiji {
        /// The day given.
        date: NaiveDate,
    },
    /// The Gregorian day is in 令和100年 or later.
    #[error("{date} falls in {era}{year}年, above the era year 99 onshi represents")]
    AfterMaxYear {
        /// The day given.
        date: NaiveDate,
        /// Its era.
        era: Era,
        /// Its era year.
        year: u32,
    },
}

/// A day in the Japanese calendar: era, era year, month, day.
///
/// Always a real day inside its era: 昭和64年1月7日 and 平成元年1月8日 exist, 昭和64年1月8日
/// and 平成元年1月7日 do not. Ordering is chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WarekiDate {
    era: Era,
    year: u32,
    date: NaiveDate,
}

impl WarekiDate {
    /// Builds the era date `era` `year`年 `month`月 `day`日, checking that the day exists and
    /// lies inside the era (year 1 is 元年).
    pub fn new(era: Era, year: u32, month: u32, day: u32) -> Result<Self, WarekiError> {
        if year == 0 {
            return Err(WarekiError::YearZero { era });
        }
        if year > MAX_ERA_YEAR {
            return Err(WarekiError::YearTooLarge { era, year });
        }
        // year ≤ 99, so the cast and the sum cannot overflow.
        let gregorian_year = era.start().year() + year as i32 - 1;
        let date =
            NaiveDate::from_ymd_opt(gregorian_year, month, day).ok_or(WarekiError::NoSuchDay {
                era,
                year,
                month,
                day,
            })?;
        if date < era.start() {
            return Err(WarekiError::BeforeEraStart { era, date });
        }
        if era.last_day().is_some_and(|last| date > last) {
            return Err(WarekiError::AfterEraEnd { era, date });
        }
        Ok(WarekiDate { era, year, date })
    }

    /// The era date of a Gregorian day (2019-05-01 → 令和元年5月1日).
    ///
    /// Fails before 明治 (1868-01-25) and from 令和100年 (2118) on.
    pub fn from_date(date: NaiveDate) -> Result<Self, WarekiError> {
        let era = Era::containing(date).ok_or(WarekiError::BeforeMeiji { date })?;
        // Both years are within chrono's range, and date ≥ era start, so this is ≥ 1.
        let year = u32::try_from(date.year() - era.start().year() + 1)
            .map_err(|_| WarekiError::BeforeMeiji { date })?;
        if year > MAX_ERA_YEAR {
            return Err(WarekiError::AfterMaxYear { date, era, year });
        }
        Ok(WarekiDate { era, year, date })
    }

    /// Parses an era date. Accepted forms (whitespace anywhere is ignored, full-width digits,
    /// letters and separators are read as their ASCII forms):
    ///
    /// - kanji: "昭和64年1月7日", "平成元年1月8日" or "平成1年1月8日", "令和７年１１月２５日",
    ///   also the one-character era signs (㍻ …);
    /// - short: initial letter in either case, then year, month, day separated by one of
    ///   `.` `/` `-` used throughout: "H1.1.8", "r7/11/25", "S64-01-07" (元 is accepted for 1);
    /// - claims, 7 digits `GYYMMDD`: era code, two-digit year, month, day: "4010108".
    pub fn parse(input: &str) -> Result<Self, WarekiError> {
        let folded: String = input.nfkc().filter(|c| !c.is_whitespace()).collect();
        if folded.is_empty() {
            return Err(WarekiError::Empty);
        }
        if folded.len() == 7 && folded.bytes().all(|b| b.is_ascii_digit()) {
            return Self::parse_gyymmdd(&folded);
        }
        let unrecognised = || WarekiError::Unrecognised {
            input: excerpt(input),
        };
        let (era, rest) = split_era(&folded).ok_or_else(unrecognised)?;
        let (year, month, day) = split_year_month_day(rest).ok_or_else(unrecognised)?;
        Self::new(era, year, month, day)
    }

    fn parse_gyymmdd(digits: &str) -> Result<Self, WarekiError> {
        let field = |range: std::ops::Range<usize>| {
            digits
                .get(range)
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or_else(|| WarekiError::Unrecognised {
                    input: excerpt(digits),
                })
        };
        let code = field(0..1)?;
        let era = u8::try_from(code)
            .ok()
            .and_then(Era::from_code)
            .ok_or(WarekiError::UnknownEraCode { code })?;
        Self::new(era, field(1..3)?, field(3..5)?, field(5..7)?)
    }

    /// The era.
    pub fn era(&self) -> Era {
        self.era
    }

    /// The era year (1 is 元年).
    pub fn year(&self) -> u32 {
        self.year
    }

    /// The month, 1–12.
    pub fn month(&self) -> u32 {
        self.date.month()
    }

    /// The day of the month, 1–31.
    pub fn day(&self) -> u32 {
        self.date.day()
    }

    /// The Gregorian day.
    pub fn to_date(&self) -> NaiveDate {
        self.date
    }

    /// Short form with the era initial and dots: 令和元年5月1日 → "R1.5.1".
    pub fn format_short(&self) -> String {
        format!(
            "{}{}.{}.{}",
            self.era.initial(),
            self.year,
            self.month(),
            self.day()
        )
    }

    /// The 7-digit claims form `GYYMMDD`: 令和元年5月1日 → "5010501".
    pub fn to_gyymmdd(&self) -> String {
        format!(
            "{}{:02}{:02}{:02}",
            self.era.code(),
            self.year,
            self.month(),
            self.day()
        )
    }
}

/// 令和元年5月1日: year 1 is written 元年.
impl fmt::Display for WarekiDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.era.kanji())?;
        if self.year == 1 {
            f.write_str("元")?;
        } else {
            write!(f, "{}", self.year)?;
        }
        write!(f, "年{}月{}日", self.month(), self.day())
    }
}

impl FromStr for WarekiDate {
    type Err = WarekiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WarekiDate::parse(s)
    }
}

impl From<WarekiDate> for NaiveDate {
    fn from(value: WarekiDate) -> Self {
        value.to_date()
    }
}

impl TryFrom<NaiveDate> for WarekiDate {
    type Error = WarekiError;

    fn try_from(value: NaiveDate) -> Result<Self, Self::Error> {
        WarekiDate::from_date(value)
    }
}

/// Serialised as its display form ("令和元年5月1日"); deserialised through [`WarekiDate::parse`].
impl Serialize for WarekiDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WarekiDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        WarekiDate::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// In the OpenAPI document: a string, the display form ("令和元年5月1日").
impl utoipa::PartialSchema for WarekiDate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "a date in the Japanese era calendar, e.g. 令和元年5月1日 (R1.5.1 also read)",
            ))
            .examples([serde_json::json!("令和7年12月2日")])
            .into()
    }
}

impl utoipa::ToSchema for WarekiDate {}

/// Splits a leading era name (kanji or initial letter) from the rest.
fn split_era(s: &str) -> Option<(Era, &str)> {
    for era in Era::ALL {
        if let Some(rest) = s.strip_prefix(era.kanji()) {
            return Some((era, rest));
        }
    }
    let first = s.chars().next()?;
    let era = Era::from_initial(first)?;
    Some((era, s.get(first.len_utf8()..)?))
}

/// Reads "Y年M月D日" or "Y.M.D" (one of `.` `/` `-`, the same throughout); Y may be 元.
fn split_year_month_day(rest: &str) -> Option<(u32, u32, u32)> {
    if let Some((year, after)) = rest.split_once('年') {
        let (month, after) = after.split_once('月')?;
        let day = after.strip_suffix('日')?;
        return Some((era_year(year)?, number(month)?, number(day)?));
    }
    let separator = rest
        .chars()
        .find(|c| !c.is_ascii_digit() && *c != '元')
        .filter(|c| matches!(c, '.' | '/' | '-'))?;
    let mut parts = rest.split(separator);
    let year = era_year(parts.next()?)?;
    let month = number(parts.next()?)?;
    let day = number(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some((year, month, day))
}

fn era_year(s: &str) -> Option<u32> {
    if s == "元" { Some(1) } else { number(s) }
}

/// 1 to 4 ASCII digits (leading zeros allowed), so the value cannot overflow.
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The input as quoted in an error, cut to a readable length.
fn excerpt(input: &str) -> String {
    const MAX_CHARS: usize = 40;
    if input.chars().count() <= MAX_CHARS {
        input.to_owned()
    } else {
        let mut cut: String = input.chars().take(MAX_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// Why an 8-digit `YYYYMMDD` date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not exactly 8 characters.
    #[error("date (YYYYMMDD) must be 8 digits, got {len} characters")]
    Length {
        /// The number of characters given.
        len: usize,
    },
    /// A character other than 0–9.
    #[error("date (YYYYMMDD) must contain only the digits 0-9, got {input:?}")]
    NotDigits {
        /// The input.
        input: String,
    },
    /// The digits do not form a calendar day (e.g. 20230229).
    #[error("date (YYYYMMDD) {year:04}{month:02}{day:02} is not a calendar day")]
    NoSuchDay {
        /// The year.
        year: i32,
        /// The month.
        month: u32,
        /// The day.
        day: u32,
    },
}

/// Parses the strict 8-digit Gregorian form of files, `YYYYMMDD` ("20190501").
///
/// ASCII digits only, no separators or spaces; impossible days (20230229, 20231301) are refused.
pub fn parse_yyyymmdd(input: &str) -> Result<NaiveDate, DateError> {
    let len = input.chars().count();
    if len != 8 {
        return Err(DateError::Length { len });
    }
    if !input.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError::NotDigits {
            input: input.to_owned(),
        });
    }
    let field = |range: std::ops::Range<usize>| {
        input
            .get(range)
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(|| DateError::NotDigits {
                input: input.to_owned(),
            })
    };
    // Four digits at most 9999, so the year fits an i32.
    let year = i32::try_from(field(0..4)?).map_err(|_| DateError::NotDigits {
        input: input.to_owned(),
    })?;
    let month = field(4..6)?;
    let day = field(6..8)?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or(DateError::NoSuchDay { year, month, day })
}

/// Formats a day as `YYYYMMDD` ("20190501"). Eight digits for years 0000–9999, the range of
/// every date onshi writes to files.
pub fn format_yyyymmdd(date: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", date.year(), date.month(), date.day())
}

/// Formats a day as `YYYY-MM-DD` ("2019-05-01"), what `date.format("%Y-%m-%d")` writes,
/// written by hand: chrono parses its format string on every call, and a confirmation writes
/// and reads several dates.
pub fn format_iso_date(date: NaiveDate) -> String {
    let y = date.year();
    if !(0..=9999).contains(&y) {
        return date.format("%Y-%m-%d").to_string();
    }
    let mut s = String::with_capacity(10);
    push_digits(&mut s, y as u32, 4);
    s.push('-');
    push_digits(&mut s, date.month(), 2);
    s.push('-');
    push_digits(&mut s, date.day(), 2);
    s
}

/// Appends `v` in decimal, zero-padded to `width` digits (`v` has at most `width` digits):
/// the one piece the hand-written dates and times are made of.
pub fn push_digits(s: &mut String, v: u32, width: u32) {
    for i in (0..width).rev() {
        s.push(char::from(b'0' + ((v / 10u32.pow(i)) % 10) as u8));
    }
}

/// Parses `YYYY-MM-DD` as `NaiveDate::parse_from_str(s, "%Y-%m-%d")` does, quickly for the
/// one shape onshi writes (ten characters, four-digit year, two-digit month and day); any
/// other text, and an impossible day, is left to chrono, so the answer and the error are
/// chrono's.
pub fn parse_iso_date(s: &str) -> Result<NaiveDate, chrono::ParseError> {
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let num = |r: std::ops::Range<usize>| {
            b[r].iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        if let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10))
            && let Some(date) = NaiveDate::from_ymd_opt(y as i32, m, d)
        {
            return Ok(date);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn iso_dates_are_written_and_read_as_chrono_does() {
        let mut d = NaiveDate::from_ymd_opt(1, 1, 1).unwrap();
        let end = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
        while d < end {
            let text = format_iso_date(d);
            assert_eq!(text, d.format("%Y-%m-%d").to_string());
            assert_eq!(parse_iso_date(&text), Ok(d));
            d = d + chrono::Days::new(37);
        }
        for d in [end, NaiveDate::from_ymd_opt(-5, 3, 1).unwrap()] {
            assert_eq!(format_iso_date(d), d.format("%Y-%m-%d").to_string());
        }
        // Texts outside the fast shape, good and bad, answer as chrono answers.
        for s in [
            "2026-1-5",
            "2026-02-30",
            "2026-13-01",
            "2026-00-10",
            "20261203",
            "2026-12-0a",
            "+12345-01-01",
            " 2026-12-03",
            "2026-12-03 ",
            "２０２６-12-03",
            "",
            "0000-01-01",
        ] {
            assert_eq!(
                parse_iso_date(s),
                NaiveDate::parse_from_str(s, "%Y-%m-%d"),
                "{s:?}"
            );
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date literal")
    }

    fn wareki(era: Era, y: u32, m: u32, d: u32) -> WarekiDate {
        WarekiDate::new(era, y, m, d).expect("test wareki literal")
    }

    // --- Era ---

    #[test]
    fn era_names_initials_codes_round_trip() {
        for era in Era::ALL {
            assert_eq!(Era::from_kanji(era.kanji()), Some(era));
            assert_eq!(Era::from_initial(era.initial()), Some(era));
            assert_eq!(
                Era::from_initial(era.initial().to_ascii_lowercase()),
                Some(era)
            );
            assert_eq!(Era::from_code(era.code()), Some(era));
        }
        assert_eq!(Era::from_code(0), None);
        assert_eq!(Era::from_code(6), None);
        assert_eq!(Era::from_initial('X'), None);
        assert_eq!(Era::from_kanji("慶応"), None);
    }

    #[test]
    fn era_start_days_are_the_documented_ones() {
        assert_eq!(Era::Meiji.start(), date(1868, 1, 25));
        assert_eq!(Era::Taisho.start(), date(1912, 7, 30));
        assert_eq!(Era::Showa.start(), date(1926, 12, 25));
        assert_eq!(Era::Heisei.start(), date(1989, 1, 8));
        assert_eq!(Era::Reiwa.start(), date(2019, 5, 1));
        assert_eq!(Era::Heisei.last_day(), Some(date(2019, 4, 30)));
        assert_eq!(Era::Reiwa.last_day(), None);
    }

    #[test]
    fn eras_are_listed_in_order_and_contiguous() {
        for pair in Era::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
            assert_eq!(pair[0].next(), Some(pair[1]));
            assert!(pair[0].start() < pair[1].start());
        }
    }

    // --- boundary days of each era ---

    #[test]
    fn showa_64_jan_7_is_the_last_showa_day() {
        assert_eq!(wareki(Era::Showa, 64, 1, 7).to_date(), date(1989, 1, 7));
        assert!(matches!(
            WarekiDate::new(Era::Showa, 64, 1, 8),
            Err(WarekiError::AfterEraEnd { .. })
        ));
    }

    #[test]
    fn heisei_gannen_starts_jan_8() {
        assert!(matches!(
            WarekiDate::new(Era::Heisei, 1, 1, 7),
            Err(WarekiError::BeforeEraStart { .. })
        ));
        assert_eq!(wareki(Era::Heisei, 1, 1, 8).to_date(), date(1989, 1, 8));
    }

    #[test]
    fn heisei_31_apr_30_is_the_last_heisei_day() {
        assert_eq!(wareki(Era::Heisei, 31, 4, 30).to_date(), date(2019, 4, 30));
        assert!(matches!(
            WarekiDate::new(Era::Heisei, 31, 5, 1),
            Err(WarekiError::AfterEraEnd { .. })
        ));
    }

    #[test]
    fn reiwa_gannen_starts_may_1() {
        assert_eq!(wareki(Era::Reiwa, 1, 5, 1).to_date(), date(2019, 5, 1));
        assert!(matches!(
            WarekiDate::new(Era::Reiwa, 1, 4, 30),
            Err(WarekiError::BeforeEraStart { .. })
        ));
    }

    #[test]
    fn meiji_45_jul_29_is_the_last_meiji_day() {
        assert_eq!(wareki(Era::Meiji, 45, 7, 29).to_date(), date(1912, 7, 29));
        assert!(WarekiDate::new(Era::Meiji, 45, 7, 30).is_err());
        assert_eq!(wareki(Era::Taisho, 1, 7, 30).to_date(), date(1912, 7, 30));
    }

    #[test]
    fn taisho_15_dec_24_is_the_last_taisho_day() {
        assert_eq!(
            wareki(Era::Taisho, 15, 12, 24).to_date(),
            date(1926, 12, 24)
        );
        assert!(WarekiDate::new(Era::Taisho, 15, 12, 25).is_err());
        assert_eq!(wareki(Era::Showa, 1, 12, 25).to_date(), date(1926, 12, 25));
    }

    #[test]
    fn meiji_gannen_starts_jan_25_1868() {
        assert_eq!(wareki(Era::Meiji, 1, 1, 25).to_date(), date(1868, 1, 25));
        assert!(WarekiDate::new(Era::Meiji, 1, 1, 24).is_err());
        assert_eq!(
            WarekiDate::from_date(date(1868, 1, 24)),
            Err(WarekiError::BeforeMeiji {
                date: date(1868, 1, 24)
            })
        );
    }

    #[test]
    fn from_date_picks_the_era_on_each_side_of_every_boundary() {
        for era in Era::ALL.into_iter().skip(1) {
            let first = WarekiDate::from_date(era.start()).expect("first day");
            assert_eq!((first.era(), first.year()), (era, 1));
            let before = era.start().pred_opt().expect("day before");
            let last = WarekiDate::from_date(before).expect("last day of previous era");
            assert!(last.era() < era);
        }
    }

    #[test]
    fn impossible_days_and_year_zero_are_refused() {
        assert!(matches!(
            WarekiDate::new(Era::Reiwa, 5, 2, 29),
            Err(WarekiError::NoSuchDay { .. })
        ));
        assert!(WarekiDate::new(Era::Reiwa, 6, 2, 29).is_ok()); // 2024 is a leap year
        assert!(matches!(
            WarekiDate::new(Era::Reiwa, 1, 13, 1),
            Err(WarekiError::NoSuchDay { .. })
        ));
        assert!(matches!(
            WarekiDate::new(Era::Reiwa, 0, 5, 1),
            Err(WarekiError::YearZero { .. })
        ));
        assert!(matches!(
            WarekiDate::new(Era::Reiwa, 100, 5, 1),
            Err(WarekiError::YearTooLarge { .. })
        ));
        assert!(matches!(
            WarekiDate::from_date(date(2118, 1, 1)),
            Err(WarekiError::AfterMaxYear { .. })
        ));
    }

    // --- formatting ---

    #[test]
    fn display_writes_gannen_for_year_one() {
        assert_eq!(wareki(Era::Reiwa, 1, 5, 1).to_string(), "令和元年5月1日");
        assert_eq!(wareki(Era::Showa, 64, 1, 7).to_string(), "昭和64年1月7日");
    }

    #[test]
    fn short_and_claims_forms() {
        let d = wareki(Era::Reiwa, 1, 5, 1);
        assert_eq!(d.format_short(), "R1.5.1");
        assert_eq!(d.to_gyymmdd(), "5010501");
        assert_eq!(wareki(Era::Heisei, 1, 1, 8).to_gyymmdd(), "4010108");
    }

    // --- parsing ---

    #[test]
    fn parse_kanji_forms() {
        assert_eq!(
            WarekiDate::parse("昭和64年1月7日"),
            Ok(wareki(Era::Showa, 64, 1, 7))
        );
        assert_eq!(
            WarekiDate::parse("平成元年1月8日"),
            Ok(wareki(Era::Heisei, 1, 1, 8))
        );
        assert_eq!(
            WarekiDate::parse("平成1年1月8日"),
            Ok(wareki(Era::Heisei, 1, 1, 8))
        );
        assert_eq!(
            WarekiDate::parse("令和７年１１月２５日"),
            Ok(wareki(Era::Reiwa, 7, 11, 25))
        );
        assert_eq!(
            WarekiDate::parse(" 令和 7年 11月\u{3000}25日 "),
            Ok(wareki(Era::Reiwa, 7, 11, 25))
        );
        assert_eq!(
            WarekiDate::parse("㍻元年1月8日"),
            Ok(wareki(Era::Heisei, 1, 1, 8))
        );
    }

    #[test]
    fn parse_short_forms() {
        assert_eq!(
            WarekiDate::parse("H1.1.8"),
            Ok(wareki(Era::Heisei, 1, 1, 8))
        );
        assert_eq!(
            WarekiDate::parse("R7/11/25"),
            Ok(wareki(Era::Reiwa, 7, 11, 25))
        );
        assert_eq!(
            WarekiDate::parse("S64-01-07"),
            Ok(wareki(Era::Showa, 64, 1, 7))
        );
        assert_eq!(
            WarekiDate::parse("h1.1.8"),
            Ok(wareki(Era::Heisei, 1, 1, 8))
        );
        assert_eq!(
            WarekiDate::parse("Ｒ７．１１．２５"),
            Ok(wareki(Era::Reiwa, 7, 11, 25))
        );
        assert_eq!(
            WarekiDate::parse("R元.5.1"),
            Ok(wareki(Era::Reiwa, 1, 5, 1))
        );
    }

    #[test]
    fn parse_claims_gyymmdd() {
        assert_eq!(
            WarekiDate::parse("4010108"),
            Ok(wareki(Era::Heisei, 1, 1, 8))
        );
        assert_eq!(
            WarekiDate::parse("5071125"),
            Ok(wareki(Era::Reiwa, 7, 11, 25))
        );
        assert_eq!(
            WarekiDate::parse("9010108"),
            Err(WarekiError::UnknownEraCode { code: 9 })
        );
        assert!(matches!(
            WarekiDate::parse("4000108"),
            Err(WarekiError::YearZero { .. })
        ));
    }

    #[test]
    fn parse_refuses_malformed_text() {
        for bad in [
            "",
            "   ",
            "令和",
            "令和7年11月",
            "令和7年11月25",
            "R7.11",
            "R7.11/25",
            "R7.11.25.1",
            "X7.11.25",
            "2025-11-25",
            "令和七年十一月二十五日",
            "R-7.11.25",
            "R7..25",
            "R99999.1.1",
            "40101080",
        ] {
            assert!(WarekiDate::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(WarekiDate::parse(" "), Err(WarekiError::Empty));
    }

    #[test]
    fn parse_refuses_days_outside_the_era() {
        assert!(matches!(
            WarekiDate::parse("昭和64年1月8日"),
            Err(WarekiError::AfterEraEnd { .. })
        ));
        assert!(matches!(
            WarekiDate::parse("H31.5.1"),
            Err(WarekiError::AfterEraEnd { .. })
        ));
    }

    #[test]
    fn error_messages_name_the_field() {
        let message = WarekiDate::new(Era::Heisei, 1, 1, 7)
            .expect_err("before 平成")
            .to_string();
        assert!(message.contains("平成"), "{message}");
        assert!(message.contains("1989-01-08"), "{message}");
        let message = parse_yyyymmdd("2023022").expect_err("short").to_string();
        assert!(message.contains("YYYYMMDD"), "{message}");
    }

    #[test]
    fn serde_uses_the_display_form_and_validates() {
        let d = wareki(Era::Reiwa, 1, 5, 1);
        let json = serde_json::to_string(&d).expect("serialise");
        assert_eq!(json, "\"令和元年5月1日\"");
        assert_eq!(serde_json::from_str::<WarekiDate>(&json).ok(), Some(d));
        assert!(serde_json::from_str::<WarekiDate>("\"昭和64年1月8日\"").is_err());
    }

    // --- YYYYMMDD ---

    #[test]
    fn yyyymmdd_parses_valid_days() {
        assert_eq!(parse_yyyymmdd("20190501"), Ok(date(2019, 5, 1)));
        assert_eq!(parse_yyyymmdd("20240229"), Ok(date(2024, 2, 29)));
        assert_eq!(format_yyyymmdd(date(2019, 5, 1)), "20190501");
        assert_eq!(format_yyyymmdd(date(868, 1, 2)), "08680102");
    }

    #[test]
    fn yyyymmdd_refuses_impossible_days_wrong_length_and_non_digits() {
        assert_eq!(
            parse_yyyymmdd("20230229"),
            Err(DateError::NoSuchDay {
                year: 2023,
                month: 2,
                day: 29
            })
        );
        assert!(matches!(
            parse_yyyymmdd("20231301"),
            Err(DateError::NoSuchDay { .. })
        ));
        assert!(matches!(
            parse_yyyymmdd("00000000"),
            Err(DateError::NoSuchDay { .. })
        ));
        assert_eq!(parse_yyyymmdd("2023022"), Err(DateError::Length { len: 7 }));
        assert_eq!(
            parse_yyyymmdd("202302280"),
            Err(DateError::Length { len: 9 })
        );
        assert!(matches!(
            parse_yyyymmdd("2023-2-8"),
            Err(DateError::NotDigits { .. })
        ));
        assert!(matches!(
            parse_yyyymmdd("２０２３０２２８"),
            Err(DateError::NotDigits { .. })
        ));
        assert!(matches!(
            parse_yyyymmdd("+2023022"),
            Err(DateError::NotDigits { .. })
        ));
    }

    // --- every day from 明治 to 2100 ---

    #[test]
    fn every_day_from_meiji_to_2100_round_trips() {
        let mut day = Era::Meiji.start();
        let end = date(2100, 12, 31);
        while day <= end {
            let w = WarekiDate::from_date(day).expect("day after 明治 start");
            assert_eq!(w.to_date(), day);
            assert_eq!(WarekiDate::parse(&w.to_string()), Ok(w), "{w}");
            assert_eq!(WarekiDate::parse(&w.format_short()), Ok(w), "{w}");
            assert_eq!(WarekiDate::parse(&w.to_gyymmdd()), Ok(w), "{w}");
            assert_eq!(parse_yyyymmdd(&format_yyyymmdd(day)), Ok(day));
            day = day.succ_opt().expect("within chrono's range");
        }
    }

    fn any_day_meiji_to_2100() -> impl Strategy<Value = NaiveDate> {
        let first = Era::Meiji.start();
        let span = (date(2100, 12, 31) - first).num_days();
        (0..=span).prop_map(move |offset| first + chrono::Duration::days(offset))
    }

    proptest! {
        #[test]
        fn from_date_and_display_round_trip(day in any_day_meiji_to_2100()) {
            let w = WarekiDate::from_date(day).expect("in range");
            prop_assert_eq!(w.to_date(), day);
            prop_assert_eq!(WarekiDate::parse(&w.to_string()), Ok(w));
        }

        #[test]
        fn new_agrees_with_from_date(era in 0usize..5, year in 0u32..120, month in 0u32..14, day in 0u32..33) {
            let era = Era::ALL[era];
            if let Ok(w) = WarekiDate::new(era, year, month, day) {
                prop_assert_eq!(WarekiDate::from_date(w.to_date()), Ok(w));
                prop_assert_eq!((w.era(), w.year(), w.month(), w.day()), (era, year, month, day));
            }
        }

        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = WarekiDate::parse(&input);
            let _ = parse_yyyymmdd(&input);
        }

        #[test]
        fn parse_never_panics_on_date_like_text(input in "[明治大正昭和平成令和元年月日MTSHRmtshr0-9０-９./\\- ]{0,16}") {
            let _ = WarekiDate::parse(&input);
            let _ = parse_yyyymmdd(&input);
        }
    }
}
