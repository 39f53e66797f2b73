//! The terminal's own HTTP API (JSON), for `onshi reader place` and other programs of the
//! facility: the reader session and the confirmation history.
//!
//! Served over TLS (rustls, `--tls-cert`/`--tls-key`), or plain HTTP only by `--plain-http`
//! on loopback. Every `/v1` call carries `Authorization: Bearer <token>`: the terminal makes
//! a fresh random token at each start and writes it to `<data>/api.token` (the data folder, default `<exchange>.terminal`) (mode
//! 0600, [`TOKEN_FILE`]), where the programs of the same user account find it; others are
//! refused with 401. The desk's screens served beside the API have their own staff login.
//!
//! - `GET  /healthz` (no token)
//! - `GET  /v1/terminal` — facility and folders
//! - `POST /v1/reader/place` — one reader session ([`crate::reader::PlaceCard`])
//! - `GET  /v1/history?from=&to=&birthdate=&kana=&card_serial=&limit=` — newest first; dates
//!   as yyyyMMdd or YYYY-MM-DD

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use onshi_domain::kana;
use serde::Deserialize;
use serde_json::json;

use crate::Terminal;
use crate::reader::PlaceCard;
use crate::store::HistoryQuery;

fn bad(field: Option<&str>, rule: &str, message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"field": field, "rule": rule, "message": message.into()}})),
    )
        .into_response()
}

/// The name of the API token's file in the terminal's data folder.
pub const TOKEN_FILE: &str = "api.token";

/// The terminal API's bearer token (random, per start); its `Debug` shows nothing.
#[derive(Clone)]
pub struct ApiToken(std::sync::Arc<secrecy::SecretString>);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

impl ApiToken {
    /// A fresh 192-bit random token.
    pub fn generate() -> std::io::Result<Self> {
        let mut b = [0u8; 24];
        getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self::from(hex::encode(b)))
    }

    /// Whether `given` is this token (constant time).
    pub fn matches(&self, given: &str) -> bool {
        use secrecy::ExposeSecret;
        use subtle::ConstantTimeEq;
        bool::from(given.as_bytes().ct_eq(self.0.expose_secret().as_bytes()))
    }

    /// The token's text, to hand to a client.
    pub fn expose(&self) -> &str {
        use secrecy::ExposeSecret;
        self.0.expose_secret()
    }
}

impl From<String> for ApiToken {
    fn from(s: String) -> Self {
        ApiToken(std::sync::Arc::new(secrecy::SecretString::from(s)))
    }
}

/// The token of the terminal whose data folder is `data` (as written by [`serve`]).
pub fn read_token(data: &std::path::Path) -> std::io::Result<ApiToken> {
    let raw = std::fs::read_to_string(data.join(TOKEN_FILE))?;
    Ok(ApiToken::from(raw.trim().to_string()))
}

async fn require_token(
    State(token): State<ApiToken>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if given.is_some_and(|g| token.matches(g)) {
        return next.run(req).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": {"field": "Authorization", "rule": "auth",
            "message": "the terminal's API token is required (Authorization: Bearer <token> from the terminal's api.token)"}})),
    )
        .into_response()
}

/// The API (every `/v1` route behind `token`), with the screens of [`EXTRA_ROUTES`] beside it
/// (given the same token: the desk's claims API takes it from the receipt computer).
pub fn router(t: Terminal, token: ApiToken) -> Router {
    let extra = EXTRA_ROUTES.get().map(|f| f(t.clone(), token.clone()));
    Router::new()
        .route("/v1/terminal", get(info))
        .route("/v1/reader/place", post(place))
        .route("/v1/history", get(history))
        .route_layer(axum::middleware::from_fn_with_state(token, require_token))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(t.clone())
        .merge(extra.unwrap_or_default())
}

/// Screens served beside the API (the reception desk, `onshi-desk`), set once per process;
/// made with the terminal and its API token.
pub static EXTRA_ROUTES: std::sync::OnceLock<fn(Terminal, ApiToken) -> Router> =
    std::sync::OnceLock::new();

async fn info(State(t): State<Terminal>) -> Response {
    let ex = t.exchange();
    Json(json!({
        "facility": t.config().facility.as_str(),
        "req": ex.req, "res": ex.res, "face": ex.face,
    }))
    .into_response()
}

async fn place(
    State(t): State<Terminal>,
    body: Result<Json<PlaceCard>, JsonRejection>,
) -> Response {
    let Json(p) = match body {
        Ok(b) => b,
        Err(r) => return bad(None, "json", r.body_text()),
    };
    match t.place_card(&p).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => bad(Some(e.field), "reader", e.to_string()),
    }
}

/// Query of `GET /v1/history`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub birthdate: Option<String>,
    pub kana: Option<String>,
    pub card_serial: Option<String>,
    pub limit: Option<u32>,
}

/// A date given as yyyyMMdd or YYYY-MM-DD, as yyyyMMdd.
pub fn date_param(field: &str, s: &str) -> Result<String, String> {
    let compact = s.replace('-', "");
    onshi_domain::wareki::parse_yyyymmdd(&compact)
        .map(onshi_domain::wareki::format_yyyymmdd)
        .map_err(|e| format!("{field}: must be a date as yyyyMMdd or YYYY-MM-DD ({e})"))
}

impl HistoryParams {
    pub fn to_query(&self) -> Result<HistoryQuery, (&'static str, String)> {
        let d = |f: &'static str, v: &Option<String>| {
            v.as_deref()
                .map(|s| date_param(f, s).map_err(|m| (f, m)))
                .transpose()
        };
        Ok(HistoryQuery {
            from: d("from", &self.from)?,
            to: d("to", &self.to)?,
            birthdate: d("birthdate", &self.birthdate)?,
            kana_key: self
                .kana
                .as_deref()
                .map(kana::kana_key)
                .filter(|k| !k.is_empty()),
            card_serial: self.card_serial.clone(),
            limit: self.limit,
        })
    }
}

async fn history(
    State(t): State<Terminal>,
    q: Result<Query<HistoryParams>, QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(r) => return bad(None, "query", r.body_text()),
    };
    let query = match q.to_query() {
        Ok(x) => x,
        Err((f, m)) => return bad(Some(f), "date", m),
    };
    match t.history(&query) {
        Ok(rows) => Json(json!({"facility": t.config().facility.as_str(), "confirmations": rows}))
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"rule": "internal", "message": e.to_string()}})),
        )
            .into_response(),
    }
}

/// Serves the API on `listener` (over TLS when `tls` is given), writes a fresh API token to
/// [`TOKEN_FILE`] (mode 0600) and records the API's address in `terminal.json`.
pub async fn serve(
    t: Terminal,
    listener: tokio::net::TcpListener,
    tls: Option<onshi_tls::ServerTls>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let token = ApiToken::generate()?;
    let data = &t.exchange().data;
    std::fs::create_dir_all(data)?;
    onshi_card::assertion::write_private(&data.join(TOKEN_FILE), token.expose().as_bytes())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let info = crate::TerminalInfo {
        api: format!("{scheme}://{addr}"),
        facility: t.config().facility.as_str().to_string(),
        pid: std::process::id(),
    };
    let bytes = serde_json::to_vec_pretty(&info).map_err(std::io::Error::other)?;
    crate::exchange::write_atomic(&t.exchange().data, "terminal.json", &bytes)?;
    onshi_tls::serve_either(listener, router(t, token), tls, shutdown).await
}
