//! 事後確認: the worklist of visits recorded while the central was unreachable (R12, R17).
//!
//! A visit lands here when the desk recorded an equipment failure with the OQS not reachable,
//! or when a card or numbers confirmation failed as unreachable. Once the facility is enabled
//! for the outage mode (or the central is back), staff resolve each visit:
//!
//! - by the outage-mode search (資格情報照会（システム障害時）, R14): the central's search and,
//!   with several hits, the choice — through the terminal's `CentralClient`;
//! - by card: the reader path again, now that the central answers.
//!
//! The visit's situation then carries the confirmed qualification, its claim is recomputed by
//! the engine, and the source is recorded (`outage_search` with the central's audit id, or
//! `card`). A refusal of the central (not enabled, window closed, a missing field) is shown to
//! the clerk with the central's reason, and the visit stays unconfirmed.
//!
//! - `GET  /desk/unconfirmed` — the worklist
//! - `GET  /desk/unconfirmed/{id}` — one visit: the search form, the card form
//! - `POST /desk/unconfirmed/{id}/search` — search (one hit resolves; several → the list)
//! - `POST /desk/unconfirmed/{id}/select` — choose a candidate (`search_id`, `candidate`)
//! - `POST /desk/unconfirmed/{id}/card` — confirm by card at the reader
//! - `GET  /desk/visits/{id}/claim.json` — the claim and how it was confirmed

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use onshi_central::outage::{QualificationView, SearchInput, SearchResponse};
use onshi_domain::desk::{
    Claim, ConfirmationSource, OutageMode, OutageSearch, OutageStatus, QualificationSeen, assess,
};

use crate::claims::web::ApiPath;
use onshi_domain::numbers::{BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber};
use onshi_terminal::ClientError;

use onshi_ui::Layout;

use super::reader::reader;
use super::{
    Params, Screen, basis_label, internal, not_found, opt, p, percent_label, redirect_with,
};
use crate::Desk;
use crate::visits::{AfterFact, Visit};

pub fn routes() -> Router<Desk> {
    Router::new()
        .route("/desk/unconfirmed", get(worklist))
        .route("/desk/unconfirmed/{id}", get(one))
        .route("/desk/unconfirmed/{id}/search", post(search))
        .route("/desk/unconfirmed/{id}/select", post(select))
        .route("/desk/unconfirmed/{id}/card", post(card))
        .route("/desk/visits/{id}/claim.json", get(claim_json))
}

fn source_label(s: &str) -> &'static str {
    match s {
        "outage_search" => "システム障害時モードの検索",
        "card" => "マイナ保険証でのオンライン資格確認",
        _ => "—",
    }
}

/// What the clerk reads when the central did not do what was asked.
fn central_error(e: &ClientError) -> (StatusCode, String) {
    match e {
        ClientError::Unreachable(_) => (
            StatusCode::BAD_GATEWAY,
            "オンライン資格確認等システム（中央）にまだ接続できません。時間をおいて、またはシステム障害時モードの利用設定後にやり直してください。".into(),
        ),
        ClientError::Refused { status, message } => (
            StatusCode::FORBIDDEN,
            format!("中央が照会を受け付けませんでした（HTTP {status}）：{message}"),
        ),
    }
}

/// Whether a visit still waits for its 事後確認: not resolved here, and not confirmed at the
/// time by another source that confirms the current qualification (a document, an outage-mode
/// result recorded by hand, R9, R17).
fn still_open(a: &AfterFact, v: &Visit) -> bool {
    a.resolved_at.is_none()
        && !assess(&v.situation).is_ok_and(|d| d.confirmation.source.confirms_current())
}

/// The worklist's visits, oldest first.
pub(crate) fn open_items(d: &Desk) -> Result<Vec<(AfterFact, Visit)>, crate::VisitError> {
    let mut out = Vec::new();
    for a in d.visits.unconfirmed(500)? {
        let v = d.visits.get(a.visit_id)?;
        if still_open(&a, &v) {
            out.push((a, v));
        }
    }
    Ok(out)
}

pub(crate) struct Item {
    pub id: i64,
    pub service_date: String,
    pub name: String,
    pub cause: String,
    pub share: String,
}

#[derive(Template)]
#[template(path = "desk/worklist.html")]
struct Worklist {
    layout: Layout,
    message: Option<String>,
    items: Vec<Item>,
}

