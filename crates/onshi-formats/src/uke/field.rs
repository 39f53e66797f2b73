//! Field machinery shared by every record: the layout table of a record ([`FieldSpec`]), the
//! checks each field gets on read and on write, and the typed values a field can hold.
//!
//! A record's layout is one table: field number, Japanese and English name, kind, width in
//! Shift_JIS bytes, required or not. The reader and the writer run the same table, so a value
//! the writer accepts is a value the reader accepts, and `parse(write(x)) == x`.

use std::borrow::Cow;
use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::error::Rule;

/// What characters a field may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ASCII digits only (数字). Leading zeros are kept as written.
    Digits,
    /// ASCII digits with at most one `.` (使用量, 単価).
    Decimal,
    /// Printable ASCII (英数).
    Ascii,
    /// Full-width only (全角): every character takes two bytes in Shift_JIS.
    FullWidth,
    /// Anything Windows-31J carries (漢字 / 混在), half-width or full-width.
    Text,
    /// A date `YYYYMMDD` that exists.
    Date,
    /// A month `YYYYMM` that exists.
    YearMonth,
    /// An insurer or public-fund number: 8 digits, or a 6-digit 国保 number right-justified
    /// with two spaces (`"  123456"`).
    Insurer,
}

/// One field of a record layout.
#[derive(Clone, Debug)]
pub struct FieldSpec {
    /// 1-based position in the record (1 is the record id).
    pub number: usize,
    /// The layout's Japanese name (項目名).
    pub ja: Cow<'static, str>,
    /// An English name.
    pub en: Cow<'static, str>,
    pub kind: Kind,
    /// Shortest width in Shift_JIS bytes when the field is not empty (fixed-width fields).
    pub min: usize,
    /// Widest width in Shift_JIS bytes.
    pub max: usize,
    /// The field may not be empty.
    pub required: bool,
}

impl FieldSpec {
    /// A variable-width field of at most `max` bytes.
    pub(crate) fn new(ja: &'static str, en: &'static str, kind: Kind, max: usize) -> Self {
        let min = match kind {
            Kind::Date => 8,
            Kind::YearMonth => 6,
            Kind::Insurer => 8,
            _ => 0,
        };
        FieldSpec {
            number: 0,
            ja: Cow::Borrowed(ja),
            en: Cow::Borrowed(en),
            kind,
            min,
            max,
            required: false,
        }
    }

    /// Fixed width: a non-empty value has exactly `max` bytes (固定).
    pub(crate) fn fixed(mut self) -> Self {
        self.min = self.max;
        self
    }

    /// The field must be present (not empty).
    pub(crate) fn req(mut self) -> Self {
        self.required = true;
        self
    }

    pub(crate) fn id() -> Self {
        FieldSpec::new("レコード識別情報", "record id", Kind::Ascii, 2)
            .fixed()
            .req()
    }

    /// Checks one field. `text` is the decoded value, `raw` its Shift_JIS bytes.
    pub(crate) fn check(&self, text: &str, raw: &[u8]) -> Option<Rule> {
        if text.is_empty() {
            return self.required.then_some(Rule::Required);
        }
        // The kinds made of digits (and the full-width one, all double-byte) cannot hold a
        // separator, a quote or a control character: only the others need the scan.
        if matches!(self.kind, Kind::Text | Kind::Ascii | Kind::FullWidth)
            && let Some(ch) = text.chars().find(|c| forbidden(*c))
        {
            return Some(Rule::ForbiddenChar(ch));
        }
        if raw.len() > self.max {
            return Some(Rule::TooWide {
                max: self.max,
                found: raw.len(),
            });
        }
        if raw.len() < self.min {
            return Some(Rule::TooNarrow {
                width: self.min,
                found: raw.len(),
            });
        }
        match self.kind {
            Kind::Digits => (!text.bytes().all(|b| b.is_ascii_digit())).then_some(Rule::NotDigits),
            Kind::Decimal => (!is_decimal(text)).then_some(Rule::NotDecimal),
            Kind::Ascii => {
                (!text.bytes().all(|b| (0x20..0x7f).contains(&b))).then_some(Rule::NotAscii)
            }
            Kind::FullWidth => (!is_full_width(raw)).then_some(Rule::NotFullWidth),
            Kind::Text => None,
            Kind::Date => Ymd::parse(text).is_none().then_some(Rule::BadDate),
            Kind::YearMonth => YearMonth::parse(text)
                .is_none()
                .then_some(Rule::BadYearMonth),
            Kind::Insurer => InsurerNo::parse(text)
                .is_none()
                .then_some(Rule::BadInsurerNumber),
        }
    }
}

