//! The terminal's own HTTP API (JSON, loopback), for the screens to come and for
//! `onshi reader place`: the reader session and the confirmation history.
//!
//! - `GET  /healthz`
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

pub fn router(t: Terminal) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/terminal", get(info))
        .route("/v1/reader/place", post(place))
        .route("/v1/history", get(history))
        .with_state(t.clone())
        .merge(EXTRA_ROUTES.get().map(|f| f(t)).unwrap_or_default())
}

/// Screens served beside the API (the reception desk, `onshi-desk`), set once per process.
pub static EXTRA_ROUTES: std::sync::OnceLock<fn(Terminal) -> Router> = std::sync::OnceLock::new();

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

/// Serves the API on `listener` and records its address in `terminal.json`.
pub async fn serve(
    t: Terminal,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let info = crate::TerminalInfo {
        api: format!("http://{addr}"),
        facility: t.config().facility.as_str().to_string(),
        pid: std::process::id(),
    };
    let bytes = serde_json::to_vec_pretty(&info).map_err(std::io::Error::other)?;
    crate::exchange::write_atomic(&t.exchange().data, "terminal.json", &bytes)?;
    axum::serve(listener, router(t))
        .with_graceful_shutdown(shutdown)
        .await
}
