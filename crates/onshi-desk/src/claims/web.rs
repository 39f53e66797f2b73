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
//! - `POST /desk/api/claims/settlement` — a payer's statement, signed by the payer
//!   (`X-Onshi-Payer-Signature`, [`super::signature`]); purges settled 申立書 (R27)
//! - `GET|PUT /desk/api/claims/settings` — facility name, phone, the R20 settings, the payers'
//!   public keys
//!
//! Every route but the settlement hook and the OpenAPI document takes the terminal's API token
//! or the staff session (`crate::web::auth`).

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use onshi_domain::claims::Payer;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::content::{ContentProblem, VisitContent};
use super::settlement::{Outcome, Statement};
use super::{Claims, ClaimsError, FacilityClaimSettings, MonthView, OpenItem};
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
        .route("/desk/api/openapi.json", get(openapi_document))
        .merge(super::screen::routes())
}

/// The body of every error answer of the desk's JSON routes:
/// `{"error": {"class", "message"}}`, with every problem of a refused content
/// (`content_invalid`) and the open items of a blocked close (`month_blocked`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable class and a message naming the field and the rule.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `auth`, `json`, `path`, `query`, `content_invalid`, `charged_is_a_fact`, `not_charged`,
    /// `no_content`, `month`, `month_blocked`, `month_closed`, `month_not_closed`, `file`,
    /// `not_offered`, `settings_invalid`, `signature`, `settlement_invalid`, `visit`, `internal`.
    pub class: String,
    /// In words, naming the field and the rule.
    pub message: String,
    /// `content_invalid`: every problem, each naming its field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<ContentProblem>>,
    /// `month_blocked`: the items open in the month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open: Option<Vec<OpenItem>>,
}

impl ErrorBody {
    pub(crate) fn new(class: &str, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                class: class.to_string(),
                message: message.into(),
                problems: None,
                open: None,
            },
        }
    }

    pub(crate) fn answer(self, status: StatusCode) -> Response {
        (status, Json(self)).into_response()
    }
}

/// A refused content: 422 with every problem.
fn problems_response(problems: Vec<ContentProblem>) -> Response {
    let mut body = ErrorBody::new(
        "content_invalid",
        format!(
            "{} problem(s): {}",
            problems.len(),
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    );
    body.error.problems = Some(problems);
    body.answer(StatusCode::UNPROCESSABLE_ENTITY)
}

/// A path parameter whose rejection is a JSON error naming the parameter (class `path`).
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(r) => {
                // the parameters' names, for a rejection that does not give its key
                let names: Vec<String> =
                    axum::extract::RawPathParams::from_request_parts(parts, state)
                        .await
                        .map(|p| p.iter().map(|(k, _)| k.to_string()).collect())
                        .unwrap_or_default();
                let message = match &r {
                    PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                        ErrorKind::ParseErrorAtKey {
                            key,
                            value,
                            expected_type,
                        } => format!(
                            "{key} (path): {value:?} is not {}",
                            type_words(expected_type)
                        ),
                        ErrorKind::ParseErrorAtIndex {
                            index,
                            value,
                            expected_type,
                        } => format!(
                            "{} (path): {value:?} is not {}",
                            names.get(*index).map(String::as_str).unwrap_or("path"),
                            type_words(expected_type)
                        ),
                        ErrorKind::ParseError {
                            value,
                            expected_type,
                        } if names.len() == 1 => format!(
                            "{} (path): {value:?} is not {}",
                            names[0],
                            type_words(expected_type)
                        ),
                        _ => format!("path: {}", r.body_text()),
                    },
                    _ => format!("path: {}", r.body_text()),
                };
                Err(ErrorBody::new("path", message).answer(StatusCode::BAD_REQUEST))
            }
        }
    }
}

fn type_words(t: &str) -> String {
    if t.starts_with('i') || t.starts_with('u') {
        "an integer in range".into()
    } else {
        format!("a {t}")
    }
}

/// A query string whose rejection is a JSON error (class `query`).
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|r| {
                ErrorBody::new("query", format!("query: {}", r.body_text()))
                    .answer(StatusCode::BAD_REQUEST)
            })
    }
}

