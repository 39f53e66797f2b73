//! The claims API of the desk (JSON), for receipt computers and the 請求 screen:
//!
//! - `PUT  /desk/api/visits/{id}/content` — what a visit contributes ([`VisitContent`]);
//!   422 with every problem (`field`, `rule`), 409 when the amount charged would change (R11)
//! - `POST /desk/api/claims/contents` — a file of contents (`[{"visit_id":…,"content":{…}}]`),
//!   all or nothing
//! - `GET  /desk/api/claims/{month}` — the month: claims, open items, files
//! - `POST /desk/api/claims/{month}/close` — close (409 with the open items when blocked)
//! - `POST /desk/api/claims/{month}/reclaim?billing_month=YYYYMM` — re-claim what changed
//! - `GET  /desk/api/claims/files/{billing_month}/{payer}/{kind}` — a UKE file (`RECEIPTC.UKE`)
//! - `POST /desk/api/claims/settlement` — a payer's statement; purges settled 申立書 (R27)
//! - `GET|PUT /desk/api/claims/settings` — facility name, phone, the R20 settings

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use onshi_domain::claims::Payer;
use serde::Deserialize;
use serde_json::json;

use super::content::VisitContent;
use super::settlement::Statement;
use super::{Claims, ClaimsError, FacilityClaimSettings};
use crate::Desk;

pub fn routes() -> Router<Desk> {
    Router::new()
        .route(
            "/desk/api/visits/{id}/content",
            put(put_content).get(get_content),
        )
        .route("/desk/api/claims/contents", post(post_contents))
        .route(
            "/desk/api/claims/settings",
            get(get_settings).put(put_settings),
        )
        .route("/desk/api/claims/settlement", post(post_settlement))
        .route(
            "/desk/api/claims/files/{billing_month}/{payer}/{kind}",
            get(get_file),
        )
        .route("/desk/api/claims/{month}", get(get_month))
        .route("/desk/api/claims/{month}/close", post(post_close))
        .route("/desk/api/claims/{month}/reclaim", post(post_reclaim))
        .merge(super::screen::routes())
}

/// One error answer: the status, a stable class and the message naming field and rule.
pub(crate) fn error_response(e: &ClaimsError) -> Response {
    let (status, class) = match e {
        ClaimsError::Content(..) => (StatusCode::UNPROCESSABLE_ENTITY, "content_invalid"),
        ClaimsError::ChargedIsFact { .. } => (StatusCode::CONFLICT, "charged_is_a_fact"),
        ClaimsError::NotCharged(_) => (StatusCode::CONFLICT, "not_charged"),
        ClaimsError::Month(_) => (StatusCode::BAD_REQUEST, "month"),
        ClaimsError::Blocked { .. } => (StatusCode::CONFLICT, "month_blocked"),
        ClaimsError::Closed(_) => (StatusCode::CONFLICT, "month_closed"),
        ClaimsError::NotClosed(_) => (StatusCode::CONFLICT, "month_not_closed"),
        ClaimsError::Uke(_) => (StatusCode::NOT_FOUND, "file"),
        ClaimsError::NotOffered(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_offered"),
        ClaimsError::Settlement(_) => (StatusCode::UNPROCESSABLE_ENTITY, "settlement_invalid"),
        ClaimsError::Visit(crate::VisitError::NotFound(_)) => (StatusCode::NOT_FOUND, "visit"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %e, "claims");
    }
    (
        status,
        Json(json!({"error": {"class": class, "message": e.to_string()}})),
    )
        .into_response()
}

fn claims(desk: &Desk) -> &Claims {
    &desk.claims
}

async fn put_content(
    State(desk): State<Desk>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Response {
    let content: VisitContent = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return json_error(&e),
    };
    let problems = content.check();
    if !problems.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": {"class": "content_invalid", "problems": problems}})),
        )
            .into_response();
    }
    match claims(&desk).record_content(id, &content) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&e),
    }
}

fn json_error(e: &serde_json::Error) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"class": "json", "message": format!("line {} column {}: {e}", e.line(), e.column())}})),
    )
        .into_response()
}

async fn get_content(State(desk): State<Desk>, Path(id): Path<i64>) -> Response {
    match claims(&desk).store.content(id) {
        Ok(Some(c)) => Json(c).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"class": "no_content", "message": format!("visit {id}: no content recorded")}})),
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentEntry {
    visit_id: i64,
    content: VisitContent,
}

async fn post_contents(State(desk): State<Desk>, body: axum::body::Bytes) -> Response {
    let entries: Vec<ContentEntry> = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return json_error(&e),
    };
    match claims(&desk).import_contents(
        &entries
            .into_iter()
            .map(|e| (e.visit_id, e.content))
            .collect::<Vec<_>>(),
    ) {
        Ok(n) => Json(json!({"recorded": n})).into_response(),
        Err(ImportError::Problems(p)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": {"class": "content_invalid", "problems": p}})),
        )
            .into_response(),
        Err(ImportError::Claims(e)) => error_response(&e),
    }
}

