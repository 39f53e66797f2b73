//! The same messages as JSON, as the OQS Web API carries them (`{"XmlMsg": {...}}`): every
//! element becomes a key, text a string; an element whose name ends in `List` (`ResultList`,
//! `SpecificDiseasesCertificateList` …) becomes an array of one-key objects
//! (`[{"ResultOfQualificationConfirmation": {…}}, …]`); other repeated elements become an array
//! of their values. Reading accepts the same shape; key order does not matter (the parsers
//! match elements by name).

use serde_json::{Map, Value};

use super::XmlError;
use super::tree::Element;

/// Element nesting a JSON message may have (as the XML reader's bound).
const MAX_DEPTH: usize = 16;

fn is_list(name: &str) -> bool {
    name.ends_with("List")
}

fn value_of(e: &Element) -> Value {
    if e.children.is_empty() {
        return Value::String(e.text.clone());
    }
    if is_list(&e.name) {
        return Value::Array(
            e.children
                .iter()
                .map(|c| {
                    let mut m = Map::new();
                    m.insert(c.name.clone(), value_of(c));
                    Value::Object(m)
                })
                .collect(),
        );
    }
    let mut m = Map::new();
    for c in &e.children {
        let v = value_of(c);
        match m.get_mut(&c.name) {
            None => {
                m.insert(c.name.clone(), v);
            }
            Some(Value::Array(items)) if e.children_named(&c.name).count() > 1 => items.push(v),
            Some(first) => {
                let prev = first.take();
                *first = Value::Array(vec![prev, v]);
            }
        }
    }
    Value::Object(m)
}

/// A message's root element as JSON: `{"XmlMsg": {...}}`.
pub fn to_json(root: &Element) -> Value {
    let mut m = Map::new();
    m.insert(root.name.clone(), value_of(root));
    Value::Object(m)
}

/// A message (decoded XML text) as JSON.
pub fn xml_text_to_json(text: &str) -> Result<Value, XmlError> {
    Ok(to_json(&super::tree::parse(text)?))
}

fn escape(s: &str, out: &mut String) {
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

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn write_element(
    name: &str,
    v: &Value,
    path: &str,
    depth: usize,
    out: &mut String,
) -> Result<(), XmlError> {
    let here = if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    };
    if depth > MAX_DEPTH {
        return Err(XmlError::invalid(here, "nested too deeply"));
    }
    if !valid_name(name) {
        return Err(XmlError::invalid(here, "not an element name"));
    }
    match v {
        Value::Array(items) if is_list(name) => {
            out.push_str(&format!("<{name}>"));
            for (i, item) in items.iter().enumerate() {
                let Value::Object(m) = item else {
                    return Err(XmlError::invalid(
                        format!("{here}[{i}]"),
                        "a list holds objects of one key (the element's name)",
                    ));
                };
                for (k, v) in m {
                    write_element(k, v, &format!("{here}[{i}]"), depth + 1, out)?;
                }
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Array(items) => {
            for item in items {
                write_element(name, item, path, depth, out)?;
            }
        }
        Value::Object(m) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in m {
                write_element(k, v, &here, depth + 1, out)?;
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(s) => {
            out.push_str(&format!("<{name}>"));
            escape(s, out);
            out.push_str(&format!("</{name}>"));
        }
        Value::Number(n) => out.push_str(&format!("<{name}>{n}</{name}>")),
        Value::Bool(b) => out.push_str(&format!("<{name}>{b}</{name}>")),
        Value::Null => out.push_str(&format!("<{name}/>")),
    }
    Ok(())
}

/// A JSON message (`{"XmlMsg": {...}}`) as UTF-8 XML text that the message readers take.
pub fn json_to_xml_text(v: &Value) -> Result<String, XmlError> {
    let Value::Object(m) = v else {
        return Err(XmlError::invalid(
            "",
            "a message is a JSON object {\"XmlMsg\": {…}}",
        ));
    };
    let Some(root) = m.get("XmlMsg") else {
        return Err(XmlError::Missing {
            path: "XmlMsg".into(),
        });
    };
    if m.len() != 1 {
        return Err(XmlError::invalid("", "only XmlMsg at the top"));
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>");
    write_element("XmlMsg", root, "", 0, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_list_is_an_array_of_one_key_objects() {
        let text = "<XmlMsg><MessageHeader><SegmentOfResult>1</SegmentOfResult></MessageHeader><MessageBody><ResultList><ResultOfQualificationConfirmation><InsurerNumber>01130012</InsurerNumber></ResultOfQualificationConfirmation><ResultOfQualificationConfirmation><InsurerNumber>06134563</InsurerNumber></ResultOfQualificationConfirmation></ResultList></MessageBody></XmlMsg>";
        let v = xml_text_to_json(text).unwrap();
        assert_eq!(
            v,
            json!({"XmlMsg": {"MessageHeader": {"SegmentOfResult": "1"}, "MessageBody": {"ResultList": [
                {"ResultOfQualificationConfirmation": {"InsurerNumber": "01130012"}},
                {"ResultOfQualificationConfirmation": {"InsurerNumber": "06134563"}}
            ]}}})
        );
        // and back: the same tree
        let back = json_to_xml_text(&v).unwrap();
        assert_eq!(
            xml_text_to_json(&back).unwrap(),
            v,
            "the round trip keeps every element"
        );
    }

    #[test]
    fn text_is_escaped_and_bad_shapes_name_the_path() {
        let v = json!({"XmlMsg": {"MessageBody": {"Name": "<A&B>"}}});
        let x = json_to_xml_text(&v).unwrap();
        assert!(x.contains("<Name>&lt;A&amp;B&gt;</Name>"), "{x}");
        let bad = json!({"XmlMsg": {"MessageBody": {"ResultList": ["x"]}}});
        let e = json_to_xml_text(&bad).unwrap_err().to_string();
        assert!(e.contains("XmlMsg/MessageBody/ResultList[0]"), "{e}");
        assert!(json_to_xml_text(&json!({"Other": {}})).is_err());
        assert!(json_to_xml_text(&json!({"XmlMsg": {"a b": "1"}})).is_err());
        let mut deep = json!("x");
        for _ in 0..40 {
            deep = json!({ "A": deep });
        }
        assert!(json_to_xml_text(&json!({ "XmlMsg": deep })).is_err());
    }
}
