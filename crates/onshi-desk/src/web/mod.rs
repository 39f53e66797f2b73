//! The clerk's screens, one module per flow (server-rendered askama templates under
//! `templates/desk/`, extending the common layout of `onshi-ui`; POST-redirect-GET):
//!
//! - [`reception`] — `GET /desk/` (new reception, recent visits), `POST /desk/visits`
//! - [`visit`] — `GET /desk/visits/{id}`: the share, the next step highlighted, the other
//!   acceptable steps, the result, the claim, who did what
//! - [`fallback`] — `POST /desk/visits/{id}/act`: record one fact (an `action` and its fields)
//!   and let the engine say what follows
//! - [`reader`] — the card at the reader (face / PIN / 目視確認, R1–R3, R15) and the numbers of
//!   a document confirmed online (R7), both through the terminal
//! - [`moushitatesho`] — `GET|POST /desk/visits/{id}/moushitatesho` (R24, R25) and the
//!   printable sheet `…/moushitatesho/print` (R26)
//! - [`medinfo`] — `GET /desk/visits/{id}/medinfo/{kind}`: drug, checkup, diagnosis and
//!   operation information under the patient's consent (R2), one screen per kind
//! - [`history`] — `GET /desk/history` (R6) and `GET /desk/visits/{id}/situation.json`
//! - [`worklist`] — `/desk/unconfirmed…`, the 事後確認 worklist (R12, R17)
//! - [`outage`] — `/desk/outage…`, the facility's side of the outage-mode procedure (R13):
//!   利用申請, its steps, 利用報告書, the facility's search audit
//! - `/desk/claims`, `/desk/api/…` — the 請求 screen and the claims API (`crate::claims`)
//!
//! # Adding a screen
//! A template `templates/desk/<name>.html` that starts with `{% extends "ui/base.html" %}`; a
//! `#[derive(Template)]` struct with `layout: Layout` (from [`Screen::layout`]); a handler
//! that takes [`Screen`] (the desk, the signed-in staff, the CSRF token) and returns
//! `onshi_ui::page(&page)`; a route in [`router`]; and, for a top-level screen, an entry in
//! [`NAV`].

use std::collections::HashMap;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use onshi_domain::desk::{
    ClaimBasis, ConfirmationSource, FacilityType, FailureClass, Identity, QualificationSeen,
    ShareSource,
};
use onshi_ui::{Layout, MessagePage, NavLink};

use crate::Desk;

pub mod auth;
pub mod fallback;
pub mod history;
pub mod medinfo;
pub mod moushitatesho;
pub mod outage;
pub mod reader;
pub mod reception;
pub mod visit;
pub mod worklist;

pub(crate) type Params = HashMap<String, String>;

/// The desk's header links: (id, label, href); `claims` is the 請求 screen
/// (`crate::claims::screen`).
pub const NAV: [(&str, &str, &str); 5] = [
    ("home", "受付一覧", "/desk/"),
    ("unconfirmed", "事後確認", "/desk/unconfirmed"),
    ("history", "資格確認履歴", "/desk/history"),
    ("claims", "請求", "/desk/claims"),
    ("outage", "障害時モード", "/desk/outage"),
];

pub fn router(desk: Desk) -> Router {
    let idle = tower_sessions::cookie::time::Duration::seconds(
        i64::try_from(desk.session_idle.as_secs()).unwrap_or(i64::MAX),
    );
    let sessions = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_name(format!(
            "onshi_desk_{}",
            desk.terminal.config().facility.as_str()
        ))
        .with_path("/desk")
        .with_http_only(true)
        .with_secure(desk.terminal.config().api_tls)
        .with_same_site(tower_sessions::cookie::SameSite::Strict)
        .with_expiry(tower_sessions::Expiry::OnInactivity(idle))
        .with_always_save(true);
    Router::new()
        .route("/desk", get(|| async { Redirect::to("/desk/") }))
        .route("/desk/login", get(auth::login_form).post(auth::login))
        .route("/desk/logout", post(auth::logout))
        .route("/desk/", get(reception::home))
        .route("/desk/visits", post(reception::new_visit))
        .route("/desk/visits/{id}", get(visit::show))
        .route("/desk/visits/{id}/act", post(fallback::act))
        .route(
            "/desk/visits/{id}/moushitatesho",
            get(moushitatesho::entry).post(moushitatesho::submit),
        )
        .route(
            "/desk/visits/{id}/moushitatesho/print",
            get(moushitatesho::print),
        )
        .route(
            "/desk/visits/{id}/situation.json",
            get(history::situation_json),
        )
        .route("/desk/visits/{id}/medinfo/{kind}", get(medinfo::page))
        .route("/desk/history", get(history::page))
        .merge(worklist::routes())
        .merge(outage::routes())
        .merge(crate::claims::web::routes())
        .layer(axum::middleware::from_fn_with_state(
            desk.clone(),
            auth::guard,
        ))
        .layer(sessions)
        .with_state(desk)
}

