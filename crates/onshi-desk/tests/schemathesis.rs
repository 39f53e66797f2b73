//! schemathesis (from PyPI) against the served OpenAPI document of a real desk on a random
//! loopback port (a clinic's terminal with its desk, a real central beside it, a charged visit
//! with its content, its month closed and filed): generated requests for every operation of the claims API and of the
//! visit's JSON reads, with the terminal's API token (the claims API) and a staff member's
//! session cookie (the visit's reads). No answer may be a server error,
//! and every answer must be a documented status with the documented content type and schema.
//!
//! The runner is the shared one of `onshi_webdriver::schemathesis` (the central's run uses it
//! too): schemathesis is installed by `scripts/test` (into `target/tools/venv`); the test
//! fails, not skips, when it is missing. `ONSHI_SCHEMATHESIS` names the program when elsewhere.

mod common;

use common::{DAY, start_world};

/// Signs in as S01 and gives the session cookie (`name=value`).
async fn session(base: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .post(format!("{base}/desk/login"))
        .header("Origin", base)
        .form(&[("staff_id", "S01"), ("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "signed in");
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with("onshi_desk_"))
        .and_then(|c| c.split(';').next())
        .expect("the session cookie")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_undocumented_answer_of_the_desk() {
    let w = start_world().await;
    // one charged visit with its content, so that the month has a claim
    let clerk = common::DeskClient::new(&w.clinic).await;
    let api = common::api_client(&w.clinic_token);
    let (status, visit, body) = clerk
        .post(
            "/desk/visits",
            &[
                ("presence", "at_desk"),
                ("service_date", DAY),
                ("staff", "S01"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for form in [
        &[("action", "card_received"), ("card_serial", "C0001")][..],
        &[
            ("action", "reader"),
            ("mode", "face"),
            ("face_result", "ok"),
        ],
        &[("action", "charge")],
    ] {
        let (status, _, body) = clerk.post(&format!("{visit}/act"), form).await;
        assert_eq!(status, 200, "{form:?}\n{body}");
    }
    let id: i64 = visit.rsplit('/').next().unwrap().parse().unwrap();
    let r = api
        .put(format!("{}/desk/api/visits/{id}/content", w.clinic))
        .json(&serde_json::json!({"patient_id": "P0001", "points": 298, "charged_yen": 890}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    // the month closed, so that its file exists (the document's examples name it)
    let r = api
        .post(format!("{}/desk/api/claims/202611/close", w.clinic))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = session(&w.clinic).await;
    let base = w.clinic.clone();
    let token = w.clinic_token.clone();
    tokio::task::spawn_blocking(move || {
        onshi_webdriver::schemathesis::run(
            &format!("{base}/desk/api/openapi.json"),
            &base,
            &[
                format!("Cookie: {cookie}"),
                format!("Authorization: Bearer {token}"),
            ],
            &[],
        );
    })
    .await
    .unwrap();
}
