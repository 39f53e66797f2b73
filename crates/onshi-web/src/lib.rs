//! HTTP API of the central (JSON, versioned under `/v1`), described by the OpenAPI document
//! in `docs/api/openapi.json`, which the server also serves.
//!
//! Boundary rules: every `/v1` call except the OpenAPI document and `/healthz` is made by a
//! facility authenticated by its bearer token; the facility is taken from the token, never
//! from the request body, so a facility only ever sees its own history. Bad input gets a JSON
//! error naming the field and the rule.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use onshi_card::{IdentityAttempt, Pin, PinHasher, Reader};
use onshi_central::{CardConfirmation, Central, NumbersConfirmation};
use onshi_domain::card::IdentityOutcome;
use onshi_domain::kana;
use onshi_store::{ChipStore, Facility, FacilityStore, HistoryFilter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod assess;
pub mod outage;
pub mod outage_screens;
pub mod portal;

/// The OpenAPI document, checked in under docs/api/.
pub const OPENAPI: &str = include_str!("../../../docs/api/openapi.json");

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    pub central: Central,
    pub facilities: Arc<dyn FacilityStore>,
    pub chips: Arc<dyn ChipStore>,
    pub pins: Arc<PinHasher>,
    outage: Option<outage::OutageApp>,
}

impl AppState {
    pub fn new(
        central: Central,
        facilities: Arc<dyn FacilityStore>,
        chips: Arc<dyn ChipStore>,
        pins: PinHasher,
    ) -> Self {
        AppState {
            central,
            facilities,
            chips,
            pins: Arc::new(pins),
            outage: None,
        }
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

/// A JSON error: `{"error": {"status", "field", "rule", "message"}}`.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub field: Option<String>,
    pub rule: String,
    pub message: String,
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
        (status, Json(serde_json::json!({ "error": self }))).into_response()
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
        let f = st
            .facilities
            .facility_by_token_hash(&token_hash(token))
            .map_err(ApiError::internal)?
            .ok_or_else(|| unauthorized("unknown facility token"))?;
        Ok(AuthFacility(f))
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/facility", get(whoami))
        .route("/v1/confirmations/card", post(confirm_card))
        .route("/v1/confirmations/numbers", post(confirm_numbers))
        .route("/v1/confirmations", get(list_confirmations))
        .route("/v1/reader/confirm", post(reader_confirm))
        .merge(outage::routes())
        .merge(assess::routes())
        .merge(portal::routes())
        .with_state(state)
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn whoami(AuthFacility(f): AuthFacility) -> Json<Facility> {
    Json(f)
}

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
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub birthdate: Option<NaiveDate>,
    /// patient's kana name; matched on its normalised key
    pub kana: Option<String>,
    pub card_serial: Option<String>,
    pub outcome: Option<String>,
    pub limit: Option<u32>,
    pub before_id: Option<i64>,
}

async fn list_confirmations(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|r| ApiError::bad(None, "query", r.body_text()))?;
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
    Ok(Json(serde_json::json!({ "facility": f.code, "confirmations": rows })).into_response())
}

/// Body of `POST /v1/reader/confirm`: the emulated face-auth card reader. Exactly one of
/// `face`, `pin`, `visual_staff_id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderRequest {
    pub card_serial: String,
    /// defaults to today (JST)
    pub confirmation_date: Option<NaiveDate>,
    /// "ok" or "fail": what the emulated camera decides
    pub face: Option<String>,
    pub pin: Option<String>,
    /// 目視確認 mode: the staff member who ticked 目視で本人確認完了 (R3)
    pub visual_staff_id: Option<String>,
    #[serde(default)]
    pub limit_consent: bool,
}

impl ReaderRequest {
    fn attempt(&self) -> Result<IdentityAttempt, ApiError> {
        let given = [
            self.face.is_some(),
            self.pin.is_some(),
            self.visual_staff_id.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given != 1 {
            return Err(ApiError::bad(
                Some("face"),
                "identity_method",
                "give exactly one of face (\"ok\"/\"fail\"), pin, visual_staff_id (R1)",
            ));
        }
        if let Some(f) = &self.face {
            return match f.as_str() {
                "ok" => Ok(IdentityAttempt::Face { matched: true }),
                "fail" => Ok(IdentityAttempt::Face { matched: false }),
                _ => Err(ApiError::bad(
                    Some("face"),
                    "enum",
                    "face must be \"ok\" or \"fail\"",
                )),
            };
        }
        if let Some(p) = &self.pin {
            return Pin::parse(p)
                .map(IdentityAttempt::Pin)
                .map_err(|e| ApiError::bad(Some("pin"), "format", e.to_string()));
        }
        Ok(IdentityAttempt::Visual {
            staff_id: self.visual_staff_id.clone().unwrap_or_default(),
        })
    }
}

async fn reader_confirm(
    State(st): State<AppState>,
    AuthFacility(f): AuthFacility,
    JsonBody(req): JsonBody<ReaderRequest>,
) -> Result<Response, ApiError> {
    let attempt = req.attempt()?;
    let reader = Reader::new(st.chips.as_ref(), &st.pins);
    let identity: IdentityOutcome = match reader.identify(&req.card_serial, &attempt) {
        Ok(o) => o,
        Err(onshi_card::CardError::UnknownCard(_)) => {
            // No chip to talk to: let the central record and answer it as an unknown card.
            IdentityOutcome::Refused {
                failure: onshi_domain::card::IdentityFailure::ChipUnreadable,
            }
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let confirmation = CardConfirmation {
        confirmation_date: req
            .confirmation_date
            .unwrap_or_else(|| st.central.clock().today()),
        card_serial: req.card_serial.clone(),
        identity,
        limit_consent: req.limit_consent,
    };
    let r = st
        .central
        .confirm_by_card_json(&f.code, &confirmation)
        .await
        .map_err(ApiError::internal)?;
    Ok(json_text(r.json))
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
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
