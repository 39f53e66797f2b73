//! The 請求 screen at the desk (`/desk/claims`): the month's claims as staff know the paper
//! レセプト (patient, insurer part, 摘要, days, points, the share charged), what is still open
//! before the month can be closed, a content form for visits the receipt computer has not
//! sent, the close button and the UKE files to download. Template: `desk/claims.html`.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Datelike;
use onshi_central::clock::{Clock, SystemClock};
use onshi_domain::claims::Payer;
use onshi_domain::desk::ClaimBasis;
use onshi_domain::wareki::WarekiDate;
use onshi_ui::Layout;
use serde::Deserialize;

use super::ClaimsError;
use super::build::{self, FiledClaim, Severity};
use super::content::{Diagnosis, VisitContent};
use crate::Desk;
use crate::web::Screen;

pub fn routes() -> Router<Desk> {
    Router::new()
        .route("/desk/claims", get(show))
        .route("/desk/claims/content", post(content))
        .route("/desk/claims/close", post(close))
}

/// The header of the desk's screens (who is signed in, the CSRF token of the forms), with
/// the 請求 link current.
fn layout(sc: &Screen) -> Layout {
    sc.layout("請求 — onshi 受付", "claims")
}

struct OpenRow {
    visit_id: i64,
    severity: &'static str,
    code: String,
    message: String,
    rules: Vec<String>,
}

struct Pending {
    visit_id: i64,
    label: String,
    service_date: String,
    share: String,
    patient_id: String,
    name_kana: String,
    sex: String,
}

struct Card {
    payer: &'static str,
    receipt_type: String,
    patient_id: String,
    basis: &'static str,
    basis_label: &'static str,
    rules: Vec<String>,
    name: String,
    kana: String,
    sex: &'static str,
    birth: String,
    insurer_number: String,
    symbol: String,
    number: String,
    branch: String,
    day_count: usize,
    days: String,
    points: u64,
    charged_yen: u64,
    diagnoses: String,
    comments: Vec<String>,
}

struct FileRow {
    billing_month: String,
    payer: &'static str,
    payer_code: String,
    kind: &'static str,
    kind_code: String,
    claims: u32,
    points: u64,
    href: String,
}

#[derive(Template)]
#[template(path = "desk/claims.html")]
struct ClaimsPage {
    layout: Layout,
    month: String,
    month_label: String,
    billing_label: String,
    prev_month: String,
    next_month: String,
    closed_at: Option<String>,
    open: Vec<OpenRow>,
    blocking: bool,
    pending: Vec<Pending>,
    claims: Vec<Card>,
    changed: Vec<Card>,
    files: Vec<FileRow>,
    message: Option<String>,
    error: Option<String>,
    r11: Vec<&'static str>,
}

fn month_label(m: &str) -> String {
    match build::month_range(m) {
        Some((first, _)) => WarekiDate::from_date(first)
            .map(|w| {
                let text = w.to_string();
                // 「令和8年11月1日」 → 「令和8年11月」
                text.rsplit_once('月')
                    .map(|(head, _)| format!("{head}月"))
                    .unwrap_or(text)
            })
            .unwrap_or_else(|_| format!("{}年{}月", first.year(), first.month())),
        None => m.to_string(),
    }
}

fn basis(b: ClaimBasis) -> (&'static str, &'static str) {
    match b {
        ClaimBasis::Current => ("current", "確認済みの資格"),
        ClaimBasis::Oral => ("oral", "聞き取り・口頭確認の資格"),
        ClaimBasis::Lost => ("lost", "喪失済みの資格で請求"),
        ClaimBasis::Unknown => ("unknown", "保険者番号等「不詳」"),
    }
}

