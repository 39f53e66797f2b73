//! The patient-portal view (the マイナポータル qualification screen, emulated; R9): the patient
//! signs in with the card and its PIN and sees the screen of their health-insurance
//! qualification that a clerk can check at the desk when the card cannot be read.
//!
//! - `GET  /portal` — the sign-in form, or the signed-in holder's qualification screen
//! - `POST /portal/login` — card serial + PIN (form-encoded); on success a new session and a
//!   redirect to `/portal`
//! - `POST /portal/logout` — ends the session (the form carries the session's CSRF token)
//!
//! The PIN goes to `onshi_card::Reader` only (the chip checks it and counts failures: 3 wrong
//! PINs lock it, as at the reader). The session is kept on the server (tower-sessions: the
//! cookie `onshi_portal` holds only its id; HttpOnly, SameSite=Strict, Secure when served over
//! TLS, path `/portal`, ended after [`SESSION_IDLE`] without activity or on logout).
//!
//! What an attacker learns from a login is nothing about the card:
//! - every refused login — unknown card, wrong PIN, locked card, PIN-less card
//!   (顔認証マイナンバーカード, R2), malformed input — gets the one same answer
//!   ([`REFUSED`]: status 401, the same page byte for byte, the serial not echoed);
//! - every answer to `POST /portal/login` leaves no earlier than [`ANSWER_FLOOR`] after the
//!   request came, so a wrong PIN (a write transaction in the card emulation) and an unknown
//!   card (one read) take the same time from outside;
//! - logins are rate-limited per client address ([`PER_CLIENT`]) and per card serial
//!   ([`PER_CARD`]), counted before the card is looked at (governor's keyed GCRA limiters);
//!   over the limit the answer is 429 with `Retry-After`, the same for every card;
//! - a form post must carry an `Origin` equal to the portal's own, and the logout form the
//!   session's CSRF token (compared in constant time), as at the desk.
//!
//! The R9 caveat is shown too: when the online result is 資格（無効） or 資格情報なし, the portal
//! has no current qualification to show either.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use onshi_card::{IdentityAttempt, Pin, Reader};
use onshi_domain::card::IdentityOutcome;
use onshi_domain::qualification::{Outcome, evaluate_by_card};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use onshi_ui::{Layout, SignedIn};

use crate::AppState;

/// How long a portal session lives without activity.
pub const SESSION_IDLE: Duration = Duration::from_secs(10 * 60);
/// No answer to a login leaves earlier than this after the request came (one timing for
/// every outcome).
pub const ANSWER_FLOOR: Duration = Duration::from_millis(250);
/// Logins per client address: a burst of 10, then one every 6 s.
pub const PER_CLIENT: (u32, Duration) = (10, Duration::from_secs(6));
/// Logins per card serial: a burst of 5, then one every 2 minutes.
pub const PER_CARD: (u32, Duration) = (5, Duration::from_secs(120));
/// The one answer to every refused login.
pub const REFUSED: &str = "ログインできませんでした。カード番号と暗証番号（数字4桁）を確かめてください。暗証番号を3回続けて間違えるとロックされます（解除はお住まいの市区町村の窓口です）。暗証番号を設定していないカード（顔認証マイナンバーカード）ではログインできません（R2）。窓口では顔認証または目視確認で資格確認できます。";
/// The answer over the rate limit.
const TOO_MANY: &str = "ログインの試行が多すぎます。しばらく待ってからもう一度お試しください。";
/// Keys kept by a limiter before the stale ones are dropped.
const LIMITER_KEYS: usize = 50_000;

pub(crate) const KEY: &str = "portal";

/// What the session keeps: the signed-in card and the session's CSRF token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Signed {
    pub(crate) serial: String,
    pub(crate) csrf: String,
}

/// The portal's login limiters (shared by every request of one server).
#[derive(Clone)]
pub struct Limits {
    per_client: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_card: Arc<DefaultKeyedRateLimiter<String>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limits(..)")
    }
}

fn quota((burst, every): (u32, Duration)) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(every)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_client: Arc::new(RateLimiter::hashmap(quota(PER_CLIENT))),
            per_card: Arc::new(RateLimiter::hashmap(quota(PER_CARD))),
        }
    }
}

impl Limits {
    /// Counts one login of `client` on `serial`; `Err` is how long to wait.
    fn admit(&self, client: IpAddr, serial: &str) -> Result<(), Duration> {
        use governor::clock::{Clock, DefaultClock};
        let now = DefaultClock::default().now();
        if self.per_client.len() > LIMITER_KEYS {
            self.per_client.retain_recent();
        }
        if self.per_card.len() > LIMITER_KEYS {
            self.per_card.retain_recent();
        }
        self.per_client
            .check_key(&client)
            .map_err(|n| n.wait_time_from(now))?;
        self.per_card
            .check_key(&serial.to_string())
            .map_err(|n| n.wait_time_from(now))
    }
}

