//! A small element tree read with `quick-xml`: enough for the OQS messages, which use only
//! elements and text (no attributes that matter, no namespaces, no mixed content). Bounded in
//! depth and element count; a DOCTYPE is refused (no entity expansion of any kind beyond the
//! five predefined entities and character references).

use quick_xml::events::Event;

use super::XmlError;

const MAX_DEPTH: usize = 16;
const MAX_ELEMENTS: usize = 1_000_000;

/// An element: its name, its text (concatenated, trimmed) and its child elements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child of that name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child of that name, in order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child of that name, `None` when absent.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The text of a child, `None` when absent or empty.
    pub fn nonempty(&self, name: &str) -> Option<String> {
        self.text_of(name)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    }

    /// The text of a required child; the error names `path/name`.
    pub fn required(&self, path: &str, name: &str) -> Result<&str, XmlError> {
        match self.text_of(name) {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(XmlError::Missing {
                path: join(path, name),
            }),
        }
    }

    /// A required child element; the error names `path/name`.
    pub fn required_child(&self, path: &str, name: &str) -> Result<&Element, XmlError> {
        self.child(name).ok_or_else(|| XmlError::Missing {
            path: join(path, name),
        })
    }
}

pub(crate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    }
}

/// Parses decoded message text into its root element.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let cfg = reader.config_mut();
    cfg.trim_text(false);
    cfg.check_end_names = true;
    cfg.expand_empty_elements = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let syntax = |e: quick_xml::Error, pos: u64| {
        XmlError::Syntax(format!("{e} (at byte {pos} of the decoded text)"))
    };
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| syntax(e, pos))?;
        match ev {
            Event::Start(s) => {
                let el = open(&s, &mut count, root.is_some())?;
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::Syntax(format!(
                        "elements nested deeper than {MAX_DEPTH}"
                    )));
                }
                stack.push(el);
            }
            Event::Empty(s) => {
                let el = open(&s, &mut count, root.is_some())?;
                close(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(XmlError::Syntax("end tag without a start tag".into()));
                };
                close(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let s = t
                    .decode()
                    .map_err(|e| XmlError::Syntax(format!("text: {e}")))?;
                push_text(&mut stack, &s)?;
            }
            Event::CData(c) => {
                let s = c
                    .decode()
                    .map_err(|e| XmlError::Syntax(format!("CDATA: {e}")))?;
                push_text(&mut stack, &s)?;
            }
            Event::GeneralRef(r) => {
                let s = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => {
                            return Err(XmlError::Syntax("invalid character reference".into()));
                        }
                    }
                } else {
                    let name = r
                        .decode()
                        .map_err(|e| XmlError::Syntax(format!("reference: {e}")))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(v) => v.to_string(),
                        None => {
                            return Err(XmlError::Syntax(format!(
                                "unknown entity &{name}; (only the five XML entities are allowed)"
                            )));
                        }
                    }
                };
                push_text(&mut stack, &s)?;
            }
            Event::DocType(_) => {
                return Err(XmlError::Syntax("a DOCTYPE is not allowed".into()));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError::Syntax(format!(
            "the document ends inside element {}",
            open.name
        )));
    }
    let mut root = root.ok_or_else(|| XmlError::Syntax("no root element".into()))?;
    trim_all(&mut root);
    Ok(root)
}

fn open(
    s: &quick_xml::events::BytesStart<'_>,
    count: &mut usize,
    after_root: bool,
) -> Result<Element, XmlError> {
    let name = std::str::from_utf8(s.name().as_ref())
        .map_err(|_| XmlError::Syntax("element name is not UTF-8".into()))?
        .to_string();
    if after_root {
        return Err(XmlError::Syntax(format!(
            "element {name} after the end of the root element"
        )));
    }
    *count += 1;
    if *count > MAX_ELEMENTS {
        return Err(XmlError::Syntax(format!(
            "more than {MAX_ELEMENTS} elements"
        )));
    }
    Ok(Element {
        name,
        ..Element::default()
    })
}

fn push_text(stack: &mut [Element], s: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(XmlError::Syntax("text outside the root element".into())),
    }
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn trim_all(el: &mut Element) {
    let t = el.text.trim();
    if t.len() != el.text.len() {
        el.text = t.to_string();
    }
    for c in &mut el.children {
        trim_all(c);
    }
}
