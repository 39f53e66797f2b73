//! HTTP API of the central (JSON, versioned under `/v1`), described by the OpenAPI document
//! generated from its types ([`openapi`]), served at `/v1/openapi.json` and checked in as
//! `docs/api/openapi.json`.
//!
//! Boundary rules: every `/v1` call except the OpenAPI document and `/healthz` is made by a
//! facility authenticated by its bearer token; the facility is taken from the token, never
//! from the request body, so a facility only ever sees its own history. Bad input gets a JSON
//! error naming the field and the rule.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use onshi_card::{CardStore, PinHasher};
use onshi_central::{CardConfirmation, Central, NumbersConfirmation};
use onshi_domain::kana;
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_store::{ChipStore, Facility, FacilityStore, HistoryFilter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod assess;
pub mod openapi;
pub mod oqs_api;
pub mod outage;
pub mod outage_screens;
pub mod portal;
mod portal_medinfo;

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    pub central: Central,
    pub facilities: Arc<dyn FacilityStore>,
    pub chips: Arc<dyn ChipStore>,
    pub pins: Arc<PinHasher>,
    /// the card emulation (portal login; the demo's in-process readers)
    pub cards: Arc<CardStore>,
    outage: Option<outage::OutageApp>,
    /// the portal's login rate limits (per client address, per card)
    portal_limits: portal::Limits,
    /// every facility call must come with the facility's TLS client certificate
    client_certificates: bool,
}

impl AppState {
    /// `cards` is the card emulation, used only by the patient portal's login (the patient's
    /// own card and phone, emulated); the confirmation routes never touch it.
    pub fn new(
        central: Central,
        facilities: Arc<dyn FacilityStore>,
        cards: Arc<CardStore>,
    ) -> Self {
        AppState {
            central,
            facilities,
            pins: Arc::new(cards.secrets().clone()),
            chips: cards.clone(),
            cards,
            outage: None,
            portal_limits: portal::Limits::default(),
            client_certificates: false,
        }
    }

    /// Every facility call (`/v1` with a bearer token) must also come with the facility's TLS
    /// client certificate (served by `onshi_tls` with a client CA,
    /// `ServerTls::from_pem_with_optional_clients`): its subject alternative name
    /// `<医療機関コード>.facility.onshi` must be the token's facility.
    pub fn with_client_certificates(mut self) -> Self {
        self.client_certificates = true;
        self
    }

    /// The outage-mode service, when configured (for terminals running in this process).
    pub fn outage_service(&self) -> Option<&onshi_central::outage::OutageService> {
        self.outage.as_ref().map(|o| &o.service)
    }
}

/// Hash under which a facility's API token is stored. Tokens are 192-bit random values, so
/// an unkeyed digest is enough (no dictionary to try); the lookup is by this digest, which is
/// indexed — a timing difference can only tell bits of the digest, never of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(format!("onshi-token:{token}").as_bytes()))
}

/// A JSON error: `{"error": {"field", "rule", "message"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    #[schema(ignore)]
    pub status: StatusCode,
    /// the field (or header, query parameter) at fault, when there is one
    pub field: Option<String>,
    /// the rule broken: `format`, `required`, `json`, `auth`, an R-number rule …
    pub rule: String,
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ApiError,
}

impl ApiError {
    pub fn bad(field: Option<&str>, rule: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            field: field.map(str::to_string),
            rule: rule.into(),
            message: message.into(),
        }
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            field: None,
            rule: "internal".into(),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        (status, Json(ErrorBody { error: self })).into_response()
    }
}

/// JSON body extractor whose rejection is an [`ApiError`] naming the field where serde can.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(r) => {
                let text = r.body_text();
                let field = text
                    .split('`')
                    .nth(1)
                    .filter(|_| text.contains("missing field") || text.contains("unknown field"))
                    .map(str::to_string);
                Err(ApiError {
                    status: r.status(),
                    field,
                    rule: "json".into(),
                    message: text,
                })
            }
        }
    }
}

/// A path parameter whose rejection is a JSON [`ApiError`] (rule `path`), like every other
/// error of the API.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|r| ApiError::bad(None, "path", r.body_text()))
    }
}

/// A query string whose rejection is a JSON [`ApiError`] (rule `query`).
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|r| ApiError::bad(None, "query", r.body_text()))
    }
}

