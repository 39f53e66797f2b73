//! System-outage mode over HTTP (R12–R14, R17): the facility's API under `/v1/outage`, the
//! call-centre operator's API under `/v1/operator/outage` and screens under `/operator/outage`.
//! See docs/outage-mode.md.
//!
//! Boundary rules: facilities authenticate with their bearer token (the facility comes from the
//! token, never from the body) and see only their own requests and audit; operators
//! authenticate with an operator token (table `outage_operator`, created by
//! `onshi operator add`), stored hashed under a prefix of its own so that a facility token is
//! never an operator token. The call centre's screens (`outage_screens`) exchange the operator
//! token, once, for a server-side session; a facility takes its side of the procedure at its
//! own desk, which calls this API. Registering a facility's call-back number is
//! not offered here at all: it is the administrator's (`onshi facility phone`), so an operator
//! cannot redirect the call-back of R13.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use onshi_central::outage::{
    Actor, AuditView, OutageConfig, OutageError, OutageService, ReportInput, RequestInput,
    RequestView, SearchInput,
};
use onshi_central::{Clock, SystemClock};
use onshi_store::outage::{
    AuditFilter, AuditKind, FacilityContact, Operator, OutageEvent, OutageState, OutageStore,
    RequestFilter,
};
use onshi_store::{Facility, RegistryRead};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ApiError, ApiPath, ApiQuery, AppState, AuthFacility, JsonBody};

/// The outage-mode part of the application state.
#[derive(Clone)]
pub struct OutageApp {
    pub service: OutageService,
    /// searches and selections run at once, at most (see [`searches_at_once`])
    running: Arc<tokio::sync::Semaphore>,
}

/// How many outage searches (and selections) run at once, at most; the rest wait their turn
/// without holding a thread. Each runs on a blocking thread with a registry reader of its
/// own: 64 searches at once meant 64 threads (and readers) contending for the cores, and a
/// tail of tens of ms. A few per core keep the CPUs busy. A search gives its turn back once
/// its audit line is handed to the audit writer and awaits the line's commit without a
/// thread, so the writer's groups grow with the load (a selection keeps its turn to the
/// end); docs/performance.md has the figures before and after.
pub fn searches_at_once() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 4
}

impl OutageApp {
    /// Over one store that is both registry and outage store, with the system clock and the
    /// default window (until the end of the day, JST).
    pub fn over<S: OutageStore + RegistryRead + 'static>(store: Arc<S>) -> Self {
        Self::with_clock(store, Arc::new(SystemClock), OutageConfig::default())
    }

    pub fn with_clock<S: OutageStore + RegistryRead + 'static>(
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        config: OutageConfig,
    ) -> Self {
        OutageApp {
            service: OutageService::new(store.clone(), store, clock, config),
            running: Arc::new(tokio::sync::Semaphore::new(searches_at_once())),
        }
    }
}

impl AppState {
    /// Turns on the outage-mode routes (without it they answer 503).
    pub fn with_outage(mut self, app: OutageApp) -> Self {
        self.outage = Some(app);
        self
    }

    /// [`AppState::with_outage`] over one SQLite-like store with the defaults.
    pub fn with_outage_store<S: OutageStore + RegistryRead + 'static>(self, store: Arc<S>) -> Self {
        self.with_outage(OutageApp::over(store))
    }
}

/// Hash under which an operator token is stored (prefix differs from facility tokens).
pub fn operator_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(
        format!("onshi-operator-token:{token}").as_bytes(),
    ))
}

pub(crate) fn service(st: &AppState) -> Result<&OutageService, ApiError> {
    outage_app(st).map(|o| &o.service)
}

fn outage_app(st: &AppState) -> Result<&OutageApp, ApiError> {
    st.outage.as_ref().ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        field: None,
        rule: "outage_not_configured".into(),
        message: "system-outage mode is not configured on this server".into(),
    })
}

