//! Japanese screens for payer staff (`/payer/…`: the files received, the 特定 worklist, the
//! month's settlement) and for insurers (`/insurer/`: claims re-assigned to them, their 按分
//! shares with the inputs, the R11 list, the R23 notices). Askama templates extending the one
//! base layout of `onshi-ui`; askama escapes everything shown.
//!
//! Sign-in is by the same token as the API: the token is exchanged for a session (a random id
//! in an HttpOnly, SameSite=Strict cookie; sessions live in memory only) with its own CSRF
//! token, which every form carries.

use std::collections::HashMap;
use std::sync::Mutex;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use onshi_ui::{Layout, MessagePage, NavLink, SignedIn, page, page_with};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::{PayerApp, new_token, now, token_hash};
use crate::store::{Principal, Role};

const COOKIE: &str = "onshi_payer_session";

struct Session {
    principal: Principal,
    csrf: String,
}

/// Signed-in sessions, by the hash of their id (in memory only).
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

fn sid_hash(sid: &str) -> String {
    hex::encode(Sha256::digest(
        format!("onshi-payer-session:{sid}").as_bytes(),
    ))
}

fn cookie_sid(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            kv.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
}

impl Sessions {
    fn get(&self, h: &HeaderMap) -> Option<(Principal, String)> {
        let sid = cookie_sid(h)?;
        let m = self.0.lock().ok()?;
        m.get(&sid_hash(&sid))
            .map(|s| (s.principal.clone(), s.csrf.clone()))
    }
}

fn layout(title: &str, who: Option<(&Principal, &str)>) -> Layout {
    let mut nav = Vec::new();
    if let Some((p, _)) = who {
        match p.role {
            Role::Staff => {
                nav.push(NavLink::new("files", "受付ファイル", "/payer/"));
                nav.push(NavLink::new("worklist", "保険者の特定", "/payer/worklist"));
            }
            Role::Facility => nav.push(NavLink::new("files", "提出ファイル", "/payer/")),
            Role::Insurer => nav.push(NavLink::new("insurer", "請求と按分", "/insurer/")),
        }
    }
    Layout::new(format!("{title} — onshi 審査支払機関"))
        .brand(match who {
            Some((p, _)) => p.payer.label().to_string(),
            None => "審査支払機関".to_string(),
        })
        .nav(nav)
        .signed_in(who.map(|(p, csrf)| SignedIn {
            name: format!("{}（{}）", p.subject, role_label(p.role)),
            logout_action: "/payer/logout".into(),
            csrf: csrf.to_string(),
        }))
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Staff => "職員",
        Role::Facility => "医療機関",
        Role::Insurer => "保険者",
    }
}

fn error_page(status: StatusCode, l: Layout, m: impl Into<String>) -> Response {
    page_with(status, &MessagePage::error(l, m))
}

#[derive(Template)]
#[template(path = "payer/login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
}

async fn login_form() -> Response {
    page(&LoginPage {
        layout: layout("ログイン", None),
        error: None,
    })
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(app): State<PayerApp>, Form(f): Form<LoginForm>) -> Response {
    let p = match app
        .service
        .store
        .principal_by_token_hash(&token_hash(f.token.trim()))
    {
        Ok(Some(p)) => p,
        Ok(None) => {
            return page_with(
                StatusCode::UNAUTHORIZED,
                &LoginPage {
                    layout: layout("ログイン", None),
                    error: Some("トークンが正しくありません".into()),
                },
            );
        }
        Err(e) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                layout("エラー", None),
                e.to_string(),
            );
        }
    };
    let (Ok(sid), Ok(csrf)) = (new_token(), new_token()) else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            layout("エラー", None),
            "乱数を得られません",
        );
    };
    let to = if p.role == Role::Insurer {
        "/insurer/"
    } else {
        "/payer/"
    };
    if let Ok(mut m) = app.sessions.0.lock() {
        m.insert(sid_hash(&sid), Session { principal: p, csrf });
    }
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/"),
        )],
        Redirect::to(to),
    )
        .into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(State(app): State<PayerApp>, h: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    if let (Some(sid), Some((_, csrf))) = (cookie_sid(&h), app.sessions.get(&h))
        && csrf == f.csrf
        && let Ok(mut m) = app.sessions.0.lock()
    {
        m.remove(&sid_hash(&sid));
    }
    (
        [(header::SET_COOKIE, format!("{COOKIE}=; Max-Age=0; Path=/"))],
        Redirect::to("/payer/login"),
    )
        .into_response()
}