/// A JSON body read with the path of the member at fault in the error (class `json`, 400).
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ErrorBody> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let v: T = serde_path_to_error::deserialize(&mut de).map_err(|e| json_error(&e))?;
    de.end().map_err(|e| {
        ErrorBody::new(
            "json",
            format!("line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    Ok(v)
}

fn json_error(e: &serde_path_to_error::Error<serde_json::Error>) -> ErrorBody {
    let path = e.path().to_string();
    let inner = e.inner();
    let at = if path == "." {
        String::new()
    } else {
        format!("{path}: ")
    };
    ErrorBody::new(
        "json",
        format!(
            "{at}{inner} (line {} column {})",
            inner.line(),
            inner.column()
        ),
    )
}

/// This document: the desk's OpenAPI document (`docs/api/desk-openapi.json`).
#[utoipa::path(get, path = "/desk/api/openapi.json", tag = "service",
    responses((status = 200, description = "the OpenAPI document of the desk", body = Object)))]
async fn openapi_document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
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
    ErrorBody::new(class, e.to_string()).answer(status)
}

fn claims(desk: &Desk) -> &Claims {
    &desk.claims
}

/// Records what a visit contributes (the receipt computer's part and the amount charged).
///
/// After 会計 only; every problem is named at once and nothing is stored when one is found. The
/// amount charged at the window is a fact of the visit: a different `charged_yen` later is
/// refused (R11).
#[utoipa::path(put, path = "/desk/api/visits/{id}/content", tag = "claims",
    params(("id" = i64, Path, description = "the visit's id", example = 1)),
    request_body = VisitContent,
    security(("terminalToken" = []), ("deskSession" = [])),
    responses((status = 204, description = "recorded"),
        (status = 400, description = "not JSON of this shape (`json`, naming the member) or a bad path parameter (`path`)", body = ErrorBody),
        (status = 404, description = "no visit with that id (`visit`)", body = ErrorBody),
        (status = 409, description = "the amount charged would change (`charged_is_a_fact`, R11) or the patient has not been charged yet (`not_charged`)", body = ErrorBody),
        (status = 422, description = "fields breaking their rules, every one named (`content_invalid`)", body = ErrorBody),
        (status = 401, description = "neither the terminal's API token (`Authorization: Bearer`) nor a signed-in staff session (`auth`)", body = ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = ErrorBody)))]
async fn put_content(
    State(desk): State<Desk>,
    ApiPath(id): ApiPath<i64>,
    body: axum::body::Bytes,
) -> Response {
    let content: VisitContent = match parse_json(&body) {
        Ok(c) => c,
        Err(e) => return e.answer(StatusCode::BAD_REQUEST),
    };
    let problems = content.check();
    if !problems.is_empty() {
        return problems_response(problems);
    }
    match claims(&desk).record_content(id, &content) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&e),
    }
}

/// What a visit contributes, as recorded.
#[utoipa::path(get, path = "/desk/api/visits/{id}/content", tag = "claims",
    params(("id" = i64, Path, description = "the visit's id", example = 1)),
    security(("terminalToken" = []), ("deskSession" = [])),
    responses((status = 200, description = "the content recorded for the visit", body = VisitContent),
        (status = 400, description = "a bad path parameter (`path`)", body = ErrorBody),
        (status = 404, description = "no content recorded for that visit (`no_content`)", body = ErrorBody),
        (status = 401, description = "neither the terminal's API token (`Authorization: Bearer`) nor a signed-in staff session (`auth`)", body = ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = ErrorBody)))]
async fn get_content(State(desk): State<Desk>, ApiPath(id): ApiPath<i64>) -> Response {
    match claims(&desk).store.content(id) {
        Ok(Some(c)) => Json(c).into_response(),
        Ok(None) => ErrorBody::new("no_content", format!("visit {id}: no content recorded"))
            .answer(StatusCode::NOT_FOUND),
        Err(e) => error_response(&e),
    }
}

/// One entry of a file of contents.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentEntry {
    /// The visit's id.
    visit_id: i64,
    content: VisitContent,
}

/// How many contents a file recorded.
#[derive(Serialize, ToSchema)]
pub struct Recorded {
    pub recorded: usize,
}

/// Records a file of contents, all or nothing.
///
/// Every entry is checked first (its fields, the visit exists and was charged, the amount
/// charged unchanged, R11); every problem is named as `[index].field` and nothing is stored
/// when there is one.
#[utoipa::path(post, path = "/desk/api/claims/contents", tag = "claims",
    request_body = Vec<ContentEntry>,
    security(("terminalToken" = []), ("deskSession" = [])),
    responses((status = 200, description = "every entry recorded", body = Recorded),
        (status = 400, description = "not JSON of this shape (`json`, naming the member)", body = ErrorBody),
        (status = 422, description = "every problem of the file, each naming `[index].field` (`content_invalid`); nothing recorded", body = ErrorBody),
        (status = 401, description = "neither the terminal's API token (`Authorization: Bearer`) nor a signed-in staff session (`auth`)", body = ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = ErrorBody)))]
