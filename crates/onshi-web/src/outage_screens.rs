//! The call centre's screens of the outage mode (R13, R14), server-rendered in Japanese from
//! askama templates (`templates/web/outage_*.html`, extending the common layout of `onshi-ui`):
//!
//! - `GET|POST /operator/outage/login`, `POST /operator/outage/logout`;
//! - `GET /operator/outage`, `POST /operator/outage/action` — the steps of the activation
//!   procedure (call-back, form, enabling, closing), the search audit.
//!
//! The operator signs in once with the operator token (`onshi operator add`); the token is
//! exchanged for a server-side session (tower-sessions): the cookie `onshi_operator` holds only
//! the session's random id (HttpOnly, SameSite=Strict, path `/operator/outage`, Secure over
//! TLS, ended after [`SESSION_IDLE`] without activity or at logout), never the token. Every
//! form carries the session's CSRF token (compared in constant time) and must come with the
//! server's own `Origin`. Revoking the operator ends its sessions at the next request.
//!
//! A facility's side of the procedure (利用申請, 利用報告書, its audit, the search itself) is
//! not served here: the facility takes it at its own desk (`onshi desk`, screen
//! 「障害時モード」), signed in as a member of its staff, and the desk calls the API with the
//! facility's credentials, which no clerk types or sees. Every value shown is escaped by the
//! templates.

use std::collections::HashMap;
use std::time::Duration;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use onshi_central::outage::{Actor, AuditView, OutageError, RequestInput, RequestView};
use onshi_store::outage::{AuditFilter, Operator, OutageState, RequestFilter};
use onshi_ui::{Layout, SignedIn};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::AppState;
use crate::outage::{
    ListQuery, OPERATOR_COOKIE, api_error, internal, operator_token_hash, service,
};

/// An operator's session ends after this long without activity.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

const KEY: &str = "operator";

/// What the session keeps: which operator (by the stored hash of its token, looked up again
/// at every request so that a revoked operator is out at once) and the form token.
#[derive(Clone, Serialize, Deserialize)]
struct Signed {
    token_hash: String,
    csrf: String,
}

/// The operator's routes, with their own session layer; `secure` marks the cookie Secure.
pub fn routes(secure: bool) -> Router<AppState> {
    let idle = tower_sessions::cookie::time::Duration::seconds(SESSION_IDLE.as_secs() as i64);
    let sessions = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_name(OPERATOR_COOKIE)
        .with_path("/operator/outage")
        .with_http_only(true)
        .with_secure(secure)
        .with_same_site(tower_sessions::cookie::SameSite::Strict)
        .with_expiry(tower_sessions::Expiry::OnInactivity(idle));
    Router::new()
        .route("/operator/outage", get(screen_operator))
        .route(
            "/operator/outage/login",
            get(screen_operator_login).post(screen_operator_login_post),
        )
        .route("/operator/outage/logout", post(screen_operator_logout))
        .route("/operator/outage/action", post(screen_operator_action))
        .layer(sessions)
}

/// The signed-in operator of the screens, with the session's form token.
struct ScreenOperator {
    operator: Operator,
    csrf: String,
}

impl FromRequestParts<AppState> for ScreenOperator {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let svc = service(st).map_err(IntoResponse::into_response)?;
        let to_login = || Redirect::to("/operator/outage/login").into_response();
        let session = Session::from_request_parts(parts, st)
            .await
            .map_err(|_| to_login())?;
        let Some(signed) = session.get::<Signed>(KEY).await.ok().flatten() else {
            return Err(to_login());
        };
        match svc.store().operator_by_token_hash(&signed.token_hash) {
            Ok(Some(operator)) => Ok(ScreenOperator {
                operator,
                csrf: signed.csrf,
            }),
            Ok(None) => {
                let _ = session.flush().await;
                Err(to_login())
            }
            Err(e) => Err(internal(e).into_response()),
        }
    }
}

// --- what the templates show -----------------------------------------------------------

/// The answer to the last action, shown above the screen.
pub(crate) enum Notice {
    Nothing,
    Done(String),
    /// The field (when one is to blame) and the message.
    Failed(Option<String>, String),
}

impl Notice {
    fn of(e: OutageError) -> Self {
        match e {
            OutageError::Invalid { field, message, .. } => {
                Notice::Failed(Some(field.to_string()), message)
            }
            OutageError::Refused { field, message, .. } => {
                Notice::Failed(field.map(str::to_string), message)
            }
            OutageError::NotFound { field, message } => {
                Notice::Failed(Some(field.to_string()), message)
            }
            OutageError::Conflict { message, .. } => Notice::Failed(None, message),
            OutageError::Store(e) => Notice::Failed(None, format!("内部エラー: {e}")),
        }
    }
}

