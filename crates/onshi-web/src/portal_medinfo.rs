//! `GET /portal/medinfo`: the signed-in patient's record of every view of their medical
//! information by a facility (R2), granted or refused, newest first.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use onshi_ui::{Layout, SignedIn};
use tower_sessions::Session;

use crate::AppState;
use crate::portal::{KEY, Signed, layout};

struct Row {
    at: String,
    facility: String,
    kind: &'static str,
    channel: String,
    result: &'static str,
}

#[derive(Template)]
#[template(path = "web/portal_medinfo.html")]
struct ViewsPage {
    layout: Layout,
    rows: Vec<Row>,
}

pub(crate) async fn page(State(st): State<AppState>, session: Session) -> Response {
    let Some(signed): Option<Signed> = session.get(KEY).await.ok().flatten() else {
        return Redirect::to("/portal").into_response();
    };
    let central = st.central.clone();
    let serial = signed.serial.clone();
    let found = tokio::task::spawn_blocking(move || {
        let card = central.registry().card(&serial)?;
        let Some(card) = card else {
            return Ok::<_, onshi_central::CentralError>(None);
        };
        let person = central.registry().person(card.person_id)?;
        let views = central.medical_views_of_person(card.person_id, 200)?;
        Ok(person.map(|p| (p, views)))
    })
    .await;
    let (person, views) = match found {
        Ok(Ok(Some(x))) => x,
        Ok(Ok(None)) => return Redirect::to("/portal").into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "portal: medical views");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "portal: medical views");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let rows = views
        .into_iter()
        .map(|v| Row {
            at: v.at.format("%Y-%m-%d %H:%M").to_string(),
            facility: v.facility,
            kind: v.kind.label_ja(),
            channel: if v.channel == "desk" {
                "窓口の画面".into()
            } else {
                v.channel
            },
            result: if v.granted {
                "閲覧されました"
            } else {
                "同意がなく断られました"
            },
        })
        .collect();
    let layout = layout().signed_in(Some(SignedIn {
        name: format!("{}さん", person.person.name),
        logout_action: "/portal/logout".into(),
        csrf: signed.csrf.clone(),
    }));
    onshi_ui::page(&ViewsPage { layout, rows })
}
