//! UKE files (レセプト電算処理システム): the monthly claim files a facility sends to its payer
//! (支払基金 or 国保連), 医科 layout (`RECEIPTC.UKE`). See `docs/formats/uke.md`.
//!
//! # Public API
//! - One module per record, each a struct whose fields carry the layout's Japanese and English
//!   names: [`ir`] IR, [`re`] RE, [`ho`] HO, [`ko`] KO, [`sn`] SN, [`jd`] JD, [`mf`] MF, [`sy`]
//!   SY, [`si`] SI, [`iy`] IY, [`to`] TO, [`co`] CO, [`sj`] SJ, [`go`] GO; [`Record`] is one of
//!   them, or [`Record::Other`] for a record onshi does not model (KH, GR, HR, RC …), kept as
//!   its fields so that a file reads and writes back byte for byte.
//! - Field values: [`Num`] (digits as written, leading zeros kept), [`Ymd`], [`YearMonth`],
//!   [`InsurerNo`] (8 digits or a 6-digit 国保 number right-justified with two spaces),
//!   [`Days`] (the 31 day fields), text as `String`.
//! - [`RecordReader`]: a streaming reader over `impl BufRead` yielding one record or the
//!   record's errors at a time; it never loads the whole file and never panics.
//! - [`ClaimReader`]: the same stream grouped into [`FileItem`]s (IR, claims, GO), checking the
//!   record order; [`UkeFile::read`] reads a whole file and returns every error of it.
//! - [`UkeWriter`]: writes records or claims over `impl Write`, refusing values that do not fit;
//!   [`UkeFile::write`] writes a whole file.
//! - [`UkeClaim`]: the records of one claim and the facts others need (insurer number, person,
//!   service month and days, points, 一部負担金, free comments, SN 確認区分, 不詳, the line it
//!   was read from); [`UkeClaim::from_parts`] lays out a claim for a claim builder, with the
//!   constructors [`Ir::new`], [`Re::new`], [`Ho::new`], [`Ko::new`], [`Sn::facility`],
//!   [`Jd::counted`], [`Sy::coded`], [`Sy::uncoded`], [`Co::free`]; [`Go::for_claims`].
//! - The 不詳 values of R20 ([`FUSHOU_INSURER`] …) and the free-comment code.
//!
//! # Rules of the file (checked by the reader, kept by the writer)
//! Windows-31J (CP932) text; comma-separated with no quoting, so no field holds `,` `"` CR LF;
//! CR LF after every record; one 0x1A after the last record (written; accepted but not
//! required on read). Every record has its layout's field count; widths are Shift_JIS bytes;
//! digits, dates and full-width text where the layout demands them.
//!
//! 調剤 (`RECEIPTY.UKE`, records YK …) is not modelled: its layout is not in the public facts
//! onshi works from. Such records read as [`Record::Other`].

pub mod claim;
pub mod co;
mod error;
pub mod field;
pub mod go;
pub mod ho;
pub mod ir;
pub mod iy;
pub mod jd;
pub mod ko;
pub mod mf;
pub mod re;
mod reader;
pub mod si;
pub mod sj;
pub mod sn;
pub mod sy;
pub mod to;
mod writer;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

pub use claim::{ClaimParts, ClaimReader, FileItem, Person, UkeClaim, UkeFile};
pub use co::Co;
pub use error::{FieldRef, Rule, UkeError, UkeErrors, UkeWriteError};
pub use field::{CommentSlot, Comments, Days, FieldSpec, InsurerNo, Kind, Num, YearMonth, Ymd};
pub use go::Go;
pub use ho::Ho;
pub use ir::Ir;
pub use iy::Iy;
pub use jd::Jd;
pub use ko::Ko;
pub use mf::Mf;
pub use re::Re;
pub use reader::{MAX_LINE_BYTES, RecordReader};
pub use si::Si;
pub use sj::Sj;
pub use sn::Sn;
pub use sy::Sy;
pub use to::To;
pub use writer::UkeWriter;

use field::Layout;

/// 保険者番号 of a claim whose insurer is unknown (不詳, R20; 2023-07-19 notice).
pub const FUSHOU_INSURER: &str = "77777777";
/// The 不詳 保険者番号 for software that insists on a valid check digit (2023-09-15).
pub const FUSHOU_INSURER_CHECK_DIGIT: &str = "77777779";
/// 被保険者番号 of a 不詳 claim (9 digits).
pub const FUSHOU_NUMBER: &str = "777777777";
/// 被保険者番号 of a 不詳 後期高齢者 claim (8 digits).
pub const FUSHOU_NUMBER_KOUKI: &str = "77777777";
/// The free text that heads the 摘要 of a 不詳 claim (R20).
pub const FUSHOU_TEXT: &str = "不詳";
/// コメントコード of a free-text comment.
pub const FREE_COMMENT_CODE: &str = "810000001";
/// The end-of-file mark written after the last record.
pub const EOF_MARK: u8 = 0x1a;

