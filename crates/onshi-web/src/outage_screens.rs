//! The outage mode's screens (R12–R14, R17), server-rendered in Japanese from askama
//! templates (`templates/web/outage_*.html`, extending the common layout of `onshi-ui`):
//!
//! - `GET|POST /outage/login`, `GET /outage`, `POST /outage/action` — the facility's: the
//!   activation request, the search and choice of a patient, the usage report, its own audit;
//! - `GET|POST /operator/outage/login`, `GET /operator/outage`, `POST /operator/outage/action`
//!   — the call centre's: the steps of the activation procedure, the audit.
//!
//! The screens take the facility's or the operator's token once, on a login form, and keep it
//! in an HttpOnly, SameSite=Strict cookie (so another site's page cannot post these forms with
//! it). Every value shown is escaped by the templates.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use onshi_central::outage::{
    Actor, AuditView, OutageError, QualificationView, REPORT_TITLE, ReportInput, RequestInput,
    RequestView, SearchInput, SearchResponse, SelectResponse,
};
use onshi_store::Facility;
use onshi_store::outage::{AuditFilter, AuditKind, Operator, OutageState, RequestFilter};
use onshi_ui::Layout;

use crate::outage::{
    FACILITY_COOKIE, ListQuery, OPERATOR_COOKIE, api_error, cookie, facility_actor, internal,
    operator_token_hash, service,
};
use crate::{AppState, token_hash};

pub fn routes() -> Router<AppState> {
    Router::new()
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
// --- what the templates show -----------------------------------------------------------

/// The answer to the last action, shown above the screen.
pub(crate) enum Notice {
    Nothing,
    Done(String),
    /// The field (when one is to blame) and the message.
    Failed(Option<String>, String),
    Search(Box<SearchResponse>),
    Qualification(Box<QualificationView>),
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

/// One line of a request's procedure table.
pub(crate) struct StepRow {
    pub step: &'static str,
    pub at: String,
    pub by: String,
    pub detail: String,
}

fn or_dash(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "—".into())
}

/// The steps of the activation procedure (R13) as a table, for `outage_request.html`.
pub(crate) fn step_rows(v: &RequestView) -> Vec<StepRow> {
    let r = &v.request;
    let row = |step, at: &Option<String>, by: &Option<String>, detail: String| StepRow {
        step,
        at: or_dash(at),
        by: or_dash(by),
        detail,
    };
    let mut rows = vec![
        row(
            "1. 利用申請（コールセンターへ連絡）",
            &Some(r.requested_at.clone()),
            &Some(r.requested_by.clone()),
            format!(
                "{} / 担当者 {} / {}",
                r.facility_name, r.contact_person, r.reason
            ),
        ),
        row(
            "2. 電話確認（届出の電話番号へ折り返し）",
            &r.verified_at,
            &r.verified_by,
            or_dash(&r.callback_phone),
        ),
        row(
            "2. 利用報告書送付",
            &r.form_issued_at,
            &r.form_issued_by,
            or_dash(&r.form_email),
        ),
        row(
            "3. 利用設定",
            &r.enabled_at,
            &r.enabled_by,
            format!("利用期限 {}", or_dash(&r.window_until)),
        ),
    ];
    if r.closed_at.is_some() {
        rows.push(row("利用終了", &r.closed_at, &r.closed_by, String::new()));
    }
    rows.push(row(
        "4. 利用報告書提出",
        &r.reported_at,
        &r.reported_by,
        r.report
            .as_ref()
            .and_then(|j| j.get("title"))
            .and_then(|t| t.as_str())
            .unwrap_or("—")
            .to_string(),
    ));
    if r.cancelled_at.is_some() {
        rows.push(row("取消", &r.cancelled_at, &r.cancelled_by, String::new()));
    }
    rows
}

pub(crate) fn audit_kind(k: &AuditKind) -> &'static str {
    match k {
        AuditKind::Search => "検索",
        AuditKind::Select => "選択",
        AuditKind::Refused => "拒否",
    }
}

/// The usage report can be sent once the mode was enabled (R13 step 4).
pub(crate) fn reportable(v: &RequestView) -> bool {
    matches!(v.request.state, OutageState::Enabled | OutageState::Closed)
}

pub(crate) fn cancellable(v: &RequestView) -> bool {
    matches!(
        v.request.state,
        OutageState::Requested | OutageState::Verified | OutageState::FormIssued
    )
}