/// Characters no field may hold: the separator, the quote (the format has no quoting), and
/// control characters (CR, LF, the end-of-file mark 0x1A …).
pub(crate) fn forbidden(c: char) -> bool {
    c == ',' || c == '"' || c.is_control()
}

fn is_decimal(s: &str) -> bool {
    let mut dots = 0;
    let mut digits = 0;
    for b in s.bytes() {
        match b {
            b'.' => dots += 1,
            b'0'..=b'9' => digits += 1,
            _ => return false,
        }
    }
    dots <= 1 && digits > 0
}

/// Every character of these Shift_JIS bytes is a double-byte (全角) one.
pub(crate) fn is_full_width(raw: &[u8]) -> bool {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if (0x81..=0x9f).contains(&b) || (0xe0..=0xfc).contains(&b) {
            i += 2;
        } else {
            return false;
        }
    }
    i == raw.len()
}

/// Numbers the layout fields so their errors can name them.
pub(crate) fn numbered(mut v: Vec<FieldSpec>) -> Vec<FieldSpec> {
    for (i, f) in v.iter_mut().enumerate() {
        f.number = i + 1;
    }
    v
}

/// `n` consecutive fields named after one pattern (`1日の情報` … `31日の情報`).
pub(crate) fn repeat(
    n: usize,
    ja: impl Fn(usize) -> String,
    en: impl Fn(usize) -> String,
    kind: Kind,
    max: usize,
) -> Vec<FieldSpec> {
    (1..=n)
        .map(|i| FieldSpec {
            number: 0,
            ja: Cow::Owned(ja(i)),
            en: Cow::Owned(en(i)),
            kind,
            min: 0,
            max,
            required: false,
        })
        .collect()
}

pub(crate) trait IntoSpecs {
    fn into_specs(self) -> Vec<FieldSpec>;
}
impl IntoSpecs for FieldSpec {
    fn into_specs(self) -> Vec<FieldSpec> {
        vec![self]
    }
}
impl IntoSpecs for Vec<FieldSpec> {
    fn into_specs(self) -> Vec<FieldSpec> {
        self
    }
}

/// A value that fills `N` consecutive fields of a record.
pub(crate) trait FieldType: Sized {
    const N: usize;
    /// Builds the value from fields the layout table has already checked. Never fails: a
    /// field that is somehow not of its kind becomes the type's neutral value.
    fn take(fields: &mut [String]) -> Self;
    fn put<'a>(&'a self, out: &mut Vec<Cow<'a, str>>);
}

/// A record type: its id, its layout table and its conversion to and from fields.
pub(crate) trait Layout: Sized {
    const ID: &'static str;
    fn spec() -> &'static [FieldSpec];
    /// `fields[0]` is the record id.
    fn from_fields(fields: &mut [String]) -> Self;
    /// Pushes every field after the id.
    fn to_fields<'a>(&'a self, out: &mut Vec<Cow<'a, str>>);
}

/// Declares a record struct and its layout table in one place.
macro_rules! layout {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $id:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $spec:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::uke::field::Layout for $name {
            const ID: &'static str = $id;
            fn spec() -> &'static [$crate::uke::field::FieldSpec] {
                #[allow(unused_imports)]
                use $crate::uke::field::{FieldSpec, IntoSpecs, Kind, repeat};
                static SPEC: std::sync::LazyLock<Vec<FieldSpec>> = std::sync::LazyLock::new(|| {
                    let mut v = vec![FieldSpec::id()];
                    $( v.extend(IntoSpecs::into_specs($spec)); )*
                    $crate::uke::field::numbered(v)
                });
                &SPEC
            }
            fn from_fields(fields: &mut [String]) -> Self {
                use $crate::uke::field::FieldType;
                let mut at = 1usize;
                $(
                    let $field = {
                        let n = <$ty as FieldType>::N;
                        let end = (at + n).min(fields.len());
                        let start = at.min(end);
                        at += n;
                        <$ty as FieldType>::take(fields.get_mut(start..end).unwrap_or_default())
                    };
                )*
                let _ = at;
                Self { $($field,)* }
            }
            fn to_fields<'a>(&'a self, out: &mut Vec<std::borrow::Cow<'a, str>>) {
                use $crate::uke::field::FieldType;
                $( FieldType::put(&self.$field, out); )*
            }
        }
    };
}
pub(crate) use layout;

fn first(fields: &mut [String]) -> String {
    fields.first_mut().map(std::mem::take).unwrap_or_default()
}

/// A value held in one field.
pub(crate) trait Single: Sized {
    fn from_text(s: String) -> Self;
    fn text(&self) -> Cow<'_, str>;
}