pub(crate) fn api_error(e: OutageError) -> ApiError {
    match e {
        OutageError::Invalid {
            field,
            rule,
            message,
        } => ApiError::bad(Some(field), rule, message),
        OutageError::Refused {
            field,
            rule,
            message,
        } => ApiError {
            status: StatusCode::FORBIDDEN,
            field: field.map(str::to_string),
            rule: rule.into(),
            message,
        },
        OutageError::NotFound { field, message } => ApiError {
            status: StatusCode::NOT_FOUND,
            field: Some(field.into()),
            rule: "not_found".into(),
            message,
        },
        OutageError::Conflict { rule, message } => ApiError {
            status: StatusCode::CONFLICT,
            field: None,
            rule: rule.into(),
            message,
        },
        OutageError::Store(e) => {
            tracing::error!(error = %e, "outage store error");
            ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                field: None,
                rule: "internal".into(),
                message: e.to_string(),
            }
        }
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "internal error");
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        field: None,
        rule: "internal".into(),
        message: e.to_string(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string())
}

/// The authenticated operator of the API (bearer token only: the screens' session cookie is
/// not a credential of the API, so another site cannot make the browser call it).
pub struct AuthOperator(pub Operator);

/// The name of the operator screens' session cookie.
pub(crate) const OPERATOR_COOKIE: &str = "onshi_operator";

impl FromRequestParts<AppState> for AuthOperator {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let svc = service(st)?;
        let unauthorized = |m: &str| ApiError {
            status: StatusCode::UNAUTHORIZED,
            field: Some("Authorization".into()),
            rule: "auth".into(),
            message: m.into(),
        };
        let token = bearer(&parts.headers)
            .ok_or_else(|| unauthorized("an operator bearer token is required"))?;
        svc.store()
            .operator_by_token_hash(&operator_token_hash(&token))
            .map_err(internal)?
            .map(AuthOperator)
            .ok_or_else(|| unauthorized("unknown operator token"))
    }
}

/// The outage-mode API and the call centre's screens; `secure` marks the screens' session
/// cookie Secure (when served over TLS).
pub fn routes(secure: bool) -> Router<AppState> {
    Router::new()
        // facility API
        .route("/v1/outage", get(facility_status))
        .route("/v1/outage/requests", post(facility_request))
        .route("/v1/outage/requests/{id}", get(facility_request_view))
        .route("/v1/outage/requests/{id}/cancel", post(facility_cancel))
        .route("/v1/outage/requests/{id}/report", post(facility_report))
        .route("/v1/outage/search", post(search))
        .route("/v1/outage/search/{search_id}/select", post(select))
        .route("/v1/outage/audit", get(facility_audit))
        // operator API
        .route("/v1/operator/whoami", get(operator_whoami))
        .route(
            "/v1/operator/outage/requests",
            get(operator_list).post(operator_request),
        )
        .route(
            "/v1/operator/outage/requests/{id}",
            get(operator_request_view),
        )
        .route(
            "/v1/operator/outage/requests/{id}/verify",
            post(operator_verify),
        )
        .route(
            "/v1/operator/outage/requests/{id}/issue-form",
            post(operator_issue_form),
        )
        .route(
            "/v1/operator/outage/requests/{id}/enable",
            post(operator_enable),
        )
        .route(
            "/v1/operator/outage/requests/{id}/close",
            post(operator_close),
        )
        .route(
            "/v1/operator/outage/requests/{id}/cancel",
            post(operator_cancel),
        )
        .route("/v1/operator/outage/audit", get(operator_audit))
        // certified readers (issue 10): the operator registers and revokes device keys
        .route("/v1/operator/readers", post(operator_register_reader))
        .route(
            "/v1/operator/readers/{id}/revoke",
            post(operator_revoke_reader),
        )
        .route(
            "/v1/operator/outage/facilities/{code}",
            get(operator_facility),
        )
        .merge(crate::outage_screens::routes(secure))
}

/// A JSON body that may be absent (an empty body reads as `T::default()`).
pub(crate) struct OptJson<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> FromRequest<S> for OptJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad(None, "body", e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptJson(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptJson)
            .map_err(|e| ApiError::bad(None, "json", e.to_string()))
    }
}

