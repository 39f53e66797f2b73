//! Every answer an HTTP test receives, checked against the OpenAPI document the server serves
//! (generated from its types): the route and the status must be documented, a JSON body must
//! validate against the documented schema (JSON Schema 2020-12, the dialect of OpenAPI 3.1),
//! and it must carry no member the schema does not document. Used by the tests of the central
//! (`docs/api/openapi.json`) and of the desk (`docs/api/desk-openapi.json`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

type Validators = Mutex<HashMap<(String, String, u16), Arc<jsonschema::Validator>>>;

/// One OpenAPI document, with the compiled validators of the answers checked so far.
pub struct Document {
    doc: Value,
    validators: Validators,
}

impl Document {
    /// The document from its JSON text. Panics when it is not JSON.
    pub fn new(json: &str) -> Self {
        Document {
            doc: serde_json::from_str(json).expect("the OpenAPI document is JSON"),
            validators: Mutex::default(),
        }
    }

    /// The document itself.
    pub fn value(&self) -> &Value {
        &self.doc
    }

    /// The documented path template that `path` (without its query) falls under.
    fn template(&self, path: &str) -> Option<&str> {
        let path = path.split('?').next().unwrap_or(path);
        let want: Vec<&str> = path.split('/').collect();
        let paths = self.doc["paths"].as_object()?;
        // a literal segment wins over a parameter (`/claims/settings` before `/claims/{month}`)
        let fits = |t: &str, literal_only: bool| {
            let have: Vec<&str> = t.split('/').collect();
            have.len() == want.len()
                && have.iter().zip(&want).all(|(h, w)| {
                    h == w || (!literal_only && h.starts_with('{') && h.ends_with('}'))
                })
        };
        paths
            .keys()
            .find(|t| fits(t, true))
            .or_else(|| {
                paths
                    .keys()
                    .filter(|t| fits(t, false))
                    .max_by_key(|t| t.split('/').filter(|s| !s.starts_with('{')).count())
            })
            .map(String::as_str)
    }

    /// The schema of the documented answer `status` to `method path`, `None` for a body that
    /// is not JSON. Panics when the route or the status is not documented.
    fn response_schema(&self, method: &str, path: &str, status: u16) -> Option<(&str, &Value)> {
        let t = self
            .template(path)
            .unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"));
        let op = &self.doc["paths"][t][method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{method} {t} is not in the OpenAPI document"
        );
        let resp = &op["responses"][status.to_string()];
        assert!(
            resp.is_object(),
            "status {status} of {method} {t} is not in the OpenAPI document"
        );
        let schema = &resp["content"]["application/json"]["schema"];
        schema.is_object().then_some((t, schema))
    }

    /// The content types the document gives for answer `status` to `method path`. Panics when
    /// the route or the status is not documented.
    pub fn content_types(&self, method: &str, path: &str, status: u16) -> Vec<String> {
        let _ = self.response_schema(method, path, status);
        let t = self.template(path).unwrap_or_default();
        let resp =
            &self.doc["paths"][t][method.to_ascii_lowercase()]["responses"][status.to_string()];
        resp["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Checks one answer whose body is JSON; panics with every difference.
    pub fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let Some((t, schema)) = self.response_schema(method, path, status) else {
            return;
        };
        let key = (method.to_string(), t.to_string(), status);
        let validator = {
            let mut cache = self.validators.lock().unwrap();
            cache
                .entry(key)
                .or_insert_with(|| {
                    let root = json!({
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "allOf": [schema],
                        "components": self.doc["components"],
                    });
                    Arc::new(jsonschema::validator_for(&root).expect("the schema compiles"))
                })
                .clone()
        };
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} -> {status}: the body does not match the documented schema:\n{}\nbody: {body}",
            errors.join("\n")
        );
        let mut extra = Vec::new();
        self.undocumented(schema, body, "", &mut extra);
        assert!(
            extra.is_empty(),
            "{method} {path} -> {status}: members the document does not describe: {extra:?}\nbody: {body}"
        );
    }

    /// Checks one answer of any kind: documented status and content type, and for JSON the
    /// body as [`Document::check`] does. Panics with every difference.
    pub fn check_raw(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) {
        let types = self.content_types(method, path, status);
        let given = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase())
            .unwrap_or_default();
        if types.is_empty() {
            assert!(
                body.is_empty(),
                "{method} {path} -> {status}: the document gives no body, {} bytes came",
                body.len()
            );
            return;
        }
        assert!(
            types.contains(&given),
            "{method} {path} -> {status}: content type {given:?} is not one of the documented {types:?}"
        );
        if given == "application/json" {
            let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
                panic!("{method} {path} -> {status}: the body is not JSON ({e})")
            });
            self.check(method, path, status, &v);
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                self.resolve(&self.doc["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// The members `schema` documents for an object (following allOf), and whether it allows
    /// any.
    fn members<'a>(&'a self, schema: &'a Value, out: &mut Vec<&'a Value>) -> bool {
        let s = self.resolve(schema);
        let mut open = false;
        if s["properties"].is_object() {
            out.push(s);
        }
        if s["additionalProperties"].is_object() || s["additionalProperties"] == json!(true) {
            open = true;
        }
        if let Some(all) = s["allOf"].as_array() {
            for part in all {
                open |= self.members(part, out);
            }
        }
        // a free-form object (`type: object` with nothing described) documents anything
        if s["properties"].is_null() && s["allOf"].is_null() && s["oneOf"].is_null() {
            open = true;
        }
        open
    }

    /// Collects the paths of members of `value` that `schema` does not describe.
    fn undocumented(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        let s = self.resolve(schema);
        for alt in ["oneOf", "anyOf"] {
            if let Some(alts) = s[alt].as_array() {
                // the value matches one of them: accept the first that documents all it has
                let mut best: Option<Vec<String>> = None;
                for a in alts {
                    let mut o = Vec::new();
                    if !self.matches_type(a, value) {
                        continue;
                    }
                    self.undocumented(a, value, at, &mut o);
                    if best.as_ref().is_none_or(|b| o.len() < b.len()) {
                        best = Some(o);
                    }
                }
                out.extend(best.unwrap_or_default());
                return;
            }
        }
        match value {
            Value::Object(map) => {
                let mut parts = Vec::new();
                let open = self.members(s, &mut parts);
                for (k, v) in map {
                    match parts.iter().find_map(|p| p["properties"].get(k)) {
                        Some(sub) => self.undocumented(sub, v, &format!("{at}/{k}"), out),
                        None if open => {}
                        None => out.push(format!("{at}/{k}")),
                    }
                }
            }
            Value::Array(items) if s["items"].is_object() => {
                for (i, v) in items.iter().enumerate() {
                    self.undocumented(&s["items"], v, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    /// Whether `value` is of (one of) the JSON type(s) `schema` declares, `true` when it
    /// declares none at its top.
    fn matches_type(&self, schema: &Value, value: &Value) -> bool {
        let s = self.resolve(schema);
        let types: Vec<&str> = match &s["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        let t = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        types.contains(&t) || (t == "integer" && types.contains(&"number"))
    }
}
