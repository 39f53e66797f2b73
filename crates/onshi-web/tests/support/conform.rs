//! Every answer a test receives is checked against the OpenAPI document the server serves
//! (generated from its types), with the shared check of `onshi_webdriver::openapi`: the route
//! and the status must be documented, the body must validate against the documented schema,
//! and it must carry no member the schema does not document.

use std::sync::LazyLock;

use onshi_webdriver::openapi::Document;
use serde_json::Value;

static DOC: LazyLock<Document> = LazyLock::new(|| Document::new(onshi_web::openapi::document()));

/// Checks one answer; panics with every difference.
pub fn check(method: &str, path: &str, status: u16, body: &Value) {
    DOC.check(method, path, status, body);
}
