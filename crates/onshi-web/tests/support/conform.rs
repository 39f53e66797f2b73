//! Every answer a test receives is checked against the OpenAPI document the server serves
//! (generated from its types): the route and the status must be documented, the body must
//! validate against the documented schema (JSON Schema 2020-12, the dialect of OpenAPI 3.1),
//! and it must carry no member the schema does not document.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{Value, json};

static DOC: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(onshi_web::openapi::document()).expect("the document is JSON")
});

type Validators = Mutex<HashMap<(String, String, u16), Arc<jsonschema::Validator>>>;
static VALIDATORS: LazyLock<Validators> = LazyLock::new(Default::default);

/// The documented path template that `path` (without its query) falls under.
fn template(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let want: Vec<&str> = path.split('/').collect();
    DOC["paths"].as_object()?.keys().find_map(|t| {
        let have: Vec<&str> = t.split('/').collect();
        (have.len() == want.len()
            && have
                .iter()
                .zip(&want)
                .all(|(h, w)| h == w || (h.starts_with('{') && h.ends_with('}'))))
        .then_some(t.as_str())
    })
}

/// The schema of the documented answer `status` to `method path`, `None` for a body that is
/// not JSON (text/plain). Panics when the route or the status is not documented.
fn response_schema(
    method: &str,
    path: &str,
    status: u16,
) -> Option<(&'static str, &'static Value)> {
    let t = template(path).unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"));
    let op = &DOC["paths"][t][method.to_ascii_lowercase()];
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

/// Checks one answer; panics with every difference.
pub fn check(method: &str, path: &str, status: u16, body: &Value) {
    let Some((t, schema)) = response_schema(method, path, status) else {
        return;
    };
    let key = (method.to_string(), t.to_string(), status);
    let validator = {
        let mut cache = VALIDATORS.lock().unwrap();
        cache
            .entry(key)
            .or_insert_with(|| {
                let root = json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "allOf": [schema],
                    "components": DOC["components"],
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
    undocumented(schema, body, "", &mut extra);
    assert!(
        extra.is_empty(),
        "{method} {path} -> {status}: members the document does not describe: {extra:?}\nbody: {body}"
    );
}

fn resolve(schema: &'static Value) -> &'static Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(&DOC["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The members `schema` documents for an object (following allOf), and whether it allows any.
fn members(schema: &'static Value, out: &mut Vec<&'static Value>) -> bool {
    let s = resolve(schema);
    let mut open = false;
    if s["properties"].is_object() {
        out.push(s);
    }
    if s["additionalProperties"].is_object() || s["additionalProperties"] == json!(true) {
        open = true;
    }
    if let Some(all) = s["allOf"].as_array() {
        for part in all {
            open |= members(part, out);
        }
    }
    // a free-form object (`type: object` with nothing described) documents anything
    if s["properties"].is_null() && s["allOf"].is_null() && s["oneOf"].is_null() {
        open = true;
    }
    open
}

/// Collects the paths of members of `value` that `schema` does not describe.
fn undocumented(schema: &'static Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let s = resolve(schema);
    for alt in ["oneOf", "anyOf"] {
        if let Some(alts) = s[alt].as_array() {
            // the value matches one of them: accept the first that documents all it has
            let mut best: Option<Vec<String>> = None;
            for a in alts {
                let mut o = Vec::new();
                if !matches_type(a, value) {
                    continue;
                }
                undocumented(a, value, at, &mut o);
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
            let open = members(s, &mut parts);
            for (k, v) in map {
                match parts.iter().find_map(|p| p["properties"].get(k)) {
                    Some(sub) => undocumented(sub, v, &format!("{at}/{k}"), out),
                    None if open => {}
                    None => out.push(format!("{at}/{k}")),
                }
            }
        }
        Value::Array(items) if s["items"].is_object() => {
            for (i, v) in items.iter().enumerate() {
                undocumented(&s["items"], v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Whether `value` is of (one of) the JSON type(s) `schema` declares, `true` when it
/// declares none at its top.
fn matches_type(schema: &'static Value, value: &Value) -> bool {
    let s = resolve(schema);
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