#[derive(Template)]
#[template(path = "web/outage_login.html")]
struct LoginPage {
    layout: Layout,
    action: &'static str,
    what: &'static str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "web/outage_facility.html")]
struct FacilityPage {
    layout: Layout,
    facility_name: String,
    facility_code: String,
    notice: Notice,
    status: onshi_central::outage::FacilityStatus,
    has_open: bool,
    report_title: &'static str,
    audit: Vec<AuditView>,
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

const FACILITY_TITLE: &str = "緊急時医療情報・資格確認機能（システム障害時）";
const OPERATOR_TITLE: &str = "システム障害時モード 利用設定（コールセンター）";

fn layout(title: &str) -> Layout {
    Layout::new(format!("{title} — onshi")).brand("オンライン資格確認等システム")
}

// --- forms -------------------------------------------------------------------------------

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

fn set_cookie(name: &str, token: &str, to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    if let Ok(v) = format!("{name}={token}; HttpOnly; SameSite=Strict; Path=/").parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn login_page(
    title: &'static str,
    action: &'static str,
    what: &'static str,
    error: Option<&str>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    onshi_ui::page_with(
        status,
        &LoginPage {
            layout: layout(title),
            action,
            what,
            error: error.map(str::to_string),
        },
    )
}

const FACILITY_LOGIN: &str = "システム障害時モード ログイン（医療機関・薬局）";
const OPERATOR_LOGIN: &str = "システム障害時モード ログイン（コールセンター）";
const BAD_TOKEN: &str = "トークンが正しくありません。";

async fn screen_facility_login() -> Response {
    login_page(FACILITY_LOGIN, "/outage/login", "医療機関トークン", None)
}

async fn screen_facility_login_post(State(st): State<AppState>, body: String) -> Response {
    let f = form(&body);
    let token = field(&f, "token").unwrap_or_default();
    match st.facilities.facility_by_token_hash(&token_hash(&token)) {
        Ok(Some(_)) => set_cookie(FACILITY_COOKIE, &token, "/outage"),
        _ => login_page(
            FACILITY_LOGIN,
            "/outage/login",
            "医療機関トークン",
            Some(BAD_TOKEN),
        ),
    }
}

async fn screen_operator_login() -> Response {
    login_page(
        OPERATOR_LOGIN,
        "/operator/outage/login",
        "オペレータートークン",
        None,
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
        login_page(
            OPERATOR_LOGIN,
            "/operator/outage/login",
            "オペレータートークン",
            Some(BAD_TOKEN),
        )
    }
}

// --- the facility's screen ---------------------------------------------------------------

async fn screen_facility(
    State(st): State<AppState>,
    ScreenFacility(f): ScreenFacility,
) -> Response {
    render_facility(&st, &f, Notice::Nothing).await
}

async fn render_facility(st: &AppState, f: &Facility, notice: Notice) -> Response {
    let svc = match service(st) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let status = match svc.facility_status(&f.code) {
        Ok(s) => s,
        Err(e) => return api_error(e).into_response(),
    };
    let audit = match svc.audit(&AuditFilter {
        facility: Some(f.code.as_str().to_string()),
        limit: Some(50),
        ..Default::default()
    }) {
        Ok(rows) => rows,
        Err(e) => return api_error(e).into_response(),
    };
    let has_open = status.requests.iter().any(|r| r.request.state.is_open());
    onshi_ui::page(&FacilityPage {
        layout: layout(FACILITY_TITLE),
        facility_name: f.name.clone(),
        facility_code: f.code.as_str().to_string(),
        notice,
        status,
        has_open,
        report_title: REPORT_TITLE,
        audit,
    })
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
                Ok(v) => Notice::Done(format!(
                    "申請 {} を受け付けました。コールセンターから届出の電話番号へ折り返します。",
                    v.request.id
                )),
                Err(e) => Notice::of(e),
            }
        }
        Some("cancel") => match svc.cancel(&facility_actor(&f, None), id) {
            Ok(_) => Notice::Done("申請を取り消しました。".into()),
            Err(e) => Notice::of(e),
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
                Ok(_) => Notice::Done("利用報告書を提出しました。".into()),
                Err(e) => Notice::of(e),
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
                Ok(r) => Notice::Search(Box::new(r)),
                Err(e) => Notice::of(e),
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
                Ok(SelectResponse { qualification, .. }) => {
                    Notice::Qualification(Box::new(qualification))
                }
                Err(e) => Notice::of(e),
            }
        }
        _ => Notice::Failed(Some("do".into()), "操作が指定されていません".into()),
    };
    render_facility(&st, &f, notice).await
}

// --- the operator's screen ---------------------------------------------------------------

async fn screen_operator(
    State(st): State<AppState>,
    ScreenOperator(o): ScreenOperator,
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
    o: &Operator,
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
        layout: layout(OPERATOR_TITLE),
        operator: o.name.clone(),
        facility: facility.unwrap_or_default(),
        notice,
        rows,
        audit,
    })
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
        Ok(v) => Notice::Done(format!("申請 {}: {}", v.request.id, v.state_label)),
        Err(e) => Notice::of(e),
    };
    render_operator(&st, &o, None, notice)
}