async fn worklist(sc: Screen, Query(q): Query<Params>) -> Response {
    let list = match open_items(&sc.desk) {
        Ok(l) => l,
        Err(e) => return internal(&sc.desk, e),
    };
    let items = list
        .iter()
        .map(|(a, v)| Item {
            id: v.id,
            service_date: v.service_date.to_string(),
            name: v
                .patient_label
                .clone()
                .unwrap_or_else(|| "（氏名未確認）".into()),
            cause: a.cause.clone(),
            share: v
                .charged_percent
                .map(percent_label)
                .unwrap_or_else(|| "未会計".into()),
        })
        .collect();
    onshi_ui::page(&Worklist {
        layout: sc.layout("事後確認 — onshi", "unconfirmed"),
        message: q.get("msg").cloned(),
        items,
    })
}

/// Where a visit stands on the worklist.
pub(crate) enum AfterState {
    Nothing,
    /// The cause the central could not be reached.
    Open(String),
    /// Source code, its label, the central's audit id, when.
    Resolved(String, &'static str, Option<i64>, String),
}

/// What the page shows above the forms.
pub(crate) enum Extra {
    Nothing,
    Error(String),
    Message(String),
    Candidates(Box<SearchResponse>),
}

#[derive(Template)]
#[template(path = "desk/unconfirmed.html")]
struct Unconfirmed {
    layout: Layout,
    id: i64,
    who: String,
    service_date: String,
    state: AfterState,
    extra: Extra,
    birth: String,
    staff: String,
    card_form: bool,
}

/// The page of one unconfirmed visit, with an error, a message or a hit list.
fn render(
    sc: &Screen,
    v: &Visit,
    a: Option<&AfterFact>,
    extra: Extra,
    status: StatusCode,
) -> Response {
    let state = match a {
        None => AfterState::Nothing,
        Some(a) => match &a.resolved_at {
            Some(at) => {
                let src = a.source.clone().unwrap_or_default();
                let label = source_label(&src);
                AfterState::Resolved(src, label, a.audit_id, at.clone())
            }
            None => AfterState::Open(a.cause.clone()),
        },
    };
    let page = Unconfirmed {
        layout: sc.layout(format!("事後確認 受付 {} — onshi", v.id), "unconfirmed"),
        id: v.id,
        who: v
            .patient_label
            .clone()
            .unwrap_or_else(|| "（氏名未確認）".into()),
        service_date: v.service_date.to_string(),
        state,
        extra,
        birth: v
            .situation
            .birth_date
            .or(v.birth_date)
            .map(|b| b.to_string())
            .unwrap_or_default(),
        staff: sc.staff().to_string(),
        card_form: v.card_serial.is_some() && v.situation.my_number_card.shown().is_some(),
    };
    onshi_ui::page_with(status, &page)
}

fn load(d: &Desk, id: i64) -> Result<(Visit, Option<AfterFact>), Box<Response>> {
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(crate::VisitError::NotFound(_)) => return Err(Box::new(not_found(d))),
        Err(e) => return Err(Box::new(internal(d, e))),
    };
    let a = d
        .visits
        .after_fact(id)
        .map_err(|e| Box::new(internal(d, e)))?;
    Ok((v, a))
}

async fn one(sc: Screen, Path(id): Path<i64>, Query(q): Query<Params>) -> Response {
    let extra = match q.get("msg") {
        Some(m) => Extra::Message(m.clone()),
        None => Extra::Nothing,
    };
    match load(&sc.desk, id) {
        Ok((v, a)) => render(&sc, &v, a.as_ref(), extra, StatusCode::OK),
        Err(r) => *r,
    }
}

/// The numbers of the qualification the search or choice showed: the valid one on the
/// 資格確認日 (not a lost one).
fn seen_of(q: &QualificationView, insurer_name: Option<&str>) -> Option<(QualificationSeen, i64)> {
    let shown = q.qualifications.iter().find(|s| !s.lost)?;
    let c = &shown.claim;
    let seen = QualificationSeen {
        insurer_number: InsurerNumber::parse(&c.insurer_number).ok()?,
        insurer_name: insurer_name.map(str::to_string),
        symbol: InsuredSymbol::parse(&c.insured_card_symbol).ok()?,
        number: InsuredNumber::parse(&c.insured_identification_number).ok()?,
        branch: BranchNumber::parse(&c.insured_branch_number).ok(),
        share_percent: None,
    };
    Some((seen, c.audit_id))
}

