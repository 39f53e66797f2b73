//! The clerk's screens (server-rendered, POST-redirect-GET):
//!
//! - `GET  /desk/` — new reception, recent visits
//! - `POST /desk/visits` — start a visit
//! - `GET  /desk/visits/{id}` — the visit: the share, the next step highlighted, the other
//!   acceptable steps, the result, the claim, who did what
//! - `POST /desk/visits/{id}/act` — record one fact (an `action` and its fields)
//! - `GET|POST /desk/visits/{id}/moushitatesho` — the 申立書 entry (R24, R25)
//! - `GET  /desk/visits/{id}/moushitatesho/print` — the printable 申立書 with its explanation
//!   sheet (R26)
//! - `GET  /desk/visits/{id}/situation.json` — the situation, as `onshi assess` reads it
//! - `GET  /desk/history` — the terminal's 資格確認履歴 (R6)
//! - `/desk/unconfirmed...` — the 事後確認 worklist (see `worklist.rs`, R12, R17)

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::NaiveDate;
use onshi_domain::codes::QualificationValidity;
use onshi_domain::desk::{
    Attempt, CardAtDesk, Claim, ClaimBasis, ConfirmationSource, Decision, DocumentShown,
    EquipmentFailure, FacilityType, FailureCause, FailureClass, Identity, OnlineResult, OutageMode,
    OutageSearch, OutageStatus, PatientPresence, PinAttempt, Presented, QualificationSeen,
    ReturningPatient, ShareSource, Situation, Step, StepOffer, assess,
};
use onshi_domain::numbers::{BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber};
use onshi_domain::wareki::WarekiDate;
use onshi_terminal::reader::{Consents, PlaceCard, Session};
use onshi_terminal::store::HistoryQuery;

use crate::Desk;
use crate::html::{esc, page, rules};
use crate::moushitatesho::{ERAS, FormInput};
use crate::visits::Visit;

pub(crate) type Params = HashMap<String, String>;

pub fn router(desk: Desk) -> Router {
    Router::new()
        .route("/desk", get(|| async { Redirect::to("/desk/") }))
        .route("/desk/", get(home))
        .route("/desk/visits", post(new_visit))
        .route("/desk/visits/{id}", get(show_visit))
        .route("/desk/visits/{id}/act", post(act))
        .route(
            "/desk/visits/{id}/moushitatesho",
            get(form_page).post(form_post),
        )
        .route("/desk/visits/{id}/moushitatesho/print", get(print_page))
        .route("/desk/visits/{id}/situation.json", get(situation_json))
        .route("/desk/history", get(history_page))
        .merge(crate::worklist::routes())
        .merge(crate::claims::web::routes())
        .with_state(desk)
}

// ------------------------------------------------------------------------------- helpers

fn today_jst() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive()
}

pub(crate) fn p<'a>(params: &'a Params, key: &str) -> &'a str {
    params.get(key).map(|s| s.trim()).unwrap_or("")
}

pub(crate) fn staff_of(headers: &HeaderMap) -> Option<String> {
    let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
    cookie.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == "desk_staff" && !v.is_empty())
            .then(|| percent_decode(v))
            .flatten()
    })
}

/// Decodes `%XX` escapes (the staff id is kept percent-encoded in its cookie); `None` when
/// the result is not UTF-8 or an escape is broken.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .ok()
        .filter(|t| t.chars().count() <= 32)
}

pub(crate) fn facility_label(d: &Desk) -> String {
    let kind = match d.facility {
        FacilityType::Clinic => "医療機関",
        FacilityType::Pharmacy => "薬局",
    };
    format!(
        "<span class=\"fac\">{kind} {}</span>",
        esc(d.terminal.config().facility.as_str())
    )
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "desk");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        page(
            "エラー",
            "",
            &format!(
                "<div class=\"errors\">処理できませんでした: {}</div>",
                esc(&e.to_string())
            ),
        ),
    )
        .into_response()
}

pub(crate) fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "見つかりません",
            "",
            "<div class=\"errors\">その受付は見つかりません。</div><p><a class=\"button\" href=\"/desk/\">受付一覧へ</a></p>",
        ),
    )
        .into_response()
}

pub(crate) fn percent_label(p: u8) -> String {
    if p >= 100 {
        "10割".into()
    } else {
        format!("{}割", p / 10)
    }
}

fn identity_label(i: &Identity) -> String {
    match i {
        Identity::Face => "顔認証".into(),
        Identity::Pin => "暗証番号".into(),
        Identity::Visual { staff_id } => format!("目視確認（職員 {}）", staff_id),
        Identity::Smartphone => "スマートフォンの認証".into(),
        Identity::NotEstablished => "カードでの本人確認なし".into(),
    }
}

fn source_label(s: ConfirmationSource) -> &'static str {
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

fn basis_code(b: ClaimBasis) -> &'static str {
    match b {
        ClaimBasis::Current => "current",
        ClaimBasis::Oral => "oral",
        ClaimBasis::Lost => "lost",
        ClaimBasis::Unknown => "unknown",
    }
}

fn failure_label(f: FailureClass) -> &'static str {
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

fn share_source_label(s: ShareSource) -> &'static str {
    match s {
        ShareSource::QualificationRatio => "確認した資格の負担割合",
        ShareSource::StatutoryByAge => "年齢による法定の負担割合",
        ShareSource::Declared => "申立書で申し立てた割合",
        ShareSource::FullCost => "全額自己負担",
    }
}

/// 記号・番号 as printed: "1001 ・ 2002", or the number alone when there is no symbol.
fn symbol_number(symbol: &str, number: &str) -> String {
    if symbol.is_empty() {
        esc(number)
    } else {
        format!("{} ・ {}", esc(symbol), esc(number))
    }
}

pub(crate) fn qual_kv(q: &QualificationSeen) -> String {
    format!(
        "<dl class=\"kv\"><dt>保険者番号</dt><dd>{}</dd>{}<dt>記号・番号</dt><dd>{}</dd><dt>枝番</dt><dd>{}</dd>{}</dl>",
        esc(q.insurer_number.as_str()),
        q.insurer_name
            .as_deref()
            .map(|n| format!("<dt>保険者名</dt><dd>{}</dd>", esc(n)))
            .unwrap_or_default(),
        symbol_number(q.symbol.as_str(), q.number.as_str()),
        q.branch
            .as_ref()
            .map(|b| esc(b.as_str()))
            .unwrap_or_else(|| "—".into()),
        q.share_percent
            .map(|p| format!("<dt>負担割合</dt><dd>{}</dd>", percent_label(p)))
            .unwrap_or_default(),
    )
}

/// Reads the numbers of a qualification from a form; errors name the field in Japanese.
fn read_numbers(params: &Params) -> Result<QualificationSeen, String> {
    let insurer_number = InsurerNumber::parse(p(params, "insurer_number")).map_err(|_| {
        "保険者番号：6桁または8桁の正しい番号を入力してください（検証番号も確認）".to_string()
    })?;
    let symbol = InsuredSymbol::parse(p(params, "symbol"))
        .map_err(|_| "記号：入力を確認してください".to_string())?;
    let number = InsuredNumber::parse(p(params, "number"))
        .map_err(|_| "番号：入力してください".to_string())?;
    let branch = match p(params, "branch") {
        "" => None,
        b => Some(
            BranchNumber::parse(b).map_err(|_| "枝番：2桁の数字で入力してください".to_string())?,
        ),
    };
    let share_percent = match p(params, "share") {
        "" => None,
        "30" => Some(30),
        "20" => Some(20),
        "10" => Some(10),
        _ => return Err("負担割合：3割・2割・1割から選んでください".into()),
    };
    let insurer_name = Some(p(params, "insurer_name").to_string()).filter(|s| !s.is_empty());
    Ok(QualificationSeen {
        insurer_number,
        insurer_name,
        symbol,
        number,
        branch,
        share_percent,
    })
}

fn numbers_fields(with_expiry: bool) -> String {
    format!(
        "<div class=\"cols\">\
         <div class=\"field\"><span class=\"name\">保険者番号</span><input type=\"text\" name=\"insurer_number\" inputmode=\"numeric\" placeholder=\"例 01130012\"></div>\
         <div class=\"field\"><span class=\"name\">記号</span><input type=\"text\" name=\"symbol\"></div>\
         <div class=\"field\"><span class=\"name\">番号</span><input type=\"text\" name=\"number\"></div>\
         <div class=\"field\"><span class=\"name\">枝番</span><input type=\"text\" name=\"branch\" inputmode=\"numeric\" placeholder=\"2桁\"></div>\
         <div class=\"field\"><span class=\"name\">負担割合（記載があれば）</span><select name=\"share\"><option value=\"\">記載なし</option><option value=\"30\">3割</option><option value=\"20\">2割</option><option value=\"10\">1割</option></select></div>\
         {}</div>",
        if with_expiry {
            "<div class=\"field\"><span class=\"name\">有効期限（記載があれば）</span><input type=\"date\" name=\"expiry\"></div>"
        } else {
            ""
        }
    )
}

// ------------------------------------------------------------------------------- home