async fn post_contents(State(desk): State<Desk>, body: axum::body::Bytes) -> Response {
    let entries: Vec<ContentEntry> = match parse_json(&body) {
        Ok(c) => c,
        Err(e) => return e.answer(StatusCode::BAD_REQUEST),
    };
    match claims(&desk).import_contents(
        &entries
            .into_iter()
            .map(|e| (e.visit_id, e.content))
            .collect::<Vec<_>>(),
    ) {
        Ok(n) => Json(Recorded { recorded: n }).into_response(),
        Err(ImportError::Problems(p)) => problems_response(p),
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

/// The facility's claim settings: the name and phone of the IR record, the R20 rules.
#[utoipa::path(get, path = "/desk/api/claims/settings", tag = "claims",
    security(("terminalToken" = []), ("deskSession" = [])),
    responses((status = 200, description = "the settings", body = FacilityClaimSettings),
        (status = 401, description = "neither the terminal's API token (`Authorization: Bearer`) nor a signed-in staff session (`auth`)", body = ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = ErrorBody)))]
async fn get_settings(State(desk): State<Desk>) -> Response {
    match claims(&desk).settings() {
        Ok(s) => Json(s).into_response(),
        Err(e) => error_response(&e),
    }
}

/// Sets the facility's claim settings; a member left out takes its default. Refused whole when
/// the claim files could not carry a value.
#[utoipa::path(put, path = "/desk/api/claims/settings", tag = "claims",
    request_body = FacilityClaimSettings,
    security(("terminalToken" = []), ("deskSession" = [])),
    responses((status = 200, description = "the settings as stored", body = FacilityClaimSettings),
        (status = 400, description = "not JSON of this shape (`json`, naming the member)", body = ErrorBody),
        (status = 401, description = "neither the terminal's API token (`Authorization: Bearer`) nor a signed-in staff session (`auth`)", body = ErrorBody),
        (status = 422, description = "a payer key that is not a payer (1, 2) with an ed25519 public key, or a value the claim files cannot carry (the IR record's 医療機関名称 or 電話番号), naming the field and the rule (`settings_invalid`); nothing stored", body = ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = ErrorBody)))]
async fn put_settings(State(desk): State<Desk>, body: axum::body::Bytes) -> Response {
    let s: FacilityClaimSettings = match parse_json(&body) {
        Ok(s) => s,
        Err(e) => return e.answer(StatusCode::BAD_REQUEST),
    };
    if let Err(e) = s.check(&claims(&desk).facility_code) {
        return ErrorBody::new("settings_invalid", e).answer(StatusCode::UNPROCESSABLE_ENTITY);
    }
    match claims(&desk).store.set_settings(&s) {
        Ok(()) => Json(s).into_response(),
        Err(e) => error_response(&e),
    }
}

/// A month of service: the claims it would file (or, once closed, the filed ones), what is open,
/// what changed since filing, and the files.
#[utoipa::path(get, path = "/desk/api/claims/{month}", tag = "claims",
    params(("month" = String, Path, description = "the month of service, YYYYMM", pattern = "^[0-9]{4}(0[1-9]|1[0-2])$", example = "202611")),
    security(("terminalToken" = []), ("deskSession" = [])),
    responses((status = 200, description = "the month", body = MonthView),
        (status = 400, description = "not a month YYYYMM (`month`)", body = ErrorBody),
        (status = 422, description = "a visit's stored situation the engine refuses (`content_invalid`)", body = ErrorBody),
        (status = 401, description = "neither the terminal's API token (`Authorization: Bearer`) nor a signed-in staff session (`auth`)", body = ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = ErrorBody)))]
async fn get_month(State(desk): State<Desk>, ApiPath(month): ApiPath<String>) -> Response {
    if let Err(e) = check_month("month (path)", &month) {
        return e.answer(StatusCode::BAD_REQUEST);
    }
    match claims(&desk).month(&month) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CloseQuery {
    /// 請求年月 (YYYYMM); for a close, by default the month after the month of service.
    #[param(pattern = "^[0-9]{4}(0[1-9]|1[0-2])$", example = "202612")]
    billing_month: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ReclaimQuery {
    /// 請求年月 (YYYYMM) of the re-claim file.
    #[param(
        required = true,
        pattern = "^[0-9]{4}(0[1-9]|1[0-2])$",
        example = "202701"
    )]
    billing_month: Option<String>,
}