/// One record of a UKE file.
// Records are built once and moved a few times; boxing the wide ones (RE, SI …) would only
// add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Ir(Ir),
    Re(Re),
    Ho(Ho),
    Ko(Ko),
    Sn(Sn),
    Jd(Jd),
    Mf(Mf),
    Sy(Sy),
    Si(Si),
    Iy(Iy),
    To(To),
    Co(Co),
    Sj(Sj),
    Go(Go),
    /// A record onshi does not model, with its fields after the id as written.
    Other {
        id: String,
        fields: Vec<String>,
    },
}

/// The ids of the records onshi models.
pub const KNOWN_IDS: [&str; 14] = [
    "IR", "RE", "HO", "KO", "SN", "JD", "MF", "SY", "SI", "IY", "TO", "CO", "SJ", "GO",
];

impl Record {
    /// The record id (`"HO"`).
    pub fn id(&self) -> &str {
        match self {
            Record::Ir(_) => Ir::ID,
            Record::Re(_) => Re::ID,
            Record::Ho(_) => Ho::ID,
            Record::Ko(_) => Ko::ID,
            Record::Sn(_) => Sn::ID,
            Record::Jd(_) => Jd::ID,
            Record::Mf(_) => Mf::ID,
            Record::Sy(_) => Sy::ID,
            Record::Si(_) => Si::ID,
            Record::Iy(_) => Iy::ID,
            Record::To(_) => To::ID,
            Record::Co(_) => Co::ID,
            Record::Sj(_) => Sj::ID,
            Record::Go(_) => Go::ID,
            Record::Other { id, .. } => id,
        }
    }

    /// The layout table of a known record id.
    pub fn layout(id: &str) -> Option<&'static [FieldSpec]> {
        Some(match id {
            "IR" => Ir::spec(),
            "RE" => Re::spec(),
            "HO" => Ho::spec(),
            "KO" => Ko::spec(),
            "SN" => Sn::spec(),
            "JD" => Jd::spec(),
            "MF" => Mf::spec(),
            "SY" => Sy::spec(),
            "SI" => Si::spec(),
            "IY" => Iy::spec(),
            "TO" => To::spec(),
            "CO" => Co::spec(),
            "SJ" => Sj::spec(),
            "GO" => Go::spec(),
            _ => return None,
        })
    }

    /// All fields, the id first, as they are written.
    pub fn fields(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::with_capacity(48);
        out.push(Cow::Borrowed(self.id()));
        match self {
            Record::Ir(r) => r.to_fields(&mut out),
            Record::Re(r) => r.to_fields(&mut out),
            Record::Ho(r) => r.to_fields(&mut out),
            Record::Ko(r) => r.to_fields(&mut out),
            Record::Sn(r) => r.to_fields(&mut out),
            Record::Jd(r) => r.to_fields(&mut out),
            Record::Mf(r) => r.to_fields(&mut out),
            Record::Sy(r) => r.to_fields(&mut out),
            Record::Si(r) => r.to_fields(&mut out),
            Record::Iy(r) => r.to_fields(&mut out),
            Record::To(r) => r.to_fields(&mut out),
            Record::Co(r) => r.to_fields(&mut out),
            Record::Sj(r) => r.to_fields(&mut out),
            Record::Go(r) => r.to_fields(&mut out),
            Record::Other { fields, .. } => {
                out.extend(fields.iter().map(|f| Cow::Borrowed(f.as_str())))
            }
        }
        out
    }

    /// Builds a record from fields already checked against its layout (`fields[0]` is the
    /// id), taking the values out of `fields` and leaving it empty.
    pub(crate) fn from_checked_in(fields: &mut Vec<String>) -> Record {
        let id = fields.first().map(String::as_str).unwrap_or("");
        let known = match id {
            "IR" => Some(Record::Ir(Ir::from_fields(fields))),
            "RE" => Some(Record::Re(Re::from_fields(fields))),
            "HO" => Some(Record::Ho(Ho::from_fields(fields))),
            "KO" => Some(Record::Ko(Ko::from_fields(fields))),
            "SN" => Some(Record::Sn(Sn::from_fields(fields))),
            "JD" => Some(Record::Jd(Jd::from_fields(fields))),
            "MF" => Some(Record::Mf(Mf::from_fields(fields))),
            "SY" => Some(Record::Sy(Sy::from_fields(fields))),
            "SI" => Some(Record::Si(Si::from_fields(fields))),
            "IY" => Some(Record::Iy(Iy::from_fields(fields))),
            "TO" => Some(Record::To(To::from_fields(fields))),
            "CO" => Some(Record::Co(Co::from_fields(fields))),
            "SJ" => Some(Record::Sj(Sj::from_fields(fields))),
            "GO" => Some(Record::Go(Go::from_fields(fields))),
            _ => None,
        };
        match known {
            Some(r) => {
                fields.clear();
                r
            }
            None => {
                let mut all = fields.drain(..);
                let id = all.next().unwrap_or_default();
                Record::Other {
                    id,
                    fields: all.collect(),
                }
            }
        }
    }
}

/// A record id: two upper-case ASCII letters or digits.
pub(crate) fn valid_id(id: &str) -> bool {
    id.len() == 2
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}
