//! The payer's HTTP API (JSON under `/v1/payer` and `/v1/insurer`; docs/payer.md).
//!
//! Boundary rules: every call is made by a principal authenticated by its bearer token
//! (stored hashed): payer staff, a facility or an insurer, each of one payer. The payer, the
//! facility and the insurer come from the token, never from the request; a facility sees only
//! its own files and statements, an insurer only the claims billed to it. Errors are JSON
//! naming the field and the rule.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::intake::LineError;
use crate::model::{PayerCode, YearMonth};
use crate::service::{PayerService, ServiceError, Submitted};
use crate::store::{PayerStoreError, Principal, Role};

/// Everything a handler needs.
#[derive(Clone)]
pub struct PayerApp {
    pub service: PayerService,
    pub sessions: Arc<crate::screens::Sessions>,
    /// the client and the key facilities' settlement hooks are called with
    pub hooks: crate::signing::Hooks,
}

impl PayerApp {
    /// The payer's API and screens; its statements go to hooks unsigned until
    /// [`PayerApp::with_hooks`] gives the payer's key.
    pub fn new(service: PayerService) -> Self {
        PayerApp {
            service,
            sessions: Arc::new(crate::screens::Sessions::default()),
            hooks: crate::signing::Hooks {
                client: crate::service::hook_client(None).unwrap_or_default(),
                key: None,
            },
        }
    }

    /// The same, calling facilities' hooks with `hooks`: the payer's signing key, and a client
    /// e.g. trusting a facility's CA.
    pub fn with_hooks(mut self, hooks: crate::signing::Hooks) -> Self {
        self.hooks = hooks;
        self
    }
}

/// Hash under which a principal's token is stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(
        format!("onshi-payer-token:{token}").as_bytes(),
    ))
}

/// A new random token (32 bytes, hex).
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(hex::encode(b))
}

/// Now, as RFC 3339 UTC (the only place the API reads the clock).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A JSON error: `{"error": {"field", "rule", "message"}, "reasons": [...]}`.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub field: Option<String>,
    pub rule: String,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<LineError>,
}

impl ApiError {
    pub fn new(status: StatusCode, field: Option<&str>, rule: &str, m: impl Into<String>) -> Self {
        ApiError {
            status,
            field: field.map(str::to_string),
            rule: rule.to_string(),
            message: m.into(),
            reasons: Vec::new(),
        }
    }
    fn forbidden(m: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, None, "role", m)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Refused(reasons) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                field: None,
                rule: "intake.refused".into(),
                message: format!(
                    "the file is refused whole: {} reason(s); nothing of it was kept",
                    reasons.len()
                ),
                reasons,
            },
            ServiceError::Rule { rule, message } => {
                ApiError::new(StatusCode::CONFLICT, None, rule, message)
            }
            ServiceError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, None, "not_found", m),
            ServiceError::Store(PayerStoreError::Conflict(m)) => {
                ApiError::new(StatusCode::CONFLICT, None, "conflict", m)
            }
            ServiceError::Store(PayerStoreError::NotFound(m)) => {
                ApiError::new(StatusCode::NOT_FOUND, None, "not_found", m)
            }
            other => {
                tracing::error!(error = %other, "payer internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "internal",
                    other.to_string(),
                )
            }
        }
    }
}

impl From<PayerStoreError> for ApiError {
    fn from(e: PayerStoreError) -> Self {
        ServiceError::Store(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let reasons = serde_json::to_value(&self.reasons).unwrap_or_default();
        (
            status,
            Json(json!({ "error": { "field": self.field, "rule": self.rule,
                "message": self.message }, "reasons": reasons })),
        )
            .into_response()
    }
}

/// The authenticated caller (bearer token).
pub struct Caller(pub Principal);

impl FromRequestParts<PayerApp> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &PayerApp) -> Result<Self, ApiError> {
        let unauth = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                Some("Authorization"),
                "auth",
                "a bearer token of payer staff, a facility or an insurer is required",
            )
        };
        let h = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(unauth)?;
        let p = app
            .service
            .store
            .principal_by_token_hash(&token_hash(h.trim()))?
            .ok_or_else(unauth)?;
        Ok(Caller(p))
    }
}

fn need(p: &Principal, roles: &[Role]) -> Result<(), ApiError> {
    if roles.contains(&p.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "this call is not allowed to the role {}",
            p.role.code()
        )))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "internal",
            e.to_string(),
        )
    })?
}

#[derive(Deserialize)]
struct SubmitQuery {
    file_name: Option<String>,
}

