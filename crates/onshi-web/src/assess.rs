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

/// The desk's decision engine: what to do next, the share, the claim basis (R1–R27).
///
/// Pure: reads no registry and writes no history, so no token is needed. The same engine as
/// `onshi assess`. The situation and decision shapes are documented field by field, with an
/// example per path of annex 1 of 保発0710第1号, in docs/formats/assess.md. 400: the body does
/// not parse (the error names the field); 422: the engine refuses the situation
/// (contradictory facts, e.g. a portal screen with a PIN-less card, R2).
#[utoipa::path(post, path = "/v1/assess", tag = "assess", security(()),
    request_body = desk::Situation,
    responses((status = 200, description = "the decision", body = desk::Decision),
        (status = 400, description = "the body does not parse; names the field", body = crate::ErrorBody),
        (status = 422, description = "the engine refuses the situation; names the field and the rule", body = crate::ErrorBody)))]
pub(crate) async fn assess(body: Bytes) -> Response {
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