async fn home(State(d): State<Desk>, headers: HeaderMap) -> Response {
    let visits = match d.visits.list(30) {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let staff = staff_of(&headers).unwrap_or_default();
    let mut rows = String::new();
    for v in &visits {
        rows.push_str(&format!(
            "<tr><td><a href=\"/desk/visits/{id}\">受付 {id}</a></td><td>{date}</td><td>{name}</td><td>{share}</td><td>{basis}</td><td><a class=\"button\" href=\"/desk/visits/{id}\">開く</a></td></tr>",
            id = v.id,
            date = v.service_date,
            name = esc(v.patient_label.as_deref().unwrap_or("（氏名未確認）")),
            share = v.charged_percent.map(percent_label).unwrap_or_else(|| "未会計".into()),
            basis = v.claim.as_ref().map(|c| basis_label(c.basis)).unwrap_or("—"),
        ));
    }
    let proxy_hint = if d.facility == FacilityType::Pharmacy {
        "（薬局：代理人が薬を受け取りに来た場合は「代理人」を選んでください）"
    } else {
        ""
    };
    let body = format!(
        "<h1>受付</h1>\
         <div class=\"panel next\"><span class=\"tag\">次にすること</span>\
         <p>患者さん（または代理人）が窓口に来たら、受付を始めてください。{proxy_hint}</p>\
         <form method=\"post\" action=\"/desk/visits\">\
         <div class=\"field\"><span class=\"name\">来た人</span>\
         <label><input type=\"radio\" name=\"presence\" value=\"at_desk\" checked> 患者本人が窓口にいる</label>\
         <label><input type=\"radio\" name=\"presence\" value=\"in_waiting_area\"> 患者本人は待合室にいる</label>\
         <label><input type=\"radio\" name=\"presence\" value=\"absent\"> 代理人（患者本人はいない）</label></div>\
         <div class=\"cols\"><div class=\"field\"><span class=\"name\">診療日（調剤日）</span><input type=\"date\" name=\"service_date\" value=\"{today}\"></div>\
         <div class=\"field\"><span class=\"name\">受付職員ID</span><input type=\"text\" name=\"staff\" value=\"{staff}\" placeholder=\"例 S01\"></div></div>\
         <button class=\"primary\" type=\"submit\" id=\"start\">受付を始める</button></form></div>\
         {worklist}<h2>最近の受付（あとから番号を確認したときは「開く」）</h2>\
         <table><tr><th>受付</th><th>診療日</th><th>氏名</th><th>負担</th><th>請求</th><th></th></tr>{rows}</table>",
        today = today_jst(),
        staff = esc(&staff),
        worklist = match crate::worklist::open_items(&d)
            .map(|l| l.len())
            .unwrap_or(0)
        {
            0 => String::new(),
            n => format!(
                "<div class=\"panel\" id=\"worklist-link\"><strong>事後確認：未確認の受付が{n}件あります。</strong> <a class=\"button\" href=\"/desk/unconfirmed\">事後確認の一覧へ</a><span class=\"rule\">根拠 R12 R17</span></div>"
            ),
        },
    );
    page("受付 — onshi", &facility_label(&d), &body).into_response()
}

async fn new_visit(State(d): State<Desk>, Form(params): Form<Params>) -> Response {
    let service_date = match p(&params, "service_date") {
        "" => today_jst(),
        s => match s.parse::<NaiveDate>() {
            Ok(x) => x,
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    page(
                        "受付",
                        "",
                        "<div class=\"errors\">診療日：日付を入力してください</div>",
                    ),
                )
                    .into_response();
            }
        },
    };
    let presence = match p(&params, "presence") {
        "in_waiting_area" => PatientPresence::InWaitingArea,
        "absent" => PatientPresence::Absent,
        _ => PatientPresence::AtDesk,
    };
    let situation = Situation {
        service_date,
        facility: d.facility,
        patient_presence: presence,
        birth_date: None,
        my_number_card: Presented::NotAsked,
        online: None,
        equipment_failure: None,
        portal_screen: Presented::NotAsked,
        shikaku_kakuninsho: Presented::NotAsked,
        insurance_card: Presented::NotAsked,
        shikaku_joho_oshirase: Presented::NotAsked,
        prescription: Presented::NotAsked,
        outage_mode: None,
        returning_patient: None,
        moushitatesho: Presented::NotAsked,
        reported_numbers: None,
        claim_settings: Default::default(),
    };
    let decision = match assess(&situation) {
        Ok(x) => x,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                page(
                    "受付",
                    "",
                    &format!("<div class=\"errors\">{}</div>", esc(&e.to_string())),
                ),
            )
                .into_response();
        }
    };
    let staff = Some(p(&params, "staff").to_string()).filter(|s| !s.is_empty());
    match d.visits.create(&situation, staff.as_deref(), &decision) {
        Ok(id) => {
            let mut r = Redirect::to(&format!("/desk/visits/{id}")).into_response();
            if let Some(s) = staff.filter(|s| s.chars().count() <= 32)
                && let Ok(v) =
                    format!("desk_staff={}; Path=/desk; SameSite=Strict", urlencode(&s)).parse()
            {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => internal(e),
    }
}

// ------------------------------------------------------------------------------- visit

async fn show_visit(
    State(d): State<Desk>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> Response {
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(crate::VisitError::NotFound(_)) => return not_found(),
        Err(e) => return internal(e),
    };
    let msg = q.get("msg").cloned();
    render_visit(&d, &v, None, msg.as_deref(), StatusCode::OK)
}

fn render_visit(
    d: &Desk,
    v: &Visit,
    error: Option<&str>,
    msg: Option<&str>,
    status: StatusCode,
) -> Response {
    let decision = match assess(&v.situation) {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let mut b = String::new();
    let who = v.patient_label.as_deref().unwrap_or("（氏名未確認）");
    let presence = match v.situation.patient_presence {
        PatientPresence::AtDesk => "患者本人が窓口",
        PatientPresence::InWaitingArea => "患者本人は待合室",
        PatientPresence::Absent => "代理人（患者本人は不在）",
    };
    b.push_str(&format!(
        "<h1>受付 {} — {}</h1><p class=\"hint\">診療日 {} ・ {}</p>",
        v.id,
        esc(who),
        v.service_date,
        presence
    ));
    if let Some(e) = error {
        b.push_str(&format!(
            "<div class=\"errors\" id=\"error\">{}</div>",
            esc(e)
        ));
    }
    if let Some(m) = msg {
        b.push_str(&format!(
            "<div class=\"reminders\" id=\"message\">{}</div>",
            esc(m)
        ));
    }
    if let Ok(Some(a)) = d.visits.after_fact(v.id) {
        b.push_str(&match &a.resolved_at {
            None if decision.confirmation.source.confirms_current() => String::new(),
            None => format!(
                "<div class=\"reminders\" id=\"after-fact\">中央に接続できなかった受付です（未確認）。 <a class=\"button\" href=\"/desk/unconfirmed/{}\">事後確認する</a></div>",
                v.id
            ),
            Some(at) => format!(
                "<div class=\"panel\" id=\"after-fact\">事後確認済み：{}{}（{}）</div>",
                match a.source.as_deref() {
                    Some("outage_search") => "システム障害時モードの検索",
                    Some("card") => "マイナ保険証でのオンライン資格確認",
                    _ => "—",
                },
                a.audit_id.map(|i| format!("・照会記録 {i}")).unwrap_or_default(),
                esc(at)
            ),
        });
    }
    b.push_str(&share_box(&decision, v));
    b.push_str(&result_box(v, &decision));

    // the next step, highlighted
    let charged = v.charged_at.is_some();
    if !(charged && decision.settled) {
        b.push_str(&format!(
            "<div class=\"panel next\" id=\"next\"><span class=\"tag\">次にすること</span><h2 style=\"border:0;padding:0\">{}{}</h2>{}</div>",
            esc(&decision.next_step.label),
            rules(&decision.next_step.rules),
            step_form(v, &decision, &decision.next_step, true)
        ));
        if !decision.alternatives.is_empty() {
            b.push_str("<h2>ほかの方法（どれでも可）</h2>");
            for alt in &decision.alternatives {
                b.push_str(&format!(
                    "<div class=\"panel\"><strong>{}</strong>{}{}</div>",
                    esc(&alt.label),
                    rules(&alt.rules),
                    step_form(v, &decision, alt, false)
                ));
            }
        }
    } else {
        b.push_str("<div class=\"panel\"><strong>会計済みです。</strong> 会計後にすることがあれば下に表示しています。 <a class=\"button primary\" href=\"/desk/\">受付一覧へ戻る</a></div>");
    }
    if !decision.notes.is_empty() {
        b.push_str("<h2>注意</h2><div class=\"panel\"><ul>");
        for n in &decision.notes {
            b.push_str(&format!("<li>{}{}</li>", esc(&n.text), rules(&[n.rule])));
        }
        b.push_str("</ul></div>");
    }
    b.push_str(&claim_box(v, &decision));
    if !decision.follow_ups.is_empty() {
        b.push_str("<h2>会計後・請求までにすること</h2>");
        for f in &decision.follow_ups {
            b.push_str(&format!(
                "<div class=\"panel\"><strong>{}</strong>{}{}</div>",
                esc(&f.label),
                rules(&f.rules),
                step_form(v, &decision, f, false)
            ));
        }
    }
    b.push_str(&corrections(d, v));
    b.push_str(&steps_table(v));
    b.push_str(&format!(
        "<details><summary>状況データ（onshi assess と同じ判定）</summary><p class=\"hint\">この状況を <code>onshi assess</code> に渡すと同じ判定になります: <a href=\"/desk/visits/{}/situation.json\">situation.json</a></p><pre>{}</pre></details>",
        v.id,
        esc(&serde_json::to_string_pretty(&v.situation).unwrap_or_default())
    ));
    (
        status,
        page(&format!("受付 {} — onshi", v.id), &facility_label(d), &b),
    )
        .into_response()
}

fn share_box(decision: &Decision, v: &Visit) -> String {
    match &decision.share {
        Some(s) => {
            let class = if s.percent >= 100 { "share full" } else { "share" };
            let state = if v.charged_at.is_some() {
                "会計済み"
            } else if decision.settled {
                "この割合で会計してください"
            } else {
                "見込み"
            };
            format!(
                "<div class=\"{class}\" id=\"share\"><span>窓口負担</span><span class=\"big\">{}</span><span>{} ・ {}</span>{}</div>",
                percent_label(s.percent),
                state,
                share_source_label(s.source),
                rules(&s.rules)
            )
        }
        None => "<div class=\"share pending\" id=\"share\"><span>窓口負担</span><span class=\"big\">未確定</span><span>下の「次にすること」を進めてください</span></div>".into(),
    }
}

fn result_box(v: &Visit, decision: &Decision) -> String {
    let mut s = String::from("<div class=\"cols\">");
    // the online result (R5, R6)
    let online = match &v.situation.online {
        Some(o) => {
            let (class, text) = match o.validity {
                QualificationValidity::Valid => ("ok", "資格（有効）"),
                QualificationValidity::Invalid | QualificationValidity::InvalidNewerExists => {
                    ("ng", "資格（無効）")
                }
                QualificationValidity::NotFound => ("ng", "資格情報なし"),
                QualificationValidity::Multiple => ("warn", "複数該当"),
            };
            let lost = if matches!(o.validity, QualificationValidity::Invalid)
                && o.qualification.is_some()
            {
                "<p class=\"hint\">喪失した資格の旧保険者番号・旧記号番号です（資格確認履歴にも残ります）<span class=\"rule\">根拠 R6</span></p>"
            } else {
                ""
            };
            format!(
                "<div class=\"result {class}\" id=\"online-result\">{text}</div>{lost}{}",
                o.qualification.as_ref().map(qual_kv).unwrap_or_default()
            )
        }
        None => "<p>まだオンライン資格確認の結果はありません。</p>".into(),
    };
    s.push_str(&format!(
        "<div class=\"panel\"><h2>確認結果</h2>{online}</div>"
    ));
    s.push_str(&format!(
        "<div class=\"panel\"><h2>本人確認・資格確認</h2><dl class=\"kv\"><dt>本人確認</dt><dd id=\"identity\">{}</dd><dt>資格確認</dt><dd id=\"confirmation\">{}</dd>{}</dl>{}</div>",
        esc(&identity_label(&decision.identity)),
        source_label(decision.confirmation.source),
        decision
            .failure_class
            .map(|f| format!("<dt>原因</dt><dd>{}</dd>", failure_label(f)))
            .unwrap_or_default(),
        if decision.confirmation.source != ConfirmationSource::OnlineCard {
            decision.confirmation.qualification.as_ref().map(qual_kv).unwrap_or_default()
        } else {
            String::new()
        }
    ));
    s.push_str("</div>");
    s
}

fn claim_box(v: &Visit, decision: &Decision) -> String {
    let claim: Option<&Claim> = decision.claim.as_ref().or(v.claim.as_ref());
    let Some(c) = claim else {
        if decision.share.as_ref().is_some_and(|s| s.percent >= 100) {
            return "<h2>請求</h2><div class=\"panel\" id=\"claim\">10割負担のため保険請求はしません。<span class=\"rule\">根拠 R16</span></div>".into();
        }
        return String::new();
    };
    let numbers = match (&c.insurer_number, &c.number) {
        (Some(i), Some(n)) => format!(
            "<dt>保険者番号</dt><dd>{}</dd><dt>記号・番号</dt><dd>{}</dd>",
            esc(i.as_str()),
            symbol_number(
                c.symbol.as_ref().map(|s| s.as_str()).unwrap_or(""),
                n.as_str()
            )
        ),
        _ => "<dt>保険者番号・記号番号</dt><dd>不詳</dd>".into(),
    };
    let tekiyou = match (&c.tekiyou, v.form_purged_at.as_deref()) {
        (_, Some(at)) => format!(
            "<dt>摘要欄</dt><dd>申立書の情報は廃棄済み（{}）</dd>",
            esc(at)
        ),
        (Some(t), None) => format!("<dt>摘要欄</dt><dd id=\"tekiyou\">{}</dd>", esc(t)),
        _ => String::new(),
    };
    format!(
        "<h2>請求</h2><div class=\"panel\" id=\"claim\" data-basis=\"{}\"><strong>{}</strong>{}<dl class=\"kv\">{numbers}{tekiyou}</dl></div>",
        basis_code(c.basis),
        basis_label(c.basis),
        rules(&c.rules)
    )
}

fn step_label(code: &str) -> String {
    serde_json::from_value::<Step>(serde_json::Value::String(code.to_string()))
        .map(|s| s.label().to_string())
        .unwrap_or_else(|_| code.to_string())
}

fn steps_table(v: &Visit) -> String {
    let mut s = String::from(
        "<h2>記録（だれが・いつ・なにを）</h2><table><tr><th>日時</th><th>職員</th><th>したこと</th><th>次の手順</th><th>負担</th></tr>",
    );
    for st in &v.steps {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&st.at.replace('T', " ").replace("+09:00", "")),
            esc(st.staff.as_deref().unwrap_or("")),
            esc(&st.action),
            esc(&step_label(&st.next_step)),
            st.share_percent.map(percent_label).unwrap_or_default()
        ));
    }
    s.push_str("</table>");
    s
}