/// Records the qualification found afterwards on the visit and resolves it.
fn resolve_found(
    d: &Desk,
    v: &Visit,
    q: &QualificationView,
    name: Option<&str>,
    insurer_name: Option<&str>,
    birth: Option<chrono::NaiveDate>,
    staff: Option<&str>,
) -> Result<String, String> {
    let (seen, audit_id) = seen_of(q, insurer_name).ok_or_else(|| {
        format!(
            "資格確認日に有効な資格がありません（{}）。",
            q.qualification_validity_label
        )
    })?;
    let mut s = v.situation.clone();
    s.outage_mode = Some(OutageMode {
        status: OutageStatus::Active,
        search: Some(OutageSearch::Found {
            qualification: seen,
        }),
    });
    if s.birth_date.is_none() {
        s.birth_date = birth;
    }
    let decision = assess(&s).map_err(|e| super::refusal(&e))?;
    let what = format!("事後確認：システム障害時モードの検索で資格を確認（照会記録 {audit_id}）");
    d.visits
        .update(v.id, &s, staff, &what, &decision)
        .map_err(|e| e.to_string())?;
    if v.charged_at.is_some() {
        d.visits
            .update_claim(v.id, &decision)
            .map_err(|e| e.to_string())?;
    }
    d.visits
        .set_patient(v.id, name, birth)
        .map_err(|e| e.to_string())?;
    d.visits
        .resolve(v.id, "outage_search", Some(audit_id), staff)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "受付 {} の資格を確認しました（システム障害時モード・照会記録 {audit_id}）。",
        v.id
    ))
}

fn done(id: i64, msg: &str) -> Response {
    redirect_with(&format!("/desk/unconfirmed/{id}"), Some(msg))
}

async fn search(sc: Screen, Path(id): Path<i64>, Form(params): Form<Params>) -> Response {
    let d = &sc.desk;
    let (v, a) = match load(d, id) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let staff = sc.staff.clone();
    let input = SearchInput {
        staff_id: staff.clone(),
        birthdate: opt(&params, "birthdate"),
        sex: opt(&params, "sex"),
        confirmation_date: opt(&params, "confirmation_date")
            .or_else(|| Some(v.service_date.to_string())),
        name: opt(&params, "name"),
        name_kana: opt(&params, "name_kana"),
        address: opt(&params, "address"),
        insurer_name: opt(&params, "insurer_name"),
    };
    let r = match d.terminal.outage_search(&input).await {
        Ok(r) => r,
        Err(e) => {
            let (status, m) = central_error(&e);
            return render(&sc, &v, a.as_ref(), Extra::Error(m.to_string()), status);
        }
    };
    match (&r.qualification, r.candidates.len()) {
        (Some(q), _) => {
            let c = r.candidates.first();
            let birth = c.map(|c| c.birthdate);
            match resolve_found(
                d,
                &v,
                q,
                c.map(|c| c.name.as_str()),
                c.and_then(|c| c.insurer_name.as_deref()),
                birth,
                staff.as_deref(),
            ) {
                Ok(m) => done(id, &m),
                Err(e) => render(
                    &sc,
                    &v,
                    a.as_ref(),
                    Extra::Error(e.to_string()),
                    StatusCode::OK,
                ),
            }
        }
        (None, n) if n > 1 => render(
            &sc,
            &v,
            a.as_ref(),
            Extra::Candidates(Box::new(r.clone())),
            StatusCode::OK,
        ),
        _ => render(
            &sc,
            &v,
            a.as_ref(),
            Extra::Message(format!("{}（受付は未確認のままです）", r.message)),
            StatusCode::OK,
        ),
    }
}

async fn select(sc: Screen, Path(id): Path<i64>, Form(params): Form<Params>) -> Response {
    let d = &sc.desk;
    let (v, a) = match load(d, id) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let staff = sc.staff.clone();
    let (Ok(search_id), Ok(candidate)) = (
        p(&params, "search_id").parse::<i64>(),
        p(&params, "candidate").parse::<u32>(),
    ) else {
        return render(
            &sc,
            &v,
            a.as_ref(),
            Extra::Error("該当者を選んでください".into()),
            StatusCode::BAD_REQUEST,
        );
    };
    let r = match d
        .terminal
        .outage_select(search_id, candidate, staff.as_deref())
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let (status, m) = central_error(&e);
            return render(&sc, &v, a.as_ref(), Extra::Error(m.to_string()), status);
        }
    };
    match resolve_found(
        d,
        &v,
        &r.qualification,
        Some(&r.candidate.name),
        r.candidate.insurer_name.as_deref(),
        Some(r.candidate.birthdate),
        staff.as_deref(),
    ) {
        Ok(m) => done(id, &m),
        Err(e) => render(
            &sc,
            &v,
            a.as_ref(),
            Extra::Error(e.to_string()),
            StatusCode::OK,
        ),
    }
}