fn card(c: &FiledClaim) -> Card {
    let (code, label) = basis(c.basis);
    Card {
        payer: c.payer.short_label(),
        receipt_type: c.receipt_type.clone(),
        patient_id: c.patient_id.clone(),
        basis: code,
        basis_label: label,
        rules: c.rules.clone(),
        name: c.name.clone(),
        kana: c.name_kana.clone(),
        sex: if c.sex == "2" { "女" } else { "男" },
        birth: WarekiDate::from_date(c.birth_date)
            .map(|w| w.to_string())
            .unwrap_or_else(|_| c.birth_date.to_string()),
        insurer_number: c.numbers.insurer_number.trim().to_string(),
        symbol: if c.numbers.symbol.is_empty() {
            "（なし）".to_string()
        } else {
            c.numbers.symbol.clone()
        },
        number: c.numbers.number.clone(),
        branch: c.numbers.branch.clone(),
        day_count: c.days.len(),
        days: c
            .days
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("・"),
        points: c.points,
        charged_yen: c.charged_yen,
        diagnoses: c
            .diagnoses
            .iter()
            .map(|d| d.name.clone().unwrap_or_else(|| d.code.clone()))
            .collect::<Vec<_>>()
            .join("、"),
        comments: c.comments.clone(),
    }
}

#[derive(Deserialize)]
struct MonthQuery {
    month: Option<String>,
    msg: Option<String>,
    err: Option<String>,
}

fn this_month() -> String {
    build::month_of(SystemClock.today())
}

fn page(sc: &Screen, month: &str, message: Option<String>, error: Option<String>) -> Response {
    let claims = &sc.desk.claims;
    let view = match claims.month(month) {
        Ok(v) => v,
        Err(e) => {
            let fallback = this_month();
            if month != fallback {
                return page(sc, &fallback, None, Some(e.to_string()));
            }
            return onshi_ui::page(&onshi_ui::MessagePage::error(layout(sc), e.to_string()));
        }
    };
    let mut pending = Vec::new();
    for o in view.open.iter().filter(|o| o.code == "no_content") {
        let Ok(v) = claims.visits.get(o.visit_id) else {
            continue;
        };
        let m = v.situation.moushitatesho.shown();
        pending.push(Pending {
            visit_id: v.id,
            label: v
                .patient_label
                .clone()
                .or_else(|| m.and_then(|m| m.name.clone()))
                .unwrap_or_else(|| "（氏名未確認）".into()),
            service_date: v.service_date.to_string(),
            share: match v.charged_percent {
                Some(100) => "10割".into(),
                Some(p) => format!("{}割", p / 10),
                None => "-".into(),
            },
            patient_id: format!("{:05}", v.id),
            name_kana: m.and_then(|m| m.name_kana.clone()).unwrap_or_default(),
            sex: m
                .and_then(|m| m.sex)
                .map(|s| s.code().to_string())
                .unwrap_or_default(),
        });
    }
    let open: Vec<OpenRow> = view
        .open
        .iter()
        .map(|o| OpenRow {
            visit_id: o.visit_id,
            severity: match o.severity {
                Severity::Blocking => "blocking",
                Severity::Warning => "warning",
            },
            code: o.code.clone(),
            message: o.message.clone(),
            rules: o.rules.clone(),
        })
        .collect();
    let (prev, next) = match build::month_range(month) {
        Some((first, last)) => (
            first
                .pred_opt()
                .map(build::month_of)
                .unwrap_or_else(|| month.to_string()),
            last.succ_opt()
                .map(build::month_of)
                .unwrap_or_else(|| month.to_string()),
        ),
        None => (month.to_string(), month.to_string()),
    };
    let files = view
        .files
        .iter()
        .map(|f| FileRow {
            billing_month: f.billing_month.clone(),
            payer: Payer::from_code(&f.payer)
                .map(Payer::short_label)
                .unwrap_or("?"),
            payer_code: f.payer.clone(),
            kind: if f.kind == "reclaim" {
                "再請求"
            } else {
                "請求"
            },
            kind_code: f.kind.clone(),
            claims: f.claims,
            points: f.points,
            href: format!(
                "/desk/api/claims/files/{}/{}/{}",
                f.billing_month, f.payer, f.kind
            ),
        })
        .collect();
    let blocking = view.blocking().next().is_some();
    onshi_ui::page(&ClaimsPage {
        layout: layout(sc),
        month: month.to_string(),
        month_label: month_label(month),
        billing_label: month_label(&view.billing_month),
        prev_month: prev,
        next_month: next,
        closed_at: view.closed_at.clone(),
        open,
        blocking,
        pending,
        claims: view.claims.iter().map(card).collect(),
        changed: view.changed_since_filing.iter().map(card).collect(),
        files,
        message,
        error,
        r11: vec!["R11"],
    })
}