/// Facts that can be given at any time: an equipment failure, the returning patient (R10).
fn corrections(d: &Desk, v: &Visit) -> String {
    let mut s = String::from("<h2>状況が変わったとき</h2><div>");
    if v.charged_at.is_none() {
        let mut opts = String::new();
        for c in [
            FailureCause::ReaderBroken,
            FailureCause::TerminalBroken,
            FailureCause::CardSurfaceDamaged,
            FailureCause::IcChipBroken,
            FailureCause::CertificateExpired,
            FailureCause::PowerCut,
            FailureCause::FacilityNetwork,
            FailureCause::WideAreaNetwork,
        ] {
            opts.push_str(&format!(
                "<option value=\"{}\">{}</option>",
                cause_code(c),
                c.label()
            ));
        }
        s.push_str(&format!(
            "<div class=\"panel\"><strong>機器・カードのトラブル</strong><span class=\"rule\">根拠 R8</span>\
             <form method=\"post\" action=\"/desk/visits/{}/act\"><input type=\"hidden\" name=\"action\" value=\"equipment\">\
             <select name=\"cause\">{opts}</select> <button type=\"submit\">トラブルとして記録</button></form></div>",
            v.id
        ));
        if v.situation.returning_patient.is_none() {
            s.push_str(&returning_panel(d, v));
        }
    }
    s.push_str("</div>");
    s
}

fn returning_panel(d: &Desk, v: &Visit) -> String {
    let list = d.visits.list(200).unwrap_or_default();
    let mut rows = String::new();
    let mut n = 0;
    for other in list
        .iter()
        .filter(|o| o.id != v.id && o.service_date <= v.service_date)
    {
        let Some(c) = &other.claim else { continue };
        let (Some(ins), Some(num)) = (&c.insurer_number, &c.number) else {
            continue;
        };
        if let (Some(a), Some(b)) = (&v.patient_label, &other.patient_label)
            && a != b
        {
            continue;
        }
        n += 1;
        if n > 8 {
            break;
        }
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}・{}</td><td>{}</td><td><form method=\"post\" action=\"/desk/visits/{}/act\"><input type=\"hidden\" name=\"action\" value=\"returning\"><input type=\"hidden\" name=\"from\" value=\"{}\"><button type=\"submit\">この患者の前回情報を使う</button></form></td></tr>",
            other.service_date,
            esc(other.patient_label.as_deref().unwrap_or("（氏名なし）")),
            other.birth_date.map(|b| b.to_string()).unwrap_or_default(),
            esc(ins.as_str()),
            esc(c.symbol.as_ref().map(|s| s.as_str()).unwrap_or("")),
            esc(num.as_str()),
            other.charged_percent.map(percent_label).unwrap_or_default(),
            v.id,
            other.id
        ));
    }
    if rows.is_empty() {
        return "<div class=\"panel\"><strong>再来患者</strong><span class=\"rule\">根拠 R10</span><p class=\"hint\">この患者さんの前回の受診記録（資格情報つき）は見つかりません。</p></div>".into();
    }
    format!(
        "<div class=\"panel\" id=\"returning\"><strong>再来患者（前回の資格情報を使う）</strong><span class=\"rule\">根拠 R10 R16 R18</span>\
         <p class=\"hint\">以前に受診した患者さんなら、前回の資格情報から変わっていないことを口頭で確認できます。</p>\
         <table><tr><th>前回</th><th>氏名</th><th>生年月日</th><th>保険者番号・記号番号</th><th>前回負担</th><th></th></tr>{rows}</table></div>"
    )
}

