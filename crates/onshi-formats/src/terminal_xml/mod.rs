//! The XML messages of the qualification-confirmation terminal's folder interface
//! (資格確認端末 連携): what a receipt computer (レセコン) writes into the terminal's `req`
//! folder and reads back from `res` and `face`. See `docs/formats/terminal-xml.md`.
//!
//! One module per message:
//! - [`siquc01`] single qualification confirmation (`OQSsiquc01req_` / `OQSsiquc01res_`);
//! - [`siimm01`] reference-number (照会番号) registration (`OQSsiimm01req_` / `…res_`);
//! - [`muquc01`] bulk confirmation upload (`OQSmuquc01req_`), answered with a `ReceptionNumber`;
//! - [`muquc02`] bulk confirmation fetch by `ReceptionNumber` (`OQSmuquc02req_`);
//! - [`face`] the patient's own card confirmation at the reader (`OQSsiquc01res_face_…`);
//! - [`medinfo`] medical information under consent (R2): drugs `YZKsiquc01req_`, checkups
//!   `TKKsiquc01req_`.
//!
//! Shared here: the encodings (UTF-8 and Shift_JIS, both ways; a character Shift_JIS cannot
//! carry is an explicit [`XmlError::Unrepresentable`], never `?` or `&#…;`), the
//! `CharacterCodeIdentifier` code values (a setting, [`CharacterCodes`]), a small element tree
//! read with `quick-xml`, and the pieces every message shares (headers, the echoed
//! `QualificationConfirmSearchInfo`, `ResultOfQualificationConfirmation`).
//!
//! Boundary rules: parsers never panic, whatever the bytes; element names, nesting and code
//! values are exactly the OQS ones; codes stay strings so leading zeros survive.

#[macro_use]
pub mod common;
pub mod face;
pub mod json;
pub mod medinfo;
pub mod muquc01;
pub mod muquc02;
pub mod siimm01;
pub mod siquc01;
mod tree;
mod writer;

#[cfg(test)]
mod tests;

pub use common::*;
pub use tree::Element;
pub use writer::XmlWriter;

use std::borrow::Cow;

/// Largest message the parser accepts (a bulk upload of many thousand entries fits easily).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Why a message could not be read or written. Each variant names the element (as a path
/// like `MessageBody/QualificationConfirmSearchInfo/InsurerNumber`) and the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("encoding: {0}")]
    Encoding(String),
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    #[error("root element must be XmlMsg, found {found}")]
    WrongRoot { found: String },
    #[error("{path}: required element is missing")]
    Missing { path: String },
    #[error("{path}: {rule}")]
    Invalid { path: String, rule: String },
    #[error(
        "{path}: the character {ch:?} (U+{code:04X}) cannot be written in Shift_JIS; use UTF-8 or replace it"
    )]
    Unrepresentable { path: String, ch: char, code: u32 },
    #[error("message is {size} bytes, more than the {max} allowed")]
    TooLarge { size: usize, max: usize },
}

impl XmlError {
    pub fn invalid(path: impl Into<String>, rule: impl Into<String>) -> Self {
        XmlError::Invalid {
            path: path.into(),
            rule: rule.into(),
        }
    }
}

/// Character encoding of a message file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Utf8,
    ShiftJis,
}

impl Encoding {
    /// The name written in the XML declaration.
    pub fn xml_name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::ShiftJis => "Shift_JIS",
        }
    }

    /// Reads an encoding name as found in declarations and settings.
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.trim().to_ascii_lowercase().replace(['-', '_'], "");
        match n.as_str() {
            "utf8" => Some(Encoding::Utf8),
            "shiftjis" | "sjis" | "windows31j" | "cp932" | "ms932" | "xsjis" => {
                Some(Encoding::ShiftJis)
            }
            _ => None,
        }
    }
}

/// The code values of `CharacterCodeIdentifier` (OQSCD005). Public sources disagree (0 UTF-8 /
/// 1 Shift_JIS, or 1 UTF-8 / 2 Shift_JIS), so they are a setting; the default is 0 / 1.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CharacterCodes {
    pub utf8: String,
    pub shift_jis: String,
}

impl Default for CharacterCodes {
    fn default() -> Self {
        CharacterCodes {
            utf8: "0".into(),
            shift_jis: "1".into(),
        }
    }
}

impl CharacterCodes {
    /// The other reading found in public sources: 1 UTF-8 / 2 Shift_JIS.
    pub fn one_two() -> Self {
        CharacterCodes {
            utf8: "1".into(),
            shift_jis: "2".into(),
        }
    }

