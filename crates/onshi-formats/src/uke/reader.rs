//! The streaming record reader: one line at a time from `impl BufRead`, never the whole file,
//! never a panic on any bytes.

use std::io::BufRead;

use encoding_rs::SHIFT_JIS;

use super::error::{FieldRef, Rule, UkeError, UkeErrors};
use super::field::FieldSpec;
use super::{EOF_MARK, Record, valid_id};

/// The longest line the reader accepts. The widest record of the layout (SJ: 2,400 bytes of
/// text) fits several times over; a longer line is reported and skipped, not buffered.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Reads the records of a UKE file one by one.
///
/// Each item is a record, or every problem of one line (the reader goes on with the next
/// line, so a caller can collect all errors of a file, or skip bad records). After an I/O
/// error the reader stops.
pub struct RecordReader<R> {
    inner: R,
    line: u64,
    buf: Vec<u8>,
    done: bool,
    eof_mark: bool,
    texts: Vec<String>,
}

impl<R: BufRead> RecordReader<R> {
    pub fn new(inner: R) -> Self {
        RecordReader {
            inner,
            line: 0,
            buf: Vec::with_capacity(512),
            done: false,
            eof_mark: false,
            texts: Vec::with_capacity(48),
        }
    }

    /// The number of the last line read (1-based).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Whether the file ended with the 0x1A mark (known once the reader returned `None`).
    pub fn saw_eof_mark(&self) -> bool {
        self.eof_mark
    }

    /// Reads up to and including the next LF into `buf`, at most `MAX_LINE_BYTES` kept.
    /// Returns (bytes seen, ended with LF, too long).
    fn read_line(&mut self) -> std::io::Result<(usize, bool, bool)> {
        self.buf.clear();
        let mut seen = 0usize;
        let mut too_long = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok((seen, false, too_long));
            }
            let (chunk, found) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (&avail[..=i], true),
                None => (avail, false),
            };
            let n = chunk.len();
            seen += n;
            if !too_long {
                if self.buf.len() + n > MAX_LINE_BYTES + 2 {
                    too_long = true;
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            self.inner.consume(n);
            if found {
                return Ok((seen, true, too_long));
            }
        }
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = Result<Record, UkeErrors>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (seen, lf, too_long) = match self.read_line() {
            Ok(r) => r,
            Err(e) => {
                self.done = true;
                return Some(Err(UkeError::line(
                    self.line + 1,
                    "",
                    Rule::Io(e.to_string()),
                )
                .into()));
            }
        };
        if seen == 0 {
            self.done = true;
            return None;
        }
        self.line += 1;
        let line = self.line;
        if too_long {
            return Some(Err(UkeError::line(
                line,
                "",
                Rule::LineTooLong {
                    max: MAX_LINE_BYTES,
                },
            )
            .into()));
        }
        // The end-of-file mark: alone, after the last CR LF, at the very end.
        if self.buf.first() == Some(&EOF_MARK) {
            self.done = true;
            if self.buf.len() == 1 && !lf {
                self.eof_mark = true;
                return None;
            }
            return Some(Err(UkeError::line(line, "", Rule::DataAfterEof).into()));
        }
        let id = self
            .buf
            .get(..2)
            .filter(|b| b.iter().all(u8::is_ascii_alphanumeric))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
            .to_owned();
        if !lf || !self.buf.ends_with(b"\r\n") {
            return Some(Err(UkeError::line(line, &id, Rule::LineEnding).into()));
        }
        let len = self.buf.len() - 2;
        let body = &self.buf[..len];
        if body.contains(&b'\r') {
            return Some(Err(
                UkeError::line(line, &id, Rule::ForbiddenChar('\r')).into()
            ));
        }
        Some(parse_line(line, body, &mut self.texts))
    }
}