macro_rules! single {
    ($($t:ty),*) => {$(
        impl FieldType for $t {
            const N: usize = 1;
            fn take(fields: &mut [String]) -> Self {
                <$t as Single>::from_text(first(fields))
            }
            fn put<'a>(&'a self, out: &mut Vec<Cow<'a, str>>) {
                out.push(Single::text(self));
            }
        }
        impl FieldType for Option<$t> {
            const N: usize = 1;
            fn take(fields: &mut [String]) -> Self {
                let s = first(fields);
                (!s.is_empty()).then(|| <$t as Single>::from_text(s))
            }
            fn put<'a>(&'a self, out: &mut Vec<Cow<'a, str>>) {
                out.push(self.as_ref().map(Single::text).unwrap_or(Cow::Borrowed("")));
            }
        }
    )*};
}
single!(String, Num, Ymd, YearMonth, InsurerNo);

impl Single for String {
    fn from_text(s: String) -> Self {
        s
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

/// A number field as written: ASCII digits, leading zeros kept (`"01"`, `"0000000"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Num(String);

impl Num {
    /// Digits only, 1 to 18 of them.
    pub fn parse(s: &str) -> Option<Num> {
        (!s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Num(s.to_owned()))
    }
    /// A number written with at least `width` digits, zero-padded (`Num::padded(1, 2)` is `"01"`).
    pub fn padded(n: u64, width: usize) -> Num {
        Num(format!("{n:0width$}"))
    }
    /// Its value (0 for a value that is not digits, which a checked field never is).
    pub fn value(&self) -> u64 {
        self.0.parse().unwrap_or(0)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<u64> for Num {
    fn from(n: u64) -> Num {
        Num(n.to_string())
    }
}
impl From<u32> for Num {
    fn from(n: u32) -> Num {
        Num(n.to_string())
    }
}
impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl Single for Num {
    fn from_text(s: String) -> Self {
        Num(s)
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
}

/// A date field `YYYYMMDD` (西暦).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ymd(pub NaiveDate);

impl Ymd {
    pub fn parse(s: &str) -> Option<Ymd> {
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let y = s.get(0..4)?.parse().ok()?;
        let m = s.get(4..6)?.parse().ok()?;
        let d = s.get(6..8)?.parse().ok()?;
        NaiveDate::from_ymd_opt(y, m, d).map(Ymd)
    }
}
impl fmt::Display for Ymd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}",
            self.0.year(),
            self.0.month(),
            self.0.day()
        )
    }
}
impl Single for Ymd {
    fn from_text(s: String) -> Self {
        Ymd::parse(&s).unwrap_or(Ymd(NaiveDate::MIN))
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

/// A month field `YYYYMM` (西暦): 診療年月, 請求年月.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth {
    year: u16,
    month: u8,
}

impl YearMonth {
    /// `None` unless `1 <= month <= 12` and `1000 <= year <= 9999`.
    pub fn new(year: u16, month: u8) -> Option<YearMonth> {
        ((1000..=9999).contains(&year) && (1..=12).contains(&month))
            .then_some(YearMonth { year, month })
    }
    pub fn parse(s: &str) -> Option<YearMonth> {
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        YearMonth::new(s.get(0..4)?.parse().ok()?, s.get(4..6)?.parse().ok()?)
    }
    pub fn year(self) -> u16 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    /// The month after this one (請求年月 is usually 診療年月 + 1).
    pub fn next(self) -> YearMonth {
        if self.month == 12 {
            YearMonth {
                year: self.year.saturating_add(1).min(9999),
                month: 1,
            }
        } else {
            YearMonth {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
    /// The number of days in the month.
    pub fn days(self) -> u32 {
        let next = self.next();
        match (
            NaiveDate::from_ymd_opt(i32::from(self.year), u32::from(self.month), 1),
            NaiveDate::from_ymd_opt(i32::from(next.year), u32::from(next.month), 1),
        ) {
            (Some(a), Some(b)) if b > a => (b - a).num_days() as u32,
            _ => 31,
        }
    }
}
impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}", self.year, self.month)
    }
}
impl Single for YearMonth {
    fn from_text(s: String) -> Self {
        YearMonth::parse(&s).unwrap_or(YearMonth {
            year: 1000,
            month: 1,
        })
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

/// An insurer (保険者番号) or public-fund payer number as written in a claim: 8 digits, or a
/// 6-digit 国保 number right-justified with two spaces (`"  123456"`). The check digit is not
/// checked here: the 不詳 value `77777777` has none (see [`super::FUSHOU_INSURER`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InsurerNo(String);

impl InsurerNo {
    /// Accepts the field form (8 characters) and also a bare 6-digit 国保 number, which it
    /// right-justifies.
    pub fn parse(s: &str) -> Option<InsurerNo> {
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        match s.len() {
            8 if digits(s) => Some(InsurerNo(s.to_owned())),
            8 if s.starts_with("  ") && digits(&s[2..]) => Some(InsurerNo(s.to_owned())),
            6 if digits(s) => Some(InsurerNo(format!("  {s}"))),
            _ => None,
        }
    }
    /// The field as written (8 characters).
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The number without the padding spaces (6 or 8 digits).
    pub fn digits(&self) -> &str {
        self.0.trim_start()
    }
    /// A 6-digit 国保 number.
    pub fn is_six_digit_kokuho(&self) -> bool {
        self.0.starts_with(' ')
    }
}
impl fmt::Display for InsurerNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl Single for InsurerNo {
    fn from_text(s: String) -> Self {
        InsurerNo(s)
    }
    fn text(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
}

/// The 31 day fields of JD, MF, SI, IY and TO (1日の情報 … 31日の情報): one optional code or
/// count per day of the service month.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Days(pub [Option<Num>; 31]);

impl Days {
    /// The value for day `day` (1–31).
    pub fn get(&self, day: u32) -> Option<&Num> {
        let i = usize::try_from(day).ok()?.checked_sub(1)?;
        self.0.get(i)?.as_ref()
    }
    /// Sets day `day` (1–31); other days are ignored.
    pub fn set(&mut self, day: u32, value: Option<Num>) {
        if let Some(slot) = usize::try_from(day)
            .ok()
            .and_then(|d| d.checked_sub(1))
            .and_then(|i| self.0.get_mut(i))
        {
            *slot = value;
        }
    }
    /// Days (1–31) whose field is not empty, with their value.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Num)> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i as u32 + 1, v)))
    }
}

impl FieldType for Days {
    const N: usize = 31;
    fn take(fields: &mut [String]) -> Self {
        let mut d = Days::default();
        for (slot, f) in d.0.iter_mut().zip(fields.iter_mut()) {
            let s = std::mem::take(f);
            *slot = (!s.is_empty()).then_some(Num(s));
        }
        d
    }
    fn put<'a>(&'a self, out: &mut Vec<Cow<'a, str>>) {
        for v in &self.0 {
            out.push(v.as_ref().map(Single::text).unwrap_or(Cow::Borrowed("")));
        }
    }
}

pub(crate) fn day_specs(what_ja: &'static str, kind: Kind, max: usize) -> Vec<FieldSpec> {
    repeat(
        31,
        |i| format!("{i}日の{what_ja}"),
        |i| format!("day {i}"),
        kind,
        max,
    )
}

/// One comment pair of SI / IY / TO (コメントコード, 文字データ).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CommentSlot {
    pub code: Option<Num>,
    pub text: Option<String>,
}

/// The three comment pairs of SI / IY / TO.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Comments(pub [CommentSlot; 3]);

impl FieldType for Comments {
    const N: usize = 6;
    fn take(fields: &mut [String]) -> Self {
        let mut c = Comments::default();
        for (i, slot) in c.0.iter_mut().enumerate() {
            let code = fields
                .get_mut(2 * i)
                .map(std::mem::take)
                .unwrap_or_default();
            let text = fields
                .get_mut(2 * i + 1)
                .map(std::mem::take)
                .unwrap_or_default();
            slot.code = (!code.is_empty()).then_some(Num(code));
            slot.text = (!text.is_empty()).then_some(text);
        }
        c
    }
    fn put<'a>(&'a self, out: &mut Vec<Cow<'a, str>>) {
        for s in &self.0 {
            out.push(
                s.code
                    .as_ref()
                    .map(Single::text)
                    .unwrap_or(Cow::Borrowed("")),
            );
            out.push(
                s.text
                    .as_deref()
                    .map(Cow::Borrowed)
                    .unwrap_or(Cow::Borrowed("")),
            );
        }
    }
}

pub(crate) fn comment_specs() -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for i in 1..=3 {
        v.push(FieldSpec {
            number: 0,
            ja: Cow::Owned(format!("コメントコード{i}")),
            en: Cow::Owned(format!("comment code {i}")),
            kind: Kind::Digits,
            min: 9,
            max: 9,
            required: false,
        });
        v.push(FieldSpec {
            number: 0,
            ja: Cow::Owned(format!("文字データ{i}")),
            en: Cow::Owned(format!("comment text {i}")),
            kind: Kind::Text,
            min: 0,
            max: 100,
            required: false,
        });
    }
    v
}
