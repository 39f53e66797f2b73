//! schemathesis (from PyPI) against the served OpenAPI document of a real central on a random
//! loopback port, with a small registry, the outage mode configured, a facility and an
//! operator: generated requests for every operation, once with the facility's token and once
//! with the operator's. No answer may be a server error, and every answer must be a
//! documented status with the documented content type and schema.
//!
//! The runner is the shared one of `onshi_webdriver::schemathesis`: schemathesis is installed
//! by `scripts/test` (into `target/tools/venv`); the test fails, not skips, when it is missing.
//! `ONSHI_SCHEMATHESIS` names the program when elsewhere.

use std::sync::Arc;

use onshi_card::PinHasher;
use onshi_central::fixture;
use onshi_central::import::{self, Input};
use onshi_central::{Central, SystemClock};
use onshi_domain::numbers::{MedicalInstitutionCode, MyNumberHasher};
use onshi_store::outage::OutageStore;
use onshi_store::{Facility, FacilityStore, SqliteStore};
use onshi_web::outage::operator_token_hash;

const CLINIC: &str = "1311234567";
const CLINIC_TOKEN: &str = "tok-clinic";
const OPERATOR_TOKEN: &str = "tok-operator";

async fn spawn() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).unwrap());
    let hasher = MyNumberHasher::new(b"test-key-0123456789").unwrap();
    let pins = PinHasher::new(b"test-pin-key-0123456789").unwrap();
    let cards = Arc::new(
        onshi_card::CardStore::open(dir.path().join("cards.sqlite"), pins.clone()).unwrap(),
    );
    let fx = fixture::build();
    let report = import::import(
        store.as_ref(),
        &hasher,
        &cards,
        Some(Input {
            name: "q.csv".into(),
            reader: fx.qualifications_csv.as_bytes(),
        }),
        Some(Input {
            name: "c.csv".into(),
            reader: fx.cards_csv.as_bytes(),
        }),
        &mut |_| {},
    )
    .unwrap();
    assert!(report.committed, "fixture import: {:?}", report.errors);
    let clinic = MedicalInstitutionCode::parse(CLINIC).unwrap();
    store
        .upsert_facility(
            &Facility {
                code: clinic.clone(),
                name: "おんしクリニック".into(),
            },
            &onshi_web::token_hash(CLINIC_TOKEN),
        )
        .unwrap();
    store
        .set_facility_contact(
            &clinic,
            "0312345678",
            Some("clinic@example.jp"),
            "2026-11-01T09:00:00.000+09:00",
        )
        .unwrap();
    store
        .upsert_operator(
            "コールセンター佐々木",
            &operator_token_hash(OPERATOR_TOKEN),
            "2026-11-01T09:00:00.000+09:00",
        )
        .unwrap();
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    let state = onshi_web::AppState::new(central, store.clone(), cards).with_outage_store(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(onshi_web::serve(listener, state, std::future::pending()));
    (format!("http://{addr}"), dir)
}

fn run(base: &str, token: &str, tag_args: &[&str]) {
    onshi_webdriver::schemathesis::run(
        &format!("{base}/v1/openapi.json"),
        base,
        &[format!("Authorization: Bearer {token}")],
        tag_args,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    let (base, _dir) = spawn().await;
    let b = base.clone();
    tokio::task::spawn_blocking(move || {
        run(&b, CLINIC_TOKEN, &["--exclude-tag", "operator"]);
        run(&b, OPERATOR_TOKEN, &["--include-tag", "operator"]);
    })
    .await
    .unwrap();
}