/// The signed-in principal of the request, or the response to send instead.
#[allow(clippy::result_large_err)]
fn signed_in(
    app: &PayerApp,
    h: &HeaderMap,
    roles: &[Role],
) -> Result<(Principal, String), Response> {
    let Some((p, csrf)) = app.sessions.get(h) else {
        return Err(Redirect::to("/payer/login").into_response());
    };
    if !roles.contains(&p.role) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            layout("権限がありません", Some((&p, &csrf))),
            "この画面は表示できません",
        ));
    }
    Ok((p, csrf))
}

#[derive(Template)]
#[template(path = "payer/home.html")]
struct HomePage {
    layout: Layout,
    payer_name: &'static str,
    staff: bool,
    open_worklist: usize,
    notice: Option<String>,
    submissions: Vec<crate::store::SubmissionRow>,
}

async fn home(State(app): State<PayerApp>, h: HeaderMap) -> Response {
    let (p, csrf) = match signed_in(&app, &h, &[Role::Staff, Role::Facility]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    home_with(&app, &p, &csrf, None)
}

fn home_with(app: &PayerApp, p: &Principal, csrf: &str, notice: Option<String>) -> Response {
    let l = layout("受付ファイル", Some((p, csrf))).current("files");
    let facility = (p.role == Role::Facility).then_some(p.subject.as_str());
    let subs = app.service.store.list_submissions(p.payer, facility);
    let open = if p.role == Role::Staff {
        app.service.store.worklist(p.payer, true).map(|w| w.len())
    } else {
        Ok(0)
    };
    match (subs, open) {
        (Ok(submissions), Ok(open_worklist)) => page(&HomePage {
            layout: l,
            payer_name: p.payer.label(),
            staff: p.role == Role::Staff,
            open_worklist,
            notice,
            submissions,
        }),
        (Err(e), _) | (_, Err(e)) => {
            error_page(StatusCode::INTERNAL_SERVER_ERROR, l, e.to_string())
        }
    }
}

struct ClaimRow {
    receipt_number: u32,
    service_month: String,
    name: String,
    claimed: String,
    kubun: String,
    status: &'static str,
    bill_to: String,
    points: u64,
    reason: String,
}

#[derive(Template)]
#[template(path = "payer/submission.html")]
struct SubmissionPage {
    layout: Layout,
    id: i64,
    facility: String,
    billing_month: String,
    claims: Vec<ClaimRow>,
}

async fn submission(State(app): State<PayerApp>, h: HeaderMap, Path(id): Path<i64>) -> Response {
    let (p, csrf) = match signed_in(&app, &h, &[Role::Staff, Role::Facility]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let l = layout("請求ファイル", Some((&p, &csrf))).current("files");
    let s = match app.service.store.submission(p.payer, id) {
        Ok(Some(s)) if p.role == Role::Staff || s.facility == p.subject => s,
        Ok(_) => return error_page(StatusCode::NOT_FOUND, l, "そのファイルはありません"),
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, l, e.to_string()),
    };
    let claims = match app.service.store.claims_of_submission(p.payer, id) {
        Ok(c) => c,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, l, e.to_string()),
    };
    let claims = claims
        .into_iter()
        .map(|c| {
            let r = c.reviewed;
            ClaimRow {
                receipt_number: r.claim.receipt_number,
                service_month: r.claim.service_month.to_string(),
                name: r.claim.name.clone(),
                claimed: r.claim.numbers.insurer_raw.trim().to_string(),
                kubun: format!("{} {}", r.kubun.code(), r.kubun.label()),
                status: r.status.label(),
                bill_to: r
                    .parts
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {}・{}",
                            p.bill_to.insurer_number, p.bill_to.symbol, p.bill_to.number
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" / "),
                points: r.claim.points,
                reason: r.reason,
            }
        })
        .collect();
    page(&SubmissionPage {
        layout: l,
        id,
        facility: s.facility,
        billing_month: s.billing_month.to_string(),
        claims,
    })
}

