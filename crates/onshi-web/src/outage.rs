//! System-outage mode over HTTP (R12–R14, R17): the facility's API and screens under
//! `/v1/outage` and `/outage`, the call-centre operator's under `/v1/operator/outage` and
//! `/operator/outage`. See docs/outage-mode.md.
//!
//! Boundary rules: facilities authenticate with their bearer token (the facility comes from the
//! token, never from the body) and see only their own requests and audit; operators
//! authenticate with an operator token (table `outage_operator`, created by
//! `onshi operator add`), stored hashed under a prefix of its own so that a facility token is
//! never an operator token. The screens take the same tokens once, on a login form, and keep
//! them in an HttpOnly, SameSite=Strict cookie. Registering a facility's call-back number is
//! not offered here at all: it is the administrator's (`onshi facility phone`), so an operator
//! cannot redirect the call-back of R13.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use onshi_central::outage::{
    Actor, AuditView, OutageConfig, OutageError, OutageService, REPORT_TITLE, ReportInput,
    RequestInput, RequestView, SearchInput, SearchResponse, SelectResponse,
};
use onshi_central::{Clock, SystemClock};
use onshi_store::outage::{
    AuditFilter, AuditKind, Operator, OutageState, OutageStore, RequestFilter,
};
use onshi_store::{Facility, RegistryRead};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState, AuthFacility, JsonBody, token_hash};

/// The outage-mode part of the application state.
#[derive(Clone)]
pub struct OutageApp {
    pub service: OutageService,
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

fn service(st: &AppState) -> Result<&OutageService, ApiError> {
    st.outage
        .as_ref()
        .map(|o| &o.service)
        .ok_or_else(|| ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            field: None,
            rule: "outage_not_configured".into(),
            message: "system-outage mode is not configured on this server".into(),
        })
}

fn api_error(e: OutageError) -> ApiError {
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

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "internal error");
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        field: None,
        rule: "internal".into(),
        message: e.to_string(),
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string())
}

/// The authenticated operator (bearer token, or the screens' cookie).
pub struct AuthOperator(pub Operator);

const OPERATOR_COOKIE: &str = "onshi_operator";
const FACILITY_COOKIE: &str = "onshi_facility";

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
            .or_else(|| cookie(&parts.headers, OPERATOR_COOKIE))
            .ok_or_else(|| unauthorized("an operator bearer token is required"))?;
        svc.store()
            .operator_by_token_hash(&operator_token_hash(&token))
            .map_err(internal)?
            .map(AuthOperator)
            .ok_or_else(|| unauthorized("unknown operator token"))
    }
}

/// The facility of the screens (cookie set by the login form).
struct ScreenFacility(Facility);

impl FromRequestParts<AppState> for ScreenFacility {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, FACILITY_COOKIE) else {
            return Err(Redirect::to("/outage/login").into_response());
        };
        match st.facilities.facility_by_token_hash(&token_hash(&token)) {
            Ok(Some(f)) => Ok(ScreenFacility(f)),
            Ok(None) => Err(Redirect::to("/outage/login").into_response()),
            Err(e) => Err(internal(e).into_response()),
        }
    }
}

/// The operator of the screens.
struct ScreenOperator(Operator);

impl FromRequestParts<AppState> for ScreenOperator {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let svc = service(st).map_err(IntoResponse::into_response)?;
        let Some(token) = cookie(&parts.headers, OPERATOR_COOKIE) else {
            return Err(Redirect::to("/operator/outage/login").into_response());
        };
        match svc
            .store()
            .operator_by_token_hash(&operator_token_hash(&token))
        {
            Ok(Some(o)) => Ok(ScreenOperator(o)),
            Ok(None) => Err(Redirect::to("/operator/outage/login").into_response()),
            Err(e) => Err(internal(e).into_response()),
        }
    }
}

pub fn routes() -> Router<AppState> {
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
        .route(
            "/v1/operator/outage/facilities/{code}",
            get(operator_facility),
        )
        // screens
        .route("/outage", get(screen_facility))
        .route(
            "/outage/login",
            get(screen_facility_login).post(screen_facility_login_post),
        )
        .route("/outage/action", post(screen_facility_action))
        .route("/operator/outage", get(screen_operator))
        .route(
            "/operator/outage/login",
            get(screen_operator_login).post(screen_operator_login_post),
        )
        .route("/operator/outage/action", post(screen_operator_action))
}