// --- answers -----------------------------------------------------------------------------

/// A facility's own search audit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FacilityAudit {
    pub facility: String,
    pub audit: Vec<AuditView>,
}

/// The search audit as an operator sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditList {
    pub audit: Vec<AuditView>,
}

/// Requests, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestList {
    pub requests: Vec<RequestView>,
}

/// A request as an operator sees it: with the facility's registered contact, to call back on
/// (R13 step 2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OperatorRequestView {
    #[serde(flatten)]
    pub view: RequestView,
    pub registered_contact: Option<FacilityContact>,
}

/// A facility as the call centre sees it, with its outage log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FacilityDetail {
    pub facility: String,
    pub registered_name: String,
    pub registered_contact: Option<FacilityContact>,
    pub events: Vec<OutageEvent>,
}

// --- facility API ------------------------------------------------------------------------

pub(crate) fn facility_actor(f: &Facility, staff: Option<&str>) -> Actor {
    Actor::facility(&f.code, staff)
}

/// Facility: can it search now, and where its requests stand (R13).
#[utoipa::path(get, path = "/v1/outage", tag = "outage",
    responses((status = 200, description = "status", body = onshi_central::outage::FacilityStatus), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn facility_status(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
) -> Result<Response, ApiError> {
    let s = service(&st)?.facility_status(&f.code).map_err(api_error)?;
    Ok(axum::Json(s).into_response())
}

/// Facility: ask for the outage mode (R13 step 1).
#[utoipa::path(post, path = "/v1/outage/requests", tag = "outage", request_body = RequestInput,
    responses((status = 201, description = "created", body = onshi_central::outage::RequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 409, description = "an open request exists", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody), (status = 415, description = "the body is not sent as application/json", body = crate::ErrorBody), (status = 422, description = "JSON of the wrong shape; names the member", body = crate::ErrorBody)))]
pub(crate) async fn facility_request(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    JsonBody(input): JsonBody<RequestInput>,
) -> Result<Response, ApiError> {
    let by = input
        .staff_id
        .as_deref()
        .or(input.contact_person.as_deref());
    let v = service(&st)?
        .request(&facility_actor(&f, by), &input)
        .map_err(api_error)?;
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

/// Facility: one of its requests with its log.
#[utoipa::path(get, path = "/v1/outage/requests/{id}", tag = "outage", params(("id" = i64, Path, description = "the request's id")),
    responses((status = 200, description = "the request", body = onshi_central::outage::RequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "no such request for this caller", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn facility_request_view(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let v = service(&st)?
        .request_view(id, Some(&f.code))
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct StaffBody {
    #[serde(default)]
    staff_id: Option<String>,
}

/// Facility: withdraw its request before it is enabled.
#[utoipa::path(post, path = "/v1/outage/requests/{id}/cancel", tag = "outage", params(("id" = i64, Path, description = "the request's id")), request_body(content = Option<StaffBody>, description = "optional: who withdraws it"),
    responses((status = 200, description = "the request", body = onshi_central::outage::RequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "no such request for this caller", body = crate::ErrorBody), (status = 409, description = "the step does not fit the state", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody), (status = 415, description = "the body is not sent as application/json", body = crate::ErrorBody), (status = 422, description = "JSON of the wrong shape; names the member", body = crate::ErrorBody)))]
pub(crate) async fn facility_cancel(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    ApiPath(id): ApiPath<i64>,
    OptJson(body): OptJson<StaffBody>,
) -> Result<Response, ApiError> {
    let staff = body.staff_id;
    let v = service(&st)?
        .cancel(&facility_actor(&f, staff.as_deref()), id)
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

/// Facility: submit the usage report 「システム障害時機能の利用報告」 (R13 step 4).
#[utoipa::path(post, path = "/v1/outage/requests/{id}/report", tag = "outage", params(("id" = i64, Path, description = "the request's id")), request_body = ReportInput,
    responses((status = 200, description = "the request", body = onshi_central::outage::RequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "no such request for this caller", body = crate::ErrorBody), (status = 409, description = "the step does not fit the state", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody), (status = 415, description = "the body is not sent as application/json", body = crate::ErrorBody), (status = 422, description = "JSON of the wrong shape; names the member", body = crate::ErrorBody)))]
pub(crate) async fn facility_report(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    ApiPath(id): ApiPath<i64>,
    JsonBody(input): JsonBody<ReportInput>,
) -> Result<Response, ApiError> {
    let v = service(&st)?
        .report(&f.code, id, &input)
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

/// Facility: 資格情報照会（システム障害時）, only while enabled (R14).
#[utoipa::path(post, path = "/v1/outage/search", tag = "outage", request_body = SearchInput,
    responses((status = 200, description = "result", body = onshi_central::outage::SearchResponse), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 403, description = "not enabled or the window has closed (rule r13_not_enabled / r13_window_closed); the attempt is recorded", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody), (status = 415, description = "the body is not sent as application/json", body = crate::ErrorBody), (status = 422, description = "JSON of the wrong shape; names the member", body = crate::ErrorBody)))]
