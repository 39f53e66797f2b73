//! Who is at the desk: staff log in with their id and password (argon2 hashes in
//! `staff.sqlite`, [`crate::staff`]); the session is kept on the server (tower-sessions, an
//! HttpOnly SameSite=Strict cookie holding only its id) and ends on logout or after
//! [`Desk::session_idle`] without activity. Every recorded step carries the signed-in staff
//! member, and so does a 目視確認 (R3: who confirmed by sight is a person, not a typed string).
//!
//! Every request to the desk's screens passes [`guard`]:
//! - the `Host` must be an address of this machine (an IP literal or `localhost`), so a page
//!   from another site cannot reach the desk through a DNS name that points here;
//! - a form post (any method but GET/HEAD) must carry an `Origin` equal to the desk's own
//!   (`http(s)://<Host>`); a missing or foreign `Origin` is refused;
//! - outside `/desk/login`, a session is needed (else the login page), and a form post must
//!   carry the session's CSRF token — the `csrf` field every form of the screens has, or an
//!   `X-CSRF-Token` header for scripts — compared in constant time.
//!
//! The claims API under `/desk/api/` is the receipt computer's: each call carries
//! `Authorization: Bearer <token>` with the terminal's API token ([`Desk::api_token`], the one
//! the terminal's `/v1` API takes, from `<data>/api.token`; compared in constant time), or comes
//! from the desk's own screens under a signed-in session (with the checks above: the 請求
//! screen's file links). Else 401 `{"error": {"class": "auth", …}}`. Two routes check
//! otherwise: the OpenAPI document is public, and the settlement hook takes a statement signed
//! by a payer whose key the facility registered (`crate::claims::signature`).
//!
//! - `GET|POST /desk/login`, `POST /desk/logout`

use askama::Template;
use axum::Form;
use axum::body::{Body, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use onshi_ui::{Layout, MessagePage};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{Params, layout_of, p, urlencode};
use crate::Desk;

/// What the session keeps of the signed-in staff member.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedStaff {
    pub staff_id: String,
    pub name: String,
    /// The session's CSRF token (hex, 32 random bytes).
    pub csrf: String,
}

const KEY: &str = "staff";
/// The largest form the guard reads to find the CSRF token.
const MAX_FORM: usize = 1 << 20;

#[derive(Template)]
#[template(path = "desk/login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    message: Option<String>,
    staff_id: String,
    next: String,
}

fn login_page(
    d: &Desk,
    status: StatusCode,
    error: Option<&str>,
    message: Option<&str>,
    staff_id: &str,
    next: &str,
) -> Response {
    let mut layout = layout_of(d, "受付 ログイン — onshi");
    layout.nav.clear();
    onshi_ui::page_with(
        status,
        &LoginPage {
            layout,
            error: error.map(str::to_string),
            message: message.map(str::to_string),
            staff_id: staff_id.to_string(),
            next: safe_next(next).to_string(),
        },
    )
}

/// Only a path of the desk itself may be returned to after login.
fn safe_next(next: &str) -> &str {
    if next.starts_with("/desk/") && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/desk/"
    }
}

pub(crate) async fn login_form(State(d): State<Desk>, Query(q): Query<Params>) -> Response {
    let message = (p(&q, "bye") == "1").then_some("ログアウトしました。");
    let message = message.or((p(&q, "expired") == "1").then_some(
        "一定時間操作がなかったため、ログアウトしました。もう一度ログインしてください。",
    ));
    login_page(&d, StatusCode::OK, None, message, "", p(&q, "next"))
}

pub(crate) async fn login(
    State(d): State<Desk>,
    session: Session,
    Form(f): Form<Params>,
) -> Response {
    let staff_id = p(&f, "staff_id");
    let next = p(&f, "next");
    let found = d.staff.verify(
        staff_id,
        f.get("password").map(String::as_str).unwrap_or(""),
    );
    match found {
        Ok(Some(s)) => {
            let mut token = [0u8; 32];
            if getrandom::fill(&mut token).is_err() {
                return refused(
                    &d,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ログインできません。",
                );
            }
            let signed = SignedStaff {
                staff_id: s.staff_id,
                name: s.name,
                csrf: hex::encode(token),
            };
            // a new session id at login (no fixation), then the staff member in it
            if session.cycle_id().await.is_err() || session.insert(KEY, &signed).await.is_err() {
                return refused(
                    &d,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ログインできません。",
                );
            }
            tracing::info!(staff = %signed.staff_id, "desk login");
            Redirect::to(safe_next(next)).into_response()
        }
        Ok(None) => login_page(
            &d,
            StatusCode::UNAUTHORIZED,
            Some("職員IDまたはパスワードが違います。"),
            None,
            staff_id,
            next,
        ),
        Err(e) => super::internal(&d, e),
    }
}

pub(crate) async fn logout(session: Session) -> Response {
    let _ = session.flush().await;
    Redirect::to("/desk/login?bye=1").into_response()
}

/// The signed-in staff member of a request (set by [`guard`]).
pub(crate) fn signed(parts: &axum::http::request::Parts) -> Option<SignedStaff> {
    parts.extensions.get::<SignedStaff>().cloned()
}

fn refused(d: &Desk, status: StatusCode, message: &str) -> Response {
    onshi_ui::page_with(
        status,
        &MessagePage::error(layout_of(d, "受け付けできません"), message)
            .back("/desk/", "受付一覧へ"),
    )
}