fn cause_code(c: FailureCause) -> &'static str {
    match c {
        FailureCause::ReaderBroken => "reader_broken",
        FailureCause::TerminalBroken => "terminal_broken",
        FailureCause::CardSurfaceDamaged => "card_surface_damaged",
        FailureCause::IcChipBroken => "ic_chip_broken",
        FailureCause::CertificateExpired => "certificate_expired",
        FailureCause::PowerCut => "power_cut",
        FailureCause::FacilityNetwork => "facility_network",
        FailureCause::WideAreaNetwork => "wide_area_network",
    }
}

fn cause_from(s: &str) -> Option<FailureCause> {
    [
        FailureCause::ReaderBroken,
        FailureCause::TerminalBroken,
        FailureCause::CardSurfaceDamaged,
        FailureCause::IcChipBroken,
        FailureCause::CertificateExpired,
        FailureCause::PowerCut,
        FailureCause::FacilityNetwork,
        FailureCause::WideAreaNetwork,
    ]
    .into_iter()
    .find(|c| cause_code(*c) == s)
}

fn act_form(v: &Visit, action: &str, inner: &str, button: &str, primary: bool, id: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/desk/visits/{}/act\"><input type=\"hidden\" name=\"action\" value=\"{action}\">{inner}<button type=\"submit\" class=\"{}\" id=\"{id}\">{}</button></form>",
        v.id,
        if primary { "primary" } else { "" },
        esc(button)
    )
}

/// The reader panel (R1–R3, R15) for one identity method: `face`, `pin` or `visual`.
fn reader_panel(v: &Visit, mode: &str, primary: bool) -> String {
    let card = v.situation.my_number_card.shown();
    let pinless = card.is_some_and(|c| !c.pin_set);
    let fields = match mode {
        "pin" if pinless => {
            return "<p>このカードは暗証番号を設定していないカード（顔認証マイナンバーカード）のため、暗証番号は使えません。<span class=\"rule\">根拠 R2</span></p>".into();
        }
        "pin" => "<p>患者さんにカードリーダーで暗証番号（数字4桁）を入力してもらいます。</p>\
             <div class=\"field\"><span class=\"name\">暗証番号（4桁・エミュレーター）</span><input type=\"password\" name=\"pin\" inputmode=\"numeric\" maxlength=\"4\" autocomplete=\"off\" id=\"pin\"></div>\
             <p class=\"hint\">3回続けて間違えるとロックされます（解除は市区町村窓口）。</p>"
            .to_string(),
        "visual" => "<div class=\"field\"><span class=\"name\">目視確認（カードの写真と本人を見比べる）</span>\
             <label><input type=\"checkbox\" name=\"visual_done\" value=\"on\" id=\"visual_done\"> 目視で本人確認完了</label></div>\
             <div class=\"field\"><span class=\"name\">確認した職員ID</span><input type=\"text\" name=\"visual_staff\" id=\"visual_staff\" placeholder=\"例 S01\"> <span class=\"rule\">根拠 R3</span></div>\
             <p class=\"hint\">患者さん自身にカードの写真を見せてもらい、本人と確認できたら✓を入れてください。職員の判断で本人確認するため、第三者の利用に注意してください。</p>"
            .to_string(),
        _ => "<p>患者さんにカードをカードリーダーに置いてもらい、顔認証をします。</p>\
             <div class=\"field\"><span class=\"name\">顔認証の結果（エミュレーターのカメラ）</span>\
             <label><input type=\"radio\" name=\"face_result\" value=\"ok\" checked> 一致</label>\
             <label><input type=\"radio\" name=\"face_result\" value=\"fail\"> 一致しない</label></div>"
            .to_string(),
    };
    let mode = if mode == "pin" || mode == "visual" {
        mode
    } else {
        "face"
    };
    let failed = if mode == "visual" {
        format!(
            "<form method=\"post\" action=\"/desk/visits/{}/act\"><input type=\"hidden\" name=\"action\" value=\"visual_failed\"><input type=\"text\" name=\"visual_staff\" placeholder=\"職員ID\"> <button type=\"submit\" class=\"danger\">目視で本人と確認できない</button></form>",
            v.id
        )
    } else {
        String::new()
    };
    let consents = "<details><summary>同意（カードリーダーの画面で患者さんが選んだもの）</summary>\
         <label><input type=\"checkbox\" name=\"consent_limit\" value=\"on\"> 限度額情報</label>\
         <label><input type=\"checkbox\" name=\"consent_drug\" value=\"on\"> 薬剤情報</label>\
         <label><input type=\"checkbox\" name=\"consent_checkup\" value=\"on\"> 特定健診情報</label>\
         <label><input type=\"checkbox\" name=\"consent_diagnosis\" value=\"on\"> 診療情報</label>\
         <label><input type=\"checkbox\" name=\"consent_operation\" value=\"on\"> 手術情報</label>\
         <p class=\"hint\">暗証番号なしのカードでも、同意があれば同じ情報を見られます。<span class=\"rule\">根拠 R2</span></p></details>";
    format!(
        "<form method=\"post\" action=\"/desk/visits/{id}/act\"><input type=\"hidden\" name=\"action\" value=\"reader\"><input type=\"hidden\" name=\"mode\" value=\"{mode}\">{fields}{consents}\
         <button type=\"submit\" class=\"{cls}\" id=\"place-{mode}\">カードリーダーで確認する</button></form>{failed}",
        id = v.id,
        cls = if primary { "primary" } else { "" },
    )
}

fn doc_form(v: &Visit, docs: &[(&str, &str)], primary: bool, with_expiry: bool) -> String {
    let mut kinds = String::new();
    for (i, (code, label)) in docs.iter().enumerate() {
        kinds.push_str(&format!(
            "<label><input type=\"radio\" name=\"doc\" value=\"{code}\"{}> {label}</label>",
            if i == 0 { " checked" } else { "" }
        ));
    }
    let codes: Vec<&str> = docs.iter().map(|(c, _)| *c).collect();
    format!(
        "<form method=\"post\" action=\"/desk/visits/{id}/act\"><input type=\"hidden\" name=\"action\" value=\"doc_shown\">\
         <div class=\"field\"><span class=\"name\">提示されたもの</span>{kinds}</div>{fields}\
         <button type=\"submit\" class=\"{cls}\" id=\"doc-shown-{first}\">提示された内容で確認する</button></form>\
         <form method=\"post\" action=\"/desk/visits/{id}/act\"><input type=\"hidden\" name=\"action\" value=\"doc_absent\"><input type=\"hidden\" name=\"docs\" value=\"{list}\">\
         <button type=\"submit\" id=\"doc-absent-{first}\">持っていない</button></form>",
        id = v.id,
        fields = numbers_fields(with_expiry),
        cls = if primary { "primary" } else { "" },
        first = codes.first().copied().unwrap_or(""),
        list = codes.join(","),
    )
}