#[derive(Template)]
#[template(path = "web/outage_login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
}

/// One request on the operator's screen, with the facility's registered contact and the
/// actions its state allows.
struct OperatorRow {
    view: RequestView,
    phone: String,
    email: String,
    registered_name: String,
    actions: Vec<OperatorAction>,
}

struct OperatorAction {
    what: &'static str,
    label: &'static str,
    /// An input the action needs: (name, label, placeholder).
    input: Option<(&'static str, &'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "web/outage_operator.html")]
struct OperatorPage {
    layout: Layout,
    operator: String,
    facility: String,
    notice: Notice,
    rows: Vec<OperatorRow>,
    audit: Vec<AuditView>,
}

const OPERATOR_TITLE: &str = "システム障害時モード 利用設定（コールセンター）";
const OPERATOR_LOGIN: &str = "システム障害時モード ログイン（コールセンター）";
const BAD_TOKEN: &str = "トークンが正しくありません。";
const CROSS_SITE: &str = "ほかのサイトからの送信は受け付けません。この画面から操作してください。";

fn layout(title: &str) -> Layout {
    Layout::new(format!("{title} — onshi")).brand("オンライン資格確認等システム")
}

fn signed_layout(o: &ScreenOperator) -> Layout {
    layout(OPERATOR_TITLE).signed_in(Some(SignedIn {
        name: o.operator.name.clone(),
        logout_action: "/operator/outage/logout".into(),
        csrf: o.csrf.clone(),
    }))
}

// --- forms -------------------------------------------------------------------------------

type Params = HashMap<String, String>;

