//! Reading records off a CSV stream with their physical line numbers.
//!
//! The `csv` crate's own line counter lags by one after a CRLF (it counts the LF only when the
//! next record starts) and counts blank lines into the following record. To name the physical
//! line a record starts on, the input passes through [`LineTracked`], which remembers where the
//! LF bytes are; for each record we then know how many LFs it holds (inside quoted fields) and
//! whether an LF ended it, and so the line it started on.
//!
//! It also bounds memory: a record longer than [`MAX_RECORD_BYTES`] (an unbalanced quote
//! swallowing the rest of the file) stops reading with an error instead of growing without
//! limit.

use std::collections::VecDeque;
use std::io::{self, Read};

use csv::ByteRecord;

use super::{RowError, rule};

/// The longest record accepted. A row of the registry files is a few hundred bytes.
pub(crate) const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Marker error returned by [`LineTracked`] when a record exceeds [`MAX_RECORD_BYTES`].
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record longer than {MAX_RECORD_BYTES} bytes")
    }
}

impl std::error::Error for RecordTooLong {}

/// A reader that notes the offsets of the LF bytes passing through it.
struct LineTracked<R> {
    inner: R,
    /// Bytes handed out so far.
    total: u64,
    /// The inner reader reported end of input.
    eof: bool,
    /// Offsets of LF bytes not yet passed by the parser.
    lfs: VecDeque<u64>,
    /// Offset where the record being parsed started (for the length bound).
    record_start: u64,
}

impl<R: Read> LineTracked<R> {
    fn new(inner: R) -> Self {
        LineTracked {
            inner,
            total: 0,
            eof: false,
            lfs: VecDeque::new(),
            record_start: 0,
        }
    }

    /// Whether the byte at `offset` is an LF. Offsets must be asked in increasing order: LFs
    /// before `offset` are forgotten.
    fn is_lf_at(&mut self, offset: u64) -> bool {
        while self.lfs.front().is_some_and(|&o| o < offset) {
            self.lfs.pop_front();
        }
        self.lfs.front() == Some(&offset)
    }
}

impl<R: Read> Read for LineTracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.total.saturating_sub(self.record_start) > MAX_RECORD_BYTES {
            return Err(io::Error::other(RecordTooLong));
        }
        let n = loop {
            match self.inner.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.eof = true;
        }
        let chunk = &buf[..n];
        note_lfs(chunk, self.total, &mut self.lfs);
        self.total += n as u64;
        Ok(n)
    }
}

/// Appends the offsets of the LF bytes of `chunk` (which starts at `base`) to `out`. Eight
/// bytes at a time: a word without an LF is skipped with one test.
fn note_lfs(chunk: &[u8], base: u64, out: &mut VecDeque<u64>) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const LFS: u64 = ONES * b'\n' as u64;
    let mut words = chunk.chunks_exact(8);
    let mut at = 0usize;
    for w in words.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let x = u64::from_le_bytes(word) ^ LFS;
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            for (i, &b) in w.iter().enumerate() {
                if b == b'\n' {
                    out.push_back(base + (at + i) as u64);
                }
            }
        }
        at += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == b'\n' {
            out.push_back(base + (at + i) as u64);
        }
    }
}

/// A CSV stream read record by record into one reused [`ByteRecord`].
pub(crate) struct RecordSource<R> {
    file: String,
    rdr: csv::Reader<LineTracked<R>>,
    record: ByteRecord,
    /// The line the record just read starts on.
    line: u64,
    done: bool,
    /// How many columns the file's header has (see [`RecordSource::open`]).
    width: usize,
}

