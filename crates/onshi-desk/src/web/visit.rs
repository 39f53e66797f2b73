//! The visit screen: the share to charge, the online result, the next step highlighted with
//! its form, the other acceptable steps, the claim, corrections (an equipment failure, a
//! returning patient) and who did what. Every step and its rules come from the engine
//! (`onshi_domain::desk::assess` on the visit's stored situation).

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use onshi_domain::codes::QualificationValidity;
use onshi_domain::desk::{
    Claim, ConfirmationSource, Decision, FailureCause, PatientPresence, Step, StepOffer, assess,
};
use onshi_ui::Layout;

use super::{
    Params, QualView, Screen, basis_code, basis_label, failure_label, identity_label, internal,
    not_found, percent_label, share_source_label, source_label, symbol_number, urlencode,
};
use crate::moushitatesho::ERAS;
use crate::visits::Visit;

/// How the card is to be read: the reader's three identity methods (R1–R3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReaderMode {
    Face,
    Pin,
    Visual,
}

impl ReaderMode {
    pub fn code(&self) -> &'static str {
        match self {
            ReaderMode::Face => "face",
            ReaderMode::Pin => "pin",
            ReaderMode::Visual => "visual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "face" => Some(ReaderMode::Face),
            "pin" => Some(ReaderMode::Pin),
            "visual" => Some(ReaderMode::Visual),
            _ => None,
        }
    }
}