/// `POST /v1/payer/submissions` (facility): the body is the UKE file.
async fn submit(
    State(app): State<PayerApp>,
    Caller(p): Caller,
    Query(q): Query<SubmitQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    need(&p, &[Role::Facility])?;
    let svc = app.service.clone();
    let out = blocking(move || {
        let at = now();
        let name = q.file_name.unwrap_or_else(|| "RECEIPTC.UKE".into());
        Ok(svc.intake_uke(&Submitted {
            payer: p.payer,
            facility: &p.subject,
            file_name: &name,
            bytes: &body,
            source: "api",
            at: &at,
        })?)
    })
    .await?;
    let status = if out.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(out)).into_response())
}

async fn list_submissions(
    State(app): State<PayerApp>,
    Caller(p): Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    need(&p, &[Role::Staff, Role::Facility])?;
    let facility = (p.role == Role::Facility).then_some(p.subject.as_str());
    let subs = app.service.store.list_submissions(p.payer, facility)?;
    Ok(Json(json!({ "submissions": subs })))
}

fn own_submission(app: &PayerApp, p: &Principal, id: i64) -> Result<(), ApiError> {
    let s =
        app.service.store.submission(p.payer, id)?.ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, None, "not_found", "no such file")
        })?;
    if p.role == Role::Facility && s.facility != p.subject {
        // another facility's file does not exist for this caller
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            None,
            "not_found",
            "no such file",
        ));
    }
    Ok(())
}

async fn get_submission(
    State(app): State<PayerApp>,
    Caller(p): Caller,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    need(&p, &[Role::Staff, Role::Facility])?;
    own_submission(&app, &p, id)?;
    let s = app.service.store.submission(p.payer, id)?;
    let claims = app.service.store.claims_of_submission(p.payer, id)?;
    Ok(Json(json!({ "submission": s, "claims": claims })))
}

#[derive(Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

/// `GET /v1/payer/submissions/{id}/renrakusho` — the 資格確認結果連絡書 (JSON, or `?format=csv`).
async fn renrakusho(
    State(app): State<PayerApp>,
    Caller(p): Caller,
    Path(id): Path<i64>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    need(&p, &[Role::Staff, Role::Facility])?;
    own_submission(&app, &p, id)?;
    if q.format.as_deref() == Some("csv") {
        let csv = app.service.renrakusho_csv(p.payer, id)?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response());
    }
    Ok(Json(app.service.renrakusho(p.payer, id)?).into_response())
}

async fn worklist(
    State(app): State<PayerApp>,
    Caller(p): Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    need(&p, &[Role::Staff])?;
    Ok(Json(
        json!({ "items": app.service.store.worklist(p.payer, true)? }),
    ))
}

#[derive(Deserialize)]
struct DecideBody {
    /// the chosen candidate; absent or null: none of them (to the pool)
    person_id: Option<i64>,
}

async fn decide(
    State(app): State<PayerApp>,
    Caller(p): Caller,
    Path(claim_id): Path<i64>,
    Json(b): Json<DecideBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    need(&p, &[Role::Staff])?;
    let c = app
        .service
        .decide(p.payer, claim_id, b.person_id, &p.subject, &now())?;
    Ok(Json(json!({ "claim": c })))
}

#[derive(Deserialize)]
struct SettleBody {
    billing_month: String,
}

fn month_field(s: &str, field: &str) -> Result<YearMonth, ApiError> {
    YearMonth::parse(s).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Some(field),
            "format",
            format!("expected YYYYMM, got {s:?}"),
        )
    })
}

/// `POST /v1/payer/settlements` (staff): settles the billing month; calls each facility's
/// hook with its statement.
async fn settle(
    State(app): State<PayerApp>,
    Caller(p): Caller,
    Json(b): Json<SettleBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    need(&p, &[Role::Staff])?;
    let m = month_field(&b.billing_month, "billing_month")?;
    let out = app
        .service
        .settle_month_and_notify(&app.hooks, p.payer, m, &now())
        .await?;
    Ok(Json(json!({
        "statements": out.statements, "refused": out.refused, "hooks": out.hooks,
    })))
}

#[derive(Deserialize)]
struct StatementQuery {
    facility: Option<String>,
}

/// `GET /v1/payer/statements/{billing_month}`: a facility's own statements, one per file it
/// submitted for the month (staff name the facility with `?facility=`).
async fn statement(
    State(app): State<PayerApp>,
    Caller(p): Caller,
    Path(month): Path<String>,
    Query(q): Query<StatementQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    need(&p, &[Role::Staff, Role::Facility])?;
    let m = month_field(&month, "billing_month")?;
    let facility = match p.role {
        Role::Facility => p.subject.clone(),
        _ => q.facility.ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                Some("facility"),
                "required",
                "facility is required",
            )
        })?,
    };
    let st = app
        .service
        .store
        .statement(p.payer, &facility, m)?
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, None, "not_found", "not settled yet")
        })?;
    Ok(Json(json!({ "statements": st })))
}