impl<R: Read> RecordSource<R> {
    /// Opens the stream and checks its header: exactly `columns`, or its first `k` columns for
    /// some `k ≥ required` (a file of an earlier version of the format, which ends before the
    /// columns added since; they read as empty).
    pub(crate) fn open(
        file: &str,
        r: R,
        columns: &[&str],
        required: usize,
    ) -> Result<Self, RowError> {
        let rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_reader(LineTracked::new(r));
        let mut src = RecordSource {
            file: file.to_string(),
            rdr,
            record: ByteRecord::new(),
            line: 1,
            done: false,
            width: columns.len(),
        };
        let expected = columns.join(",");
        let header_error = |column: &str, message: String| RowError {
            file: file.to_string(),
            line: 1,
            column: column.to_string(),
            rule: rule::HEADER,
            message,
        };
        match src.advance() {
            None => Err(header_error(
                "(header)",
                format!("the file is empty; the first line must be the header `{expected}`"),
            )),
            Some(Err(mut e)) => {
                if e.rule == rule::MALFORMED {
                    e.rule = rule::HEADER;
                }
                Err(e)
            }
            Some(Ok(line)) => {
                let got: Vec<String> = src
                    .record
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).trim().to_string())
                    .collect();
                if got.len() >= required
                    && got.len() <= columns.len()
                    && got
                        .iter()
                        .map(String::as_str)
                        .eq(columns[..got.len()].iter().copied())
                {
                    src.width = got.len();
                    return Ok(src);
                }
                let mut e = header_error(
                    columns
                        .iter()
                        .zip(got.iter().map(String::as_str).chain(std::iter::repeat("")))
                        .find(|(want, have)| **want != *have)
                        .map_or("(header)", |(want, _)| want),
                    header_problem(columns, required, &got, &expected),
                );
                e.line = line;
                Err(e)
            }
        }
    }

    pub(crate) fn file(&self) -> &str {
        &self.file
    }

    /// How many columns the file has (its header's).
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    pub(crate) fn record(&self) -> &ByteRecord {
        &self.record
    }

    /// Reads the next record; returns the line it starts on. `None` at the end; after an
    /// error that makes further reading meaningless (I/O, a runaway record) also `None`.
    pub(crate) fn advance(&mut self) -> Option<Result<u64, RowError>> {
        if self.done {
            return None;
        }
        let consumed = self.rdr.position().byte();
        self.rdr.get_mut().record_start = consumed;
        match self.rdr.read_byte_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                let end = self.rdr.position().clone();
                let inside = self
                    .record
                    .as_slice()
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count() as u64;
                let tracked = self.rdr.get_mut();
                let ended_by_eof = tracked.eof && end.byte() == tracked.total;
                let ended_by_lf =
                    !ended_by_eof && end.byte() > 0 && tracked.is_lf_at(end.byte() - 1);
                self.line = end
                    .line()
                    .saturating_sub(inside + u64::from(ended_by_lf))
                    .max(1);
                Some(Ok(self.line))
            }
            Err(e) => {
                self.done = true;
                let next_line = self.rdr.position().line().max(self.line + 1);
                let too_long = match e.kind() {
                    csv::ErrorKind::Io(io) => io
                        .get_ref()
                        .is_some_and(|inner| inner.is::<RecordTooLong>()),
                    _ => false,
                };
                let (rule, message) = if too_long {
                    (
                        rule::MALFORMED,
                        format!(
                            "a record longer than {MAX_RECORD_BYTES} bytes starts here (an unbalanced quote?); reading stopped"
                        ),
                    )
                } else {
                    (rule::IO, format!("reading stopped: {e}"))
                };
                Some(Err(RowError {
                    file: self.file.clone(),
                    line: next_line,
                    column: "(row)".into(),
                    rule,
                    message,
                }))
            }
        }
    }
}

/// Explains how a header differs from the expected one.
fn header_problem(columns: &[&str], required: usize, got: &[String], expected: &str) -> String {
    // An optional column is missing only when one after it is there.
    let has = |c: &str| got.iter().any(|g| g == c);
    let last_present = columns.iter().rposition(|c| has(c)).map_or(0, |i| i + 1);
    let missing: Vec<&str> = columns[..required.max(last_present).min(columns.len())]
        .iter()
        .copied()
        .filter(|c| !has(c))
        .collect();
    let extra: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|g| !columns.contains(g))
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("unexpected {}", cut(&extra.join(", "))));
    }
    if parts.is_empty() {
        parts.push("columns out of order or repeated".to_string());
    }
    let older = if required + 1 == columns.len() {
        format!(" or its first {required} columns (a file of an earlier version)")
    } else if required < columns.len() {
        format!(
            " or its first {required} to {} columns (a file of an earlier version)",
            columns.len() - 1
        )
    } else {
        String::new()
    };
    format!(
        "header must be exactly `{expected}`{older} ({})",
        parts.join("; ")
    )
}

/// A value quoted in a message: cut to a readable length, in double quotes, control characters
/// escaped (so a report stays one line per error) and everything else as written.
pub(crate) fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in cut(s).chars() {
        if c.is_control() {
            q.extend(c.escape_default());
        } else {
            q.push(c);
        }
    }
    q.push('"');
    q
}

/// A value cut to a readable length.
pub(crate) fn cut(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(MAX).collect();
        c.push('…');
        c
    }
}

/// A row read off a file but not parsed yet: the line it starts on and its fields as read.
/// Parsing it needs nothing more than the file's parser (`CardParser`, `QualificationParser`),
/// so it can run on another thread than the reading.
#[derive(Debug, Clone)]
pub struct UnparsedRow {
    pub(crate) line: u64,
    pub(crate) record: ByteRecord,
}

impl UnparsedRow {
    /// The physical line the row starts on.
    pub fn line(&self) -> u64 {
        self.line
    }
}

/// The rows of a file read but not parsed (see [`UnparsedRow`]). An item is a row, or the error
/// that stopped the reading (I/O, a runaway record), as the parsed rows give it.
pub struct UnparsedRows<R> {
    pub(crate) src: RecordSource<R>,
}

impl<R: Read> Iterator for UnparsedRows<R> {
    type Item = Result<UnparsedRow, Vec<RowError>>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = match self.src.advance()? {
            Ok(line) => line,
            Err(e) => return Some(Err(vec![e])),
        };
        Some(Ok(UnparsedRow {
            line,
            record: self.src.record().clone(),
        }))
    }
}