/// The form a step offers (`templates/desk/step_form.html`).
pub(crate) enum StepForm {
    AskForCard,
    Reader(ReaderMode),
    SelectQualification,
    /// The documents that may be shown (code, label), whether an expiry is asked, and the
    /// ids of the two buttons and the list of codes.
    Documents(
        Vec<(&'static str, &'static str)>,
        bool,
        (String, String, String),
    ),
    /// Whether the birth date is already known.
    NumbersOnline(bool),
    RequestOutage,
    SearchOutage,
    Oral(Option<QualView>),
    Moushitatesho,
    BirthDate,
    /// The button's label, or `None` once charged.
    Charge(Option<String>),
    /// The card serial, URL-encoded.
    History(String),
    NumbersLater,
    Text(&'static str),
}

/// One step offered on the visit screen, with its form.
pub(crate) struct StepPanel {
    pub visit: i64,
    pub label: String,
    pub rules: Vec<&'static str>,
    pub primary: bool,
    pub pinless: bool,
    pub staff: String,
    pub csrf: Option<String>,
    pub form: StepForm,
}

pub(crate) struct ShareView {
    pub class: &'static str,
    pub percent: String,
    pub state: &'static str,
    pub source: &'static str,
    pub rules: Vec<&'static str>,
}

pub(crate) struct OnlineView {
    pub class: &'static str,
    pub text: &'static str,
    pub lost: bool,
    pub qualification: Option<QualView>,
}

pub(crate) enum AfterFactView {
    Nothing,
    Open,
    /// Source label, the central's audit id, when.
    Resolved(&'static str, Option<i64>, String),
}

pub(crate) enum Tekiyou {
    Nothing,
    Purged(String),
    Text(String),
}

pub(crate) struct ClaimPanel {
    pub basis_code: &'static str,
    pub basis_label: &'static str,
    pub rules: Vec<&'static str>,
    /// 保険者番号 and 記号・番号, or `None` for 不詳.
    pub numbers: Option<(String, String)>,
    pub tekiyou: Tekiyou,
}

pub(crate) enum ClaimView {
    Nothing,
    FullCost,
    Claim(ClaimPanel),
}

pub(crate) struct ReturningRow {
    pub id: i64,
    pub service_date: String,
    pub name: String,
    pub birth_date: String,
    pub numbers: String,
    pub share: String,
}

pub(crate) struct Corrections {
    pub causes: Vec<(&'static str, &'static str)>,
    /// `None` when the visit already has a returning patient; empty when none was found.
    pub returning: Option<Vec<ReturningRow>>,
}

pub(crate) struct StepRow {
    pub at: String,
    pub staff: String,
    pub action: String,
    pub next_step: String,
    pub share: String,
}

#[derive(Template)]
#[template(path = "desk/visit.html")]
pub(crate) struct VisitPage {
    layout: Layout,
    id: i64,
    who: String,
    service_date: String,
    presence: &'static str,
    error: Option<String>,
    message: Option<String>,
    after_fact: AfterFactView,
    share: Option<ShareView>,
    online: Option<OnlineView>,
    identity: String,
    confirmation: &'static str,
    failure: Option<&'static str>,
    confirmed: Option<QualView>,
    next: Option<StepPanel>,
    alternatives: Vec<StepPanel>,
    notes: Vec<(String, &'static str)>,
    claim: ClaimView,
    follow_ups: Vec<StepPanel>,
    corrections: Option<Corrections>,
    steps: Vec<StepRow>,
    situation_json: String,
    eras: Vec<(&'static str, &'static str)>,
}

/// The failure causes the desk can record (R8), with the codes its form posts.
pub(crate) const CAUSES: [(FailureCause, &str); 8] = [
    (FailureCause::ReaderBroken, "reader_broken"),
    (FailureCause::TerminalBroken, "terminal_broken"),
    (FailureCause::CardSurfaceDamaged, "card_surface_damaged"),
    (FailureCause::IcChipBroken, "ic_chip_broken"),
    (FailureCause::CertificateExpired, "certificate_expired"),
    (FailureCause::PowerCut, "power_cut"),
    (FailureCause::FacilityNetwork, "facility_network"),
    (FailureCause::WideAreaNetwork, "wide_area_network"),
];

pub(crate) async fn show(sc: Screen, Path(id): Path<i64>, Query(q): Query<Params>) -> Response {
    let v = match sc.desk.visits.get(id) {
        Ok(v) => v,
        Err(crate::VisitError::NotFound(_)) => return not_found(&sc.desk),
        Err(e) => return internal(&sc.desk, e),
    };
    render(
        &sc,
        &v,
        None,
        q.get("msg").map(String::as_str),
        StatusCode::OK,
    )
}

/// The visit screen, with an error (the last action was refused) or a message.
pub(crate) fn render(
    sc: &Screen,
    v: &Visit,
    error: Option<&str>,
    msg: Option<&str>,
    status: StatusCode,
) -> Response {
    let d = &sc.desk;
    let decision = match assess(&v.situation) {
        Ok(x) => x,
        Err(e) => return internal(d, e),
    };
    let after_fact = match d.visits.after_fact(v.id) {
        Ok(Some(a)) => match &a.resolved_at {
            None if decision.confirmation.source.confirms_current() => AfterFactView::Nothing,
            None => AfterFactView::Open,
            Some(at) => AfterFactView::Resolved(
                match a.source.as_deref() {
                    Some("outage_search") => "システム障害時モードの検索",
                    Some("card") => "マイナ保険証でのオンライン資格確認",
                    _ => "—",
                },
                a.audit_id,
                at.clone(),
            ),
        },
        _ => AfterFactView::Nothing,
    };
    let panel = |offer: &StepOffer, primary: bool| step_panel(sc, v, &decision, offer, primary);
    let settled_and_charged = v.charged_at.is_some() && decision.settled;
    let (next, alternatives) = if settled_and_charged {
        (None, Vec::new())
    } else {
        (
            Some(panel(&decision.next_step, true)),
            decision
                .alternatives
                .iter()
                .map(|a| panel(a, false))
                .collect(),
        )
    };
    let page = VisitPage {
        layout: sc.layout(format!("受付 {} — onshi", v.id), "home"),
        id: v.id,
        who: v
            .patient_label
            .clone()
            .unwrap_or_else(|| "（氏名未確認）".into()),
        service_date: v.service_date.to_string(),
        presence: match v.situation.patient_presence {
            PatientPresence::AtDesk => "患者本人が窓口",
            PatientPresence::InWaitingArea => "患者本人は待合室",
            PatientPresence::Absent => "代理人（患者本人は不在）",
        },
        error: error.map(str::to_string),
        message: msg.map(str::to_string),
        after_fact,
        share: share_view(&decision, v),
        online: online_view(v),
        identity: identity_label(&decision.identity),
        confirmation: source_label(decision.confirmation.source),
        failure: decision.failure_class.map(failure_label),
        confirmed: (decision.confirmation.source != ConfirmationSource::OnlineCard)
            .then(|| {
                decision
                    .confirmation
                    .qualification
                    .as_ref()
                    .map(QualView::of)
            })
            .flatten(),
        next,
        alternatives,
        notes: decision
            .notes
            .iter()
            .map(|n| (n.text.clone(), n.rule))
            .collect(),
        claim: claim_view(v, &decision),
        follow_ups: decision
            .follow_ups
            .iter()
            .map(|f| panel(f, false))
            .collect(),
        corrections: corrections(sc, v),
        steps: v
            .steps
            .iter()
            .map(|st| StepRow {
                at: st.at.replace('T', " ").replace("+09:00", ""),
                staff: st.staff.clone().unwrap_or_default(),
                action: st.action.clone(),
                next_step: step_label(&st.next_step),
                share: st.share_percent.map(percent_label).unwrap_or_default(),
            })
            .collect(),
        situation_json: serde_json::to_string_pretty(&v.situation).unwrap_or_default(),
        eras: eras(),
    };
    onshi_ui::page_with(status, &page)
}

pub(crate) fn eras() -> Vec<(&'static str, &'static str)> {
    ERAS.iter().map(|(k, e)| (*k, e.kanji())).collect()
}

fn share_view(decision: &Decision, v: &Visit) -> Option<ShareView> {
    let s = decision.share.as_ref()?;
    Some(ShareView {
        class: if s.percent >= 100 {
            "share full"
        } else {
            "share"
        },
        percent: percent_label(s.percent),
        state: if v.charged_at.is_some() {
            "会計済み"
        } else if decision.settled {
            "この割合で会計してください"
        } else {
            "見込み"
        },
        source: share_source_label(s.source),
        rules: s.rules.clone(),
    })
}

fn online_view(v: &Visit) -> Option<OnlineView> {
    let o = v.situation.online.as_ref()?;
    let (class, text) = match o.validity {
        QualificationValidity::Valid | QualificationValidity::ValidUnregistered => {
            ("ok", "資格（有効）")
        }
        QualificationValidity::Invalid | QualificationValidity::InvalidNewerExists => {
            ("ng", "資格（無効）")
        }
        QualificationValidity::NotFound => ("ng", "資格情報なし"),
        QualificationValidity::Multiple => ("warn", "複数該当"),
    };
    Some(OnlineView {
        class,
        text,
        lost: matches!(o.validity, QualificationValidity::Invalid) && o.qualification.is_some(),
        qualification: o.qualification.as_ref().map(QualView::of),
    })
}

fn claim_view(v: &Visit, decision: &Decision) -> ClaimView {
    let claim: Option<&Claim> = decision.claim.as_ref().or(v.claim.as_ref());
    let Some(c) = claim else {
        if decision.share.as_ref().is_some_and(|s| s.percent >= 100) {
            return ClaimView::FullCost;
        }
        return ClaimView::Nothing;
    };
    let numbers = match (&c.insurer_number, &c.number) {
        (Some(i), Some(n)) => Some((
            i.as_str().to_string(),
            symbol_number(
                c.symbol.as_ref().map(|s| s.as_str()).unwrap_or(""),
                n.as_str(),
            ),
        )),
        _ => None,
    };
    let tekiyou = match (&c.tekiyou, v.form_purged_at.as_deref()) {
        (_, Some(at)) => Tekiyou::Purged(at.to_string()),
        (Some(t), None) => Tekiyou::Text(t.clone()),
        _ => Tekiyou::Nothing,
    };
    ClaimView::Claim(ClaimPanel {
        basis_code: basis_code(c.basis),
        basis_label: basis_label(c.basis),
        rules: c.rules.clone(),
        numbers,
        tekiyou,
    })
}

fn step_label(code: &str) -> String {
    serde_json::from_value::<Step>(serde_json::Value::String(code.to_string()))
        .map(|s| s.label().to_string())
        .unwrap_or_else(|_| code.to_string())
}

/// Facts that can be given at any time: an equipment failure, the returning patient (R10).
fn corrections(sc: &Screen, v: &Visit) -> Option<Corrections> {
    if v.charged_at.is_some() {
        return None;
    }
    let returning = v
        .situation
        .returning_patient
        .is_none()
        .then(|| returning_rows(sc, v));
    Some(Corrections {
        causes: CAUSES.iter().map(|(c, code)| (*code, c.label())).collect(),
        returning,
    })
}

fn returning_rows(sc: &Screen, v: &Visit) -> Vec<ReturningRow> {
    let list = sc.desk.visits.list(200).unwrap_or_default();
    let mut rows = Vec::new();
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
        if rows.len() == 8 {
            break;
        }
        rows.push(ReturningRow {
            id: other.id,
            service_date: other.service_date.to_string(),
            name: other
                .patient_label
                .clone()
                .unwrap_or_else(|| "（氏名なし）".into()),
            birth_date: other.birth_date.map(|b| b.to_string()).unwrap_or_default(),
            numbers: format!(
                "{} {}・{}",
                ins.as_str(),
                c.symbol.as_ref().map(|s| s.as_str()).unwrap_or(""),
                num.as_str()
            ),
            share: other.charged_percent.map(percent_label).unwrap_or_default(),
        });
    }
    rows
}

fn documents(docs: Vec<(&'static str, &'static str)>, with_expiry: bool) -> StepForm {
    let first = docs.first().map(|(c, _)| *c).unwrap_or("");
    let list = docs.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(",");
    StepForm::Documents(
        docs,
        with_expiry,
        (
            format!("doc-shown-{first}"),
            format!("doc-absent-{first}"),
            list,
        ),
    )
}

/// The form that records the fact a step asks for.
fn step_panel(
    sc: &Screen,
    v: &Visit,
    decision: &Decision,
    offer: &StepOffer,
    primary: bool,
) -> StepPanel {
    let form = match offer.step {
        Step::AskForCard => StepForm::AskForCard,
        Step::ReadCard | Step::RetryFace | Step::RunOnlineConfirmation => {
            StepForm::Reader(ReaderMode::Face)
        }
        Step::EnterPin => StepForm::Reader(ReaderMode::Pin),
        Step::SwitchToVisualMode | Step::RecordVisualStaff => StepForm::Reader(ReaderMode::Visual),
        Step::SelectQualification => StepForm::SelectQualification,
        Step::AskPortalScreen => documents(vec![("portal", "マイナポータルの資格情報画面")], false),
        Step::AskInsuranceDocument => documents(
            vec![
                ("kakuninsho", "資格確認書"),
                ("insurance_card", "健康保険証"),
            ],
            true,
        ),
        Step::AskOshirase => documents(vec![("oshirase", "資格情報のお知らせ")], false),
        Step::AskPrescription => {
            documents(vec![("prescription", "処方箋（保険者番号等の欄）")], false)
        }
        Step::ConfirmNumbersOnline => {
            StepForm::NumbersOnline(v.situation.birth_date.or(v.birth_date).is_some())
        }
        Step::RequestOutageMode => StepForm::RequestOutage,
        Step::SearchOutageMode | Step::SearchOutageModeAfterwards => StepForm::SearchOutage,
        Step::ConfirmOrallyUnchanged => StepForm::Oral(
            v.situation
                .returning_patient
                .as_ref()
                .map(|r| QualView::of(&r.known_qualification)),
        ),
        Step::AskMoushitatesho => StepForm::Moushitatesho,
        Step::EnterBirthDate => StepForm::BirthDate,
        Step::ChargeShare | Step::ChargeFull => {
            StepForm::Charge(v.charged_at.is_none().then(|| {
                decision
                    .share
                    .as_ref()
                    .map(|s| format!("{}で会計した", percent_label(s.percent)))
                    .unwrap_or_else(|| "会計した".into())
            }))
        }
        Step::CheckConfirmationHistory => {
            StepForm::History(urlencode(v.card_serial.as_deref().unwrap_or("")))
        }
        Step::AskNumbersLater => StepForm::NumbersLater,
        Step::FileFushouClaim => StepForm::Text(
            "番号がわからないままなら、保険者番号等「不詳」で請求し、摘要欄に申立書の住所・事業所名・連絡先等を記載します（上の「請求」欄）。",
        ),
        Step::HoldClaim => StepForm::Text(
            "この診療月は「不詳」での請求ができないため、番号がわかるまで請求を保留します。",
        ),
        Step::SubmitOutageUsageReport => StepForm::Text(
            "メールで届いた利用報告書に記入し、件名「システム障害時機能の利用報告」で提出してください。",
        ),
    };
    StepPanel {
        visit: v.id,
        label: offer.label.clone(),
        rules: offer.rules.clone(),
        primary,
        pinless: v
            .situation
            .my_number_card
            .shown()
            .is_some_and(|c| !c.pin_set),
        staff: sc.staff().to_string(),
        csrf: sc.csrf.clone(),
        form,
    }
}