/// Parses one record (the bytes without CR LF).
pub(crate) fn parse_line(
    line: u64,
    body: &[u8],
    texts: &mut Vec<String>,
) -> Result<Record, UkeErrors> {
    if body.is_empty() {
        return Err(UkeError::line(line, "", Rule::EmptyLine).into());
    }
    let count = body.iter().filter(|&&b| b == b',').count() + 1;
    let id_raw = body.split(|&b| b == b',').next().unwrap_or_default();
    let id = std::str::from_utf8(id_raw).unwrap_or("");
    if !valid_id(id) {
        let shown = if id.is_ascii() { id } else { "" };
        return Err(UkeError::line(line, shown, Rule::BadRecordId).into());
    }
    let layout = Record::layout(id);
    if let Some(spec) = layout
        && spec.len() != count
    {
        return Err(UkeError::line(
            line,
            id,
            Rule::FieldCount {
                expected: spec.len(),
                found: count,
            },
        )
        .into());
    }
    let mut errors = Vec::new();
    texts.clear();
    for (i, raw) in body.split(|&b| b == b',').enumerate() {
        let spec = layout.and_then(|s| s.get(i));
        match decode(raw) {
            Ok(text) => {
                let problem = match spec {
                    Some(spec) => spec.check(&text, raw),
                    None => text
                        .chars()
                        .find(|c| super::field::forbidden(*c))
                        .map(Rule::ForbiddenChar),
                };
                if let Some(rule) = problem {
                    errors.push(field_error(line, id, i, spec, rule));
                }
                texts.push(text);
            }
            Err(rule) => {
                errors.push(field_error(line, id, i, spec, rule));
                texts.push(String::new());
            }
        }
    }
    if errors.is_empty() {
        Ok(Record::from_checked_in(texts))
    } else {
        Err(UkeErrors(errors))
    }
}

pub(crate) fn field_error(
    line: u64,
    id: &str,
    index: usize,
    spec: Option<&FieldSpec>,
    rule: Rule,
) -> UkeError {
    UkeError {
        line,
        record: id.to_owned(),
        field: Some(match spec {
            Some(s) => FieldRef {
                number: s.number,
                ja: s.ja.to_string(),
                en: s.en.to_string(),
            },
            None => FieldRef {
                number: index + 1,
                ja: String::new(),
                en: format!("field {}", index + 1),
            },
        }),
        rule,
    }
}

/// Decodes one field strictly: Windows-31J, and in the form onshi would write back.
fn decode(raw: &[u8]) -> Result<String, Rule> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    if raw.is_ascii() {
        // ASCII bytes are the same characters in Windows-31J (0x5C and 0x7E included).
        return String::from_utf8(raw.to_vec()).map_err(|_| Rule::NotShiftJis);
    }
    let text = SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(raw)
        .ok_or(Rule::NotShiftJis)?
        .into_owned();
    if !is_canonical(raw) {
        return Err(Rule::NonCanonicalEncoding);
    }
    Ok(text)
}

/// For every Shift_JIS code (one byte 0x80–0xFF, or lead × trail), whether it decodes to a
/// character that encodes back to the same code. Built once from encoding_rs itself, so it
/// is exact: the duplicates of CP932 (NEC row 13 against JIS X 0208, the NEC-selected IBM
/// extensions against the IBM ones) are the codes marked `false`.
static CANONICAL: std::sync::LazyLock<Vec<bool>> = std::sync::LazyLock::new(|| {
    let round_trips = |bytes: &[u8]| {
        SHIFT_JIS
            .decode_without_bom_handling_and_without_replacement(bytes)
            .is_some_and(|t| {
                let (back, _, bad) = SHIFT_JIS.encode(&t);
                !bad && back.as_ref() == bytes
            })
    };
    let mut table = vec![false; 65536];
    for code in 0x80u32..=0xffff {
        let bytes = if code < 0x100 {
            vec![code as u8]
        } else {
            vec![(code >> 8) as u8, code as u8]
        };
        if code < 0x100 || (code >> 8) >= 0x80 {
            table[code as usize] = round_trips(&bytes);
        }
    }
    table
});

/// The bytes (valid Shift_JIS) are each character's canonical code.
fn is_canonical(raw: &[u8]) -> bool {
    let table = &*CANONICAL;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b < 0x80 {
            i += 1;
        } else if (0x81..=0x9f).contains(&b) || (0xe0..=0xfc).contains(&b) {
            let code = match raw.get(i + 1) {
                Some(&t) => (usize::from(b) << 8) | usize::from(t),
                None => return false,
            };
            if !table[code] {
                return false;
            }
            i += 2;
        } else {
            if !table[usize::from(b)] {
                return false;
            }
            i += 1;
        }
    }
    true
}