/// The authenticated facility.
pub struct AuthFacility(pub Facility);

impl FromRequestParts<AppState> for AuthFacility {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| ApiError {
            status: StatusCode::UNAUTHORIZED,
            field: Some("Authorization".into()),
            rule: "auth".into(),
            message: m.into(),
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("a facility bearer token is required"))?;
        // No cache: every request looks the token's digest up, so a re-keyed or removed
        // token stops working at once. The token never reaches the store, only its digest.
        let hash = token_hash(token);
        let f = st
            .facilities
            .facility_by_token_hash_async(&hash)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| unauthorized("unknown facility token"))?;
        if st.client_certificates {
            let ok = parts
                .extensions
                .get::<onshi_tls::PeerCertificate>()
                .is_some_and(|c| c.is_for_facility(f.code.as_str()));
            if !ok {
                return Err(ApiError {
                    status: StatusCode::FORBIDDEN,
                    field: None,
                    rule: "client_certificate".into(),
                    message: "this facility's TLS client certificate is required".into(),
                });
            }
        }
        Ok(AuthFacility(f))
    }
}

/// The central's routes; `tls` says the server speaks TLS (the portal's cookie is then
/// Secure).
pub fn router(state: AppState, tls: bool) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/openapi.json", get(openapi_document))
        .route("/v1/facility", get(whoami))
        .route("/v1/confirmations/card/nonce", post(card_nonce))
        .route("/v1/confirmations/card", post(confirm_card))
        .route("/v1/readers/{id}/revoke", post(revoke_own_reader))
        .route("/v1/confirmations/numbers", post(confirm_numbers))
        .route("/v1/confirmations", get(list_confirmations))
        .route("/v1/medical-info", post(medical_info))
        .route("/v1/medical-info/views", get(medical_views))
        .merge(outage::routes(tls))
        .merge(assess::routes())
        .merge(portal::routes(tls))
        .with_state(state)
}

/// Liveness (the benchmark's trivial baseline endpoint).
#[utoipa::path(get, path = "/healthz", tag = "service", security(()),
    responses((status = 200, description = "ok", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "service", security(()),
    responses((status = 200, description = "the OpenAPI document", body = Object)))]
async fn openapi_document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
}

/// The facility the token belongs to.
#[utoipa::path(get, path = "/v1/facility", tag = "confirmation",
    responses((status = 200, description = "the facility", body = Facility),
        (status = 401, description = "missing or unknown facility token", body = ErrorBody)))]
async fn whoami(AuthFacility(f): AuthFacility) -> Json<Facility> {
    Json(f)
}

/// A single-use nonce for the next card confirmation (R1–R3; docs/security.md).
///
/// Issued to the authenticated facility, usable once, within `expires_in_seconds`. The
/// facility's certified reader signs its identity outcome over it.
#[utoipa::path(post, path = "/v1/confirmations/card/nonce", tag = "confirmation",
    responses((status = 200, description = "the nonce", body = onshi_central::NonceGrant),
        (status = 401, description = "missing or unknown facility token", body = ErrorBody)))]
async fn card_nonce(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
) -> Result<Response, ApiError> {
    let g = st
        .central
        .issue_nonce(&f.code)
        .map_err(ApiError::internal)?;
    Ok(Json(g).into_response())
}

/// Revoke one of the facility's own certified readers (lost, stolen, replaced): its
/// assertions are refused from now on.
#[utoipa::path(post, path = "/v1/readers/{id}/revoke", tag = "readers",
    params(("id" = String, Path, description = "the reader's id")),
    responses((status = 200, description = "revoked", body = ReaderRevoked),
        (status = 401, description = "missing or unknown facility token", body = ErrorBody),
        (status = 404, description = "no active reader of this facility by that id", body = ErrorBody)))]
async fn revoke_own_reader(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let done = st
        .central
        .trust()
        .revoke_reader(&id, Some(f.code.as_str()))
        .map_err(ApiError::internal)?;
    if !done {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            field: Some("id".into()),
            rule: "reader".into(),
            message: format!("no active reader {id} of this facility"),
        });
    }
    Ok(Json(ReaderRevoked {
        reader: id,
        revoked: true,
    })
    .into_response())
}

/// Answer of a revocation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReaderRevoked {
    pub reader: String,
    pub revoked: bool,
}

