//! The writer: records as Windows-31J lines, CR LF after every record, 0x1A at the end.

use std::borrow::Cow;
use std::io::Write;

use encoding_rs::SHIFT_JIS;

use super::claim::{RecordRef, UkeClaim};
use super::error::{Rule, UkeError, UkeErrors, UkeWriteError};
use super::field::Layout;
use super::reader::field_error;
use super::{EOF_MARK, KNOWN_IDS, Record, valid_id};

/// Writes UKE records. Every record is checked against its layout before anything of it is
/// written: a value that does not fit (width in Shift_JIS bytes, a character Windows-31J
/// cannot carry, `,` `"` CR LF inside a field, a wrong kind) is refused with the field named.
pub struct UkeWriter<W: Write> {
    out: W,
    line: u64,
    buf: Vec<u8>,
}

impl<W: Write> UkeWriter<W> {
    pub fn new(out: W) -> Self {
        UkeWriter {
            out,
            line: 0,
            buf: Vec::with_capacity(1024),
        }
    }

    /// Records written so far.
    pub fn records_written(&self) -> u64 {
        self.line
    }

    /// Writes one record and its CR LF.
    pub fn write_record(&mut self, record: &Record) -> Result<(), UkeWriteError> {
        let line = self.line + 1;
        let other = matches!(record, Record::Other { .. });
        encode_record(line, other, record.fields(), &mut self.buf)
            .map_err(UkeWriteError::Invalid)?;
        self.out.write_all(&self.buf)?;
        self.line = line;
        Ok(())
    }

    /// Writes the records of one claim in their order.
    pub fn write_claim(&mut self, claim: &UkeClaim) -> Result<(), UkeWriteError> {
        for r in claim.records() {
            match r {
                RecordRef::Re(re) => {
                    let line = self.line + 1;
                    let mut fields = vec![Cow::Borrowed("RE")];
                    re.to_fields(&mut fields);
                    encode_record(line, false, fields, &mut self.buf)
                        .map_err(UkeWriteError::Invalid)?;
                    self.out.write_all(&self.buf)?;
                    self.line = line;
                }
                RecordRef::Record(r) => self.write_record(r)?,
            }
        }
        Ok(())
    }

    /// Writes the end-of-file mark 0x1A, flushes, and returns the inner writer.
    pub fn finish(mut self) -> Result<W, UkeWriteError> {
        self.out.write_all(&[EOF_MARK])?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Flushes and returns the inner writer without the 0x1A mark (to reproduce a file that
    /// had none).
    pub fn finish_without_eof_mark(mut self) -> Result<W, UkeWriteError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Checks and encodes one record, CR LF included, into `buf`.
pub(crate) fn encode_record(
    line: u64,
    other: bool,
    fields: Vec<Cow<'_, str>>,
    buf: &mut Vec<u8>,
) -> Result<(), UkeErrors> {
    buf.clear();
    let id: &str = fields.first().map(|f| f.as_ref()).unwrap_or("");
    if !valid_id(id) {
        return Err(UkeError::line(line, "", Rule::BadRecordId).into());
    }
    let layout = Record::layout(id);
    if other && KNOWN_IDS.contains(&id) {
        return Err(UkeError::line(line, id, Rule::ReservedRecordId).into());
    }
    if let Some(spec) = layout
        && spec.len() != fields.len()
    {
        return Err(UkeError::line(
            line,
            id,
            Rule::FieldCount {
                expected: spec.len(),
                found: fields.len(),
            },
        )
        .into());
    }
    let mut errors = Vec::new();
    for (i, text) in fields.iter().enumerate() {
        let spec = layout.and_then(|s| s.get(i));
        if i > 0 {
            buf.push(b',');
        }
        let start = buf.len();
        // A known field's check (after encoding) finds forbidden characters itself; a field of
        // an unknown record has no layout, so it is scanned here.
        let unchecked = spec
            .is_none()
            .then(|| text.chars().find(|c| super::field::forbidden(*c)));
        let problem = if let Some(Some(ch)) = unchecked {
            Some(Rule::ForbiddenChar(ch))
        } else {
            match encode_into(text, buf) {
                Err(rule) => Some(rule),
                Ok(()) => spec.and_then(|s| s.check(text, &buf[start..])),
            }
        };
        if let Some(rule) = problem {
            errors.push(field_error(line, id, i, spec, rule));
        }
    }
    if !errors.is_empty() {
        buf.clear();
        return Err(UkeErrors(errors));
    }
    buf.extend_from_slice(b"\r\n");
    Ok(())
}

/// Appends the Windows-31J bytes of `text`, refusing a character it cannot carry or one that
/// would read back as another character.
fn encode_into(text: &str, buf: &mut Vec<u8>) -> Result<(), Rule> {
    if text.is_ascii() {
        buf.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    let start = buf.len();
    let mut encoder = SHIFT_JIS.new_encoder();
    if let Some(max) = encoder.max_buffer_length_from_utf8_without_replacement(text.len()) {
        buf.reserve(max);
        let (result, _) = encoder.encode_from_utf8_to_vec_without_replacement(text, buf, true);
        if result == encoding_rs::EncoderResult::InputEmpty {
            let back = SHIFT_JIS.decode_without_bom_handling_and_without_replacement(&buf[start..]);
            if back.as_deref() == Some(text) {
                return Ok(());
            }
        }
    }
    buf.truncate(start);
    // Find the character at fault.
    for ch in text.chars() {
        let mut tmp = [0u8; 4];
        let s = ch.encode_utf8(&mut tmp);
        let (bytes, _, unmappable) = SHIFT_JIS.encode(s);
        let back = SHIFT_JIS.decode_without_bom_handling_and_without_replacement(&bytes);
        if unmappable || back.as_deref() != Some(&*s) {
            return Err(Rule::Unencodable(ch));
        }
    }
    Err(Rule::NotShiftJis)
}