/// Why a file of contents was refused.
#[derive(Debug)]
pub enum ImportError {
    /// Every problem of the file, each naming `[index].field`; nothing was stored.
    Problems(Vec<super::ContentProblem>),
    Claims(ClaimsError),
}

impl Claims {
    /// Records a file of contents: all or nothing. Every entry is checked first (fields, the
    /// visit exists and was charged, the charged amount unchanged, R11); only then stored.
    pub fn import_contents(&self, entries: &[(i64, VisitContent)]) -> Result<usize, ImportError> {
        let mut problems = Vec::new();
        for (i, (visit_id, content)) in entries.iter().enumerate() {
            for p in content.check() {
                problems.push(super::ContentProblem {
                    field: format!("[{i}].content.{}", p.field),
                    rule: p.rule,
                });
            }
            match self.visits.get(*visit_id) {
                Ok(v) if v.charged_at.is_none() => problems.push(super::ContentProblem {
                    field: format!("[{i}].visit_id"),
                    rule: format!("visit {visit_id}: 会計前の受付には診療内容を記録できない"),
                }),
                Ok(_) => {}
                Err(crate::VisitError::NotFound(_)) => problems.push(super::ContentProblem {
                    field: format!("[{i}].visit_id"),
                    rule: format!("visit {visit_id}: 受付がない"),
                }),
                Err(e) => return Err(ImportError::Claims(e.into())),
            }
            if let Ok(Some(prev)) = self.store.content(*visit_id)
                && prev.charged_yen != content.charged_yen
            {
                problems.push(super::ContentProblem {
                    field: format!("[{i}].content.charged_yen"),
                    rule: format!(
                        "窓口で徴収した一部負担金は受診の事実で、変更できない（R11）: 記録は{}円",
                        prev.charged_yen
                    ),
                });
            }
        }
        if !problems.is_empty() {
            return Err(ImportError::Problems(problems));
        }
        for (visit_id, content) in entries {
            self.store
                .put_content(*visit_id, content)
                .map_err(ImportError::Claims)?;
        }
        Ok(entries.len())
    }
}

async fn get_settings(State(desk): State<Desk>) -> Response {
    match claims(&desk).settings() {
        Ok(s) => Json(s).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn put_settings(State(desk): State<Desk>, body: axum::body::Bytes) -> Response {
    let s: FacilityClaimSettings = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return json_error(&e),
    };
    match claims(&desk).store.set_settings(&s) {
        Ok(()) => Json(s).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn get_month(State(desk): State<Desk>, Path(month): Path<String>) -> Response {
    match claims(&desk).month(&month) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
struct CloseQuery {
    billing_month: Option<String>,
}

async fn post_close(
    State(desk): State<Desk>,
    Path(month): Path<String>,
    Query(q): Query<CloseQuery>,
) -> Response {
    let c = claims(&desk);
    match c.close(&month, q.billing_month.as_deref()) {
        Ok(closed) => match c.month(&month) {
            Ok(v) => Json(json!({"closed_now": closed, "month": v})).into_response(),
            Err(e) => error_response(&e),
        },
        Err(e @ ClaimsError::Blocked { .. }) => {
            let open = c.month(&month).map(|v| v.open).unwrap_or_default();
            (
                StatusCode::CONFLICT,
                Json(json!({"error": {"class": "month_blocked", "message": e.to_string(), "open": open}})),
            )
                .into_response()
        }
        Err(e) => error_response(&e),
    }
}

async fn post_reclaim(
    State(desk): State<Desk>,
    Path(month): Path<String>,
    Query(q): Query<CloseQuery>,
) -> Response {
    let Some(billing) = q.billing_month else {
        return error_response(&ClaimsError::Month(
            "billing_month (query) is required".into(),
        ));
    };
    match claims(&desk).reclaim(&month, &billing) {
        Ok(n) => Json(json!({"reclaimed": n})).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn get_file(
    State(desk): State<Desk>,
    Path((billing_month, payer, kind)): Path<(String, String, String)>,
) -> Response {
    let Some(payer) = Payer::from_code(&payer) else {
        return error_response(&ClaimsError::Uke(format!(
            "payer must be 1 (支払基金) or 2 (国保連), got {payer:?}"
        )));
    };
    match claims(&desk).file(&billing_month, payer, &kind) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", super::uke::FILE_NAME),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}

async fn post_settlement(State(desk): State<Desk>, body: axum::body::Bytes) -> Response {
    let st: Statement = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return json_error(&e),
    };
    match claims(&desk).settle(&st) {
        Ok(out) => Json(out).into_response(),
        Err(e) => error_response(&e),
    }
}