/// The form that records the fact a step asks for.
fn step_form(v: &Visit, decision: &Decision, offer: &StepOffer, primary: bool) -> String {
    match offer.step {
        Step::AskForCard => format!(
            "<p>「マイナ保険証（マイナンバーカード）をお持ちですか」とたずねてください。</p>{}{}",
            act_form(
                v,
                "card_received",
                "<div class=\"cols\"><div class=\"field\"><span class=\"name\">カード番号（エミュレーター）</span><input type=\"text\" name=\"card_serial\" id=\"card_serial\" placeholder=\"例 C0001\"></div>\
                 <div class=\"field\"><span class=\"name\">カードの種類</span><label><input type=\"checkbox\" name=\"pinless\" value=\"on\" id=\"pinless\"> 暗証番号を設定していないカード（顔認証マイナンバーカード）</label></div></div>",
                "カードを受け取った",
                primary,
                "card-received"
            ),
            act_form(v, "no_card", "", "マイナ保険証を持っていない", false, "no-card")
        ),
        Step::ReadCard | Step::RetryFace | Step::RunOnlineConfirmation => reader_panel(v, "face", primary),
        Step::EnterPin => reader_panel(v, "pin", primary),
        Step::SwitchToVisualMode | Step::RecordVisualStaff => format!(
            "<p>資格確認端末の「顔認証付きカードリーダー操作」→「目視確認」でモードを切り替え、カードの写真と患者さんの顔を見比べてください。</p>{}",
            reader_panel(v, "visual", primary)
        ),
        Step::SelectQualification => act_form(
            v,
            "select_qualification",
            &format!("<p>患者さんにどの資格で受診するか確認し、その番号を入力してください。</p>{}", numbers_fields(false)),
            "この資格を選ぶ",
            primary,
            "select-qualification",
        ),
        Step::AskPortalScreen => doc_form(v, &[("portal", "マイナポータルの資格情報画面")], primary, false),
        Step::AskInsuranceDocument => doc_form(v, &[("kakuninsho", "資格確認書"), ("insurance_card", "健康保険証")], primary, true),
        Step::AskOshirase => doc_form(v, &[("oshirase", "資格情報のお知らせ")], primary, false),
        Step::AskPrescription => doc_form(v, &[("prescription", "処方箋（保険者番号等の欄）")], primary, false),
        Step::ConfirmNumbersOnline => {
            let birth_known = v.situation.birth_date.or(v.birth_date).is_some();
            let birth = if birth_known {
                String::new()
            } else {
                let mut eras = String::new();
                for (k, e) in ERAS {
                    eras.push_str(&format!("<option value=\"{k}\">{}</option>", e.kanji()));
                }
                format!(
                    "<div class=\"field\"><span class=\"name\">生年月日（照会に必要）</span><select name=\"era\">{eras}</select> <input type=\"number\" name=\"year\" min=\"1\" max=\"99\" style=\"width:90px\">年 <input type=\"number\" name=\"month\" min=\"1\" max=\"12\" style=\"width:80px\">月 <input type=\"number\" name=\"day\" min=\"1\" max=\"31\" style=\"width:80px\">日</div>"
                )
            };
            format!(
                "<p>書類の保険者番号・記号・番号・枝番と生年月日で、資格確認端末からオンライン資格確認（照会区分2）をします。</p>{}{}",
                act_form(v, "numbers_query", &birth, "記号・番号等でオンライン資格確認する", primary, "numbers-query"),
                act_form(
                    v,
                    "numbers_online",
                    "<p class=\"hint\">端末で別に確認した場合は、その結果を選んで記録します。</p>\
                     <select name=\"result\"><option value=\"1\">有効</option><option value=\"2\">無効</option><option value=\"3\">無効（新しい資格あり）</option><option value=\"4\">該当資格なし</option></select> ",
                    "結果を記録",
                    false,
                    "numbers-online",
                )
            )
        }
        Step::RequestOutageMode => format!(
            "<p>コールセンターに電話し、医療機関コード・施設名・担当者名・依頼内容を伝えてください（設定までおよそ30分）。</p>{}{}",
            act_form(v, "outage", "<input type=\"hidden\" name=\"status\" value=\"requested\">", "連絡した（設定待ち）", primary, "outage-requested"),
            act_form(v, "outage", "<input type=\"hidden\" name=\"status\" value=\"active\">", "利用できるようになった", false, "outage-active")
        ),
        Step::SearchOutageMode | Step::SearchOutageModeAfterwards => format!(
            "<p>生年月日・性別・資格確認日と、氏名（完全一致）、住所または保険者名で検索します。</p>{}{}",
            act_form(v, "outage_found", &numbers_fields(false), "見つかった資格を記録", primary, "outage-found"),
            act_form(v, "outage_not_found", "", "該当者なし", false, "outage-not-found")
        ),
        Step::ConfirmOrallyUnchanged => {
            let known = v
                .situation
                .returning_patient
                .as_ref()
                .map(|r| qual_kv(&r.known_qualification))
                .unwrap_or_default();
            format!(
                "<p>「前回の受診から、保険の資格（保険者や記号・番号）は変わっていませんか」と口頭で確認してください。</p>{known}{}{}",
                act_form(v, "oral", "<input type=\"hidden\" name=\"unchanged\" value=\"yes\">", "変わっていない（前回と同じ）", primary, "oral-unchanged"),
                act_form(v, "oral", "<input type=\"hidden\" name=\"unchanged\" value=\"no\">", "変わった", false, "oral-changed")
            )
        }
        Step::AskMoushitatesho => format!(
            "<p>患者さんに被保険者資格申立書を、わかる範囲で記入してもらってください。画面で入力するか、印刷して手書きしてもらい、内容を入力します。</p>\
             <a class=\"button {cls}\" id=\"open-form\" href=\"/desk/visits/{id}/moushitatesho\">申立書を入力する</a>\
             <a class=\"button\" id=\"print-form\" href=\"/desk/visits/{id}/moushitatesho/print\" target=\"_blank\">申立書を印刷する</a>{}",
            act_form(v, "form_declined", "", "記入を断られた", false, "form-declined"),
            cls = if primary { "primary" } else { "" },
            id = v.id
        ),
        Step::EnterBirthDate => {
            let mut eras = String::new();
            for (k, e) in ERAS {
                eras.push_str(&format!("<option value=\"{k}\">{}</option>", e.kanji()));
            }
            act_form(
                v,
                "birth_date",
                &format!("<select name=\"era\">{eras}</select> <input type=\"number\" name=\"year\" min=\"1\" max=\"99\" style=\"width:90px\">年 <input type=\"number\" name=\"month\" min=\"1\" max=\"12\" style=\"width:80px\">月 <input type=\"number\" name=\"day\" min=\"1\" max=\"31\" style=\"width:80px\">日 "),
                "生年月日を記録",
                primary,
                "birth-date",
            )
        }
        Step::ChargeShare | Step::ChargeFull => {
            if v.charged_at.is_some() {
                "<p>会計済みです。</p>".into()
            } else {
                let label = decision
                    .share
                    .as_ref()
                    .map(|s| format!("{}で会計した", percent_label(s.percent)))
                    .unwrap_or_else(|| "会計した".into());
                act_form(v, "charge", "", &label, primary, "charge")
            }
        }
        Step::CheckConfirmationHistory => format!(
            "<p>資格確認履歴で、喪失した資格の旧保険者番号・旧記号番号を確認できます。</p><a class=\"button\" href=\"/desk/history?card_serial={}\">資格確認履歴を開く</a>",
            urlencode(v.card_serial.as_deref().unwrap_or(""))
        ),
        Step::AskNumbersLater => act_form(
            v,
            "reported_numbers",
            &format!("<p>患者さんから保険者番号・記号番号を聞き取ったら（後日でも）入力してください。</p>{}", numbers_fields(false)),
            "聞き取った番号を記録",
            false,
            "reported-numbers",
        ),
        Step::FileFushouClaim => "<p>番号がわからないままなら、保険者番号等「不詳」で請求し、摘要欄に申立書の住所・事業所名・連絡先等を記載します（上の「請求」欄）。</p>".into(),
        Step::HoldClaim => "<p>この診療月は「不詳」での請求ができないため、番号がわかるまで請求を保留します。</p>".into(),
        Step::SubmitOutageUsageReport => "<p>メールで届いた利用報告書に記入し、件名「システム障害時機能の利用報告」で提出してください。</p>".into(),
    }
}

// ------------------------------------------------------------------------------- actions

async fn act(
    State(d): State<Desk>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(crate::VisitError::NotFound(_)) => return not_found(),
        Err(e) => return internal(e),
    };
    let staff = staff_of(&headers);
    match apply(&d, &v, &params, staff.as_deref()).await {
        Ok(message) => {
            let to = match message {
                Some(m) => format!("/desk/visits/{id}?msg={}", urlencode(&m)),
                None => format!("/desk/visits/{id}"),
            };
            Redirect::to(&to).into_response()
        }
        Err(e) => render_visit(&d, &v, Some(&e), None, StatusCode::BAD_REQUEST),
    }
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