/// Answer of a reader's registration.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReaderRegistered {
    pub reader: String,
    pub facility: String,
}

/// Body of `POST /v1/operator/readers`: a certified reader's device key for a facility.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterReader {
    pub facility: String,
    pub id: String,
    /// ed25519 public key, 64 hex digits
    pub public_key: String,
}

/// Validates and registers a reader (the operator's API and the CLI share it).
pub fn register_reader(central: &Central, r: &RegisterReader) -> Result<(), ApiError> {
    let code = MedicalInstitutionCode::parse(&r.facility)
        .map_err(|e| ApiError::bad(Some("facility"), "format", e.to_string()))?;
    if r.id.is_empty() || r.id.len() > 64 || !r.id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad(
            Some("id"),
            "format",
            "1 to 64 printable ASCII characters",
        ));
    }
    let key_ok = hex::decode(&r.public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .is_some_and(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).is_ok());
    if !key_ok {
        return Err(ApiError::bad(
            Some("public_key"),
            "format",
            "an ed25519 public key, 64 hex digits",
        ));
    }
    central
        .register_reader(&code, &r.id, &r.public_key)
        .map_err(ApiError::internal)
}

/// Card confirmation (照会区分 1): a certified reader's signed assertion (R1, R2, R3, R5, R6).
///
/// The reader established identity (face / PIN / 目視確認) and signs the outcome over a nonce
/// from /v1/confirmations/card/nonce with its registered device key; for a PIN the card's chip
/// also signs (card_signature) once it accepted the PIN, so no PIN reaches the central.
/// Unsigned, forged, replayed, expired, other-facility and revoked-reader assertions are
/// refused (error.class reader_unknown, reader_foreign, reader_revoked, assertion_unsigned,
/// assertion_forged, assertion_replayed, assertion_foreign_nonce, assertion_expired,
/// card_key_unknown, card_signature_missing, card_signature_invalid) and each refusal is
/// recorded. Recorded in the facility's confirmation history before the answer is returned.
#[utoipa::path(post, path = "/v1/confirmations/card", tag = "confirmation",
    request_body = CardConfirmation,
    responses((status = 200, description = "the confirmation result; errors of the confirmation itself (assertion refused, card revoked, certificate past grace, PIN locked …) come as segment_of_result \"9\" with an error object", body = onshi_central::ConfirmationResponse),
        (status = 400, description = "bad input; names the field and the rule", body = ErrorBody),
        (status = 401, description = "missing or unknown facility token", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape; names the field", body = ErrorBody)))]
async fn confirm_card(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    JsonBody(req): JsonBody<CardConfirmation>,
) -> Result<Response, ApiError> {
    let r = st
        .central
        .confirm_by_card_json(&f.code, &req)
        .await
        .map_err(ApiError::internal)?;
    Ok(json_text(r.json))
}

/// Confirmation by insurance-card numbers (照会区分 2, R7).
///
/// Returns 有効 / 無効 / 無効（新しい資格あり） / 該当資格なし for the typed numbers and birth
/// date; never returns a newer qualification.
#[utoipa::path(post, path = "/v1/confirmations/numbers", tag = "confirmation",
    request_body = NumbersConfirmation,
    responses((status = 200, description = "the confirmation result", body = onshi_central::ConfirmationResponse),
        (status = 400, description = "bad input; names the field and the rule", body = ErrorBody),
        (status = 401, description = "missing or unknown facility token", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape; names the field", body = ErrorBody)))]
async fn confirm_numbers(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    JsonBody(req): JsonBody<NumbersConfirmation>,
) -> Result<Response, ApiError> {
    let r = st
        .central
        .confirm_by_numbers_json(&f.code, &req)
        .await
        .map_err(ApiError::internal)?;
    Ok(json_text(r.json))
}

/// Query of `GET /v1/confirmations`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// first confirmation date (YYYY-MM-DD)
    pub from: Option<NaiveDate>,
    /// last confirmation date (YYYY-MM-DD)
    pub to: Option<NaiveDate>,
    /// the patient's birth date (YYYY-MM-DD)
    pub birthdate: Option<NaiveDate>,
    /// patient's kana name; matched on its normalised key
    pub kana: Option<String>,
    pub card_serial: Option<String>,
    /// "1".."5" (資格有効性) or an error class such as `pin_locked`
    pub outcome: Option<String>,
    /// at most this many (default 100, at most 1000)
    pub limit: Option<u32>,
    /// the page after this id (ids are newest first)
    pub before_id: Option<i64>,
}

/// One page of a facility's confirmation history, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub facility: MedicalInstitutionCode,
    pub confirmations: Vec<onshi_store::ConfirmationEntry>,
}

/// The facility's confirmation history (資格確認履歴, R6), newest first.
#[utoipa::path(get, path = "/v1/confirmations", tag = "confirmation",
    params(HistoryQuery),
    responses((status = 200, description = "history", body = HistoryPage),
        (status = 400, description = "bad input; names the field and the rule", body = ErrorBody),
        (status = 401, description = "missing or unknown facility token", body = ErrorBody)))]
