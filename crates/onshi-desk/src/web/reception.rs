//! Reception: the desk's home (a new visit, the recent visits) and the start of a visit.

use askama::Template;
use axum::Form;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use onshi_domain::desk::{FacilityType, PatientPresence, Presented, Situation, assess};
use onshi_ui::Layout;

use super::{Params, Screen, bad_request, basis_label, internal, p, percent_label};

/// One line of the recent visits.
pub(crate) struct VisitRow {
    pub id: i64,
    pub service_date: String,
    pub name: String,
    pub share: String,
    pub basis: &'static str,
}

#[derive(Template)]
#[template(path = "desk/home.html")]
struct Home {
    layout: Layout,
    error: Option<String>,
    pharmacy: bool,
    today: String,
    open_items: usize,
    visits: Vec<VisitRow>,
}

pub(crate) async fn home(sc: Screen) -> Response {
    let d = &sc.desk;
    let visits = match d.visits.list(30) {
        Ok(v) => v,
        Err(e) => return internal(d, e),
    };
    let visits = visits
        .iter()
        .map(|v| VisitRow {
            id: v.id,
            service_date: v.service_date.to_string(),
            name: v
                .patient_label
                .clone()
                .unwrap_or_else(|| "（氏名未確認）".into()),
            share: v
                .charged_percent
                .map(percent_label)
                .unwrap_or_else(|| "未会計".into()),
            basis: v
                .claim
                .as_ref()
                .map(|c| basis_label(c.basis))
                .unwrap_or("—"),
        })
        .collect();
    onshi_ui::page(&Home {
        layout: sc.layout("受付 — onshi", "home"),
        error: None,
        pharmacy: d.facility == FacilityType::Pharmacy,
        today: d.today().to_string(),
        open_items: super::worklist::open_items(d).map(|l| l.len()).unwrap_or(0),
        visits,
    })
}

pub(crate) async fn new_visit(sc: Screen, Form(params): Form<Params>) -> Response {
    let d = &sc.desk;
    let service_date = match p(&params, "service_date") {
        "" => d.today(),
        s => match s.parse::<NaiveDate>() {
            Ok(x) => x,
            Err(_) => return bad_request(d, "受付", "診療日：日付を入力してください"),
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
        Err(e) => return bad_request(d, "受付", e.to_string()),
    };
    // the signed-in staff member receives the patient
    match d.visits.create(&situation, sc.staff.as_deref(), &decision) {
        Ok(id) => Redirect::to(&format!("/desk/visits/{id}")).into_response(),
        Err(e) => internal(d, e),
    }
}