/// Records one fact and the decision it leads to; returns an optional message for the clerk
/// or an error in Japanese naming the field.
async fn apply(
    d: &Desk,
    v: &Visit,
    params: &Params,
    staff: Option<&str>,
) -> Result<Option<String>, String> {
    let mut s = v.situation.clone();
    let action = p(params, "action");
    let mut message = None;
    let what: String = match action {
        "card_received" => {
            let serial = p(params, "card_serial");
            if serial.is_empty() || serial.chars().count() > 64 {
                return Err(
                    "カード番号：カードリーダーに置いたカードの番号を入力してください".into(),
                );
            }
            let pinless = p(params, "pinless") == "on";
            s.my_number_card = Presented::Shown(CardAtDesk {
                pin_set: !pinless,
                form: Default::default(),
                face: Attempt::NotTried,
                pin: PinAttempt::NotTried,
                visual: Attempt::NotTried,
                visual_staff_id: None,
                phone_auth: Attempt::NotTried,
            });
            d.visits.set_card(v.id, serial).map_err(|e| e.to_string())?;
            if pinless {
                "暗証番号なしのカードを受け取った".into()
            } else {
                "カードを受け取った".into()
            }
        }
        "no_card" => {
            s.my_number_card = Presented::Absent;
            "マイナ保険証なし".into()
        }
        "reader" => return reader(d, v, s, params, staff).await,
        "visual_failed" => {
            let staff_id = p(params, "visual_staff");
            let Some(card) = shown_card(&mut s) else {
                return Err("先にカードを受け取ってください".into());
            };
            card.visual = Attempt::Failed;
            card.visual_staff_id = Some(staff_id.to_string()).filter(|x| !x.is_empty());
            "目視確認：本人と確認できない".into()
        }
        "equipment" => {
            let cause = cause_from(p(params, "cause")).ok_or("トラブルの内容を選んでください")?;
            s.equipment_failure = Some(EquipmentFailure {
                cause,
                oqs_reachable: None,
            });
            format!("トラブル：{}", cause.label())
        }
        "doc_shown" => {
            let q = read_numbers(params)?;
            let expiry = match p(params, "expiry") {
                "" => None,
                e => Some(
                    e.parse::<NaiveDate>()
                        .map_err(|_| "有効期限：日付を入力してください".to_string())?,
                ),
            };
            let doc = DocumentShown {
                qualification: q,
                expiry,
                online_check: None,
            };
            let kind = p(params, "doc");
            let slot = doc_slot(&mut s, kind).ok_or("提示されたものを選んでください")?;
            *slot = Presented::Shown(doc);
            format!("{}の提示", doc_label(kind))
        }
        "doc_absent" => {
            let mut labels = Vec::new();
            for kind in p(params, "docs").split(',') {
                if let Some(slot) = doc_slot(&mut s, kind)
                    && slot.is_not_asked()
                {
                    *slot = Presented::Absent;
                    labels.push(doc_label(kind));
                }
            }
            format!("{}なし", labels.join("・"))
        }
        "numbers_query" => return numbers_query(d, v, s, params, staff).await,
        "numbers_online" => {
            let validity = QualificationValidity::parse(p(params, "result"))
                .map_err(|_| "結果を選んでください".to_string())?;
            let mut done = false;
            for slot in [
                &mut s.insurance_card,
                &mut s.shikaku_kakuninsho,
                &mut s.shikaku_joho_oshirase,
                &mut s.portal_screen,
                &mut s.prescription,
            ] {
                if let Presented::Shown(doc) = slot
                    && doc.online_check.is_none()
                    && !done
                {
                    doc.online_check = Some(validity);
                    done = true;
                }
            }
            if !done {
                return Err("オンラインで確認する書類がありません".into());
            }
            format!("記号・番号等でオンライン確認：{}", validity.label())
        }
        "outage" => {
            let status = match p(params, "status") {
                "requested" => OutageStatus::Requested,
                "active" => OutageStatus::Active,
                _ => return Err("状態を選んでください".into()),
            };
            s.outage_mode = Some(OutageMode {
                status,
                search: None,
            });
            "システム障害時モード：".to_string()
                + if status == OutageStatus::Active {
                    "利用可能"
                } else {
                    "依頼済み"
                }
        }
        "outage_found" => {
            let q = read_numbers(params)?;
            s.outage_mode = Some(OutageMode {
                status: OutageStatus::Active,
                search: Some(OutageSearch::Found { qualification: q }),
            });
            "システム障害時モード：該当あり".into()
        }
        "outage_not_found" => {
            s.outage_mode = Some(OutageMode {
                status: OutageStatus::Active,
                search: Some(OutageSearch::NotFound),
            });
            "システム障害時モード：該当なし".into()
        }
        "returning" => {
            let from: i64 = p(params, "from")
                .parse()
                .map_err(|_| "前回の受付を選んでください".to_string())?;
            let other = d
                .visits
                .get(from)
                .map_err(|_| "前回の受付が見つかりません".to_string())?;
            let claim = other
                .claim
                .as_ref()
                .ok_or("前回の受付に資格情報がありません")?;
            let (Some(insurer_number), Some(number)) =
                (claim.insurer_number.clone(), claim.number.clone())
            else {
                return Err("前回の受付に保険者番号・記号番号がありません".into());
            };
            s.returning_patient = Some(ReturningPatient {
                known_qualification: QualificationSeen {
                    insurer_number,
                    insurer_name: claim.insurer_name.clone(),
                    symbol: claim.symbol.clone().unwrap_or_default(),
                    number,
                    branch: claim.branch.clone(),
                    share_percent: other.charged_percent.filter(|p| *p < 100),
                },
                last_visit: Some(other.service_date),
                unchanged: None,
            });
            if s.birth_date.is_none() {
                s.birth_date = other.birth_date;
            }
            d.visits
                .set_patient(v.id, other.patient_label.as_deref(), other.birth_date)
                .map_err(|e| e.to_string())?;
            format!("再来患者：受付 {} の資格情報を使う", other.id)
        }
        "oral" => {
            let rp = s
                .returning_patient
                .as_mut()
                .ok_or("再来患者の前回情報を選んでください")?;
            let unchanged = p(params, "unchanged") == "yes";
            rp.unchanged = Some(unchanged);
            if unchanged {
                "口頭確認：変更なし"
            } else {
                "口頭確認：変更あり"
            }
            .into()
        }
        "form_declined" => {
            s.moushitatesho = Presented::Absent;
            "申立書の記入を断られた".into()
        }
        "birth_date" => {
            let era = ERAS
                .iter()
                .find(|(k, _)| *k == p(params, "era"))
                .map(|(_, e)| *e)
                .ok_or("生年月日：元号を選んでください")?;
            let num = |k: &str| {
                p(params, k)
                    .parse::<u32>()
                    .map_err(|_| "生年月日：年・月・日を数字で入力してください".to_string())
            };
            let w =
                WarekiDate::new(era, num("year")?, num("month")?, num("day")?).map_err(|_| {
                    "生年月日：その日付はありません（元号と年を確認してください）".to_string()
                })?;
            s.birth_date = Some(w.to_date());
            "生年月日を確認".into()
        }
        "select_qualification" => {
            let q = read_numbers(params)?;
            let online = s
                .online
                .as_mut()
                .ok_or("オンライン資格確認の結果がありません")?;
            online.qualification = Some(q);
            "複数該当：資格を選択".into()
        }
        "reported_numbers" => {
            let q = read_numbers(params)?;
            s.reported_numbers = Some(q);
            message = Some("聞き取った番号を記録しました。請求欄を確認してください。".to_string());
            "患者から番号を聞き取り（事後）".into()
        }
        "charge" => {
            let decision = assess(&s).map_err(|e| e.to_string())?;
            if !decision.settled {
                return Err(
                    "まだ負担割合が決まっていません。「次にすること」を進めてください".into(),
                );
            }
            d.visits
                .charge(v.id, staff, &decision)
                .map_err(|e| e.to_string())?;
            return Ok(None);
        }
        _ => return Err("操作が分かりません".into()),
    };
    let decision = assess(&s).map_err(|e| format!("この内容は記録できません：{}", e.message))?;
    d.visits
        .update(v.id, &s, staff, &what, &decision)
        .map_err(|e| e.to_string())?;
    if v.charged_at.is_some() {
        d.visits
            .update_claim(v.id, &decision)
            .map_err(|e| e.to_string())?;
    }
    Ok(message)
}

fn shown_card(s: &mut Situation) -> Option<&mut CardAtDesk> {
    match &mut s.my_number_card {
        Presented::Shown(c) => Some(c),
        _ => None,
    }
}

fn doc_slot<'a>(s: &'a mut Situation, kind: &str) -> Option<&'a mut Presented<DocumentShown>> {
    Some(match kind {
        "portal" => &mut s.portal_screen,
        "kakuninsho" => &mut s.shikaku_kakuninsho,
        "insurance_card" => &mut s.insurance_card,
        "oshirase" => &mut s.shikaku_joho_oshirase,
        "prescription" => &mut s.prescription,
        _ => return None,
    })
}

fn doc_label(kind: &str) -> &'static str {
    match kind {
        "portal" => "マイナポータルの資格情報画面",
        "kakuninsho" => "資格確認書",
        "insurance_card" => "健康保険証",
        "oshirase" => "資格情報のお知らせ",
        "prescription" => "処方箋",
        _ => "書類",
    }
}

