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

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use onshi_central::outage::{QualificationView, SearchInput, SearchResponse};
use onshi_domain::desk::{OutageMode, OutageSearch, OutageStatus, QualificationSeen, assess};
use onshi_domain::numbers::{BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber};
use onshi_terminal::ClientError;

use crate::Desk;
use crate::html::{esc, page};
use crate::visits::{AfterFact, Visit};
use crate::web::{
    Params, basis_label, facility_label, internal, not_found, p, percent_label, reader, staff_of,
    urlencode,
};

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

async fn worklist(State(d): State<Desk>, Query(q): Query<Params>) -> Response {
    let list = match open_items(&d) {
        Ok(l) => l,
        Err(e) => return internal(e),
    };
    let mut rows = String::new();
    for (a, v) in &list {
        rows.push_str(&format!(
            "<tr id=\"unconfirmed-{id}\"><td><a href=\"/desk/visits/{id}\">受付 {id}</a></td><td>{date}</td><td>{name}</td><td>{cause}</td><td>{share}</td><td>未確認</td><td><a class=\"button primary\" href=\"/desk/unconfirmed/{id}\">確認する</a></td></tr>",
            id = v.id,
            date = v.service_date,
            name = esc(v.patient_label.as_deref().unwrap_or("（氏名未確認）")),
            cause = esc(&a.cause),
            share = v.charged_percent.map(percent_label).unwrap_or_else(|| "未会計".into()),
        ));
    }
    let table = if rows.is_empty() {
        "<p id=\"worklist-empty\">未確認の受付はありません。</p>".to_string()
    } else {
        format!(
            "<table id=\"worklist\"><tr><th>受付</th><th>診療日</th><th>氏名</th><th>接続できなかった理由</th><th>負担</th><th>状態</th><th></th></tr>{rows}</table>"
        )
    };
    let msg = q
        .get("msg")
        .map(|m| format!("<div class=\"reminders\" id=\"message\">{}</div>", esc(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>事後確認（未確認の受付）</h1>{msg}\
         <div class=\"panel next\"><span class=\"tag\">次にすること</span>\
         <p>オンライン資格確認等システムに接続できなかったときの受付です。システム障害時モードの利用設定がされたら（または接続が戻ったら）、一件ずつ資格を確認してください。確認した資格で請求します。<span class=\"rule\">根拠 R12 R14 R17</span></p></div>\
         {table}<p><a class=\"button\" href=\"/desk/\">受付一覧へ</a></p>"
    );
    page("事後確認 — onshi", &facility_label(&d), &body).into_response()
}

/// The page of one unconfirmed visit, with an error, a message or a hit list.
fn render(d: &Desk, v: &Visit, a: Option<&AfterFact>, extra: &str, status: StatusCode) -> Response {
    let who = v.patient_label.as_deref().unwrap_or("（氏名未確認）");
    let mut b = format!(
        "<h1>事後確認 — 受付 {} {}</h1><p class=\"hint\">診療日 {}</p>",
        v.id,
        esc(who),
        v.service_date
    );
    if let Some(a) = a {
        match &a.resolved_at {
            Some(at) => b.push_str(&format!(
                "<div class=\"result ok\" id=\"resolved\" data-source=\"{}\">確認済み：{}{}（{}）</div>",
                esc(a.source.as_deref().unwrap_or("")),
                source_label(a.source.as_deref().unwrap_or("")),
                a.audit_id
                    .map(|i| format!("・照会記録 {i}"))
                    .unwrap_or_default(),
                esc(at)
            )),
            None => b.push_str(&format!(
                "<div class=\"result warn\" id=\"unconfirmed\">未確認：{}</div>",
                esc(&a.cause)
            )),
        }
    }
    b.push_str(extra);
    let birth = v
        .situation
        .birth_date
        .or(v.birth_date)
        .map(|b| b.to_string())
        .unwrap_or_default();
    b.push_str(&format!(
        "<div class=\"panel\"><h2>システム障害時モードで検索する</h2><span class=\"rule\">根拠 R12 R14</span>\
         <p>生年月日・性別・資格確認日は必須です。氏名または氏名（カナ）は完全一致で、住所または保険者名のどちらかも入力してください。</p>\
         <form method=\"post\" action=\"/desk/unconfirmed/{id}/search\">\
         <div class=\"cols\"><div class=\"field\"><span class=\"name\">生年月日</span><input type=\"date\" name=\"birthdate\" value=\"{birth}\"></div>\
         <div class=\"field\"><span class=\"name\">性別</span><select name=\"sex\"><option value=\"\">選択</option><option value=\"1\">男</option><option value=\"2\">女</option><option value=\"3\">未設定</option></select></div>\
         <div class=\"field\"><span class=\"name\">資格確認日</span><input type=\"date\" name=\"confirmation_date\" value=\"{date}\"></div></div>\
         <div class=\"cols\"><div class=\"field\"><span class=\"name\">氏名</span><input type=\"text\" name=\"name\"></div>\
         <div class=\"field\"><span class=\"name\">氏名（カナ）</span><input type=\"text\" name=\"name_kana\"></div></div>\
         <div class=\"cols\"><div class=\"field\"><span class=\"name\">住所</span><input type=\"text\" name=\"address\"></div>\
         <div class=\"field\"><span class=\"name\">保険者名</span><input type=\"text\" name=\"insurer_name\"></div></div>\
         <div class=\"field\"><span class=\"name\">検索する職員ID</span><input type=\"text\" name=\"staff_id\" placeholder=\"例 S01\"></div>\
         <button type=\"submit\" class=\"primary\" id=\"outage-search\">検索する</button></form></div>",
        id = v.id,
        date = v.service_date,
    ));
    if v.card_serial.is_some() && v.situation.my_number_card.shown().is_some() {
        b.push_str(&format!(
            "<div class=\"panel\"><h2>マイナ保険証で確認する（接続が戻ったとき）</h2><span class=\"rule\">根拠 R1 R5 R17</span>\
             <form method=\"post\" action=\"/desk/unconfirmed/{id}/card\">\
             <div class=\"field\"><span class=\"name\">本人確認</span>\
             <label><input type=\"radio\" name=\"mode\" value=\"face\" checked> 顔認証</label>\
             <label><input type=\"radio\" name=\"mode\" value=\"pin\"> 暗証番号</label>\
             <label><input type=\"radio\" name=\"mode\" value=\"visual\"> 目視</label></div>\
             <input type=\"hidden\" name=\"face_result\" value=\"ok\">\
             <div class=\"cols\"><div class=\"field\"><span class=\"name\">暗証番号（4桁）</span><input type=\"password\" name=\"pin\" maxlength=\"4\" autocomplete=\"off\"></div>\
             <div class=\"field\"><span class=\"name\">目視確認した職員ID</span><input type=\"text\" name=\"visual_staff\"><input type=\"hidden\" name=\"visual_done\" value=\"on\"></div></div>\
             <button type=\"submit\" id=\"card-confirm\">カードリーダーで確認する</button></form></div>",
            id = v.id
        ));
    }
    b.push_str("<p><a class=\"button\" href=\"/desk/unconfirmed\">事後確認の一覧へ</a></p>");
    (
        status,
        page(
            &format!("事後確認 受付 {} — onshi", v.id),
            &facility_label(d),
            &b,
        ),
    )
        .into_response()
}

fn load(d: &Desk, id: i64) -> Result<(Visit, Option<AfterFact>), Box<Response>> {
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(crate::VisitError::NotFound(_)) => return Err(Box::new(not_found())),
        Err(e) => return Err(Box::new(internal(e))),
    };
    let a = d.visits.after_fact(id).map_err(|e| Box::new(internal(e)))?;
    Ok((v, a))
}

fn error_box(e: &str) -> String {
    format!("<div class=\"errors\" id=\"error\">{}</div>", esc(e))
}

async fn one(State(d): State<Desk>, Path(id): Path<i64>, Query(q): Query<Params>) -> Response {
    let msg = q
        .get("msg")
        .map(|m| format!("<div class=\"reminders\" id=\"message\">{}</div>", esc(m)))
        .unwrap_or_default();
    match load(&d, id) {
        Ok((v, a)) => render(&d, &v, a.as_ref(), &msg, StatusCode::OK),
        Err(r) => *r,
    }
}

fn opt(params: &Params, key: &str) -> Option<String> {
    Some(p(params, key).to_string()).filter(|s| !s.is_empty())
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
    let decision = assess(&s).map_err(|e| format!("この内容は記録できません：{}", e.message))?;
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
    Redirect::to(&format!("/desk/unconfirmed/{id}?msg={}", urlencode(msg))).into_response()
}

fn candidates_html(v: &Visit, r: &SearchResponse, staff: Option<&str>) -> String {
    let mut rows = String::new();
    for c in &r.candidates {
        rows.push_str(&format!(
            "<tr><td>{n}</td><td>{name}（{kana}）</td><td>{sex}</td><td>{birth}</td><td>{addr}</td><td>{ins}</td><td><form method=\"post\" action=\"/desk/unconfirmed/{id}/select\"><input type=\"hidden\" name=\"search_id\" value=\"{sid}\"><input type=\"hidden\" name=\"candidate\" value=\"{n}\"><input type=\"hidden\" name=\"staff_id\" value=\"{staff}\"><button type=\"submit\" id=\"select-{n}\">この人を選ぶ</button></form></td></tr>",
            n = c.candidate,
            name = esc(&c.name),
            kana = esc(&c.name_kana),
            sex = esc(&c.sex),
            birth = c.birthdate,
            addr = esc(c.address.as_deref().unwrap_or("")),
            ins = esc(c.insurer_name.as_deref().unwrap_or("")),
            id = v.id,
            sid = r.search_id,
            staff = esc(staff.unwrap_or("")),
        ));
    }
    format!(
        "<div class=\"panel next\" id=\"candidates\"><span class=\"tag\">該当者を選ぶ</span><p>{}</p>\
         <table><tr><th></th><th>氏名</th><th>性別</th><th>生年月日</th><th>住所</th><th>保険者名</th><th></th></tr>{rows}</table></div>",
        esc(&r.message)
    )
}

async fn search(
    State(d): State<Desk>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let (v, a) = match load(&d, id) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let staff = opt(&params, "staff_id").or_else(|| staff_of(&headers));
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
            return render(&d, &v, a.as_ref(), &error_box(&m), status);
        }
    };
    match (&r.qualification, r.candidates.len()) {
        (Some(q), _) => {
            let c = r.candidates.first();
            let birth = c.map(|c| c.birthdate);
            match resolve_found(
                &d,
                &v,
                q,
                c.map(|c| c.name.as_str()),
                c.and_then(|c| c.insurer_name.as_deref()),
                birth,
                staff.as_deref(),
            ) {
                Ok(m) => done(id, &m),
                Err(e) => render(&d, &v, a.as_ref(), &error_box(&e), StatusCode::OK),
            }
        }
        (None, n) if n > 1 => render(
            &d,
            &v,
            a.as_ref(),
            &candidates_html(&v, &r, staff.as_deref()),
            StatusCode::OK,
        ),
        _ => render(
            &d,
            &v,
            a.as_ref(),
            &format!(
                "<div class=\"reminders\" id=\"message\">{}（受付は未確認のままです）</div>",
                esc(&r.message)
            ),
            StatusCode::OK,
        ),
    }
}