fn field(f: &Params, name: &str) -> Option<String> {
    f.get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A form post comes from the server's own page: its `Origin` is `http(s)://<Host>`.
fn same_origin(h: &HeaderMap) -> bool {
    let get = |n: header::HeaderName| h.get(n).and_then(|v| v.to_str().ok());
    let (Some(host), Some(origin)) = (get(header::HOST), get(header::ORIGIN)) else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// The form's `csrf` is the session's (constant time).
fn csrf_ok(f: &Params, expected: &str) -> bool {
    let given = f.get("csrf").map(String::as_str).unwrap_or("");
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    onshi_ui::page_with(
        status,
        &LoginPage {
            layout: layout(OPERATOR_LOGIN),
            error: error.map(str::to_string),
        },
    )
}

fn cross_site(o: &ScreenOperator) -> Response {
    onshi_ui::page_with(
        StatusCode::FORBIDDEN,
        &onshi_ui::MessagePage::error(signed_layout(o), CROSS_SITE)
            .back("/operator/outage", "利用設定の画面へ"),
    )
}

async fn screen_operator_login() -> Response {
    login_page(StatusCode::OK, None)
}

async fn screen_operator_login_post(
    State(st): State<AppState>,
    session: Session,
    req: Request,
) -> Response {
    if !same_origin(req.headers()) {
        return login_page(StatusCode::FORBIDDEN, Some(CROSS_SITE));
    }
    let Ok(Form(f)) = Form::<Params>::from_request(req, &st).await else {
        return login_page(StatusCode::BAD_REQUEST, Some(BAD_TOKEN));
    };
    let token_hash = operator_token_hash(&field(&f, "token").unwrap_or_default());
    let known = service(&st)
        .ok()
        .and_then(|s| s.store().operator_by_token_hash(&token_hash).ok())
        .flatten()
        .is_some();
    if !known {
        return login_page(StatusCode::UNAUTHORIZED, Some(BAD_TOKEN));
    }
    let mut csrf = [0u8; 32];
    if getrandom::fill(&mut csrf).is_err() {
        return internal("no randomness for the form token").into_response();
    }
    let signed = Signed {
        token_hash,
        csrf: hex::encode(csrf),
    };
    // a new session id at login (no fixation), then the operator in it
    if session.cycle_id().await.is_err() || session.insert(KEY, &signed).await.is_err() {
        return internal("the session could not be stored").into_response();
    }
    Redirect::to("/operator/outage").into_response()
}

async fn screen_operator_logout(
    State(st): State<AppState>,
    o: ScreenOperator,
    session: Session,
    req: Request,
) -> Response {
    let headers_ok = same_origin(req.headers());
    let Ok(Form(f)) = Form::<Params>::from_request(req, &st).await else {
        return cross_site(&o);
    };
    if !headers_ok || !csrf_ok(&f, &o.csrf) {
        return cross_site(&o);
    }
    let _ = session.flush().await;
    Redirect::to("/operator/outage/login").into_response()
}

// --- the operator's screen ---------------------------------------------------------------

async fn screen_operator(
    State(st): State<AppState>,
    o: ScreenOperator,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let facility = q
        .ok()
        .and_then(|Query(q)| q.facility)
        .filter(|f| !f.is_empty());
    render_operator(&st, &o, facility, Notice::Nothing)
}

fn actions_of(state: OutageState) -> Vec<OperatorAction> {
    let act = |what, label, input| OperatorAction { what, label, input };
    let cancel = act("cancel", "取消", None);
    match state {
        OutageState::Requested => vec![
            act(
                "verify",
                "2. 折り返し電話で確認した",
                Some(("phone", "折り返した番号", "")),
            ),
            cancel,
        ],
        OutageState::Verified => vec![
            act(
                "issue_form",
                "2. 利用報告書を送付した",
                Some(("email", "送付先メール", "空欄=届出のメール")),
            ),
            cancel,
        ],
        OutageState::FormIssued => vec![
            act(
                "enable",
                "3. 利用設定する",
                Some(("until", "利用期限", "空欄=本日中（RFC 3339）")),
            ),
            cancel,
        ],
        OutageState::Enabled => vec![act("close", "利用を終了する", None)],
        _ => Vec::new(),
    }
}

fn render_operator(
    st: &AppState,
    o: &ScreenOperator,
    facility: Option<String>,
    notice: Notice,
) -> Response {
    let svc = match service(st) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let views = match svc.list_requests(&RequestFilter {
        facility: facility.clone(),
        limit: Some(50),
        ..Default::default()
    }) {
        Ok(r) => r,
        Err(e) => return api_error(e).into_response(),
    };
    let rows = views
        .into_iter()
        .map(|view| {
            let contact = svc
                .store()
                .facility_contact(&view.request.facility)
                .ok()
                .flatten();
            OperatorRow {
                phone: contact
                    .as_ref()
                    .map(|c| c.phone.clone())
                    .unwrap_or_else(|| "未登録".into()),
                email: contact
                    .as_ref()
                    .and_then(|c| c.email.clone())
                    .unwrap_or_else(|| "未登録".into()),
                registered_name: contact
                    .as_ref()
                    .map(|c| c.registered_name.clone())
                    .unwrap_or_else(|| "—".into()),
                actions: actions_of(view.request.state),
                view,
            }
        })
        .collect();
    let audit = match svc.audit(&AuditFilter {
        facility: facility.clone(),
        limit: Some(100),
        ..Default::default()
    }) {
        Ok(rows) => rows,
        Err(e) => return api_error(e).into_response(),
    };
    onshi_ui::page(&OperatorPage {
        layout: signed_layout(o),
        operator: o.operator.name.clone(),
        facility: facility.unwrap_or_default(),
        notice,
        rows,
        audit,
    })
}

async fn screen_operator_action(
    State(st): State<AppState>,
    so: ScreenOperator,
    req: Request,
) -> Response {
    let headers_ok = same_origin(req.headers());
    let Ok(Form(form)) = Form::<Params>::from_request(req, &st).await else {
        return cross_site(&so);
    };
    if !headers_ok || !csrf_ok(&form, &so.csrf) {
        tracing::warn!("outage screens: an operator form without the session's CSRF token refused");
        return cross_site(&so);
    }
    let svc = match service(&st) {
        Ok(s) => s.clone(),
        Err(e) => return e.into_response(),
    };
    let o = &so.operator;
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
                staff_id: None,
            },
        ),
        Some("verify") => svc.verify(o, id, &field(&form, "phone").unwrap_or_default()),
        Some("issue_form") => svc.issue_form(o, id, field(&form, "email").as_deref()),
        Some("enable") => svc.enable(o, id, field(&form, "until").as_deref()),
        Some("close") => svc.close(o, id),
        Some("cancel") => svc.cancel(&Actor::Operator(o.clone()), id),
        _ => Err(OutageError::Invalid {
            field: "do",
            rule: "required",
            message: "操作が指定されていません".into(),
        }),
    };
    let notice = match result {
        Ok(v) => Notice::Done(format!("申請 {}: {}", v.request.id, v.state_label)),
        Err(e) => Notice::of(e),
    };
    render_operator(&st, &so, None, notice)
}