/// One reader session through the terminal (R1–R3, R5, R15), and its facts in the situation.
pub(crate) async fn reader(
    d: &Desk,
    v: &Visit,
    mut s: Situation,
    params: &Params,
    staff: Option<&str>,
) -> Result<Option<String>, String> {
    let serial = d
        .visits
        .card_of(v.id)
        .map_err(|e| e.to_string())?
        .ok_or("先に「カードを受け取った」を押してください")?;
    let Some(card) = s.my_number_card.shown().cloned() else {
        return Err("先に「カードを受け取った」を押してください".into());
    };
    let mode = p(params, "mode");
    let absent = s.patient_presence == PatientPresence::Absent;
    let mut place = PlaceCard {
        card_serial: serial.clone(),
        confirmation_date: Some(s.service_date),
        face: None,
        pin: None,
        visual_staff_id: None,
        consent: Consents {
            limit: p(params, "consent_limit") == "on",
            drug: p(params, "consent_drug") == "on",
            checkup: p(params, "consent_checkup") == "on",
            diagnosis: p(params, "consent_diagnosis") == "on",
            operation: p(params, "consent_operation") == "on",
        },
    };
    match mode {
        "face" => {
            if s.patient_presence != PatientPresence::AtDesk {
                return Err("顔認証：患者さん本人がカードリーダーの前にいないため、顔認証はできません（R4）".into());
            }
            place.face = Some(
                if p(params, "face_result") == "fail" {
                    "fail"
                } else {
                    "ok"
                }
                .into(),
            );
        }
        "pin" => {
            if !card.pin_set {
                return Err("暗証番号：暗証番号を設定していないカードでは、暗証番号による本人確認はできません（R2）".into());
            }
            let pin = p(params, "pin");
            if pin.len() != 4 || !pin.chars().all(|c| c.is_ascii_digit()) {
                return Err("暗証番号：4桁の数字を入力してください".into());
            }
            place.pin = Some(pin.to_string());
        }
        "visual" => {
            if absent {
                return Err(
                    "目視確認：患者さん本人がいないため、目視確認はできません（R4）".into(),
                );
            }
            if p(params, "visual_done") != "on" {
                return Err(
                    "目視確認：写真と本人を見比べて「目視で本人確認完了」に✓を入れてください（R3）"
                        .into(),
                );
            }
            let sid = p(params, "visual_staff");
            if sid.is_empty() {
                return Err("目視確認：確認した職員IDを入力してください（だれが確認したかを記録します、R3）".into());
            }
            place.visual_staff_id = Some(sid.to_string());
        }
        _ => return Err("本人確認の方法を選んでください".into()),
    }
    let session: Session = d
        .terminal
        .place_card(&place)
        .await
        .map_err(|e| format!("カードリーダー：{e}"))?;
    let Some(c) = shown_card(&mut s) else {
        return Err("カードがありません".into());
    };
    let result = session
        .attempts
        .last()
        .map(|a| a.result.clone())
        .unwrap_or_default();
    let what;
    match mode {
        "face" => {
            c.face = if result == "ok" || session.outcome == "confirmed" {
                Attempt::Succeeded
            } else if result == "face_mismatch" {
                Attempt::Failed
            } else {
                c.face
            };
            what = format!(
                "顔認証：{}",
                if c.face == Attempt::Succeeded {
                    "一致"
                } else {
                    "一致しない"
                }
            );
        }
        "pin" => {
            c.pin = match result.as_str() {
                "ok" => PinAttempt::Succeeded,
                "pin_locked" => PinAttempt::Locked,
                "pin_not_set" => {
                    c.pin_set = false;
                    PinAttempt::NotTried
                }
                "pin_wrong" => PinAttempt::Failed,
                _ if session.outcome == "confirmed" => PinAttempt::Succeeded,
                _ => c.pin,
            };
            what = format!(
                "暗証番号：{}",
                match c.pin {
                    PinAttempt::Succeeded => "一致",
                    PinAttempt::Locked => "ロック",
                    PinAttempt::Failed => "不一致",
                    PinAttempt::NotTried => "暗証番号なしのカード",
                }
            );
        }
        _ => {
            c.visual = Attempt::Succeeded;
            c.visual_staff_id = place.visual_staff_id.clone();
            what = format!(
                "目視確認：本人確認完了（職員 {}）",
                place.visual_staff_id.clone().unwrap_or_default()
            );
        }
    }
    let mut message = session.error_message.clone();
    match session.outcome {
        "confirmed" => {
            let validity = session
                .qualification_validity
                .as_deref()
                .and_then(|x| QualificationValidity::parse(x).ok())
                .ok_or("オンライン資格確認の結果が読めません")?;
            let entries = session
                .response
                .as_ref()
                .map(|r| r.body.results.clone())
                .unwrap_or_default();
            let first = entries.first();
            let qualification = match validity {
                QualificationValidity::Valid | QualificationValidity::Invalid => {
                    first.and_then(seen_from_entry)
                }
                _ => None,
            };
            if let Some(e) = first {
                let birth = e
                    .insured
                    .birthdate
                    .as_deref()
                    .and_then(|b| onshi_domain::wareki::parse_yyyymmdd(b).ok());
                if birth.is_some() {
                    s.birth_date = birth;
                }
                d.visits
                    .set_patient(v.id, e.insured.name.as_deref(), birth)
                    .map_err(|e| e.to_string())?;
            }
            s.online = Some(OnlineResult {
                validity,
                qualification,
            });
            message = None;
        }
        "unreachable" => {
            s.equipment_failure = Some(EquipmentFailure {
                cause: FailureCause::FacilityNetwork,
                oqs_reachable: Some(false),
            });
            message = Some(
                "オンライン資格確認等システムに接続できません。機器等のトラブルとして案内します。"
                    .into(),
            );
        }
        "error" => {
            let cause = if result.contains("chip") {
                FailureCause::IcChipBroken
            } else if result.contains("cert")
                || result.contains("revoked")
                || result.contains("expired")
            {
                FailureCause::CertificateExpired
            } else {
                FailureCause::CardSurfaceDamaged
            };
            s.equipment_failure = Some(EquipmentFailure {
                cause,
                oqs_reachable: None,
            });
        }
        _ => {}
    }
    let decision = assess(&s).map_err(|e| format!("この内容は記録できません：{}", e.message))?;
    d.visits
        .update(v.id, &s, staff, &what, &decision)
        .map_err(|e| e.to_string())?;
    Ok(message)
}

/// The document whose numbers still wait for an online check (R7).
fn unchecked_document(s: &mut Situation) -> Option<&mut DocumentShown> {
    [
        &mut s.insurance_card,
        &mut s.shikaku_kakuninsho,
        &mut s.shikaku_joho_oshirase,
        &mut s.portal_screen,
        &mut s.prescription,
    ]
    .into_iter()
    .find_map(|slot| match slot {
        Presented::Shown(doc) if doc.online_check.is_none() => Some(doc),
        _ => None,
    })
}