async fn show(sc: Screen, Query(q): Query<MonthQuery>) -> Response {
    let month = q
        .month
        .filter(|m| build::month_range(m).is_some())
        .unwrap_or_else(this_month);
    page(&sc, &month, q.msg.map(message_text), q.err)
}

fn message_text(code: String) -> String {
    match code.as_str() {
        "content" => "診療内容を記録しました。".into(),
        "closed" => "締めました。請求ファイルをダウンロードできます。".into(),
        "already" => "この月は締め済みです。".into(),
        _ => String::new(),
    }
}

#[derive(Deserialize)]
struct ContentForm {
    visit_id: i64,
    month: String,
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    name_kana: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    points: String,
    #[serde(default)]
    charged_yen: String,
    #[serde(default)]
    diagnosis: String,
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn back(month: &str, key: &str, value: &str) -> Response {
    Redirect::to(&format!(
        "/desk/claims?month={}&{key}={}",
        enc(month),
        enc(value)
    ))
    .into_response()
}

async fn content(sc: Screen, Form(f): Form<ContentForm>) -> Response {
    let desk = &sc.desk;
    let number = |field: &str, label: &str, v: &str| -> Result<u32, String> {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("{label}（{field}）：0以上の整数で入力してください"))
    };
    let points = match number("points", "合計点数", &f.points) {
        Ok(p) => p,
        Err(e) => return page(&sc, &f.month, None, Some(e)),
    };
    let yen = match number("charged_yen", "一部負担金", &f.charged_yen) {
        Ok(p) => p,
        Err(e) => return page(&sc, &f.month, None, Some(e)),
    };
    let visit = match desk.visits.get(f.visit_id) {
        Ok(v) => v,
        Err(e) => return page(&sc, &f.month, None, Some(e.to_string())),
    };
    let none_if_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let content = VisitContent {
        patient_id: none_if_empty(&f.patient_id),
        name: None,
        name_kana: none_if_empty(&f.name_kana),
        sex: onshi_domain::numbers::Sex::parse(&f.sex).ok(),
        birth_date: None,
        family: None,
        points,
        charged_yen: yen,
        diagnoses: none_if_empty(&f.diagnosis)
            .map(|name| {
                vec![Diagnosis {
                    code: "0000999".into(),
                    name: Some(name),
                    start_date: visit.service_date,
                    outcome: "1".into(),
                    modifier: None,
                    main: true,
                }]
            })
            .unwrap_or_default(),
        lines: Vec::new(),
    };
    match desk.claims.record_content(f.visit_id, &content) {
        Ok(()) => back(&f.month, "msg", "content"),
        Err(e) => page(&sc, &f.month, None, Some(japanese(&e))),
    }
}

fn japanese(e: &ClaimsError) -> String {
    match e {
        ClaimsError::ChargedIsFact { recorded, .. } => format!(
            "窓口で徴収した一部負担金は受診の事実で、変更できません（記録は{recorded}円、R11）"
        ),
        ClaimsError::Blocked { count, .. } => {
            format!("締められません：要対応の項目が{count}件あります")
        }
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
struct CloseForm {
    month: String,
}

async fn close(sc: Screen, Form(f): Form<CloseForm>) -> Response {
    let desk = &sc.desk;
    match desk.claims.close(&f.month, None) {
        Ok(true) => back(&f.month, "msg", "closed"),
        Ok(false) => back(&f.month, "msg", "already"),
        Err(e) => page(&sc, &f.month, None, Some(japanese(&e))),
    }
}