    /// Parses a setting written as `UTF8CODE,SJISCODE`, e.g. `0,1` or `1,2`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut it = s.split(',').map(str::trim);
        match (it.next(), it.next(), it.next()) {
            (Some(a), Some(b), None)
                if !a.is_empty() && !b.is_empty() && a != b && a.len() <= 2 && b.len() <= 2 =>
            {
                Ok(CharacterCodes {
                    utf8: a.into(),
                    shift_jis: b.into(),
                })
            }
            _ => Err(format!(
                "character codes: expected two different codes as UTF8,SJIS (e.g. 0,1 or 1,2), got {s:?}"
            )),
        }
    }

    pub fn code(&self, e: Encoding) -> &str {
        match e {
            Encoding::Utf8 => &self.utf8,
            Encoding::ShiftJis => &self.shift_jis,
        }
    }

    pub fn encoding(&self, code: &str) -> Option<Encoding> {
        if code == self.utf8 {
            Some(Encoding::Utf8)
        } else if code == self.shift_jis {
            Some(Encoding::ShiftJis)
        } else {
            None
        }
    }
}

/// Finds the encoding a message declares (`<?xml … encoding="…"?>`); a UTF-8 byte-order mark or
/// no declaration means UTF-8, as XML itself says.
pub fn detect_encoding(bytes: &[u8]) -> Result<Encoding, XmlError> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Ok(Encoding::Utf8);
    }
    if !bytes.starts_with(b"<?xml") {
        return Ok(Encoding::Utf8);
    }
    let end = bytes
        .iter()
        .take(400)
        .position(|&b| b == b'>')
        .ok_or_else(|| XmlError::Syntax("the XML declaration is not closed".into()))?;
    let decl = String::from_utf8_lossy(&bytes[..end]);
    let Some(i) = decl.find("encoding") else {
        return Ok(Encoding::Utf8);
    };
    let rest = decl[i + "encoding".len()..].trim_start();
    let Some(rest) = rest.strip_prefix('=') else {
        return Err(XmlError::Syntax(
            "XML declaration: encoding must be followed by =".into(),
        ));
    };
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
    let Some(q) = quote else {
        return Err(XmlError::Syntax(
            "XML declaration: the encoding name must be quoted".into(),
        ));
    };
    let name: String = rest[1..].chars().take_while(|c| *c != q).collect();
    Encoding::from_name(&name).ok_or_else(|| {
        XmlError::Encoding(format!(
            "the declared encoding {name:?} is not supported (UTF-8 or Shift_JIS)"
        ))
    })
}

/// Decodes message bytes to text in the declared encoding. Bytes that are not valid in that
/// encoding are an error naming the offset, never replaced.
pub fn decode(bytes: &[u8]) -> Result<(Encoding, Cow<'_, str>), XmlError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(XmlError::TooLarge {
            size: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let enc = detect_encoding(bytes)?;
    match enc {
        Encoding::Utf8 => {
            let b = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(bytes);
            std::str::from_utf8(b)
                .map(|s| (enc, Cow::Borrowed(s)))
                .map_err(|e| {
                    XmlError::Encoding(format!(
                        "declared UTF-8, but byte {} is not valid UTF-8",
                        e.valid_up_to()
                    ))
                })
        }
        Encoding::ShiftJis => {
            let mut dec = encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling();
            let cap = dec
                .max_utf8_buffer_length_without_replacement(bytes.len())
                .unwrap_or(bytes.len().saturating_mul(3));
            let mut out = String::with_capacity(cap);
            let (res, read) = dec.decode_to_string_without_replacement(bytes, &mut out, true);
            match res {
                encoding_rs::DecoderResult::InputEmpty => Ok((enc, Cow::Owned(out))),
                encoding_rs::DecoderResult::Malformed(bad, _) => Err(XmlError::Encoding(format!(
                    "declared Shift_JIS, but the bytes before offset {read} are not valid Shift_JIS ({bad} bad byte(s))"
                ))),
                encoding_rs::DecoderResult::OutputFull => Err(XmlError::Encoding(
                    "Shift_JIS decoding ran out of buffer".into(),
                )),
            }
        }
    }
}