/// The portal's routes, with their own session layer; `secure` marks the cookie Secure (when
/// served over TLS).
pub fn routes(secure: bool) -> Router<AppState> {
    let idle = tower_sessions::cookie::time::Duration::seconds(SESSION_IDLE.as_secs() as i64);
    let sessions = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_name("onshi_portal")
        .with_path("/portal")
        .with_http_only(true)
        .with_secure(secure)
        .with_same_site(tower_sessions::cookie::SameSite::Strict)
        .with_expiry(tower_sessions::Expiry::OnInactivity(idle));
    Router::new()
        .route("/portal", get(portal))
        .route("/portal/login", post(login))
        .route("/portal/logout", post(logout))
        .route("/portal/medinfo", get(crate::portal_medinfo::page))
        .layer(sessions)
}

/// The portal's one screen: the sign-in form (with the refusal or a message), or the holder's
/// qualification screen once signed in.
#[derive(Template)]
#[template(path = "web/portal.html")]
struct PortalPage {
    layout: Layout,
    error: Option<String>,
    message: Option<String>,
    screen: Option<Screen>,
}

struct Screen {
    name: String,
    name_kana: String,
    birthdate: String,
    today: String,
    shown: Shown,
}

enum Shown {
    Valid(QualRow),
    Multiple(Vec<QualRow>),
    Nothing,
}

struct QualRow {
    insurer_name: String,
    insurer_number: String,
    symbol: String,
    number: String,
    branch: String,
    qualification_date: String,
    share: String,
}

pub(crate) fn layout() -> Layout {
    Layout::new("マイナポータル（onshi エミュレーター）")
        .brand("マイナポータル — 健康保険証の資格情報（エミュレーター）")
}

fn sign_in_page(status: StatusCode, error: Option<&str>, message: Option<&str>) -> Response {
    onshi_ui::page_with(
        status,
        &PortalPage {
            layout: layout(),
            error: error.map(str::to_string),
            message: message.map(str::to_string),
            screen: None,
        },
    )
}

#[derive(Deserialize)]
struct PortalQuery {
    bye: Option<String>,
}

