//! The PDF renderings of the medical-information answers (FileCategory 1 薬剤情報, 3 薬剤情報 +
//! 診療情報, and 1 特定健診情報): A4 pages of Japanese text, laid out as a list per month / per
//! checkup day, for clinic software that files the PDF into the chart.
//!
//! The text is set in a CID-keyed font that is not embedded — `HeiseiMin-W3` of the
//! Adobe-Japan1 collection with the predefined `UniJIS-UTF16-H` encoding, as PDF readers
//! substitute it with the Japanese font they have — plus a `/ToUnicode` map, so the text can be
//! searched and extracted. Every character is written as it is, in UTF-16.
//!
//! Two choices are for text extraction by readers that analyse the layout (poppler's
//! `pdftotext`, and the search of viewers built on it):
//!
//! - The ideographic space (U+3000, CID 633), which separates a label from its value
//!   (「氏名　…」, 「身長　158.0 cm」) and the parts of a name, is set half an em wide. At a full
//!   em, the gaps after labels of the same length, one above the other, read as a gap between
//!   two columns: `pdftotext` gave the labels as one column and the values after them.
//! - A character outside the BMP (e.g. 𠮷, U+20BB7) is a 4-byte code of `UniJIS-UTF16-H`;
//!   poppler drops `/ToUnicode` entries whose code is longer than 3 bytes (the entry
//!   `<D842DFB7> <D842DFB7>` is what the PDF specification asks for, and was ignored). Such
//!   characters are set in a second font resource, the same font and encoding without a
//!   `/ToUnicode` map, whose text readers map through the character collection (the
//!   predefined CMap gives the CID, Adobe-Japan1 the Unicode value: ISO 32000-1 §9.10.2).
//!
//! The PDF objects are written with `pdf-writer`; the layout (line breaking by character width,
//! pagination, page numbers) is ours.

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// A4 in points.
const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 42.0;
const BODY_SIZE: f32 = 9.5;
const LEADING: f32 = 14.0;
const TITLE_SIZE: f32 = 16.0;

/// One line of the document, with its style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// the document's title (first page only)
    Title(String),
    /// a section heading (e.g. 「電子処方箋（調剤）」)
    Heading(String),
    /// a group heading within a section (e.g. a month and a facility), one level in
    Group(String),
    /// a text line, `indent` levels in
    Text { indent: u8, text: String },
    /// an empty line
    Blank,
}

/// A document to render: its lines and the footer printed on every page.
#[derive(Debug, Clone, Default)]
pub struct Document {
    pub lines: Vec<Line>,
    /// printed at the bottom of every page, before 「n / N」
    pub footer: String,
}

impl Document {
    pub fn title(&mut self, s: impl Into<String>) {
        self.lines.push(Line::Title(s.into()));
    }
    pub fn heading(&mut self, s: impl Into<String>) {
        self.lines.push(Line::Heading(s.into()));
    }
    pub fn group(&mut self, s: impl Into<String>) {
        self.lines.push(Line::Group(s.into()));
    }
    pub fn text(&mut self, indent: u8, s: impl Into<String>) {
        self.lines.push(Line::Text {
            indent,
            text: s.into(),
        });
    }
    pub fn blank(&mut self) {
        self.lines.push(Line::Blank);
    }
}

/// Width of a character in ems of the font: ASCII, half-width kana and the ideographic space
/// (set half an em wide, see the module's text) are half as wide.
fn char_em(c: char) -> f32 {
    match c {
        '\u{20}'..='\u{7e}' | '\u{ff61}'..='\u{ff9f}' | IDEOGRAPHIC_SPACE => 0.5,
        _ => 1.0,
    }
}

const IDEOGRAPHIC_SPACE: char = '\u{3000}';
/// The ideographic space's CID in Adobe-Japan1 (`UniJIS-UTF16-H` maps U+3000 to it).
const IDEOGRAPHIC_SPACE_CID: u16 = 633;

/// The pieces of a line by font: characters of the BMP in the font with the `/ToUnicode` map
/// (`true`), the others in the one without.
fn runs(text: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    for c in text.chars() {
        let bmp = u32::from(c) <= 0xFFFF;
        match out.last_mut() {
            Some((b, s)) if *b == bmp => s.push(c),
            _ => out.push((bmp, c.to_string())),
        }
    }
    out
}