// ------------------------------------------------------------------------------- the screen

/// What every screen of the desk needs: the desk, who is at it, and the form token.
pub struct Screen {
    pub desk: Desk,
    /// The signed-in staff member's id, recorded on each step (and as the 目視確認 staff, R3).
    pub staff: Option<String>,
    /// As shown in the header.
    pub staff_name: Option<String>,
    /// The session's CSRF token every form carries.
    pub csrf: Option<String>,
}

impl Screen {
    /// The common layout: the facility, the desk's links, the one marked current, who is
    /// signed in (with the logout form and the CSRF token the page's forms carry).
    pub fn layout(&self, title: impl Into<String>, current: &str) -> Layout {
        let signed_in = match (&self.staff, &self.csrf) {
            (Some(id), Some(csrf)) => Some(onshi_ui::SignedIn {
                name: format!("{}（{id}）", self.staff_name.as_deref().unwrap_or("")),
                logout_action: "/desk/logout".into(),
                csrf: csrf.clone(),
            }),
            _ => None,
        };
        layout_of(&self.desk, title)
            .current(current)
            .signed_in(signed_in)
    }

    pub fn staff(&self) -> &str {
        self.staff.as_deref().unwrap_or("")
    }
}

pub(crate) fn layout_of(d: &Desk, title: impl Into<String>) -> Layout {
    Layout::new(title).brand(facility_label(d)).nav(
        NAV.iter()
            .map(|(id, label, href)| NavLink::new(id, label, *href))
            .collect(),
    )
}

pub(crate) fn facility_label(d: &Desk) -> String {
    let kind = match d.facility {
        FacilityType::Clinic => "医療機関",
        FacilityType::Pharmacy => "薬局",
    };
    format!("{kind} {}", d.terminal.config().facility.as_str())
}

pub(crate) fn internal(d: &Desk, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "desk");
    onshi_ui::page_with(
        StatusCode::INTERNAL_SERVER_ERROR,
        &MessagePage::error(layout_of(d, "エラー"), format!("処理できませんでした: {e}")),
    )
}

/// The JSON error of a JSON read under the session: 404 for an unknown visit, else 500.
pub(crate) fn json_visit_error(e: crate::VisitError) -> Response {
    match e {
        crate::VisitError::NotFound(id) => {
            crate::claims::web::ErrorBody::new("visit", format!("id (path): no visit {id}"))
                .answer(StatusCode::NOT_FOUND)
        }
        e => json_internal(e),
    }
}

/// The JSON error of a failure of the desk itself (logged).
pub(crate) fn json_internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "desk");
    crate::claims::web::ErrorBody::new("internal", e.to_string())
        .answer(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(crate) fn not_found(d: &Desk) -> Response {
    onshi_ui::page_with(
        StatusCode::NOT_FOUND,
        &MessagePage::error(layout_of(d, "見つかりません"), "その受付は見つかりません。")
            .back("/desk/", "受付一覧へ"),
    )
}

pub(crate) fn bad_request(d: &Desk, title: &str, message: impl Into<String>) -> Response {
    onshi_ui::page_with(
        StatusCode::BAD_REQUEST,
        &MessagePage::error(layout_of(d, title), message).back("/desk/", "受付一覧へ"),
    )
}

/// Redirects to a screen, with a message for the clerk.
pub(crate) fn redirect_with(path: &str, msg: Option<&str>) -> Response {
    match msg {
        Some(m) => Redirect::to(&format!("{path}?msg={}", urlencode(m))).into_response(),
        None => Redirect::to(path).into_response(),
    }
}

// ------------------------------------------------------------------------------- form input

pub(crate) fn p<'a>(params: &'a Params, key: &str) -> &'a str {
    params.get(key).map(|s| s.trim()).unwrap_or("")
}

pub(crate) fn opt(params: &Params, key: &str) -> Option<String> {
    Some(p(params, key).to_string()).filter(|s| !s.is_empty())
}

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ------------------------------------------------------------------------------- labels

/// The engine's refusal of a fact, as the clerk reads it: the Japanese for the refusals a
/// clerk meets at the reader (R2, R4), the engine's own message otherwise. The rule is the
/// engine's; only the words are the desk's.
pub(crate) fn refusal(e: &onshi_domain::desk::DeskError) -> String {
    match (e.field.as_str(), e.rule) {
        ("my_number_card.pin", "R2") => {
            "暗証番号：暗証番号を設定していないカードでは、暗証番号による本人確認はできません（R2）"
                .into()
        }
        ("my_number_card.face", "R4") => {
            "顔認証：患者さん本人がカードリーダーの前にいないため、顔認証はできません（R4）".into()
        }
        ("my_number_card.visual", "R4") => {
            "目視確認：患者さん本人がいないため、目視確認はできません（R4）".into()
        }
        _ => format!("この内容は記録できません：{}（{}）", e.message, e.rule),
    }
}