/// A month parameter that is not YYYYMM: `month` (400), naming the parameter.
fn check_month(name: &str, value: &str) -> Result<(), ErrorBody> {
    match super::build::month_range(value) {
        Some(_) => Ok(()),
        None => Err(ErrorBody::new(
            "month",
            format!("{name}: {value:?} is not a month YYYYMM"),
        )),
    }
}

/// What a close did.
#[derive(Serialize, ToSchema)]
pub struct Closed {
    /// `false` when the month was closed already (nothing changed).
    pub closed_now: bool,
    pub month: MonthView,
}

/// How many claims went into a re-claim file.
#[derive(Serialize, ToSchema)]
pub struct Reclaimed {
    /// `0` when nothing changed since filing, or that re-claim file exists already.
    pub reclaimed: usize,
}

/// Closes a month: freezes its claims and writes a UKE file per payer. Refused while a blocking
/// item is open; closing a closed month changes nothing and says so.
#[utoipa::path(post, path = "/desk/api/claims/{month}/close", tag = "claims",
    params(("month" = String, Path, description = "the month of service, YYYYMM", pattern = "^[0-9]{4}(0[1-9]|1[0-2])$", example = "202611"), CloseQuery),
    security(("terminalToken" = []), ("deskSession" = [])),
    responses((status = 200, description = "closed (or closed before)", body = Closed),
        (status = 400, description = "not a month YYYYMM (`month`), or a bad query (`query`)", body = ErrorBody),
        (status = 409, description = "open items block the close (`month_blocked`, with `open`)", body = ErrorBody),
        (status = 422, description = "a visit's stored situation the engine refuses (`content_invalid`)", body = ErrorBody),
        (status = 401, description = "neither the terminal's API token (`Authorization: Bearer`) nor a signed-in staff session (`auth`)", body = ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = ErrorBody)))]
async fn post_close(
    State(desk): State<Desk>,
    ApiPath(month): ApiPath<String>,
    ApiQuery(q): ApiQuery<CloseQuery>,
) -> Response {
    if let Err(r) = check_month("month (path)", &month).and_then(|()| match &q.billing_month {
        Some(b) => check_month("billing_month (query)", b),
        None => Ok(()),
    }) {
        return r.answer(StatusCode::BAD_REQUEST);
    }
    let c = claims(&desk);
    match c.close(&month, q.billing_month.as_deref()) {
        Ok(closed) => match c.month(&month) {
            Ok(v) => Json(Closed {
                closed_now: closed,
                month: v,
            })
            .into_response(),
            Err(e) => error_response(&e),
        },
        Err(e @ ClaimsError::Blocked { .. }) => {
            let open = c.month(&month).map(|v| v.open).unwrap_or_default();
            let mut body = ErrorBody::new("month_blocked", e.to_string());
            body.error.open = Some(open);
            body.answer(StatusCode::CONFLICT)
        }
        Err(e) => error_response(&e),
    }
}

/// Files a re-claim for what changed since a closed month was filed (a number learned after
/// filing, R20): the changed claims go into a `reclaim` file of the billing month.
#[utoipa::path(post, path = "/desk/api/claims/{month}/reclaim", tag = "claims",
    params(("month" = String, Path, description = "the month of service, YYYYMM", pattern = "^[0-9]{4}(0[1-9]|1[0-2])$", example = "202611"), ReclaimQuery),
    security(("terminalToken" = []), ("deskSession" = [])),
    responses((status = 200, description = "the number of claims re-claimed", body = Reclaimed),
        (status = 400, description = "not a month YYYYMM, or `billing_month` missing (`month`); a bad query (`query`)", body = ErrorBody),
        (status = 409, description = "the month is not closed (`month_not_closed`)", body = ErrorBody),
        (status = 422, description = "a visit's stored situation the engine refuses (`content_invalid`)", body = ErrorBody),
        (status = 401, description = "neither the terminal's API token (`Authorization: Bearer`) nor a signed-in staff session (`auth`)", body = ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = ErrorBody)))]
async fn post_reclaim(
    State(desk): State<Desk>,
    ApiPath(month): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReclaimQuery>,
) -> Response {
    let Some(billing) = q.billing_month else {
        return ErrorBody::new(
            "month",
            "billing_month (query): required for a re-claim, YYYYMM",
        )
        .answer(StatusCode::BAD_REQUEST);
    };
    if let Err(r) = check_month("month (path)", &month)
        .and_then(|()| check_month("billing_month (query)", &billing))
    {
        return r.answer(StatusCode::BAD_REQUEST);
    }
    match claims(&desk).reclaim(&month, &billing) {
        Ok(n) => Json(Reclaimed { reclaimed: n }).into_response(),
        Err(e) => error_response(&e),
    }
}