/// Confirms a document's numbers online (照会区分 2, R7) the way a receipt computer does: an
/// `OQSsiquc01req_` file in the terminal's `req` folder, answered in `res`.
async fn numbers_query(
    d: &Desk,
    v: &Visit,
    mut s: Situation,
    params: &Params,
    staff: Option<&str>,
) -> Result<Option<String>, String> {
    let birth = match s.birth_date.or(v.birth_date) {
        Some(b) => b,
        None => {
            let era = ERAS
                .iter()
                .find(|(k, _)| *k == p(params, "era"))
                .map(|(_, e)| *e)
                .ok_or("生年月日：元号を選んでください（照会に必要です）")?;
            let num = |k: &str| {
                p(params, k)
                    .parse::<u32>()
                    .map_err(|_| "生年月日：年・月・日を数字で入力してください".to_string())
            };
            WarekiDate::new(era, num("year")?, num("month")?, num("day")?)
                .map_err(|_| {
                    "生年月日：その日付はありません（元号と年を確認してください）".to_string()
                })?
                .to_date()
        }
    };
    let doc = unchecked_document(&mut s).ok_or("オンラインで確認する書類がありません")?;
    let q = doc.qualification.clone();
    let request = onshi_formats::terminal_xml::siquc01::SingleRequest {
        header: onshi_formats::terminal_xml::RequestHeader {
            qualification_confirmation_date: v.service_date,
            medical_institution_code: d.terminal.config().facility.clone(),
            arbitrary_file_identifier: Some(format!("desk-{}", v.id)),
        },
        search: onshi_formats::terminal_xml::SearchInfo {
            insurer_number: q.insurer_number.clone(),
            symbol: q.symbol.clone(),
            number: q.number.clone(),
            branch: q.branch.clone(),
            birthdate: birth,
            limit_consent: onshi_domain::codes::LimitConsent::NotConsented,
        },
    };
    let bytes = request
        .write(onshi_formats::terminal_xml::Encoding::Utf8)
        .map_err(|e| format!("照会電文を作れません：{e}"))?;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S%3f");
    let name = format!("OQSsiquc01req_desk{}_{stamp}.xml", v.id);
    let res_name = name.replacen("req", "res", 1);
    let ex = d.terminal.exchange().clone();
    onshi_terminal::exchange::write_atomic(&ex.req, &name, &bytes)
        .map_err(|e| format!("照会ファイルを書けません：{e}"))?;
    // answer it now (a running terminal watching req/ may already have: it answers once)
    let _ = d.terminal.handle_file(&name).await;
    let wait = d.terminal.config().central_timeout + std::time::Duration::from_secs(3);
    let deadline = std::time::Instant::now() + wait;
    let res_path = ex.res.join(&res_name);
    let answer = loop {
        if let Ok(b) = tokio::fs::read(&res_path).await {
            break b;
        }
        if std::time::Instant::now() > deadline {
            return Err("資格確認端末から回答がありません。端末の状態を確認するか、結果を手で記録してください".into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (_, resp) = onshi_formats::terminal_xml::siquc01::QualificationResponse::read(&answer)
        .map_err(|e| format!("回答を読めません：{e}"))?;
    let Some(validity) = resp
        .body
        .qualification_validity
        .as_deref()
        .and_then(|x| QualificationValidity::parse(x).ok())
    else {
        if resp.header.error_code.as_deref()
            == Some(onshi_terminal::answer::codes::CENTRAL_UNREACHABLE)
        {
            d.visits
                .mark_unconfirmed(
                    v.id,
                    "記号・番号等でのオンライン資格確認（中央に接続できない）",
                )
                .map_err(|e| e.to_string())?;
        }
        return Err(format!(
            "オンライン資格確認ができませんでした：{}",
            resp.header
                .error_message
                .unwrap_or_else(|| "（理由不明）".into())
        ));
    };
    let doc = unchecked_document(&mut s).ok_or("オンラインで確認する書類がありません")?;
    doc.online_check = Some(validity);
    if s.birth_date.is_none() {
        s.birth_date = Some(birth);
    }
    let what = format!(
        "記号・番号等でオンライン確認（{res_name}）：{}",
        validity.label()
    );
    let decision = assess(&s).map_err(|e| format!("この内容は記録できません：{}", e.message))?;
    d.visits
        .update(v.id, &s, staff, &what, &decision)
        .map_err(|e| e.to_string())?;
    Ok(None)
}

fn seen_from_entry(
    e: &onshi_formats::terminal_xml::QualificationEntry,
) -> Option<QualificationSeen> {
    let i = &e.insured;
    let insurer_number = InsurerNumber::parse(i.insurer_number.as_deref()?).ok()?;
    let number = InsuredNumber::parse(i.insured_identification_number.as_deref()?).ok()?;
    let symbol = InsuredSymbol::parse(i.insured_card_symbol.as_deref().unwrap_or("")).ok()?;
    let branch = i
        .insured_branch_number
        .as_deref()
        .and_then(|b| BranchNumber::parse(b).ok());
    let ratio = e
        .elderly
        .as_ref()
        .and_then(|x| x.elderly_recipient_contribution_ratio.as_deref())
        .or(i.insured_partial_contribution_ratio.as_deref())
        .and_then(|r| r.trim().parse::<u8>().ok())
        .filter(|r| matches!(r, 10 | 20 | 30));
    Some(QualificationSeen {
        insurer_number,
        insurer_name: i.insurer_name.clone(),
        symbol,
        number,
        branch,
        share_percent: ratio,
    })
}

// ------------------------------------------------------------------------------- 申立書

/// An empty 申立書 pre-filled from what is known (R26): the name and birth date of the visit,
/// and the kana, sex and address of the card's last result in the terminal's history.
fn known_input(d: &Desk, v: &Visit) -> FormInput {
    let mut f = FormInput::prefilled(
        v.patient_label.as_deref(),
        v.birth_date.or(v.situation.birth_date),
        v.service_date,
    );
    let Ok(Some(serial)) = d.visits.card_of(v.id) else {
        return f;
    };
    let query = HistoryQuery {
        card_serial: Some(serial),
        limit: Some(5),
        ..HistoryQuery::default()
    };
    let rows = d.terminal.history(&query).unwrap_or_default();
    let insured = rows.into_iter().find_map(|row| {
        serde_json::from_value::<onshi_formats::terminal_xml::siquc01::QualificationResponse>(
            row.response,
        )
        .ok()?
        .body
        .results
        .into_iter()
        .next()
        .map(|e| e.insured)
    });
    if let Some(i) = insured {
        if f.name.is_empty() {
            f.name = i.name.unwrap_or_default();
        }
        if let Some(k) = i.name_kana {
            f.name_kana = onshi_domain::kana::to_fullwidth_katakana(&k);
        }
        if let Some(sex) = i.sex1.filter(|x| x == "1" || x == "2") {
            f.sex = sex;
        }
        if let Some(a) = i.address {
            f.address = a;
        }
    }
    f
}

async fn form_page(State(d): State<Desk>, Path(id): Path<i64>) -> Response {
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(crate::VisitError::NotFound(_)) => return not_found(),
        Err(e) => return internal(e),
    };
    let input = match v.situation.moushitatesho.shown() {
        Some(m) if v.form_purged_at.is_none() => FormInput::from_form(m),
        _ => known_input(&d, &v),
    };
    crate::print::entry_page(&d, &v, &input, &[], &[], StatusCode::OK)
}

async fn form_post(
    State(d): State<Desk>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(input): Form<FormInput>,
) -> Response {
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(crate::VisitError::NotFound(_)) => return not_found(),
        Err(e) => return internal(e),
    };
    let checked = match input.check(v.service_date, v.birth_date.or(v.situation.birth_date)) {
        Ok(c) => c,
        Err(errors) => {
            return crate::print::entry_page(&d, &v, &input, &errors, &[], StatusCode::BAD_REQUEST);
        }
    };
    let mut s = v.situation.clone();
    s.moushitatesho = Presented::Shown(checked.form.clone());
    if s.birth_date.is_none() {
        s.birth_date = checked.form.birth_date.map(|w| w.to_date());
    }
    let decision = match assess(&s) {
        Ok(x) => x,
        Err(e) => {
            let errors = vec![crate::moushitatesho::FieldMessage {
                input: "era",
                field: "申立書",
                message: e.message,
                rule: e.rule,
            }];
            return crate::print::entry_page(&d, &v, &input, &errors, &[], StatusCode::BAD_REQUEST);
        }
    };
    let staff = staff_of(&headers);
    if let Err(e) = d
        .visits
        .update(v.id, &s, staff.as_deref(), "申立書を受け付け", &decision)
    {
        return internal(e);
    }
    if v.patient_label.is_none() {
        let _ = d
            .visits
            .set_patient(v.id, checked.form.name.as_deref(), None);
    }
    if v.charged_at.is_some() {
        let _ = d.visits.update_claim(v.id, &decision);
    }
    let msg = if checked.reminders.is_empty() {
        "申立書を受け付けました。".to_string()
    } else {
        format!(
            "申立書を受け付けました。確認：{}",
            checked
                .reminders
                .iter()
                .map(|r| r.text())
                .collect::<Vec<_>>()
                .join(" ／ ")
        )
    };
    Redirect::to(&format!("/desk/visits/{id}?msg={}", urlencode(&msg))).into_response()
}

async fn print_page(State(d): State<Desk>, Path(id): Path<i64>) -> Response {
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(crate::VisitError::NotFound(_)) => return not_found(),
        Err(e) => return internal(e),
    };
    let input = match v.situation.moushitatesho.shown() {
        Some(m) if v.form_purged_at.is_none() => FormInput::from_form(m),
        _ => known_input(&d, &v),
    };
    crate::print::printable(&input).into_response()
}

async fn situation_json(State(d): State<Desk>, Path(id): Path<i64>) -> Response {
    match d.visits.get(id) {
        Ok(v) => Json(v.situation).into_response(),
        Err(crate::VisitError::NotFound(_)) => not_found(),
        Err(e) => internal(e),
    }
}

// ------------------------------------------------------------------------------- history

async fn history_page(State(d): State<Desk>, Query(q): Query<Params>) -> Response {
    let query = HistoryQuery {
        card_serial: q.get("card_serial").filter(|s| !s.is_empty()).cloned(),
        limit: Some(50),
        ..HistoryQuery::default()
    };
    let rows = match d.terminal.history(&query) {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let mut t = String::new();
    for r in &rows {
        let validity = r
            .validity
            .as_deref()
            .and_then(|x| QualificationValidity::parse(x).ok())
            .map(|x| x.label().to_string())
            .unwrap_or_else(|| r.error_class.clone().unwrap_or_else(|| "—".into()));
        t.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}・{} {}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.processed_at),
            esc(r.name.as_deref().unwrap_or("")),
            esc(r.card_serial.as_deref().unwrap_or("")),
            esc(r.identity_method.as_deref().unwrap_or("")),
            esc(&validity),
            esc(r.insurer_number.as_deref().unwrap_or("")),
            esc(r.insured_card_symbol.as_deref().unwrap_or("")),
            esc(r.insured_identification_number.as_deref().unwrap_or("")),
            esc(r.insured_branch_number.as_deref().unwrap_or("")),
            esc(r.disqualification_date.as_deref().unwrap_or("")),
            esc(r.staff_id.as_deref().unwrap_or("")),
        ));
    }
    let body = format!(
        "<h1>資格確認履歴</h1><p class=\"hint\">「資格（無効）」の行には喪失した資格の旧保険者番号・旧記号番号と喪失日が残ります。請求で使えます（R19）。<span class=\"rule\">根拠 R6</span></p>\
         <form method=\"get\"><input type=\"text\" name=\"card_serial\" placeholder=\"カード番号で絞り込み\" value=\"{}\"> <button type=\"submit\">絞り込む</button></form>\
         <table id=\"history\"><tr><th>日時</th><th>氏名</th><th>カード</th><th>本人確認</th><th>結果</th><th>保険者番号・記号番号・枝番</th><th>喪失日</th><th>目視確認の職員</th></tr>{t}</table>",
        esc(q.get("card_serial").map(String::as_str).unwrap_or(""))
    );
    page("資格確認履歴 — onshi", &facility_label(&d), &body).into_response()
}
