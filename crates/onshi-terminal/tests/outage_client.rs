//! The outage-mode calls of the `CentralClient` (R12–R14): the in-process client over
//! `onshi_central::outage` (refused before the function is enabled, with the central's reason;
//! one hit with its `claim` block and `audit_id`; the choice), the fault client failing as set,
//! the HTTP client passing on the central's JSON refusal, and the terminal's time bound.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::*;
use onshi_central::outage::{
    Actor, OutageConfig, OutageService, ReportInput, RequestInput, SearchInput,
};
use onshi_central::{Central, FixedClock};
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_store::outage::OutageStore;
use onshi_terminal::client::{
    CentralClient, ClientError, Fault, FaultyCentral, HttpCentral, InProcessCentral, OutageAnswer,
    OutageStep,
};
use onshi_terminal::{Config, Terminal};

fn tanaka() -> SearchInput {
    SearchInput {
        staff_id: Some("S01".into()),
        birthdate: Some("1980-04-02".into()),
        sex: Some("1".into()),
        confirmation_date: Some("2026-11-25".into()),
        name_kana: Some("タナカ　タロウ".into()),
        address: Some("東京都千代田区千代田1-1".into()),
        ..SearchInput::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r13_r14_in_process_outage_search_refused_then_enabled_found_and_chosen() {
    let c = start_central().await;
    let facility = MedicalInstitutionCode::parse(CLINIC).unwrap();
    let clock = Arc::new(FixedClock(
        onshi_central::clock::jst()
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .unwrap()
            .with_timezone(&Utc),
    ));
    let central = Central::new(c.store.clone(), c.store.clone(), clock.clone());
    let outage = OutageService::new(
        c.store.clone(),
        c.store.clone(),
        clock.clone(),
        OutageConfig::default(),
    );

    // without the outage service: refused as a central without the mode configured
    let bare = InProcessCentral::new(central.clone(), c.cards.clone(), facility.clone());
    match bare.outage_search(&tanaka()).await {
        Err(ClientError::Refused { status: 503, .. }) => {}
        other => panic!("{other:?}"),
    }

    let client = Arc::new(
        InProcessCentral::new(central, c.cards.clone(), facility.clone())
            .with_outage(outage.clone()),
    );
    // not enabled: refused (403) with the central's reason
    match client.outage_search(&tanaka()).await {
        Err(ClientError::Refused { status, message }) => {
            assert_eq!(status, 403);
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }

    // the procedure (R13) up to enabled
    c.store
        .set_facility_contact(
            &facility,
            "0312345678",
            Some("clinic@example.jp"),
            "2026-11-01T09:00:00.000+09:00",
        )
        .unwrap();
    let op = c
        .store
        .upsert_operator("コールセンター", "hash", "2026-11-01T09:00:00.000+09:00")
        .unwrap();
    let r = outage
        .request(
            &Actor::Facility {
                code: facility.clone(),
                staff_id: None,
            },
            &RequestInput {
                facility_name: Some("clinic".into()),
                contact_person: Some("受付 山本".into()),
                reason: Some("回線障害".into()),
                ..RequestInput::default()
            },
        )
        .unwrap();
    let id = r.request.id;
    outage.verify(&op, id, "03-1234-5678").unwrap();
    outage.issue_form(&op, id, None).unwrap();
    outage.enable(&op, id, None).unwrap();

    // one hit: the qualification with its claim block, the audit id that of the search
    let faulty = Arc::new(FaultyCentral::new(client.clone()));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(facility, dir.path());
    cfg.central_timeout = Duration::from_millis(500);
    let t = Terminal::open(cfg, faulty.clone(), clock).unwrap();
    let s = t.outage_search(&tanaka()).await.unwrap();
    assert_eq!(s.hits, 1);
    let q = s.qualification.expect("one hit shows the qualification");
    let claim = &q.qualifications[0].claim;
    assert_eq!(claim.source, "outage_search");
    assert_eq!(claim.audit_id, s.search_id);
    assert_eq!(claim.insurer_number, c.fx.kyokai.as_str());
    assert_eq!(claim.insured_card_symbol, "1001");
    assert_eq!(claim.insured_identification_number, "2001");
    assert_eq!(claim.insured_branch_number, "00");

    // the choice: its own audit line
    let sel = t.outage_select(s.search_id, 1, Some("S01")).await.unwrap();
    assert_eq!(sel.search_id, s.search_id);
    assert_eq!(
        sel.qualification.qualifications[0].claim.audit_id,
        sel.select_id
    );
    assert_ne!(sel.select_id, s.search_id);

    // the facility's side of the procedure through the same client (R13): the status says
    // searches are allowed, the audit holds the search and the choice, the usage report is
    // filed under the facility with its reporter; a second request is refused while one is open
    match t.outage_step(&OutageStep::Status).await.unwrap() {
        OutageAnswer::Status(st) => {
            assert!(st.search_allowed, "{st:?}");
            assert_eq!(st.requests[0].request.id, id);
        }
        other => panic!("{other:?}"),
    }
    match t
        .outage_step(&OutageStep::Audit { limit: 10 })
        .await
        .unwrap()
    {
        OutageAnswer::Audit(a) => {
            let ids: Vec<i64> = a.iter().map(|v| v.entry.id).collect();
            assert!(
                ids.contains(&s.search_id) && ids.contains(&sel.select_id),
                "{ids:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    match t
        .outage_step(&OutageStep::Request(RequestInput {
            facility_name: Some("clinic".into()),
            contact_person: Some("受付 山本".into()),
            reason: Some("停電".into()),
            ..RequestInput::default()
        }))
        .await
    {
        Err(ClientError::Refused { status: 409, .. }) => {}
        other => panic!("{other:?}"),
    }
    let report = ReportInput {
        title: Some(onshi_central::outage::REPORT_TITLE.into()),
        reporter: Some("受付 山本（S01）".into()),
        outage: Some("回線障害".into()),
        patients: Some(1),
        notes: None,
    };
    match t
        .outage_step(&OutageStep::Report { id, input: report })
        .await
        .unwrap()
    {
        OutageAnswer::Request(v) => {
            assert_eq!(v.request.state.code(), "reported");
            assert_eq!(
                v.request.reported_by.as_deref(),
                Some(format!("facility:{CLINIC}/受付 山本（S01）").as_str())
            );
        }
        other => panic!("{other:?}"),
    }

    // the fault client fails as set; a slow central is cut off at the terminal's bound
    faulty.set(Fault::Down);
    assert!(matches!(
        t.outage_search(&tanaka()).await,
        Err(ClientError::Unreachable(_))
    ));
    faulty.set(Fault::Error(403));
    assert!(matches!(
        t.outage_select(s.search_id, 1, None).await,
        Err(ClientError::Refused { status: 403, .. })
    ));
    faulty.set(Fault::Slow(Duration::from_secs(5)));
    assert!(matches!(
        t.outage_search(&tanaka()).await,
        Err(ClientError::Unreachable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_http_outage_search_passes_on_the_central_refusal_message() {
    let c = start_central().await;
    // this central has no outage mode configured: 503 with a JSON reason
    let http = HttpCentral::new(&c.base, TOKEN).unwrap();
    match http.outage_search(&tanaka()).await {
        Err(ClientError::Refused { status, message }) => {
            assert_eq!(status, 503);
            assert!(message.contains("not configured"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match http.outage_select(1, 1, Some("S01")).await {
        Err(ClientError::Refused { status: 503, .. }) => {}
        other => panic!("{other:?}"),
    }
    // a dead port is unreachable
    let dead = HttpCentral::new("http://127.0.0.1:9", TOKEN).unwrap();
    assert!(matches!(
        dead.outage_search(&tanaka()).await,
        Err(ClientError::Unreachable(_))
    ));
}