/// The Host is this machine: an IP literal or `localhost`, with or without a port.
fn host_ok(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest
            .split(']')
            .next()
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map(|(h, _)| h)
            .unwrap_or(host)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `Origin` is this desk's own.
fn origin_ok(h: &HeaderMap, host: &str) -> bool {
    header_str(h, header::ORIGIN)
        .is_some_and(|o| o == format!("http://{host}") || o == format!("https://{host}"))
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `csrf` field of a urlencoded form (the token is hex: nothing to decode).
fn form_token(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|kv| kv.strip_prefix("csrf="))
        .map(str::to_string)
}

/// The routes under `/desk/api/` with a check of their own: the OpenAPI document (public) and
/// the payers' settlement hook (the payer's signature over the statement,
/// `crate::claims::signature`).
fn api_open(path: &str) -> bool {
    path == "/desk/api/openapi.json" || path == "/desk/api/claims/settlement"
}

/// 401 of the claims API: `{"error": {"class": "auth", "message"}}`, naming the header.
fn api_refused(message: &str) -> Response {
    let mut r =
        crate::claims::web::ErrorBody::new("auth", message).answer(StatusCode::UNAUTHORIZED);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

/// The desk's checks on every request: Host, Origin, session, CSRF (see the module's doc).
pub(crate) async fn guard(
    State(d): State<Desk>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/desk/api/") {
        if api_open(&path) {
            return next.run(req).await;
        }
        // the receipt computer: the terminal's API token
        if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
            let given = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            let known = d.api_token.as_ref();
            if given.is_some_and(|g| known.is_some_and(|t| t.matches(g))) {
                return next.run(req).await;
            }
            tracing::warn!(
                path,
                "desk claims API: a token that is not the terminal's refused"
            );
            return api_refused(
                "Authorization: the bearer token is not this terminal's API token \
                 (<data>/api.token, made anew at each start of the terminal)",
            );
        }
        // else the desk's own screens, signed in: the checks of a screen below
        let signed: Option<SignedStaff> = session.get(KEY).await.ok().flatten();
        if signed.is_none() {
            return api_refused(
                "Authorization: Bearer <token> is required, the terminal's API token from \
                 <data>/api.token (or a signed-in staff session of the desk)",
            );
        }
    }
    let headers = req.headers().clone();
    let Some(host) = header_str(&headers, header::HOST).map(str::to_string) else {
        return refused(&d, StatusCode::BAD_REQUEST, "Host がありません。");
    };
    if !host_ok(&host) {
        return refused(
            &d,
            StatusCode::MISDIRECTED_REQUEST,
            "このアドレスでは受付画面を開けません。",
        );
    }
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD);
    if unsafe_method && !origin_ok(&headers, &host) {
        tracing::warn!(path, origin = ?headers.get(header::ORIGIN), "desk: form post from another origin refused");
        return refused(
            &d,
            StatusCode::FORBIDDEN,
            "ほかのサイトからの送信は受け付けません（Origin）。受付画面から操作してください。",
        );
    }
    if path == "/desk/login" {
        return next.run(req).await;
    }
    let signed: Option<SignedStaff> = session.get(KEY).await.ok().flatten();
    let Some(signed) = signed else {
        if unsafe_method {
            return Redirect::to("/desk/login?expired=1").into_response();
        }
        let back = req
            .uri()
            .path_and_query()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default();
        return Redirect::to(&format!("/desk/login?next={}", urlencode(&back))).into_response();
    };
    if unsafe_method {
        let given = match header_str(&headers, header::HeaderName::from_static("x-csrf-token")) {
            Some(t) => Some(t.to_string()),
            None => {
                let (parts, body) = req.into_parts();
                let Ok(bytes) = to_bytes(body, MAX_FORM).await else {
                    return refused(
                        &d,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "送信内容が大きすぎます。",
                    );
                };
                let t = form_token(&bytes);
                req = Request::from_parts(parts, Body::from(bytes));
                t
            }
        };
        if !given.is_some_and(|t| ct_eq(t.as_bytes(), signed.csrf.as_bytes())) {
            tracing::warn!(
                path,
                "desk: form post without the session's CSRF token refused"
            );
            return refused(
                &d,
                StatusCode::FORBIDDEN,
                "送信を受け付けられません（フォームの確認用トークンが違います）。画面を開き直してください。",
            );
        }
    }
    req.extensions_mut().insert(signed);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_this_machine_only() {
        for ok in [
            "127.0.0.1:8471",
            "localhost:8471",
            "localhost",
            "[::1]:8471",
            "10.0.0.5",
        ] {
            assert!(host_ok(ok), "{ok}");
        }
        for bad in [
            "evil.example:8471",
            "evil.example",
            "127.0.0.1.evil.example",
            "[zz]:1",
            "",
        ] {
            assert!(!host_ok(bad), "{bad}");
        }
    }

    #[test]
    fn only_desk_paths_after_login() {
        assert_eq!(safe_next("/desk/visits/3"), "/desk/visits/3");
        assert_eq!(safe_next("https://evil.example/"), "/desk/");
        assert_eq!(safe_next("//evil.example/desk/"), "/desk/");
        assert_eq!(safe_next(""), "/desk/");
    }
}