/// Breaks `text` into pieces no wider than `width` points at `size`.
fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let max_em = width / size;
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut em = 0.0;
    for c in text.chars() {
        let w = char_em(c);
        if em + w > max_em && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            em = 0.0;
        }
        cur.push(c);
        em += w;
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// One placed line on a page.
struct Placed {
    x: f32,
    y: f32,
    size: f32,
    text: String,
    /// a rule drawn under the line
    rule: bool,
}

/// Lays the lines out on pages.
fn paginate(doc: &Document) -> Vec<Vec<Placed>> {
    let bottom = MARGIN + 2.0 * LEADING;
    let mut pages: Vec<Vec<Placed>> = vec![Vec::new()];
    let mut y = PAGE_H - MARGIN;
    let usable = PAGE_W - 2.0 * MARGIN;
    for line in &doc.lines {
        let (size, indent, text, rule, before) = match line {
            Line::Title(t) => (TITLE_SIZE, 0.0, t.as_str(), false, 0.0),
            Line::Heading(t) => (BODY_SIZE + 1.5, 0.0, t.as_str(), true, 4.0),
            Line::Group(t) => (BODY_SIZE, 1.0, t.as_str(), false, 0.0),
            Line::Text { indent, text } => (
                BODY_SIZE,
                1.0 + f32::from(*indent),
                text.as_str(),
                false,
                0.0,
            ),
            Line::Blank => {
                y -= LEADING / 2.0;
                continue;
            }
        };
        let x = MARGIN + indent * 2.0 * BODY_SIZE;
        let leading = if size > BODY_SIZE + 2.0 {
            size * 1.6
        } else {
            LEADING
        };
        let pieces = wrap(text, size, usable - (x - MARGIN));
        // a heading is not left alone at the bottom of a page
        let keep = if matches!(line, Line::Heading(_) | Line::Group(_)) {
            3.0
        } else {
            1.0
        };
        y -= before;
        for (i, piece) in pieces.into_iter().enumerate() {
            let need = if i == 0 { keep } else { 1.0 };
            if y - leading * need < bottom {
                pages.push(Vec::new());
                y = PAGE_H - MARGIN;
            }
            y -= leading;
            let page = pages.last_mut().expect("at least one page");
            page.push(Placed {
                // a continued piece is set one more level in
                x: if i == 0 { x } else { x + 2.0 * BODY_SIZE },
                y,
                size,
                text: piece,
                rule,
            });
        }
    }
    pages
}

/// UTF-16BE bytes of `s`: the codes of the `UniJIS-UTF16-H` encoding.
fn utf16be(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

/// The `/ToUnicode` map of the BMP font: every 2-byte code maps to itself (the codespace is
/// the encoding's; its 4-byte codes are set in the other font).
fn to_unicode_cmap() -> Vec<u8> {
    let mut s = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         3 begincodespacerange\n<0000> <D7FF>\n<D800DC00> <DBFFDFFF>\n<E000> <FFFF>\nendcodespacerange\n",
    );
    // one range per first byte, 100 ranges at most per block
    let firsts: Vec<u16> = (0x00..=0xD7).chain(0xE0..=0xFF).collect();
    for block in firsts.chunks(100) {
        s.push_str(&format!("{} beginbfrange\n", block.len()));
        for hi in block {
            s.push_str(&format!("<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>\n"));
        }
        s.push_str("endbfrange\n");
    }
    s.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    s.into_bytes()
}