struct CandidateRow {
    person_id: i64,
    name: String,
    address: String,
    employer: String,
    insurers: String,
    matched: String,
}

struct ItemRow {
    claim_id: i64,
    receipt_number: u32,
    facility: String,
    service_month: String,
    name: String,
    kana_name: String,
    birthdate: String,
    sex: &'static str,
    tekiyou: Vec<String>,
    candidates: Vec<CandidateRow>,
}

#[derive(Template)]
#[template(path = "payer/worklist.html")]
struct WorklistPage {
    layout: Layout,
    notice: Option<String>,
    items: Vec<ItemRow>,
}

fn worklist_page(app: &PayerApp, p: &Principal, csrf: &str, notice: Option<String>) -> Response {
    let l = layout("保険者の特定", Some((p, csrf))).current("worklist");
    let items = match app.service.store.worklist(p.payer, true) {
        Ok(i) => i,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, l, e.to_string()),
    };
    let items = items
        .into_iter()
        .map(|it| {
            let c = &it.claim.reviewed.claim;
            ItemRow {
                claim_id: it.claim.id,
                receipt_number: c.receipt_number,
                facility: it.claim.facility.clone(),
                service_month: c.service_month.to_string(),
                name: c.name.clone(),
                kana_name: c.kana_name.clone(),
                birthdate: c.birthdate.to_string(),
                sex: c.sex.label(),
                tekiyou: c.tekiyou.clone(),
                candidates: it
                    .candidates
                    .iter()
                    .map(|e| CandidateRow {
                        person_id: e.person_id,
                        name: e.registered_name.clone(),
                        address: e.registered_address.clone().unwrap_or_default(),
                        employer: e.registered_employer.clone().unwrap_or_default(),
                        insurers: e
                            .parts
                            .iter()
                            .map(|p| p.bill_to.insurer_number.to_string())
                            .collect::<Vec<_>>()
                            .join(" / "),
                        matched: e
                            .matched
                            .iter()
                            .map(|m| matched_label(m))
                            .collect::<Vec<_>>()
                            .join("・"),
                    })
                    .collect(),
            }
        })
        .collect();
    page(&WorklistPage {
        layout: l,
        notice,
        items,
    })
}

async fn worklist(State(app): State<PayerApp>, h: HeaderMap) -> Response {
    match signed_in(&app, &h, &[Role::Staff]) {
        Ok((p, csrf)) => worklist_page(&app, &p, &csrf, None),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct DecideForm {
    csrf: String,
    person_id: String,
}

async fn decide(
    State(app): State<PayerApp>,
    h: HeaderMap,
    Path(claim_id): Path<i64>,
    Form(f): Form<DecideForm>,
) -> Response {
    let (p, csrf) = match signed_in(&app, &h, &[Role::Staff]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if f.csrf != csrf {
        return error_page(
            StatusCode::FORBIDDEN,
            layout("エラー", Some((&p, &csrf))),
            "フォームが古くなっています（CSRF）",
        );
    }
    let person = match f.person_id.trim() {
        "" => None,
        s => match s.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    layout("エラー", Some((&p, &csrf))),
                    "候補者の番号が正しくありません",
                );
            }
        },
    };
    match app
        .service
        .decide(p.payer, claim_id, person, &p.subject, &now())
    {
        Ok(c) => {
            let m = match person {
                Some(_) => format!(
                    "レセプト番号 {} の請求先を決定しました",
                    c.reviewed.claim.receipt_number
                ),
                None => format!(
                    "レセプト番号 {} を按分の対象にしました",
                    c.reviewed.claim.receipt_number
                ),
            };
            worklist_page(&app, &p, &csrf, Some(m))
        }
        Err(e) => error_page(
            StatusCode::CONFLICT,
            layout("エラー", Some((&p, &csrf))),
            e.to_string(),
        ),
    }
}