async fn card(sc: Screen, Path(id): Path<i64>, Form(params): Form<Params>) -> Response {
    let d = &sc.desk;
    let (v, a) = match load(d, id) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if a.as_ref().is_some_and(|a| a.resolved_at.is_some()) {
        return render(
            &sc,
            &v,
            a.as_ref(),
            Extra::Error("この受付は確認済みです".into()),
            StatusCode::CONFLICT,
        );
    }
    let staff = sc.staff.clone();
    let mut s = v.situation.clone();
    // the central is back: the failure that stopped the card confirmation is over
    if s.equipment_failure.is_some_and(|f| !f.oqs_reachable()) {
        s.equipment_failure = None;
    }
    if let Err(e) = reader(d, &v, s, &params, staff.as_deref()).await {
        return render(
            &sc,
            &v,
            a.as_ref(),
            Extra::Error(e.to_string()),
            StatusCode::BAD_REQUEST,
        );
    }
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(e) => return internal(d, e),
    };
    if v.situation.online.is_none() {
        let m = if v.situation.equipment_failure.is_some() {
            "オンライン資格確認等システム（中央）にまだ接続できません。受付は未確認のままです。"
        } else {
            "カードでの資格確認ができませんでした。受付は未確認のままです。"
        };
        return render(
            &sc,
            &v,
            a.as_ref(),
            Extra::Error(m.to_string()),
            StatusCode::BAD_GATEWAY,
        );
    }
    if let Ok(decision) = assess(&v.situation)
        && v.charged_at.is_some()
        && let Err(e) = d.visits.update_claim(v.id, &decision)
    {
        return internal(d, e);
    }
    if let Err(e) = d.visits.resolve(id, "card", None, staff.as_deref()) {
        return internal(d, e);
    }
    done(
        id,
        &format!("受付 {id} の資格をマイナ保険証で確認しました。"),
    )
}

/// The claim of a visit and how its qualification was confirmed (`claim.json`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ClaimView {
    /// The visit's id.
    pub visit: i64,
    /// The share charged at the window, in percent, once charged.
    pub charged_percent: Option<u8>,
    /// The claim basis now (the engine's on the stored situation), else the one stored when
    /// the patient paid.
    pub claim: Option<Claim>,
    /// The basis in words, for the clerk.
    pub basis_label: Option<String>,
    pub confirmation_source: ConfirmationSource,
    /// For a visit recorded while the central was unreachable: the 事後確認 record.
    pub after_fact: Option<AfterFact>,
    /// Still on the 事後確認 worklist.
    pub unconfirmed: bool,
}

/// The claim of a visit and how its qualification was confirmed (R12, R17).
#[utoipa::path(get, path = "/desk/visits/{id}/claim.json", tag = "visits",
    params(("id" = i64, Path, description = "the visit's id", example = 1)),
    security(("deskSession" = [])),
    responses((status = 200, description = "the claim and its confirmation", body = ClaimView),
        (status = 303, description = "no staff session: to the login page (`Location: /desk/login?next=…`)"),
        (status = 400, description = "a bad path parameter (`path`)", body = crate::claims::web::ErrorBody),
        (status = 404, description = "no visit with that id (`visit`)", body = crate::claims::web::ErrorBody),
        (status = 500, description = "the desk's store or the engine failed (`internal`)", body = crate::claims::web::ErrorBody)))]
async fn claim_json(sc: Screen, ApiPath(id): ApiPath<i64>) -> Response {
    let d = &sc.desk;
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(e) => return super::json_visit_error(e),
    };
    let a = match d.visits.after_fact(id) {
        Ok(a) => a,
        Err(e) => return super::json_visit_error(e),
    };
    let decision = match assess(&v.situation) {
        Ok(x) => x,
        Err(e) => return super::json_internal(e),
    };
    let claim = decision.claim.as_ref().or(v.claim.as_ref()).cloned();
    let unconfirmed = a.as_ref().is_some_and(|a| still_open(a, &v));
    Json(ClaimView {
        visit: v.id,
        charged_percent: v.charged_percent,
        basis_label: claim.as_ref().map(|c| basis_label(c.basis).to_string()),
        claim,
        confirmation_source: decision.confirmation.source,
        after_fact: a,
        unconfirmed,
    })
    .into_response()
}
