//! `POST /v1/assess`: the desk's decision engine over HTTP (situation JSON in, decision JSON
//! out; see docs/formats/assess.md). The same function as `onshi assess`.
//!
//! No bearer token: the engine is pure — it reads no registry, writes no history and sees
//! nothing a facility could not already type in — so a token would guard nothing, and
//! trainers and receipt-computer developers can call it without registering a facility.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use onshi_domain::desk;

use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/assess", post(assess))
}

async fn assess(body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return ApiError::bad(None, "json", "the body is not UTF-8 text").into_response();
    };
    match desk::assess_json(text) {
        Ok(decision) => Json(decision).into_response(),
        Err(e) => {
            // Input that does not parse is 400; a parsed situation the engine refuses, 422.
            let status = if e.rule == "json" {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            ApiError {
                status,
                field: Some(e.field),
                rule: e.rule.to_string(),
                message: e.message,
            }
            .into_response()
        }
    }
}