pub(crate) fn percent_label(p: u8) -> String {
    if p >= 100 {
        "10割".into()
    } else {
        format!("{}割", p / 10)
    }
}

pub(crate) fn identity_label(i: &Identity) -> String {
    match i {
        Identity::Face => "顔認証".into(),
        Identity::Pin => "暗証番号".into(),
        Identity::Visual { staff_id } => format!("目視確認（職員 {staff_id}）"),
        Identity::Smartphone => "スマートフォンの認証".into(),
        Identity::NotEstablished => "カードでの本人確認なし".into(),
    }
}

pub(crate) fn source_label(s: ConfirmationSource) -> &'static str {
    match s {
        ConfirmationSource::OnlineCard => "オンライン資格確認（マイナ保険証）",
        ConfirmationSource::OutageSearch => "システム障害時モードの検索",
        ConfirmationSource::PortalScreen => "マイナポータルの資格情報画面",
        ConfirmationSource::ShikakuKakuninsho => "資格確認書",
        ConfirmationSource::InsuranceCard => "健康保険証",
        ConfirmationSource::InsuranceCardMeasure => {
            "期限切れ保険証（暫定措置・番号をオンライン確認）"
        }
        ConfirmationSource::OshiraseWithCard => "資格情報のお知らせ（マイナンバーカードと併せて）",
        ConfirmationSource::OshiraseMeasure => {
            "資格情報のお知らせ（暫定措置・番号をオンライン確認）"
        }
        ConfirmationSource::Prescription => "処方箋の保険者番号等",
        ConfirmationSource::ReturningOral => "前回受診時の資格（変更なしを口頭で確認）",
        ConfirmationSource::Moushitatesho => "被保険者資格申立書（申立て）",
        ConfirmationSource::None => "まだ確認できていません",
    }
}

pub(crate) fn basis_label(b: ClaimBasis) -> &'static str {
    match b {
        ClaimBasis::Current => "現在の資格で請求（確認済み）",
        ClaimBasis::Oral => "聞き取り・口頭確認した資格で請求",
        ClaimBasis::Lost => "喪失済みの資格で請求（資格（無効）画面・資格確認履歴・過去の受診）",
        ClaimBasis::Unknown => "保険者番号等「不詳」で請求（摘要欄に申立書の情報）",
    }
}

pub(crate) fn basis_code(b: ClaimBasis) -> &'static str {
    match b {
        ClaimBasis::Current => "current",
        ClaimBasis::Oral => "oral",
        ClaimBasis::Lost => "lost",
        ClaimBasis::Unknown => "unknown",
    }
}

pub(crate) fn failure_label(f: FailureClass) -> &'static str {
    match f {
        FailureClass::DataInvalid => "資格（無効）",
        FailureClass::DataNotFound => "資格情報なし",
        FailureClass::EquipmentOqsReachable => {
            "機器等のトラブル（オンライン資格確認等システムには接続可）"
        }
        FailureClass::EquipmentOqsUnreachable => {
            "機器等のトラブル（オンライン資格確認等システムに接続不可）"
        }
    }
}

pub(crate) fn share_source_label(s: ShareSource) -> &'static str {
    match s {
        ShareSource::QualificationRatio => "確認した資格の負担割合",
        ShareSource::StatutoryByAge => "年齢による法定の負担割合",
        ShareSource::Declared => "申立書で申し立てた割合",
        ShareSource::FullCost => "全額自己負担",
    }
}

/// 記号・番号 as printed: "1001 ・ 2002", or the number alone when there is no symbol.
pub(crate) fn symbol_number(symbol: &str, number: &str) -> String {
    if symbol.is_empty() {
        number.to_string()
    } else {
        format!("{symbol} ・ {number}")
    }
}

/// A qualification's numbers as the templates show them (`desk::qual_kv`).
pub(crate) struct QualView {
    pub insurer_number: String,
    pub insurer_name: Option<String>,
    pub symbol_number: String,
    pub branch: String,
    pub share: Option<String>,
}

impl QualView {
    pub fn of(q: &QualificationSeen) -> Self {
        QualView {
            insurer_number: q.insurer_number.as_str().to_string(),
            insurer_name: q.insurer_name.clone(),
            symbol_number: symbol_number(q.symbol.as_str(), q.number.as_str()),
            branch: q
                .branch
                .as_ref()
                .map(|b| b.as_str().to_string())
                .unwrap_or_else(|| "—".into()),
            share: q.share_percent.map(percent_label),
        }
    }
}

// ------------------------------------------------------------------------------- who is at the desk

impl axum::extract::FromRequestParts<Desk> for Screen {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        d: &Desk,
    ) -> Result<Self, Response> {
        let signed = auth::signed(parts);
        Ok(Screen {
            desk: d.clone(),
            staff: signed.as_ref().map(|s| s.staff_id.clone()),
            staff_name: signed.as_ref().map(|s| s.name.clone()),
            csrf: signed.map(|s| s.csrf),
        })
    }
}