/// The bytes of a UKE file: Shift_JIS records, one a line (docs/formats/uke.md).
#[derive(ToSchema)]
#[schema(value_type = String, content_media_type = "application/octet-stream")]
pub struct UkeFileBytes(pub Vec<u8>);

/// A filed UKE file (`RECEIPTC.UKE`, Shift_JIS), written again from the frozen claims.
#[utoipa::path(get, path = "/desk/api/claims/files/{billing_month}/{payer}/{kind}", tag = "claims",
    params(("billing_month" = String, Path, description = "請求年月, YYYYMM", pattern = "^[0-9]{4}(0[1-9]|1[0-2])$", example = "202612"),
        ("payer" = String, Path, description = "1 支払基金, 2 国保連", pattern = "^[12]$", example = "1"),
        ("kind" = String, Path, description = "`claim` (the month's filing) or `reclaim`", example = "claim")),
    security(("terminalToken" = []), ("deskSession" = [])),
    responses((status = 200, description = "the file's bytes (attachment RECEIPTC.UKE)", body = UkeFileBytes, content_type = "application/octet-stream"),
        (status = 400, description = "a billing month that is not YYYYMM (`month`), a bad path parameter (`path`)", body = ErrorBody),
        (status = 404, description = "no such file, or a payer other than 1 or 2 (`file`)", body = ErrorBody),
        (status = 401, description = "neither the terminal's API token (`Authorization: Bearer`) nor a signed-in staff session (`auth`)", body = ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = ErrorBody)))]
async fn get_file(
    State(desk): State<Desk>,
    ApiPath((billing_month, payer, kind)): ApiPath<(String, String, String)>,
) -> Response {
    if let Err(e) = check_month("billing_month (path)", &billing_month) {
        return e.answer(StatusCode::BAD_REQUEST);
    }
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

/// Takes a payer's statement for a filed file (docs/formats/settlement.md): every claim's
/// outcome, then the purge of the settled claims' 申立書 (R27). The same statement twice is
/// recorded once.
///
/// The statement must be signed by its payer: `X-Onshi-Payer-Signature: <payer>:<hex ed25519
/// signature over the exact bytes of the body>`, by a key registered in the facility's claim
/// settings (`payer_keys`) for that payer, which must be the statement's. Nothing is read or
/// purged before the signature holds.
#[utoipa::path(post, path = "/desk/api/claims/settlement", tag = "claims",
    request_body = Statement,
    security(("payerSignature" = [])),
    responses((status = 200, description = "what taking the statement did", body = Outcome),
        (status = 400, description = "not JSON of this shape (`json`, naming the member)", body = ErrorBody),
        (status = 401, description = "no `X-Onshi-Payer-Signature`, or not `<payer>:<128 hex digits>` (`auth`); nothing done", body = ErrorBody),
        (status = 403, description = "the signature is not over this body by a key the facility registered for that payer, or the statement is another payer's (`signature`); nothing done", body = ErrorBody),
        (status = 422, description = "a statement this facility cannot take, refused whole (`settlement_invalid`)", body = ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = ErrorBody)))]
async fn post_settlement(
    State(desk): State<Desk>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let keys = match claims(&desk).settings() {
        Ok(s) => s.payer_keys,
        Err(e) => return error_response(&e),
    };
    let header = headers
        .get(onshi_domain::claims::SETTLEMENT_SIGNATURE_HEADER)
        .map(|v| v.as_bytes());
    let signer = match super::signature::verify(&keys, header, &body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "settlement statement refused");
            return ErrorBody::new(e.class(), e.to_string()).answer(e.status());
        }
    };
    let st: Statement = match parse_json(&body) {
        Ok(s) => s,
        Err(e) => return e.answer(StatusCode::BAD_REQUEST),
    };
    if st.payer != signer {
        return ErrorBody::new(
            "signature",
            format!(
                "payer: the statement is payer {:?}'s, signed by payer {signer}",
                st.payer
            ),
        )
        .answer(StatusCode::FORBIDDEN);
    }
    match claims(&desk).settle(&st) {
        Ok(out) => Json(out).into_response(),
        Err(e) => error_response(&e),
    }
}