async fn list_confirmations(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Response, ApiError> {
    if let (Some(a), Some(b)) = (q.from, q.to)
        && a > b
    {
        return Err(ApiError::bad(
            Some("from"),
            "range",
            "from must not be after to",
        ));
    }
    let filter = HistoryFilter {
        from: q.from,
        to: q.to,
        birthdate: q.birthdate,
        kana_key: q
            .kana
            .as_deref()
            .map(kana::kana_key)
            .filter(|k| !k.is_empty()),
        card_serial: q.card_serial,
        outcome: q.outcome,
        limit: q.limit,
        before_id: q.before_id,
    };
    let rows = st
        .central
        .history(&f.code, &filter)
        .map_err(ApiError::internal)?;
    Ok(Json(HistoryPage {
        facility: f.code,
        confirmations: rows,
    })
    .into_response())
}

/// Medical information under consent (R2): drugs, checkups, diagnoses.
///
/// The patient is named by the insurance numbers. Each kind asked for needs the patient's
/// consent given at this facility's certified reader and not lapsed (a consent lasts one day).
/// The answer's outcome is granted (patient and records), no_consent (kind, lapsed, message)
/// or not_found. Every answer is recorded as a view. See docs/formats/terminal-xml.md
/// (YZKsiquc01 / TKKsiquc01).
#[utoipa::path(post, path = "/v1/medical-info", tag = "medical",
    request_body = onshi_central::medinfo::MedicalInfoQuery,
    responses((status = 200, description = "granted, no_consent or not_found", body = onshi_central::medinfo::MedicalInfoAnswer),
        (status = 400, description = "bad input; names the field and the rule", body = ErrorBody),
        (status = 401, description = "missing or unknown facility token", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape; names the field", body = ErrorBody)))]
async fn medical_info(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    JsonBody(q): JsonBody<onshi_central::medinfo::MedicalInfoQuery>,
) -> Result<Response, ApiError> {
    let central = st.central.clone();
    let a = tokio::task::spawn_blocking(move || central.medical_info(&f.code, &q))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(a).into_response())
}

/// Query of `GET /v1/medical-info/views`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewsQuery {
    /// at most this many (default 100, at most 1000)
    pub limit: Option<u32>,
}

/// The views of medical information a facility made.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ViewsPage {
    pub facility: MedicalInstitutionCode,
    pub views: Vec<onshi_domain::medinfo::MedicalView>,
}

/// The facility's views of medical information, newest first (R2).
#[utoipa::path(get, path = "/v1/medical-info/views", tag = "medical",
    params(ViewsQuery),
    responses((status = 200, description = "the views", body = ViewsPage),
        (status = 400, description = "bad input; names the field and the rule", body = ErrorBody),
        (status = 401, description = "missing or unknown facility token", body = ErrorBody)))]
async fn medical_views(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    ApiQuery(q): ApiQuery<ViewsQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100).min(1000);
    let rows = st
        .central
        .medical_views_of_facility(&f.code, limit)
        .map_err(ApiError::internal)?;
    Ok(Json(ViewsPage {
        facility: f.code,
        views: rows,
    })
    .into_response())
}

/// A response body that is already JSON text.
fn json_text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Serves the router on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state, false).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Serves the router over TLS (rustls) on `listener` until `shutdown` resolves.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: onshi_tls::ServerTls,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    onshi_tls::serve(listener, router(state, true), tls, shutdown).await
}