/// `GET /portal`: the screen of the signed-in card's holder, else the sign-in form.
async fn portal(State(st): State<AppState>, session: Session, q: Query<PortalQuery>) -> Response {
    let signed: Option<Signed> = session.get(KEY).await.ok().flatten();
    match signed {
        Some(s) => screen(&st, &s),
        None => {
            let bye = q.bye.is_some().then_some("ログアウトしました。");
            sign_in_page(StatusCode::OK, None, bye)
        }
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The form post comes from the portal's own page: its `Origin` is `http(s)://<Host>`.
fn origin_ok(h: &HeaderMap) -> bool {
    let (Some(host), Some(origin)) = (header_str(h, header::HOST), header_str(h, header::ORIGIN))
    else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

fn forbidden() -> Response {
    sign_in_page(
        StatusCode::FORBIDDEN,
        Some("ほかのサイトからの送信は受け付けません。マイナポータルの画面から操作してください。"),
        None,
    )
}

/// `POST /portal/login`. Every answer leaves at [`ANSWER_FLOOR`] after the request at the
/// earliest.
async fn login(State(st): State<AppState>, session: Session, req: Request) -> Response {
    let until = tokio::time::Instant::now() + ANSWER_FLOOR;
    let answer = login_answer(&st, &session, req).await;
    tokio::time::sleep_until(until).await;
    answer
}

async fn login_answer(st: &AppState, session: &Session, req: Request) -> Response {
    if !origin_ok(req.headers()) {
        return forbidden();
    }
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let Ok(body) = to_bytes(req.into_body(), 4096).await else {
        return sign_in_page(StatusCode::UNAUTHORIZED, Some(REFUSED), None);
    };
    let serial = form_value(&body, "card_serial").unwrap_or_default();
    let serial = serial.trim();
    // bounded key, whatever was sent
    let serial = serial.get(..64).unwrap_or(serial);
    if let Err(wait) = st.portal_limits.admit(client, serial) {
        tracing::warn!(%client, "portal: login over the rate limit");
        let mut r = sign_in_page(StatusCode::TOO_MANY_REQUESTS, Some(TOO_MANY), None);
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let pin = form_value(&body, "pin").unwrap_or_default();
    if !verified(st, serial, &pin) {
        return sign_in_page(StatusCode::UNAUTHORIZED, Some(REFUSED), None);
    }
    let mut token = [0u8; 32];
    if getrandom::fill(&mut token).is_err() {
        return sign_in_page(StatusCode::INTERNAL_SERVER_ERROR, Some(REFUSED), None);
    }
    let signed = Signed {
        serial: serial.to_string(),
        csrf: hex::encode(token),
    };
    // a new session id at login (no fixation), then the card in it
    if session.cycle_id().await.is_err() || session.insert(KEY, &signed).await.is_err() {
        return sign_in_page(StatusCode::INTERNAL_SERVER_ERROR, Some(REFUSED), None);
    }
    Redirect::to("/portal").into_response()
}

/// Whether the chip accepts `pin` for `serial` (the chip counts a wrong PIN). Every way of
/// failing is the same `false`.
fn verified(st: &AppState, serial: &str, pin: &str) -> bool {
    if serial.is_empty() {
        return false;
    }
    let Ok(pin) = Pin::parse(pin) else {
        return false;
    };
    let reader = Reader::new(st.chips.as_ref(), st.pins.as_ref());
    match reader.identify(serial, &IdentityAttempt::Pin(pin)) {
        Ok(IdentityOutcome::Verified { .. }) => true,
        Ok(IdentityOutcome::Refused { .. }) | Err(onshi_card::CardError::UnknownCard(_)) => false,
        Err(e) => {
            tracing::error!(error = %e, "portal: chip");
            false
        }
    }
}

/// `POST /portal/logout`: the session's CSRF token in the form; the session ends.
async fn logout(session: Session, req: Request) -> Response {
    if !origin_ok(req.headers()) {
        return forbidden();
    }
    let signed: Option<Signed> = session.get(KEY).await.ok().flatten();
    let Some(signed) = signed else {
        return Redirect::to("/portal").into_response();
    };
    let Ok(body) = to_bytes(req.into_body(), 4096).await else {
        return forbidden();
    };
    let given = form_value(&body, "csrf").unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(signed.csrf.as_bytes())) {
        return forbidden();
    }
    let _ = session.flush().await;
    Redirect::to("/portal?bye=1").into_response()
}

/// Reads `application/x-www-form-urlencoded`; never panics.
fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k)? == key).then(|| decode(v)).flatten()
    })
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The qualification screen of the signed-in card's holder, on today's date.
fn screen(st: &AppState, signed: &Signed) -> Response {
    let serial = signed.serial.as_str();
    let registry = st.central.registry();
    let today = st.central.clock().today();
    let found = registry.card(serial).and_then(|c| match c {
        Some(c) => registry.person_with_history(c.person_id),
        None => Ok(None),
    });
    let (person, history) = match found {
        Ok(Some(x)) => x,
        Ok(None) => {
            return sign_in_page(
                StatusCode::NOT_FOUND,
                Some("このカードの情報が見つかりません。"),
                None,
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "portal: registry");
            return sign_in_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("ただいま表示できません。"),
                None,
            );
        }
    };
    let quals: Vec<_> = history.iter().map(|r| r.qualification.clone()).collect();
    let p = &person.person;
    let row = |q: &onshi_domain::qualification::Qualification| QualRow {
        insurer_name: q.insurer_name.clone(),
        insurer_number: q.insurer_number.as_str().to_string(),
        symbol: q.symbol.as_str().to_string(),
        number: q.number.as_str().to_string(),
        branch: q.branch.as_str().to_string(),
        qualification_date: q.qualification_date.to_string(),
        share: q
            .share_on(p.birthdate, today)
            .map(|(pct, _)| format!("{}割", pct / 10))
            .unwrap_or_else(|| "—".into()),
    };
    let shown = match evaluate_by_card(&quals, today) {
        Outcome::Valid(q) => Shown::Valid(row(q)),
        Outcome::Multiple(qs) => Shown::Multiple(qs.into_iter().map(row).collect()),
        _ => Shown::Nothing,
    };
    let screen = Screen {
        name: p.name.clone(),
        name_kana: p.name_kana.clone(),
        birthdate: p.birthdate.to_string(),
        today: today.to_string(),
        shown,
    };
    let layout = layout().signed_in(Some(SignedIn {
        name: format!("{}さん", p.name),
        logout_action: "/portal/logout".into(),
        csrf: signed.csrf.clone(),
    }));
    onshi_ui::page_with(
        StatusCode::OK,
        &PortalPage {
            layout,
            error: None,
            message: None,
            screen: Some(screen),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_never_panics_and_reads_percent_escapes() {
        assert_eq!(
            form_value(b"card_serial=C0001&pin=1234", "pin").as_deref(),
            Some("1234")
        );
        assert_eq!(form_value(b"a=%E3%81%82+b", "a").as_deref(), Some("あ b"));
        for junk in [&b"%"[..], b"a=%zz", b"=&=&", b"\xff\xfe", b"a=%e3%81"] {
            let _ = form_value(junk, "a");
        }
    }
}