/// Renders the document as a PDF file.
pub fn render(doc: &Document, title: &str) -> Vec<u8> {
    let pages = paginate(doc);
    let n = pages.len();
    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let catalog = alloc();
    let tree = alloc();
    let font = alloc();
    let font_astral = alloc();
    let cid_font = alloc();
    let descriptor = alloc();
    let cmap = alloc();
    let info = alloc();
    let page_refs: Vec<(Ref, Ref)> = (0..n).map(|_| (alloc(), alloc())).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_refs.iter().map(|(p, _)| *p))
        .count(n as i32);
    let font_name = Name(b"F1");
    let astral_name = Name(b"F2");
    for (i, placed) in pages.iter().enumerate() {
        let (page_id, content_id) = page_refs[i];
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(tree)
            .contents(content_id);
        page.resources()
            .fonts()
            .pair(font_name, font)
            .pair(astral_name, font_astral);
        page.finish();

        let mut c = Content::new();
        let footer = format!("{}　{} / {}", doc.footer, i + 1, n);
        let lines = placed
            .iter()
            .map(|p| (p.x, p.y, p.size, p.text.as_str()))
            .chain(std::iter::once((
                MARGIN,
                MARGIN,
                BODY_SIZE - 1.5,
                footer.as_str(),
            )));
        for (x, y, size, text) in lines {
            c.begin_text();
            c.next_line(x, y);
            for (bmp, run) in runs(text) {
                c.set_font(if bmp { font_name } else { astral_name }, size);
                c.show(Str(&utf16be(&run)));
            }
            c.end_text();
        }
        for p in placed.iter().filter(|p| p.rule) {
            c.set_line_width(0.6);
            c.move_to(MARGIN, p.y - 4.0);
            c.line_to(PAGE_W - MARGIN, p.y - 4.0);
            c.stroke();
        }
        pdf.stream(content_id, &c.finish());
    }

    let base = Name(b"HeiseiMin-W3");
    pdf.type0_font(font)
        .base_font(Name(b"HeiseiMin-W3-UniJIS-UTF16-H"))
        .encoding_predefined(Name(b"UniJIS-UTF16-H"))
        .descendant_font(cid_font)
        .to_unicode(cmap);
    pdf.type0_font(font_astral)
        .base_font(Name(b"HeiseiMin-W3-UniJIS-UTF16-H"))
        .encoding_predefined(Name(b"UniJIS-UTF16-H"))
        .descendant_font(cid_font);
    let mut cf = pdf.cid_font(cid_font);
    cf.subtype(CidFontType::Type0)
        .base_font(base)
        .system_info(SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Japan1"),
            supplement: 6,
        })
        .font_descriptor(descriptor)
        .default_width(1000.0);
    // proportional roman (CID 1–95), half-width forms (231–632) and the ideographic space at
    // half an em
    cf.widths().same(1, 95, 500.0).same(231, 632, 500.0).same(
        IDEOGRAPHIC_SPACE_CID,
        IDEOGRAPHIC_SPACE_CID,
        500.0,
    );
    cf.finish();
    pdf.font_descriptor(descriptor)
        .name(base)
        .flags(FontFlags::SYMBOLIC | FontFlags::SERIF)
        .bbox(Rect::new(-123.0, -257.0, 1001.0, 910.0))
        .italic_angle(0.0)
        .ascent(857.0)
        .descent(-143.0)
        .cap_height(718.0)
        .stem_v(93.0);
    pdf.cmap(cmap, &to_unicode_cmap());
    pdf.document_info(info)
        .title(pdf_writer::TextStr(title))
        .producer(pdf_writer::TextStr("onshi"));
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_broken_by_character_width() {
        // 10 pt, 50 pt wide: five full-width characters or ten half-width ones per line
        assert_eq!(
            wrap("あいうえおかきく", 10.0, 50.0),
            vec!["あいうえお", "かきく"]
        );
        assert_eq!(wrap("0123456789AB", 10.0, 50.0), vec!["0123456789", "AB"]);
        assert_eq!(wrap("", 10.0, 50.0), vec![""]);
        // the ideographic space is set half an em wide
        assert_eq!(
            wrap("氏名　鈴木　花子", 10.0, 50.0),
            vec!["氏名　鈴木　", "花子"]
        );
    }

    #[test]
    fn characters_outside_the_bmp_go_to_the_font_without_to_unicode() {
        assert_eq!(
            runs("𠮷田薬局　𠮷𠮷"),
            vec![
                (false, "𠮷".to_string()),
                (true, "田薬局　".to_string()),
                (false, "𠮷𠮷".to_string()),
            ]
        );
        assert_eq!(runs("身長"), vec![(true, "身長".to_string())]);
        assert!(runs("").is_empty());
    }

    #[test]
    fn many_lines_make_several_pages_each_numbered() {
        let mut d = Document {
            footer: "テスト".into(),
            ..Document::default()
        };
        d.title("薬剤情報");
        for i in 0..200 {
            d.text(0, format!("行 {i}"));
        }
        let pages = paginate(&d);
        assert!(pages.len() >= 3, "{} pages", pages.len());
        assert!(pages.iter().all(|p| p.iter().all(|l| l.y > MARGIN)));
        let pdf = render(&d, "薬剤情報");
        assert!(pdf.starts_with(b"%PDF-"));
        let count = format!("/Count {}", pages.len());
        assert!(
            pdf.windows(count.len()).any(|w| w == count.as_bytes()),
            "page tree counts every page"
        );
    }
}