/// `GET /v1/insurer/claims` (insurer): the claims billed to it, with what the payer did.
async fn insurer_claims(
    State(app): State<PayerApp>,
    Caller(p): Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    need(&p, &[Role::Insurer])?;
    let claims = app.service.store.claims_for_insurer(p.payer, &p.subject)?;
    let view: Vec<serde_json::Value> = claims
        .iter()
        .map(|c| insurer_claim_view(c, &p.subject))
        .collect();
    Ok(Json(json!({ "insurer_number": p.subject, "claims": view })))
}

/// What an insurer sees of a claim: its own parts only, never another insurer's numbers.
pub fn insurer_claim_view(c: &crate::store::StoredClaim, insurer: &str) -> serde_json::Value {
    let cl = &c.reviewed.claim;
    let parts: Vec<&crate::model::ClaimPart> = c
        .reviewed
        .parts
        .iter()
        .filter(|p| p.bill_to.insurer_number.as_str() == insurer)
        .collect();
    json!({
        "claim_id": c.id,
        "facility": c.facility,
        "billing_month": c.billing_month,
        "service_month": cl.service_month,
        "receipt_number": cl.receipt_number,
        "name": cl.name,
        "kana_name": cl.kana_name,
        "birthdate": cl.birthdate,
        "kakunin_kubun": c.reviewed.kubun.code(),
        "kakunin_kubun_label": c.reviewed.kubun.label(),
        "status": c.reviewed.status.code(),
        "identified": c.reviewed.identified,
        "reason": c.reviewed.reason,
        "parts": parts,
    })
}

async fn insurer_shares(
    State(app): State<PayerApp>,
    Caller(p): Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    need(&p, &[Role::Insurer])?;
    let shares = app.service.store.shares_for_insurer(p.payer, &p.subject)?;
    Ok(Json(
        json!({ "insurer_number": p.subject, "shares": shares }),
    ))
}

async fn insurer_r11(
    State(app): State<PayerApp>,
    Caller(p): Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    need(&p, &[Role::Insurer])?;
    Ok(Json(json!({
        "insurer_number": p.subject,
        "rule": "R11",
        "note": "the claim is not returned for the difference; the insurer collects or refunds it",
        "entries": app.service.r11_list(p.payer, &p.subject)?,
    })))
}

#[derive(Deserialize)]
struct AsOf {
    as_of: Option<String>,
}

async fn insurer_notices(
    State(app): State<PayerApp>,
    Caller(p): Caller,
    Query(q): Query<AsOf>,
) -> Result<Json<serde_json::Value>, ApiError> {
    need(&p, &[Role::Insurer])?;
    let as_of = match q.as_of {
        Some(s) => NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                Some("as_of"),
                "format",
                format!("{s:?}: {e}"),
            )
        })?,
        None => chrono::Utc::now().date_naive(),
    };
    Ok(Json(json!({
        "insurer_number": p.subject,
        "notices": app.service.r23_notices(&p.subject, as_of)?,
    })))
}

async fn whoami(Caller(p): Caller) -> Json<serde_json::Value> {
    Json(
        json!({ "role": p.role, "payer": p.payer, "subject": p.subject,
                 "payer_name": PayerCode::label(p.payer) }),
    )
}

/// The API routes (`/v1/...`) and the screens (`/payer/...`, `/insurer/...`).
pub fn router(app: PayerApp) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/payer/whoami", get(whoami))
        .route("/v1/payer/submissions", post(submit).get(list_submissions))
        .route("/v1/payer/submissions/{id}", get(get_submission))
        .route("/v1/payer/submissions/{id}/renrakusho", get(renrakusho))
        .route("/v1/payer/worklist", get(worklist))
        .route("/v1/payer/worklist/{claim_id}", post(decide))
        .route("/v1/payer/settlements", post(settle))
        .route("/v1/payer/statements/{month}", get(statement))
        .route("/v1/insurer/claims", get(insurer_claims))
        .route("/v1/insurer/shares", get(insurer_shares))
        .route("/v1/insurer/r11", get(insurer_r11))
        .route("/v1/insurer/notices", get(insurer_notices))
        .merge(crate::screens::routes())
        .layer(axum::extract::DefaultBodyLimit::max(512 * 1024 * 1024))
        .with_state(app)
}