#[derive(Deserialize)]
struct SettleForm {
    csrf: String,
    billing_month: String,
}

async fn settle(State(app): State<PayerApp>, h: HeaderMap, Form(f): Form<SettleForm>) -> Response {
    let (p, csrf) = match signed_in(&app, &h, &[Role::Staff]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let l = layout("支払確定", Some((&p, &csrf)));
    if f.csrf != csrf {
        return error_page(
            StatusCode::FORBIDDEN,
            l,
            "フォームが古くなっています（CSRF）",
        );
    }
    let Some(m) = crate::model::YearMonth::parse(&f.billing_month) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            l,
            "請求年月は YYYYMM で入力してください",
        );
    };
    // as the API: settled, then each statement POSTed to its facility's hook (R27 there)
    match app
        .service
        .settle_month_and_notify(&app.hooks, p.payer, m, &now())
        .await
    {
        Ok(out) => {
            let files = out.statements.len();
            let mut msg = format!("{files} 件の請求ファイルの支払を確定しました");
            for h in &out.hooks {
                msg.push_str(&format!("。{} へ支払通知: {}", h.facility, h.hook));
            }
            for rf in &out.refused {
                msg.push_str(&format!("。{} は未確定: {}", rf.facility, rf.reason));
            }
            home_with(&app, &p, &csrf, Some(msg))
        }
        Err(e) => error_page(StatusCode::CONFLICT, l, e.to_string()),
    }
}

struct InsurerClaimRow {
    facility: String,
    service_month: String,
    name: String,
    numbers: String,
    kubun: String,
    days: String,
    points: u64,
    amount: String,
    reason: String,
}

struct ShareRow {
    facility: String,
    billing_month: String,
    service_month: String,
    /// the reference period of the payments weighed
    period: String,
    /// the pooled claims' レセプト番号
    receipts: String,
    pool: String,
    paid: String,
    total: String,
    extra: String,
    share: String,
}

/// Yen with thousands separators (`-1,230`).
fn yen(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0 { format!("-{out}") } else { out }
}

/// What identification matched, in words (identify.rs's codes).
fn matched_label(m: &str) -> String {
    match m {
        "kana_name" => "カナ氏名".into(),
        "birthdate" => "生年月日".into(),
        "sex" => "性別".into(),
        "qualification_covers_days" => "診療日に資格あり".into(),
        "address" => "住所".into(),
        "employer" => "事業所名".into(),
        "phone" => "電話番号".into(),
        other => match other.strip_prefix("staff:") {
            Some(by) => format!("職員判断（{by}）"),
            None => other.to_string(),
        },
    }
}

struct R11Row {
    facility: String,
    service_month: String,
    name: String,
    age: i64,
    share: String,
    charged: String,
    due: String,
    diff: String,
    action: &'static str,
}

#[derive(Template)]
#[template(path = "payer/insurer.html")]
struct InsurerPage {
    layout: Layout,
    insurer: String,
    claims: Vec<InsurerClaimRow>,
    shares: Vec<ShareRow>,
    r11: Vec<R11Row>,
    notices: Vec<String>,
}

