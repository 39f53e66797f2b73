//! 障害時モード: the facility's side of the system-outage procedure (R13), taken at the desk by
//! the signed-in staff member — the desk calls the central through the terminal with the
//! facility's own credentials, which no clerk types or sees:
//!
//! - `GET  /desk/outage` — whether the outage-mode search is allowed now (and until when), the
//!   facility's requests with the steps taken so far (call-back, form, enabling, report), the
//!   facility's own search audit;
//! - `POST /desk/outage/request` — 1. 利用申請 (医療機関・薬局名, 担当者名 = the signed-in staff
//!   member, 利用希望の理由);
//! - `POST /desk/outage/{id}/cancel` — withdraw a request before it is enabled;
//! - `POST /desk/outage/{id}/report` — 4. 利用報告書 once the mode was used (報告者 = the
//!   signed-in staff member).
//!
//! The search itself is made per visit on the 事後確認 screens (`worklist`). When the central
//! cannot be reached, the screen says to phone the call centre, as the procedure's first step
//! is a call anyway.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use onshi_central::outage::{AuditView, FacilityStatus, REPORT_TITLE, ReportInput, RequestInput};
use onshi_terminal::ClientError;
use onshi_terminal::client::{OutageAnswer, OutageStep};
use onshi_ui::Layout;

use super::{Params, Screen, opt, p, redirect_with};
use crate::Desk;

pub fn routes() -> Router<Desk> {
    Router::new()
        .route("/desk/outage", get(page))
        .route("/desk/outage/request", post(request))
        .route("/desk/outage/{id}/cancel", post(cancel))
        .route("/desk/outage/{id}/report", post(report))
}

#[derive(Template)]
#[template(path = "desk/outage.html")]
struct OutagePage {
    layout: Layout,
    message: Option<String>,
    error: Option<String>,
    /// `None` when the central could not be reached.
    status: Option<FacilityStatus>,
    has_open: bool,
    audit: Vec<AuditView>,
    facility_name: String,
    staff_name: String,
    report_title: &'static str,
}

/// What the clerk reads when the central refused or did not answer.
fn central_error(e: &ClientError) -> String {
    match e {
        ClientError::Unreachable(_) => {
            "オンライン資格確認等システム（中央）に接続できません。コールセンターへ電話で利用申請してください。".into()
        }
        ClientError::Refused { status, message } => {
            format!("中央が受け付けませんでした（HTTP {status}）：{message}")
        }
    }
}

/// Who is at the desk, as the procedure records a person: 「受付 一郎（S01）」.
fn staff_label(sc: &Screen) -> String {
    match (&sc.staff_name, &sc.staff) {
        (Some(n), Some(id)) => format!("{n}（{id}）"),
        (None, Some(id)) => id.clone(),
        _ => String::new(),
    }
}

async fn render(sc: &Screen, message: Option<String>, error: Option<String>) -> Response {
    let d = &sc.desk;
    let (status, mut error) = match d.terminal.outage_step(&OutageStep::Status).await {
        Ok(OutageAnswer::Status(s)) => (Some(s), error),
        Ok(_) => (None, Some("中央の応答が想定と違います".into())),
        Err(e) => (None, error.or_else(|| Some(central_error(&e)))),
    };
    let audit = match status {
        Some(_) => match d
            .terminal
            .outage_step(&OutageStep::Audit { limit: 50 })
            .await
        {
            Ok(OutageAnswer::Audit(a)) => a,
            Ok(_) => Vec::new(),
            Err(e) => {
                error.get_or_insert_with(|| central_error(&e));
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let has_open = status
        .as_ref()
        .is_some_and(|s| s.requests.iter().any(|r| r.request.state.is_open()));
    let facility_name = d
        .claims
        .settings()
        .map(|s| s.facility_name)
        .unwrap_or_default();
    onshi_ui::page(&OutagePage {
        layout: sc.layout("障害時モード", "outage"),
        message,
        error,
        status,
        has_open,
        audit,
        facility_name,
        staff_name: staff_label(sc),
        report_title: REPORT_TITLE,
    })
}

async fn page(sc: Screen, Query(q): Query<Params>) -> Response {
    render(&sc, opt(&q, "msg"), None).await
}

/// Runs one step; on success back to the screen with `done`, else the screen with the
/// central's reason (nothing is recorded by the desk itself: the central keeps the procedure).
async fn step(sc: &Screen, s: OutageStep, done: &str) -> Response {
    match sc.desk.terminal.outage_step(&s).await {
        Ok(_) => redirect_with("/desk/outage", Some(done)),
        Err(e) => render(sc, None, Some(central_error(&e))).await,
    }
}

async fn request(sc: Screen, Form(f): Form<Params>) -> Response {
    let staff = staff_label(&sc);
    let input = RequestInput {
        facility_code: None,
        facility_name: opt(&f, "facility_name"),
        contact_person: Some(staff).filter(|s| !s.is_empty()),
        reason: opt(&f, "reason"),
        staff_id: sc.staff.clone(),
    };
    step(
        &sc,
        OutageStep::Request(input),
        "利用申請を受け付けました。コールセンターから届出の電話番号へ折り返しがあります。",
    )
    .await
}

async fn cancel(sc: Screen, Path(id): Path<i64>) -> Response {
    let s = OutageStep::Cancel {
        id,
        staff_id: sc.staff.clone(),
    };
    step(&sc, s, "利用申請を取り消しました。").await
}

async fn report(sc: Screen, Path(id): Path<i64>, Form(f): Form<Params>) -> Response {
    let patients = match p(&f, "patients") {
        "" => None,
        n => match n.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                let m = "利用した患者数：0以上の整数で入力してください（patients）";
                return render(&sc, None, Some(m.into())).await;
            }
        },
    };
    let input = ReportInput {
        title: Some(REPORT_TITLE.to_string()),
        reporter: Some(staff_label(&sc)).filter(|s| !s.is_empty()),
        outage: opt(&f, "outage"),
        patients,
        notes: opt(&f, "notes"),
    };
    step(
        &sc,
        OutageStep::Report { id, input },
        "利用報告書を提出しました。",
    )
    .await
}