pub(crate) async fn search(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    JsonBody(input): JsonBody<SearchInput>,
) -> Result<Response, ApiError> {
    let app = outage_app(&st)?;
    let svc = app.service.clone();
    let turn = app.running.acquire().await.map_err(internal)?;
    let code = f.code.clone();
    let pending = tokio::task::spawn_blocking(move || {
        onshi_store::blocking(|| svc.search_handed_over(&code, &input))
    })
    .await
    .map_err(internal)?
    .map_err(api_error)?;
    // the turn bounds the searches' work, not their wait for the audit line's group commit:
    // waiting here, without a thread, lets the groups grow with the load
    drop(turn);
    let r = pending.finish().await.map_err(api_error)?;
    Ok(axum::Json(r).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct SelectBody {
    candidate: u32,
    #[serde(default)]
    staff_id: Option<String>,
}

/// Facility: choose a candidate of its search → the qualification (R14, R17).
#[utoipa::path(post, path = "/v1/outage/search/{search_id}/select", tag = "outage", params(("search_id" = i64, Path, description = "the search's audit id")), request_body = SelectBody,
    responses((status = 200, description = "the qualification", body = onshi_central::outage::SelectResponse), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 403, description = "not enabled or the window has closed", body = crate::ErrorBody), (status = 404, description = "no such search of this facility", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody), (status = 415, description = "the body is not sent as application/json", body = crate::ErrorBody), (status = 422, description = "JSON of the wrong shape; names the member", body = crate::ErrorBody)))]
