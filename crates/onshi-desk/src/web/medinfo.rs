//! Medical information under consent (R2), one screen per kind: `GET
//! /desk/visits/{id}/medinfo/{kind}` (`drug`, `checkup`, `diagnosis`, `operation`), reached from
//! the visit once the online confirmation has given the patient's numbers. The central decides
//! (the consent given at this facility's reader, not lapsed) and records the view; the screen
//! shows the records, or the central's reason for refusing.

use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use onshi_central::medinfo::{MedicalInfoAnswer, MedicalInfoQuery};
use onshi_domain::medinfo::{DrugSource, MedicalInfoKind, MedicalRecords};
use onshi_ui::Layout;

use super::{Screen, bad_request, internal, not_found};

pub(crate) struct DrugRow {
    date: String,
    source: &'static str,
    facility: String,
    name: String,
    quantity: String,
    usage: String,
    times: String,
}

pub(crate) struct CheckupRow {
    date: String,
    item: String,
    value: String,
    unit: String,
}

pub(crate) struct TreatmentRow {
    date: String,
    facility: String,
    code: String,
    name: String,
    times: String,
}

#[derive(Template)]
#[template(path = "desk/medinfo.html")]
struct MedInfoPage {
    layout: Layout,
    id: i64,
    who: String,
    kind: &'static str,
    kind_label: &'static str,
    tabs: Vec<(&'static str, &'static str)>,
    refusal: Option<String>,
    drugs: Vec<DrugRow>,
    checkups: Vec<CheckupRow>,
    treatments: Vec<TreatmentRow>,
    empty: bool,
}

fn source_label(s: DrugSource) -> &'static str {
    match s {
        DrugSource::Claim => "レセプト",
        DrugSource::Prescription => "電子処方箋（処方）",
        DrugSource::Dispensing => "電子処方箋（調剤）",
    }
}

pub(crate) async fn page(sc: Screen, Path((id, kind)): Path<(i64, String)>) -> Response {
    let d = &sc.desk;
    let Some(kind) = MedicalInfoKind::parse(&kind) else {
        return bad_request(
            d,
            "種類が不明です",
            "drug, checkup, diagnosis, operation のいずれかです。",
        );
    };
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(crate::VisitError::NotFound(_)) => return not_found(d),
        Err(e) => return internal(d, e),
    };
    let Some(qual) = v
        .situation
        .online
        .as_ref()
        .and_then(|o| o.qualification.as_ref())
    else {
        return bad_request(
            d,
            "資格確認がまだです",
            "オンライン資格確認で保険者番号・記号番号が分かってから閲覧できます。",
        );
    };
    let q = MedicalInfoQuery {
        insurer_number: qual.insurer_number.clone(),
        symbol: qual.symbol.clone(),
        number: qual.number.clone(),
        branch: qual.branch.clone(),
        kinds: vec![kind],
        from: None,
        to: None,
        channel: "desk".into(),
    };
    let (refusal, records) = match d.terminal.medical_info(&q).await {
        Ok(MedicalInfoAnswer::Granted { records, .. }) => (None, records),
        Ok(MedicalInfoAnswer::NoConsent { message, .. })
        | Ok(MedicalInfoAnswer::NotFound { message }) => (Some(message), MedicalRecords::default()),
        Err(e) => (
            Some(format!("資格確認システム（中央）から取得できません: {e}")),
            MedicalRecords::default(),
        ),
    };
    let drugs: Vec<DrugRow> = records
        .drugs
        .iter()
        .rev()
        .map(|r| DrugRow {
            date: r.dispensed_on.to_string(),
            source: source_label(r.source),
            facility: match &r.prescriber_name {
                Some(p) if p != &r.dispenser_name => format!("{}（処方 {p}）", r.dispenser_name),
                _ => r.dispenser_name.clone(),
            },
            name: r.drug_name.clone(),
            quantity: format!("{} {}", r.quantity, r.unit),
            usage: r.usage.clone().unwrap_or_default(),
            times: r.times.clone().unwrap_or_default(),
        })
        .collect();
    let checkups: Vec<CheckupRow> = records
        .checkups
        .iter()
        .rev()
        .map(|c| CheckupRow {
            date: c.checked_on.to_string(),
            item: c.item_name.clone(),
            value: c.value_name.clone().unwrap_or_else(|| c.value.clone()),
            unit: c.unit.clone().unwrap_or_default(),
        })
        .collect();
    let treatments: Vec<TreatmentRow> = records
        .diagnoses
        .iter()
        .rev()
        .filter(|t| t.operation == (kind == MedicalInfoKind::Operation))
        .map(|t| TreatmentRow {
            date: t.treated_on.to_string(),
            facility: t.facility_name.clone(),
            code: t.code.clone(),
            name: t.name.clone(),
            times: t.times.clone().unwrap_or_default(),
        })
        .collect();
    let empty = refusal.is_none()
        && match kind {
            MedicalInfoKind::Drug => drugs.is_empty(),
            MedicalInfoKind::Checkup => checkups.is_empty(),
            _ => treatments.is_empty(),
        };
    onshi_ui::page(&MedInfoPage {
        layout: sc.layout(format!("{} — onshi", kind.label_ja()), "home"),
        id,
        who: v
            .patient_label
            .clone()
            .unwrap_or_else(|| "（氏名未確認）".into()),
        kind: kind.id(),
        kind_label: kind.label_ja(),
        tabs: MedicalInfoKind::ALL
            .into_iter()
            .map(|k| (k.id(), k.label_ja()))
            .collect(),
        refusal,
        drugs,
        checkups,
        treatments,
        empty,
    })
}