async fn insurer(State(app): State<PayerApp>, h: HeaderMap) -> Response {
    let (p, csrf) = match signed_in(&app, &h, &[Role::Insurer]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let l = layout("請求と按分", Some((&p, &csrf))).current("insurer");
    let svc = &app.service;
    let today = chrono::Utc::now().date_naive();
    let (claims, shares, r11, notices) = match (
        svc.store.claims_for_insurer(p.payer, &p.subject),
        svc.store.shares_for_insurer(p.payer, &p.subject),
        svc.r11_list(p.payer, &p.subject),
        svc.r23_notices(&p.subject, today),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        _ => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                l,
                "読み込みに失敗しました",
            );
        }
    };
    let claims = claims
        .into_iter()
        .filter(|c| {
            c.reviewed.kubun != crate::model::KakuninKubun::Unchanged || c.reviewed.identified
        })
        .flat_map(|c| {
            let r = c.reviewed;
            let facility = c.facility;
            r.parts
                .iter()
                .filter(|pt| pt.bill_to.insurer_number.as_str() == p.subject)
                .map(|pt| InsurerClaimRow {
                    facility: facility.clone(),
                    service_month: r.claim.service_month.to_string(),
                    name: r.claim.name.clone(),
                    numbers: format!(
                        "{}・{}・{}",
                        pt.bill_to.symbol, pt.bill_to.number, pt.bill_to.branch
                    ),
                    kubun: format!("{} {}", r.kubun.code(), r.kubun.label()),
                    days: pt
                        .days
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    points: pt.points,
                    amount: yen(pt.amount_yen() as i64),
                    reason: r.reason.clone(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let shares = shares
        .into_iter()
        .map(|s| ShareRow {
            facility: s.facility,
            billing_month: s.billing_month.to_string(),
            service_month: s.service_month.to_string(),
            period: format!(
                "{}〜{}",
                s.inputs["reference_period"]["from"]
                    .as_str()
                    .unwrap_or_default(),
                s.inputs["reference_period"]["to"]
                    .as_str()
                    .unwrap_or_default()
            ),
            receipts: s.inputs["receipt_numbers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            pool: yen(s.share.pool_yen as i64),
            paid: yen(s.share.paid_yen as i64),
            total: yen(s.share.total_paid_yen as i64),
            extra: yen(s.share.extra_yen as i64),
            share: yen(s.share.share_yen as i64),
        })
        .collect();
    let r11 = r11
        .iter()
        .map(|e| R11Row {
            facility: e["facility"].as_str().unwrap_or_default().to_string(),
            service_month: e["service_month"].as_str().unwrap_or_default().to_string(),
            name: e["name"].as_str().unwrap_or_default().to_string(),
            age: e["age"].as_i64().unwrap_or_default(),
            share: format!("{}割", e["share_percent"].as_i64().unwrap_or_default() / 10),
            charged: yen(e["charged_yen"].as_i64().unwrap_or_default()),
            due: yen(e["due_yen"].as_i64().unwrap_or_default()),
            diff: yen(e["difference_yen"].as_i64().unwrap_or_default()),
            action: if e["action"] == "collect" {
                "患者から徴収"
            } else {
                "患者へ返金"
            },
        })
        .collect();
    let notices = notices
        .iter()
        .map(|n| {
            format!(
                "{}（{}・{}）{}: {}［措置の期間: {} から {}］",
                n["member"]["name"].as_str().unwrap_or_default(),
                n["member"]["symbol"].as_str().unwrap_or_default(),
                n["member"]["number"].as_str().unwrap_or_default(),
                n["reason"].as_str().unwrap_or_default(),
                n["text"].as_str().unwrap_or_default(),
                n["measure"]["in_force_from"].as_str().unwrap_or_default(),
                n["measure"]["in_force_until"]
                    .as_str()
                    .unwrap_or("終了日は未定（当分の間）"),
            )
        })
        .collect();
    page(&InsurerPage {
        layout: l,
        insurer: p.subject.clone(),
        claims,
        shares,
        r11,
        notices,
    })
}

pub fn routes() -> axum::Router<PayerApp> {
    axum::Router::new()
        .route("/payer/login", get(login_form).post(login))
        .route("/payer/logout", post(logout))
        .route("/payer/", get(home))
        .route("/payer/submissions/{id}", get(submission))
        .route("/payer/worklist", get(worklist))
        .route("/payer/worklist/{claim_id}", post(decide))
        .route("/payer/settle", post(settle))
        .route("/insurer/", get(insurer))
}