/// Encodes message text. A character Shift_JIS cannot carry is an error (the caller finds the
/// element with [`XmlWriter::finish`]); nothing is replaced.
pub fn encode_text(text: &str, enc: Encoding) -> Result<Vec<u8>, char> {
    match enc {
        Encoding::Utf8 => Ok(text.as_bytes().to_vec()),
        Encoding::ShiftJis => {
            let mut enc = encoding_rs::SHIFT_JIS.new_encoder();
            let cap = enc
                .max_buffer_length_from_utf8_without_replacement(text.len())
                .unwrap_or(text.len().saturating_mul(2));
            let mut out = Vec::with_capacity(cap);
            let (res, _) = enc.encode_from_utf8_to_vec_without_replacement(text, &mut out, true);
            match res {
                encoding_rs::EncoderResult::InputEmpty => Ok(out),
                encoding_rs::EncoderResult::Unmappable(c) => Err(c),
                encoding_rs::EncoderResult::OutputFull => Err('\u{FFFD}'),
            }
        }
    }
}

/// Whether `c` can be written in Shift_JIS.
pub fn sjis_can_carry(c: char) -> bool {
    let mut buf = [0u8; 4];
    encode_text(c.encode_utf8(&mut buf), Encoding::ShiftJis).is_ok()
}

/// The kinds of message, told by the file-name prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `OQSsiquc01req_` single confirmation
    Single,
    /// `OQSsiimm01req_` reference-number registration
    RefRegistration,
    /// `OQSmuquc01req_` bulk upload
    BulkUpload,
    /// `OQSmuquc02req_` bulk fetch
    BulkFetch,
    /// `OQSmuimm01req_` bulk reference-number registration (recognised, not supported)
    BulkRefRegistration,
    /// `OQSmuonq01req_` / `OQSmuonq02req_` bulk for オンライン診療 (recognised, not offered)
    BulkOnline,
    /// `OQSmuhvq01req_` / `OQSmuhvq02req_` bulk for 訪問診療 (recognised, not offered)
    BulkHomeVisit,
    /// `OQSmutic01req_` / `OQSmutic02req_` bulk for 医療扶助 (recognised, not offered)
    BulkMedicalAid,
    /// `YZKsiquc01req_` 薬剤情報 (and 診療情報), R2
    DrugInfo,
    /// `TKKsiquc01req_` 特定健診情報, R2
    CheckupInfo,
}

impl MessageKind {
    pub const ALL: [MessageKind; 10] = [
        MessageKind::Single,
        MessageKind::RefRegistration,
        MessageKind::BulkUpload,
        MessageKind::BulkFetch,
        MessageKind::BulkRefRegistration,
        MessageKind::BulkOnline,
        MessageKind::BulkHomeVisit,
        MessageKind::BulkMedicalAid,
        MessageKind::DrugInfo,
        MessageKind::CheckupInfo,
    ];

    /// The request file-name prefix.
    pub fn request_prefix(self) -> &'static str {
        match self {
            MessageKind::Single => "OQSsiquc01req_",
            MessageKind::RefRegistration => "OQSsiimm01req_",
            MessageKind::BulkUpload => "OQSmuquc01req_",
            MessageKind::BulkFetch => "OQSmuquc02req_",
            MessageKind::BulkRefRegistration => "OQSmuimm01req_",
            MessageKind::BulkOnline => "OQSmuonq",
            MessageKind::BulkHomeVisit => "OQSmuhvq",
            MessageKind::BulkMedicalAid => "OQSmutic",
            MessageKind::DrugInfo => "YZKsiquc01req_",
            MessageKind::CheckupInfo => "TKKsiquc01req_",
        }
    }

    /// The kinds onshi's terminal recognises but does not offer: answered with a clear
    /// "not offered" error, never as an unknown or unreadable message.
    pub fn is_offered(self) -> bool {
        !matches!(
            self,
            MessageKind::BulkRefRegistration
                | MessageKind::BulkOnline
                | MessageKind::BulkHomeVisit
                | MessageKind::BulkMedicalAid
        )
    }

    /// Tells the kind from a request file name.
    pub fn from_request_file(name: &str) -> Option<Self> {
        MessageKind::ALL.into_iter().find(|k| {
            let p = k.request_prefix();
            match name.strip_prefix(p) {
                // the 訪問診療 / オンライン診療 / 医療扶助 kinds: 01 upload or 02 fetch
                Some(rest) if !p.ends_with('_') => {
                    rest.starts_with("01req_") || rest.starts_with("02req_")
                }
                Some(_) => true,
                None => false,
            }
        })
    }
}

/// The answer file name for a request file name: the same name with `req` replaced by `res`
/// (`OQSsiquc01req_X.xml` → `OQSsiquc01res_X.xml`). `None` when the name holds no `req`.
pub fn response_file_name(request: &str) -> Option<String> {
    let i = request.find("req")?;
    Some(format!("{}res{}", &request[..i], &request[i + 3..]))
}