/// A JSON body that may be absent (an empty body reads as `T::default()`).
struct OptJson<T>(T);

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

// --- facility API ------------------------------------------------------------------------

fn facility_actor(f: &Facility, staff: Option<&str>) -> Actor {
    Actor::Facility {
        code: f.code.clone(),
        staff_id: staff
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    }
}

async fn facility_status(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
) -> Result<Response, ApiError> {
    let s = service(&st)?.facility_status(&f.code).map_err(api_error)?;
    Ok(axum::Json(s).into_response())
}

async fn facility_request(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    JsonBody(input): JsonBody<RequestInput>,
) -> Result<Response, ApiError> {
    let v = service(&st)?
        .request(&facility_actor(&f, input.contact_person.as_deref()), &input)
        .map_err(api_error)?;
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

async fn facility_request_view(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let v = service(&st)?
        .request_view(id, Some(&f.code))
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct StaffBody {
    #[serde(default)]
    staff_id: Option<String>,
}

async fn facility_cancel(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    Path(id): Path<i64>,
    OptJson(body): OptJson<StaffBody>,
) -> Result<Response, ApiError> {
    let staff = body.staff_id;
    let v = service(&st)?
        .cancel(&facility_actor(&f, staff.as_deref()), id)
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

async fn facility_report(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<ReportInput>,
) -> Result<Response, ApiError> {
    let v = service(&st)?
        .report(&f.code, id, &input)
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

async fn search(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    JsonBody(input): JsonBody<SearchInput>,
) -> Result<Response, ApiError> {
    let svc = service(&st)?.clone();
    let code = f.code.clone();
    let r = tokio::task::spawn_blocking(move || svc.search(&code, &input))
        .await
        .map_err(internal)?
        .map_err(api_error)?;
    Ok(axum::Json(r).into_response())
}

#[derive(Debug, Deserialize)]
struct SelectBody {
    candidate: u32,
    #[serde(default)]
    staff_id: Option<String>,
}

async fn select(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    Path(search_id): Path<i64>,
    JsonBody(b): JsonBody<SelectBody>,
) -> Result<Response, ApiError> {
    let svc = service(&st)?.clone();
    let code = f.code.clone();
    let r = tokio::task::spawn_blocking(move || {
        svc.select(&code, search_id, b.candidate, b.staff_id.as_deref())
    })
    .await
    .map_err(internal)?
    .map_err(api_error)?;
    Ok(axum::Json(r).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    facility: Option<String>,
    kind: Option<String>,
    limit: Option<u32>,
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

async fn facility_audit(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|r| ApiError::bad(None, "query", r.body_text()))?;
    // R14 audit: a facility sees its own lines only, whatever it asks for.
    let filter = q.filter(Some(f.code.as_str().to_string()))?;
    let rows = service(&st)?.audit(&filter).map_err(api_error)?;
    Ok(axum::Json(serde_json::json!({ "facility": f.code, "audit": rows })).into_response())
}

// --- operator API ------------------------------------------------------------------------

async fn operator_whoami(AuthOperator(o): AuthOperator) -> axum::Json<Operator> {
    axum::Json(o)
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    facility: Option<String>,
    state: Option<String>,
    limit: Option<u32>,
    before_id: Option<i64>,
}

async fn operator_list(
    State(st): State<AppState>,
    AuthOperator(_): AuthOperator,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|r| ApiError::bad(None, "query", r.body_text()))?;
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
    Ok(axum::Json(serde_json::json!({ "requests": rows })).into_response())
}

async fn operator_request(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    JsonBody(input): JsonBody<RequestInput>,
) -> Result<Response, ApiError> {
    let v = service(&st)?
        .request(&Actor::Operator(o), &input)
        .map_err(api_error)?;
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

async fn operator_request_view(
    State(st): State<AppState>,
    AuthOperator(_): AuthOperator,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let svc = service(&st)?;
    let v = svc.request_view(id, None).map_err(api_error)?;
    let contact = svc
        .store()
        .facility_contact(&v.request.facility)
        .map_err(internal)?;
    let mut body = serde_json::to_value(&v).map_err(internal)?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert(
            "registered_contact".into(),
            serde_json::to_value(contact).unwrap_or_default(),
        );
    }
    Ok(axum::Json(body).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct VerifyBody {
    #[serde(default)]
    phone: Option<String>,
}

async fn operator_verify(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    Path(id): Path<i64>,
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

#[derive(Debug, Default, Deserialize)]
struct FormBody {
    #[serde(default)]
    email: Option<String>,
}

async fn operator_issue_form(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    Path(id): Path<i64>,
    OptJson(body): OptJson<FormBody>,
) -> Result<Response, ApiError> {
    let email = body.email;
    let v = service(&st)?
        .issue_form(&o, id, email.as_deref())
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct EnableBody {
    #[serde(default)]
    until: Option<String>,
}

async fn operator_enable(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    Path(id): Path<i64>,
    OptJson(body): OptJson<EnableBody>,
) -> Result<Response, ApiError> {
    let until = body.until;
    let v = service(&st)?
        .enable(&o, id, until.as_deref())
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

async fn operator_close(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let v = service(&st)?.close(&o, id).map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

async fn operator_cancel(
    State(st): State<AppState>,
    AuthOperator(o): AuthOperator,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let v = service(&st)?
        .cancel(&Actor::Operator(o), id)
        .map_err(api_error)?;
    Ok(axum::Json(v).into_response())
}

async fn operator_audit(
    State(st): State<AppState>,
    AuthOperator(_): AuthOperator,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|r| ApiError::bad(None, "query", r.body_text()))?;
    let filter = q.filter(q.facility.clone().filter(|f| !f.is_empty()))?;
    let rows = service(&st)?.audit(&filter).map_err(api_error)?;
    Ok(axum::Json(serde_json::json!({ "audit": rows })).into_response())
}

async fn operator_facility(
    State(st): State<AppState>,
    AuthOperator(_): AuthOperator,
    Path(code): Path<String>,
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
    Ok(axum::Json(serde_json::json!({
        "facility": code,
        "registered_name": name,
        "registered_contact": contact,
        "events": events,
    }))
    .into_response())
}

// --- screens (server-rendered, Japanese) ---------------------------------------------------

/// Minimal `application/x-www-form-urlencoded` decoding (the screens' forms).
fn form(body: &str) -> Vec<(String, String)> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let pair = (b == b'%')
                .then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?)))
                .flatten();
            match (b, pair) {
                (b'+', _) => out.push(b' '),
                (_, Some((hi, lo))) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                (b, None) => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn field(f: &[(String, String)], name: &str) -> Option<String> {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:1.5em;max-width:70em}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2em .5em;text-align:left}}\
         .err{{color:#b00;font-weight:bold}}.ok{{color:#060}}.lost{{color:#b00}}\
         fieldset{{margin:1em 0}}label{{display:inline-block;min-width:9em}}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    ))
}

fn login_page(title: &str, action: &str, what: &str) -> Html<String> {
    page(
        title,
        &format!(
            "<form method=\"post\" action=\"{action}\"><p><label>{what}</label>\
             <input type=\"password\" name=\"token\" size=\"60\" required></p>\
             <p><button>ログイン</button></p></form>"
        ),
    )
}

fn set_cookie(name: &str, token: &str, to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    if let Ok(v) = format!("{name}={token}; HttpOnly; SameSite=Strict; Path=/").parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn screen_facility_login() -> Html<String> {
    login_page(
        "システム障害時モード ログイン（医療機関・薬局）",
        "/outage/login",
        "医療機関トークン",
    )
}

async fn screen_facility_login_post(State(st): State<AppState>, body: String) -> Response {
    let f = form(&body);
    let token = field(&f, "token").unwrap_or_default();
    match st.facilities.facility_by_token_hash(&token_hash(&token)) {
        Ok(Some(_)) => set_cookie(FACILITY_COOKIE, &token, "/outage"),
        _ => (
            StatusCode::UNAUTHORIZED,
            page(
                "ログインできません",
                "<p class=\"err\">トークンが正しくありません。</p><p><a href=\"/outage/login\">戻る</a></p>",
            ),
        )
            .into_response(),
    }
}

async fn screen_operator_login() -> Html<String> {
    login_page(
        "システム障害時モード ログイン（コールセンター）",
        "/operator/outage/login",
        "オペレータートークン",
    )
}

async fn screen_operator_login_post(State(st): State<AppState>, body: String) -> Response {
    let f = form(&body);
    let token = field(&f, "token").unwrap_or_default();
    let ok = service(&st)
        .ok()
        .and_then(|s| {
            s.store()
                .operator_by_token_hash(&operator_token_hash(&token))
                .ok()
        })
        .flatten()
        .is_some();
    if ok {
        set_cookie(OPERATOR_COOKIE, &token, "/operator/outage")
    } else {
        (
            StatusCode::UNAUTHORIZED,
            page(
                "ログインできません",
                "<p class=\"err\">トークンが正しくありません。</p><p><a href=\"/operator/outage/login\">戻る</a></p>",
            ),
        )
            .into_response()
    }
}

fn opt(s: &Option<String>) -> String {
    esc(s.as_deref().unwrap_or("—"))
}

fn steps_table(v: &RequestView) -> String {
    let r = &v.request;
    let row = |step: &str, at: &Option<String>, by: &Option<String>, extra: String| {
        format!(
            "<tr><td>{step}</td><td>{}</td><td>{}</td><td>{extra}</td></tr>",
            opt(at),
            opt(by)
        )
    };
    let mut s =
        String::from("<table><tr><th>手順</th><th>日時</th><th>実施者</th><th>内容</th></tr>");
    s.push_str(&row(
        "1. 利用申請（コールセンターへ連絡）",
        &Some(r.requested_at.clone()),
        &Some(r.requested_by.clone()),
        format!(
            "{} / 担当者 {} / {}",
            esc(&r.facility_name),
            esc(&r.contact_person),
            esc(&r.reason)
        ),
    ));
    s.push_str(&row(
        "2. 電話確認（届出の電話番号へ折り返し）",
        &r.verified_at,
        &r.verified_by,
        opt(&r.callback_phone),
    ));
    s.push_str(&row(
        "2. 利用報告書送付",
        &r.form_issued_at,
        &r.form_issued_by,
        opt(&r.form_email),
    ));
    s.push_str(&row(
        "3. 利用設定",
        &r.enabled_at,
        &r.enabled_by,
        format!("利用期限 {}", opt(&r.window_until)),
    ));
    if r.closed_at.is_some() {
        s.push_str(&row("利用終了", &r.closed_at, &r.closed_by, String::new()));
    }
    s.push_str(&row(
        "4. 利用報告書提出",
        &r.reported_at,
        &r.reported_by,
        r.report
            .as_ref()
            .and_then(|j| j.get("title"))
            .and_then(|t| t.as_str())
            .map(esc)
            .unwrap_or_else(|| "—".into()),
    ));
    if r.cancelled_at.is_some() {
        s.push_str(&row(
            "取消",
            &r.cancelled_at,
            &r.cancelled_by,
            String::new(),
        ));
    }
    s.push_str("</table>");
    s
}

fn events_list(v: &RequestView) -> String {
    let mut s = String::from("<details><summary>記録（全件）</summary><ul>");
    for e in &v.events {
        s.push_str(&format!(
            "<li>{} {} {} {}</li>",
            esc(&e.at),
            esc(&e.actor),
            esc(&e.action),
            esc(&e.detail.to_string())
        ));
    }
    s.push_str("</ul></details>");
    s
}

fn audit_table(rows: &[AuditView]) -> String {
    let mut s = String::from(
        "<table><tr><th>番号</th><th>日時</th><th>職員</th><th>種別</th><th>条件</th><th>該当数</th><th>選択された方</th><th>結果</th></tr>",
    );
    for a in rows {
        let e = &a.entry;
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.id,
            esc(&e.at),
            opt(&e.staff_id),
            match e.kind {
                AuditKind::Search => "検索",
                AuditKind::Select => "選択",
                AuditKind::Refused => "拒否",
            },
            esc(&e.criteria.to_string()),
            e.hits.map(|h| h.to_string()).unwrap_or_else(|| "—".into()),
            opt(&a.chosen_name),
            esc(&e.outcome)
        ));
    }
    s.push_str("</table>");
    s
}

fn qualification_html(q: &onshi_central::outage::QualificationView) -> String {
    let mut s = format!(
        "<h3>資格情報確認（資格確認日 {}）</h3><p>資格有効性: <b>{}</b></p>",
        q.confirmation_date,
        esc(&q.qualification_validity_label)
    );
    for x in &q.qualifications {
        let r = &x.result;
        s.push_str(&format!(
            "<table><tr><th>氏名</th><td>{}（{}）</td></tr>\
             <tr><th>保険者名</th><td>{}</td></tr><tr><th>保険者番号</th><td>{}</td></tr>\
             <tr><th>記号・番号・枝番</th><td>{}・{}・{}</td></tr>\
             <tr><th>資格取得日</th><td>{}</td></tr><tr><th>資格喪失日</th><td>{}</td></tr>\
             <tr><th>一部負担金割合</th><td>{}</td></tr><tr><th>状態</th><td>{}</td></tr></table>",
            esc(&r.name),
            esc(&r.name_kana),
            esc(&r.insurer_name),
            esc(&r.insurer_number),
            esc(&r.insured_card_symbol),
            esc(&r.insured_identification_number),
            esc(&r.insured_branch_number),
            esc(&r.qualification_date),
            opt(&r.disqualification_date),
            opt(&r.insured_partial_contribution_ratio),
            if x.lost {
                "<span class=\"lost\">資格（無効）— 喪失した資格です</span>"
            } else {
                "<span class=\"ok\">資格（有効）</span>"
            }
        ));
    }
    if q.qualifications.is_empty() {
        s.push_str("<p>資格情報はありません。</p>");
    }
    s
}

fn search_result_html(r: &SearchResponse) -> String {
    let mut s = format!("<h2>検索結果</h2><p>{}</p>", esc(&r.message));
    if let Some(q) = &r.qualification {
        s.push_str(&qualification_html(q));
    } else if !r.candidates.is_empty() {
        s.push_str("<table><tr><th></th><th>氏名</th><th>カナ</th><th>性別</th><th>生年月日</th><th>郵便番号</th><th>住所</th><th>保険者名</th></tr>");
        for c in &r.candidates {
            s.push_str(&format!(
                "<tr><td><form method=\"post\" action=\"/outage/action\">\
                 <input type=\"hidden\" name=\"do\" value=\"select\">\
                 <input type=\"hidden\" name=\"search_id\" value=\"{}\">\
                 <input type=\"hidden\" name=\"candidate\" value=\"{}\">\
                 <input type=\"text\" name=\"staff_id\" placeholder=\"職員\" size=\"6\" required>\
                 <button>選択</button></form></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.search_id,
                c.candidate,
                esc(&c.name),
                esc(&c.name_kana),
                esc(&c.sex),
                c.birthdate,
                opt(&c.post_number),
                opt(&c.address),
                opt(&c.insurer_name)
            ));
        }
        s.push_str("</table>");
    }
    s
}

async fn screen_facility(
    State(st): State<AppState>,
    ScreenFacility(f): ScreenFacility,
) -> Response {
    render_facility(&st, &f, String::new()).await
}

async fn render_facility(st: &AppState, f: &Facility, notice: String) -> Response {
    let svc = match service(st) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let status = match svc.facility_status(&f.code) {
        Ok(s) => s,
        Err(e) => return api_error(e).into_response(),
    };
    let mut b = format!(
        "<p>{}（医療機関コード {}）</p>{notice}",
        esc(&f.name),
        esc(f.code.as_str())
    );
    if status.search_allowed {
        b.push_str(&format!(
            "<p class=\"ok\">緊急時医療情報・資格確認機能は利用できます（{}まで）。</p>",
            opt(&status.window_until)
        ));
        b.push_str(
            "<fieldset><legend>資格情報照会（システム障害時）</legend>\
             <form method=\"post\" action=\"/outage/action\"><input type=\"hidden\" name=\"do\" value=\"search\">\
             <p><label>職員 *</label><input name=\"staff_id\" required></p>\
             <p><label>生年月日 *</label><input type=\"date\" name=\"birthdate\" required></p>\
             <p><label>性別 *</label><select name=\"sex\"><option value=\"1\">男</option><option value=\"2\">女</option><option value=\"3\">未設定</option></select></p>\
             <p><label>資格確認日 *</label><input type=\"date\" name=\"confirmation_date\" required></p>\
             <p>※氏名、氏名（カナ）どちらか一方は入力してください（完全一致で検索します）</p>\
             <p><label>氏名</label><input name=\"name\"></p><p><label>氏名（カナ）</label><input name=\"name_kana\"></p>\
             <p>※住所、保険者名どちらか一方は入力してください</p>\
             <p><label>住所</label><input name=\"address\" size=\"40\"></p><p><label>保険者名</label><input name=\"insurer_name\" size=\"40\"></p>\
             <p><button>検索</button></p></form></fieldset>",
        );
    } else {
        b.push_str(&format!("<p class=\"err\">{}</p>", opt(&status.reason)));
    }
    let open = status.requests.iter().find(|r| r.request.state.is_open());
    if open.is_none() {
        b.push_str(
            "<fieldset><legend>1. 利用申請（コールセンターへの連絡）</legend>\
             <form method=\"post\" action=\"/outage/action\"><input type=\"hidden\" name=\"do\" value=\"request\">\
             <p><label>医療機関・薬局名 *</label><input name=\"facility_name\" required></p>\
             <p><label>担当者名 *</label><input name=\"contact_person\" required></p>\
             <p><label>利用希望の理由 *</label><input name=\"reason\" size=\"50\" required placeholder=\"停電、通信障害、カードリーダー故障など\"></p>\
             <p><button>申請する</button></p></form></fieldset>",
        );
    }
    b.push_str("<h2>申請の状況</h2>");
    for v in &status.requests {
        let r = &v.request;
        b.push_str(&format!(
            "<h3>申請 {} — {}</h3>{}{}",
            r.id,
            esc(&v.state_label),
            steps_table(v),
            events_list(v)
        ));
        if matches!(r.state, OutageState::Enabled | OutageState::Closed) {
            b.push_str(&format!(
                "<fieldset><legend>4. 利用報告書の提出</legend><form method=\"post\" action=\"/outage/action\">\
                 <input type=\"hidden\" name=\"do\" value=\"report\"><input type=\"hidden\" name=\"id\" value=\"{}\">\
                 <p><label>件名 *</label><input name=\"title\" size=\"40\" value=\"{}\" required></p>\
                 <p><label>報告者 *</label><input name=\"reporter\" required></p>\
                 <p><label>障害の内容 *</label><input name=\"outage\" size=\"50\" required></p>\
                 <p><label>利用した患者数</label><input type=\"number\" name=\"patients\" min=\"0\"></p>\
                 <p><label>備考</label><input name=\"notes\" size=\"50\"></p>\
                 <p><button>提出する</button></p></form></fieldset>",
                r.id,
                esc(REPORT_TITLE)
            ));
        }
        if matches!(
            r.state,
            OutageState::Requested | OutageState::Verified | OutageState::FormIssued
        ) {
            b.push_str(&format!(
                "<form method=\"post\" action=\"/outage/action\"><input type=\"hidden\" name=\"do\" value=\"cancel\">\
                 <input type=\"hidden\" name=\"id\" value=\"{}\"><button>申請を取り消す</button></form>",
                r.id
            ));
        }
    }
    match svc.audit(&AuditFilter {
        facility: Some(f.code.as_str().to_string()),
        limit: Some(50),
        ..Default::default()
    }) {
        Ok(rows) => {
            b.push_str("<h2>照会の記録（自院分）</h2>");
            b.push_str(&audit_table(&rows));
        }
        Err(e) => return api_error(e).into_response(),
    }
    page("緊急時医療情報・資格確認機能（システム障害時）", &b).into_response()
}

fn notice_of(e: OutageError) -> String {
    let (field, msg) = match &e {
        OutageError::Invalid { field, message, .. } => (Some(*field), message.clone()),
        OutageError::Refused { field, message, .. } => (*field, message.clone()),
        OutageError::NotFound { field, message } => (Some(*field), message.clone()),
        OutageError::Conflict { message, .. } => (None, message.clone()),
        OutageError::Store(e) => (None, format!("内部エラー: {e}")),
    };
    format!(
        "<p class=\"err\">{}{}</p>",
        field.map(|f| format!("[{f}] ")).unwrap_or_default(),
        esc(&msg)
    )
}

async fn screen_facility_action(
    State(st): State<AppState>,
    ScreenFacility(f): ScreenFacility,
    body: String,
) -> Response {
    let svc = match service(&st) {
        Ok(s) => s.clone(),
        Err(e) => return e.into_response(),
    };
    let form = form(&body);
    let id = field(&form, "id")
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    let notice = match field(&form, "do").as_deref() {
        Some("request") => {
            let input = RequestInput {
                facility_code: None,
                facility_name: field(&form, "facility_name"),
                contact_person: field(&form, "contact_person"),
                reason: field(&form, "reason"),
            };
            match svc.request(&facility_actor(&f, input.contact_person.as_deref()), &input) {
                Ok(v) => format!(
                    "<p class=\"ok\">申請 {} を受け付けました。コールセンターから届出の電話番号へ折り返します。</p>",
                    v.request.id
                ),
                Err(e) => notice_of(e),
            }
        }
        Some("cancel") => match svc.cancel(&facility_actor(&f, None), id) {
            Ok(_) => "<p class=\"ok\">申請を取り消しました。</p>".into(),
            Err(e) => notice_of(e),
        },
        Some("report") => {
            let input = ReportInput {
                title: field(&form, "title"),
                reporter: field(&form, "reporter"),
                outage: field(&form, "outage"),
                patients: field(&form, "patients").and_then(|p| p.parse().ok()),
                notes: field(&form, "notes"),
            };
            match svc.report(&f.code, id, &input) {
                Ok(_) => "<p class=\"ok\">利用報告書を提出しました。</p>".into(),
                Err(e) => notice_of(e),
            }
        }
        Some("search") => {
            let input = SearchInput {
                staff_id: field(&form, "staff_id"),
                birthdate: field(&form, "birthdate"),
                sex: field(&form, "sex"),
                confirmation_date: field(&form, "confirmation_date"),
                name: field(&form, "name"),
                name_kana: field(&form, "name_kana"),
                address: field(&form, "address"),
                insurer_name: field(&form, "insurer_name"),
            };
            match svc.search(&f.code, &input) {
                Ok(r) => search_result_html(&r),
                Err(e) => notice_of(e),
            }
        }
        Some("select") => {
            let search_id = field(&form, "search_id")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let candidate = field(&form, "candidate")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let staff = field(&form, "staff_id");
            match svc.select(&f.code, search_id, candidate, staff.as_deref()) {
                Ok(SelectResponse { qualification, .. }) => qualification_html(&qualification),
                Err(e) => notice_of(e),
            }
        }
        _ => "<p class=\"err\">[do] 操作が指定されていません</p>".into(),
    };
    render_facility(&st, &f, notice).await
}

async fn screen_operator(
    State(st): State<AppState>,
    ScreenOperator(o): ScreenOperator,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let facility = q
        .ok()
        .and_then(|Query(q)| q.facility)
        .filter(|f| !f.is_empty());
    render_operator(&st, &o, facility, String::new())
}

fn render_operator(
    st: &AppState,
    o: &Operator,
    facility: Option<String>,
    notice: String,
) -> Response {
    let svc = match service(st) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let rows = match svc.list_requests(&RequestFilter {
        facility: facility.clone(),
        limit: Some(50),
        ..Default::default()
    }) {
        Ok(r) => r,
        Err(e) => return api_error(e).into_response(),
    };
    let mut b = format!(
        "<p>オペレーター: {}</p>{notice}\
         <form method=\"get\" action=\"/operator/outage\"><label>医療機関コード</label>\
         <input name=\"facility\" value=\"{}\"><button>絞り込み</button></form>\
         <fieldset><legend>電話受付の登録（1. コールセンターへ連絡）</legend>\
         <form method=\"post\" action=\"/operator/outage/action\"><input type=\"hidden\" name=\"do\" value=\"request\">\
         <p><label>医療機関コード *</label><input name=\"facility_code\" required></p>\
         <p><label>医療機関・薬局名 *</label><input name=\"facility_name\" required></p>\
         <p><label>担当者名 *</label><input name=\"contact_person\" required></p>\
         <p><label>利用希望の理由 *</label><input name=\"reason\" size=\"50\" required></p>\
         <p><button>登録</button></p></form></fieldset>",
        esc(&o.name),
        esc(facility.as_deref().unwrap_or(""))
    );
    for v in &rows {
        let r = &v.request;
        let contact = svc.store().facility_contact(&r.facility).ok().flatten();
        b.push_str(&format!(
            "<h2>申請 {} — {} — {}（{}）</h2><p>届出の電話番号: <b>{}</b> / 届出のメール: {} / 届出の名称: {}</p>{}{}",
            r.id,
            esc(&r.facility),
            esc(&r.facility_name),
            esc(&v.state_label),
            esc(contact.as_ref().map(|c| c.phone.as_str()).unwrap_or("未登録")),
            esc(contact.as_ref().and_then(|c| c.email.as_deref()).unwrap_or("未登録")),
            esc(contact.as_ref().map(|c| c.registered_name.as_str()).unwrap_or("—")),
            steps_table(v),
            events_list(v)
        ));
        let act = |what: &str, label: &str, extra: &str| {
            format!(
                "<form method=\"post\" action=\"/operator/outage/action\" style=\"display:inline-block;margin-right:1em\">\
                 <input type=\"hidden\" name=\"do\" value=\"{what}\"><input type=\"hidden\" name=\"id\" value=\"{}\">{extra}<button>{label}</button></form>",
                r.id
            )
        };
        match r.state {
            OutageState::Requested => {
                b.push_str(&act(
                    "verify",
                    "2. 折り返し電話で確認した",
                    "<label>折り返した番号</label><input name=\"phone\" required> ",
                ));
                b.push_str(&act("cancel", "取消", ""));
            }
            OutageState::Verified => {
                b.push_str(&act(
                    "issue_form",
                    "2. 利用報告書を送付した",
                    "<label>送付先メール</label><input name=\"email\" placeholder=\"空欄=届出のメール\"> ",
                ));
                b.push_str(&act("cancel", "取消", ""));
            }
            OutageState::FormIssued => {
                b.push_str(&act(
                    "enable",
                    "3. 利用設定する",
                    "<label>利用期限</label><input name=\"until\" placeholder=\"空欄=本日中（RFC 3339）\" size=\"30\"> ",
                ));
                b.push_str(&act("cancel", "取消", ""));
            }
            OutageState::Enabled => b.push_str(&act("close", "利用を終了する", "")),
            _ => {}
        }
    }
    match svc.audit(&AuditFilter {
        facility: facility.clone(),
        limit: Some(100),
        ..Default::default()
    }) {
        Ok(rows) => {
            b.push_str("<h2>照会の記録</h2>");
            b.push_str(&audit_table(&rows));
        }
        Err(e) => return api_error(e).into_response(),
    }
    page("システム障害時モード 利用設定（コールセンター）", &b).into_response()
}

async fn screen_operator_action(
    State(st): State<AppState>,
    ScreenOperator(o): ScreenOperator,
    body: String,
) -> Response {
    let svc = match service(&st) {
        Ok(s) => s.clone(),
        Err(e) => return e.into_response(),
    };
    let form = form(&body);
    let id = field(&form, "id")
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    let result = match field(&form, "do").as_deref() {
        Some("request") => svc.request(
            &Actor::Operator(o.clone()),
            &RequestInput {
                facility_code: field(&form, "facility_code"),
                facility_name: field(&form, "facility_name"),
                contact_person: field(&form, "contact_person"),
                reason: field(&form, "reason"),
            },
        ),
        Some("verify") => svc.verify(&o, id, &field(&form, "phone").unwrap_or_default()),
        Some("issue_form") => svc.issue_form(&o, id, field(&form, "email").as_deref()),
        Some("enable") => svc.enable(&o, id, field(&form, "until").as_deref()),
        Some("close") => svc.close(&o, id),
        Some("cancel") => svc.cancel(&Actor::Operator(o.clone()), id),
        _ => Err(OutageError::Invalid {
            field: "do",
            rule: "required",
            message: "操作が指定されていません".into(),
        }),
    };
    let notice = match result {
        Ok(v) => format!(
            "<p class=\"ok\">申請 {}: {}</p>",
            v.request.id,
            esc(&v.state_label)
        ),
        Err(e) => notice_of(e),
    };
    render_operator(&st, &o, None, notice)
}
