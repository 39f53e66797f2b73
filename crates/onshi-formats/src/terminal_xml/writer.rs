//! Writes a message: declaration, indented elements, escaped text, then encodes the whole in
//! UTF-8 or Shift_JIS. A character Shift_JIS cannot carry makes [`XmlWriter::finish`] fail
//! with the path of the element that holds it.

use super::{Encoding, XmlError, encode_text};

/// Builds one message document.
pub struct XmlWriter {
    out: String,
    path: Vec<&'static str>,
    /// (element path, value) of every text written, to name the element of a bad character
    leaves: Vec<(String, String)>,
    enc: Encoding,
}

impl XmlWriter {
    /// Starts a document in `enc` with the OQS declaration
    /// `<?xml version="1.0" encoding="…" standalone="no"?>`.
    pub fn new(enc: Encoding) -> Self {
        let mut out = String::with_capacity(4096);
        out.push_str("<?xml version=\"1.0\" encoding=\"");
        out.push_str(enc.xml_name());
        out.push_str("\" standalone=\"no\"?>\n");
        XmlWriter {
            out,
            path: Vec::new(),
            leaves: Vec::new(),
            enc,
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.path.len() {
            self.out.push_str("  ");
        }
    }

    pub fn open(&mut self, name: &'static str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(">\n");
        self.path.push(name);
    }

    pub fn close(&mut self) {
        if let Some(name) = self.path.pop() {
            self.indent();
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push_str(">\n");
        }
    }

    /// `<name>value</name>`.
    pub fn leaf(&mut self, name: &'static str, value: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        escape_into(&mut self.out, value);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
        if !value.is_ascii() {
            let mut p = self.path.join("/");
            p.push('/');
            p.push_str(name);
            self.leaves.push((p, value.to_string()));
        }
    }

    /// A leaf written only when the value is present.
    pub fn opt_leaf(&mut self, name: &'static str, value: Option<&str>) {
        if let Some(v) = value {
            self.leaf(name, v);
        }
    }

    /// The document as text (before encoding).
    pub fn text(&self) -> &str {
        &self.out
    }

    /// Closes open elements and encodes the document.
    pub fn finish(mut self) -> Result<Vec<u8>, XmlError> {
        while !self.path.is_empty() {
            self.close();
        }
        encode_text(&self.out, self.enc).map_err(|ch| {
            let path = self
                .leaves
                .iter()
                .find(|(_, v)| v.contains(ch))
                .map(|(p, _)| p.clone())
                .unwrap_or_else(|| "XmlMsg".into());
            XmlError::Unrepresentable {
                path,
                ch,
                code: u32::from(ch),
            }
        })
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}