async fn select(
    State(d): State<Desk>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let (v, a) = match load(&d, id) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let staff = opt(&params, "staff_id").or_else(|| staff_of(&headers));
    let (Ok(search_id), Ok(candidate)) = (
        p(&params, "search_id").parse::<i64>(),
        p(&params, "candidate").parse::<u32>(),
    ) else {
        return render(
            &d,
            &v,
            a.as_ref(),
            &error_box("該当者を選んでください"),
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
            return render(&d, &v, a.as_ref(), &error_box(&m), status);
        }
    };
    match resolve_found(
        &d,
        &v,
        &r.qualification,
        Some(&r.candidate.name),
        r.candidate.insurer_name.as_deref(),
        Some(r.candidate.birthdate),
        staff.as_deref(),
    ) {
        Ok(m) => done(id, &m),
        Err(e) => render(&d, &v, a.as_ref(), &error_box(&e), StatusCode::OK),
    }
}

async fn card(
    State(d): State<Desk>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let (v, a) = match load(&d, id) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if a.as_ref().is_some_and(|a| a.resolved_at.is_some()) {
        return render(
            &d,
            &v,
            a.as_ref(),
            &error_box("この受付は確認済みです"),
            StatusCode::CONFLICT,
        );
    }
    let staff = staff_of(&headers);
    let mut s = v.situation.clone();
    // the central is back: the failure that stopped the card confirmation is over
    if s.equipment_failure.is_some_and(|f| !f.oqs_reachable()) {
        s.equipment_failure = None;
    }
    if let Err(e) = reader(&d, &v, s, &params, staff.as_deref()).await {
        return render(&d, &v, a.as_ref(), &error_box(&e), StatusCode::BAD_REQUEST);
    }
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    if v.situation.online.is_none() {
        let m = if v.situation.equipment_failure.is_some() {
            "オンライン資格確認等システム（中央）にまだ接続できません。受付は未確認のままです。"
        } else {
            "カードでの資格確認ができませんでした。受付は未確認のままです。"
        };
        return render(&d, &v, a.as_ref(), &error_box(m), StatusCode::BAD_GATEWAY);
    }
    if let Ok(decision) = assess(&v.situation)
        && v.charged_at.is_some()
        && let Err(e) = d.visits.update_claim(v.id, &decision)
    {
        return internal(e);
    }
    if let Err(e) = d.visits.resolve(id, "card", None, staff.as_deref()) {
        return internal(e);
    }
    done(
        id,
        &format!("受付 {id} の資格をマイナ保険証で確認しました。"),
    )
}

async fn claim_json(State(d): State<Desk>, Path(id): Path<i64>) -> Response {
    let (v, a) = match load(&d, id) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let decision = match assess(&v.situation) {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let claim = decision.claim.as_ref().or(v.claim.as_ref());
    Json(serde_json::json!({
        "visit": v.id,
        "charged_percent": v.charged_percent,
        "claim": claim,
        "basis_label": claim.map(|c| basis_label(c.basis)),
        "confirmation_source": decision.confirmation.source,
        "after_fact": a,
        "unconfirmed": a.as_ref().is_some_and(|a| still_open(a, &v)),
    }))
    .into_response()
}
