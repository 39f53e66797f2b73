//! The terminal's 資格確認履歴 (R6): every confirmation, with the lost qualification's numbers
//! on a 資格（無効） line (usable for the claim, R19); and a visit's situation as JSON, as
//! `onshi assess` reads it.

use askama::Template;
use axum::Json;
use axum::extract::Query;

use crate::claims::web::ApiPath;
use axum::response::{IntoResponse, Response};
use onshi_domain::codes::QualificationValidity;
use onshi_terminal::store::HistoryQuery;
use onshi_ui::Layout;

use super::{Params, Screen, internal};

pub(crate) struct Row {
    pub processed_at: String,
    pub name: String,
    pub card_serial: String,
    pub identity_method: String,
    pub validity: String,
    pub numbers: String,
    pub disqualification_date: String,
    pub staff_id: String,
}

#[derive(Template)]
#[template(path = "desk/history.html")]
struct History {
    layout: Layout,
    card_serial: String,
    rows: Vec<Row>,
}

pub(crate) async fn page(sc: Screen, Query(q): Query<Params>) -> Response {
    let card_serial = q.get("card_serial").filter(|s| !s.is_empty()).cloned();
    let query = HistoryQuery {
        card_serial: card_serial.clone(),
        limit: Some(50),
        ..HistoryQuery::default()
    };
    let rows = match sc.desk.terminal.history(&query) {
        Ok(r) => r,
        Err(e) => return internal(&sc.desk, e),
    };
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let rows = rows
        .iter()
        .map(|r| Row {
            processed_at: r.processed_at.clone(),
            name: s(&r.name),
            card_serial: s(&r.card_serial),
            identity_method: s(&r.identity_method),
            validity: r
                .validity
                .as_deref()
                .and_then(|x| QualificationValidity::parse(x).ok())
                .map(|x| x.label().to_string())
                .unwrap_or_else(|| r.error_class.clone().unwrap_or_else(|| "—".into())),
            numbers: format!(
                "{} {}・{} {}",
                s(&r.insurer_number),
                s(&r.insured_card_symbol),
                s(&r.insured_identification_number),
                s(&r.insured_branch_number)
            ),
            disqualification_date: s(&r.disqualification_date),
            staff_id: s(&r.staff_id),
        })
        .collect();
    onshi_ui::page(&History {
        layout: sc.layout("資格確認履歴 — onshi", "history"),
        card_serial: card_serial.unwrap_or_default(),
        rows,
    })
}

/// A visit's situation as JSON, as `onshi assess` reads it (the same decision follows).
#[utoipa::path(get, path = "/desk/visits/{id}/situation.json", tag = "visits",
    params(("id" = i64, Path, description = "the visit's id", example = 1)),
    security(("deskSession" = [])),
    responses((status = 200, description = "the visit's stored situation", body = onshi_domain::desk::Situation),
        (status = 303, description = "no staff session: to the login page (`Location: /desk/login?next=…`)"),
        (status = 400, description = "a bad path parameter (`path`)", body = crate::claims::web::ErrorBody),
        (status = 404, description = "no visit with that id (`visit`)", body = crate::claims::web::ErrorBody),
        (status = 500, description = "the desk's store failed (`internal`)", body = crate::claims::web::ErrorBody)))]
pub(crate) async fn situation_json(sc: Screen, ApiPath(id): ApiPath<i64>) -> Response {
    match sc.desk.visits.get(id) {
        Ok(v) => Json(v.situation).into_response(),
        Err(e) => super::json_visit_error(e),
    }
}