pub(crate) async fn select(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    ApiPath(search_id): ApiPath<i64>,
    JsonBody(b): JsonBody<SelectBody>,
) -> Result<Response, ApiError> {
    let app = outage_app(&st)?;
    let svc = app.service.clone();
    let _turn = app.running.acquire().await.map_err(internal)?;
    let code = f.code.clone();
    let r = tokio::task::spawn_blocking(move || {
        onshi_store::blocking(|| svc.select(&code, search_id, b.candidate, b.staff_id.as_deref()))
    })
    .await
    .map_err(internal)?
    .map_err(api_error)?;
    Ok(axum::Json(r).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// operator only: one facility's lines (医療機関コード)
    facility: Option<String>,
    /// `search`, `select` or `refused`
    kind: Option<String>,
    limit: Option<u32>,
    /// the page after this id (newest first)
    before_id: Option<i64>,
}

impl AuditQuery {
    fn filter(&self, facility: Option<String>) -> Result<AuditFilter, ApiError> {
        let kind = match self.kind.as_deref() {
            None | Some("") => None,
            Some(k) => Some(AuditKind::parse(k).ok_or_else(|| {
                ApiError::bad(
                    Some("kind"),
                    "enum",
                    "kind must be search, select or refused",
                )
            })?),
        };
        Ok(AuditFilter {
            facility,
            kind,
            limit: self.limit,
            before_id: self.before_id,
        })
    }
}

/// Facility: its own search audit, newest first.
#[utoipa::path(get, path = "/v1/outage/audit", tag = "outage", params(AuditQuery),
    responses((status = 200, description = "audit", body = FacilityAudit), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn facility_audit(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    // R14 audit: a facility sees its own lines only, whatever it asks for.
    let filter = q.filter(Some(f.code.as_str().to_string()))?;
    let rows = service(&st)?.audit(&filter).map_err(api_error)?;
    Ok(axum::Json(FacilityAudit {
        facility: f.code.as_str().to_string(),
        audit: rows,
    })
    .into_response())
}

// --- operator API ------------------------------------------------------------------------

/// Operator: who the token belongs to.
#[utoipa::path(get, path = "/v1/operator/whoami", tag = "operator", security(("operatorToken" = [])),
    responses((status = 200, description = "operator", body = Operator), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn operator_whoami(AuthOperator(o): AuthOperator) -> axum::Json<Operator> {
    axum::Json(o)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// one facility's requests (医療機関コード)
    pub(crate) facility: Option<String>,
    /// requested, verified, form_issued, enabled, closed, reported or cancelled
    state: Option<String>,
    limit: Option<u32>,
    before_id: Option<i64>,
}

/// Operator: requests, newest first.
#[utoipa::path(get, path = "/v1/operator/outage/requests", tag = "operator", security(("operatorToken" = [])), params(ListQuery),
    responses((status = 200, description = "requests", body = RequestList), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn operator_list(
    State(st): State<AppState>,
    AuthOperator(_): AuthOperator,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(OutageState::parse(s).ok_or_else(|| {
            ApiError::bad(
                Some("state"),
                "enum",
                "state must be one of requested, verified, form_issued, enabled, closed, reported, cancelled",
            )
        })?),
    };
    let rows = service(&st)?
        .list_requests(&RequestFilter {
            facility: q.facility.filter(|f| !f.is_empty()),
            state,
            limit: q.limit,
            before_id: q.before_id,
        })
        .map_err(api_error)?;
    Ok(axum::Json(RequestList { requests: rows }).into_response())
}

/// Operator: record a facility's call (R13 step 1).
#[utoipa::path(post, path = "/v1/operator/outage/requests", tag = "operator", security(("operatorToken" = [])), request_body = RequestInput,
    responses((status = 201, description = "created", body = onshi_central::outage::RequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "unknown facility_code", body = crate::ErrorBody), (status = 409, description = "an open request exists", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody), (status = 415, description = "the body is not sent as application/json", body = crate::ErrorBody), (status = 422, description = "JSON of the wrong shape; names the member", body = crate::ErrorBody)))]
pub(crate) async fn operator_request(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    JsonBody(input): JsonBody<RequestInput>,
) -> Result<Response, ApiError> {
    let v = service(&st)?
        .request(&Actor::Operator(o), &input)
        .map_err(api_error)?;
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

/// Operator: a request with its log and the facility's registered contact.
#[utoipa::path(get, path = "/v1/operator/outage/requests/{id}", tag = "operator", security(("operatorToken" = [])), params(("id" = i64, Path, description = "the request's id")),
    responses((status = 200, description = "the request", body = OperatorRequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "no such request for this caller", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn operator_request_view(
    State(st): State<AppState>,
    AuthOperator(_): AuthOperator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let svc = service(&st)?;
    let v = svc.request_view(id, None).map_err(api_error)?;
    let contact = svc
        .store()
        .facility_contact(&v.request.facility)
        .map_err(internal)?;
    Ok(axum::Json(OperatorRequestView {
        view: v,
        registered_contact: contact,
    })
    .into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct VerifyBody {
    #[serde(default)]
    phone: Option<String>,
}

/// Operator: the call-back was made on `phone` — accepted only if it is the registered
/// number (R13 step 2).
#[utoipa::path(post, path = "/v1/operator/outage/requests/{id}/verify", tag = "operator", security(("operatorToken" = [])), params(("id" = i64, Path, description = "the request's id")), request_body = VerifyBody,
    responses((status = 200, description = "the request", body = onshi_central::outage::RequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 403, description = "not the registered number (r13_callback_number) or none registered (r13_no_registered_phone); logged", body = crate::ErrorBody), (status = 404, description = "no such request for this caller", body = crate::ErrorBody), (status = 409, description = "the step does not fit the state", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody), (status = 415, description = "the body is not sent as application/json", body = crate::ErrorBody), (status = 422, description = "JSON of the wrong shape; names the member", body = crate::ErrorBody)))]
pub(crate) async fn operator_verify(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    ApiPath(id): ApiPath<i64>,
    JsonBody(b): JsonBody<VerifyBody>,
) -> Result<Response, ApiError> {
    let phone = b.phone.filter(|p| !p.trim().is_empty()).ok_or_else(|| {
        ApiError::bad(
            Some("phone"),
            "required",
            "the number the call-back was made on (phone) is required (R13)",
        )
    })?;
    let v = service(&st)?.verify(&o, id, &phone).map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct FormBody {
    #[serde(default)]
    email: Option<String>,
}

/// Operator: the usage-report form was e-mailed (R13 step 2); default the registered e-mail.
#[utoipa::path(post, path = "/v1/operator/outage/requests/{id}/issue-form", tag = "operator", security(("operatorToken" = [])), params(("id" = i64, Path, description = "the request's id")), request_body(content = Option<FormBody>, description = "optional: the address it went to"),
    responses((status = 200, description = "the request", body = onshi_central::outage::RequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "no such request for this caller", body = crate::ErrorBody), (status = 409, description = "the step does not fit the state", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody), (status = 415, description = "the body is not sent as application/json", body = crate::ErrorBody), (status = 422, description = "JSON of the wrong shape; names the member", body = crate::ErrorBody)))]
pub(crate) async fn operator_issue_form(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    ApiPath(id): ApiPath<i64>,
    OptJson(body): OptJson<FormBody>,
) -> Result<Response, ApiError> {
    let email = body.email;
    let v = service(&st)?
        .issue_form(&o, id, email.as_deref())
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct EnableBody {
    #[serde(default)]
    until: Option<String>,
}

/// Operator: enable the function until `until` (default: end of the day, JST; at most 72 h)
/// (R13 step 3).
#[utoipa::path(post, path = "/v1/operator/outage/requests/{id}/enable", tag = "operator", security(("operatorToken" = [])), params(("id" = i64, Path, description = "the request's id")), request_body(content = Option<EnableBody>, description = "optional: the end of the window"),
    responses((status = 200, description = "the request", body = onshi_central::outage::RequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "no such request for this caller", body = crate::ErrorBody), (status = 409, description = "the step does not fit the state", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody), (status = 415, description = "the body is not sent as application/json", body = crate::ErrorBody), (status = 422, description = "JSON of the wrong shape; names the member", body = crate::ErrorBody)))]
pub(crate) async fn operator_enable(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    ApiPath(id): ApiPath<i64>,
    OptJson(body): OptJson<EnableBody>,
) -> Result<Response, ApiError> {
    let until = body.until;
    let v = service(&st)?
        .enable(&o, id, until.as_deref())
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

/// Operator: end the window early.
#[utoipa::path(post, path = "/v1/operator/outage/requests/{id}/close", tag = "operator", security(("operatorToken" = [])), params(("id" = i64, Path, description = "the request's id")),
    responses((status = 200, description = "the request", body = onshi_central::outage::RequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "no such request for this caller", body = crate::ErrorBody), (status = 409, description = "the step does not fit the state", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn operator_close(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let v = service(&st)?.close(&o, id).map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

/// Operator: withdraw a request before it is enabled.
#[utoipa::path(post, path = "/v1/operator/outage/requests/{id}/cancel", tag = "operator", security(("operatorToken" = [])), params(("id" = i64, Path, description = "the request's id")),
    responses((status = 200, description = "the request", body = onshi_central::outage::RequestView), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "no such request for this caller", body = crate::ErrorBody), (status = 409, description = "the step does not fit the state", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn operator_cancel(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let v = service(&st)?
        .cancel(&Actor::Operator(o), id)
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

/// Operator: the search audit, all facilities or one.
#[utoipa::path(get, path = "/v1/operator/outage/audit", tag = "operator", security(("operatorToken" = [])), params(AuditQuery),
    responses((status = 200, description = "audit", body = AuditList), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn operator_audit(
    State(st): State<AppState>,
    AuthOperator(_): AuthOperator,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let filter = q.filter(q.facility.clone().filter(|f| !f.is_empty()))?;
    let rows = service(&st)?.audit(&filter).map_err(api_error)?;
    Ok(axum::Json(AuditList { audit: rows }).into_response())
}

/// Operator: a facility's registered name and contact, and its outage log (including refused
/// searches with no request).
#[utoipa::path(get, path = "/v1/operator/outage/facilities/{code}", tag = "operator", security(("operatorToken" = [])), params(("code" = String, Path, description = "医療機関コード, 10 digits")),
    responses((status = 200, description = "facility", body = FacilityDetail), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "unknown facility", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn operator_facility(
    State(st): State<AppState>,
    AuthOperator(_): AuthOperator,
    ApiPath(code): ApiPath<String>,
) -> Result<Response, ApiError> {
    let svc = service(&st)?;
    let store = svc.store();
    let Some(name) = store.facility_name(&code).map_err(internal)? else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            field: Some("code".into()),
            rule: "not_found".into(),
            message: format!("facility {code} is not registered"),
        });
    };
    let contact = store.facility_contact(&code).map_err(internal)?;
    let events = store.facility_events(&code, 100).map_err(internal)?;
    Ok(axum::Json(FacilityDetail {
        facility: code,
        registered_name: name,
        registered_contact: contact,
        events,
    })
    .into_response())
}

/// Operator: register a certified reader's device key for a facility.
#[utoipa::path(post, path = "/v1/operator/readers", tag = "operator", security(("operatorToken" = [])), request_body = crate::RegisterReader,
    responses((status = 200, description = "registered", body = crate::ReaderRegistered), (status = 400, description = "bad input; names the field and the rule", body = crate::ErrorBody), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody), (status = 415, description = "the body is not sent as application/json", body = crate::ErrorBody), (status = 422, description = "JSON of the wrong shape; names the member", body = crate::ErrorBody)))]
pub(crate) async fn operator_register_reader(
    State(st): State<AppState>,
    AuthOperator(_op): AuthOperator,
    JsonBody(r): JsonBody<crate::RegisterReader>,
) -> Result<Response, ApiError> {
    crate::register_reader(&st.central, &r)?;
    Ok(axum::Json(crate::ReaderRegistered {
        reader: r.id,
        facility: r.facility,
    })
    .into_response())
}

/// Operator: revoke a certified reader.
#[utoipa::path(post, path = "/v1/operator/readers/{id}/revoke", tag = "operator", security(("operatorToken" = [])), params(("id" = String, Path, description = "the reader's id")),
    responses((status = 200, description = "revoked", body = crate::ReaderRevoked), (status = 401, description = "missing or unknown token", body = crate::ErrorBody), (status = 404, description = "no active reader by that id", body = crate::ErrorBody), (status = 503, description = "system-outage mode is not configured on this server", body = crate::ErrorBody)))]
pub(crate) async fn operator_revoke_reader(
    State(st): State<AppState>,
    AuthOperator(_op): AuthOperator,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let done = st
        .central
        .trust()
        .revoke_reader(&id, None)
        .map_err(internal)?;
    if !done {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            field: Some("id".into()),
            rule: "reader".into(),
            message: format!("no active reader {id}"),
        });
    }
    Ok(axum::Json(crate::ReaderRevoked {
        reader: id,
        revoked: true,
    })
    .into_response())
}
