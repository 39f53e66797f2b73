//! System-outage mode (R12–R14, R17) over HTTP against the real server on a random port with a
//! real SQLite file (the search's checks also on a fresh PostgreSQL database): the activation
//! procedure, refusals outside an open window, each required
//! field of the search, what "exact" (完全一致) tolerates, and who sees the audit.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use onshi_card::PinHasher;
use onshi_central::fixture::{self, QUAL_HEADER};
use onshi_central::import::{self, Input};
use onshi_central::outage::{OutageConfig, REPORT_TITLE};
use onshi_central::{Central, Clock};
use onshi_domain::numbers::{MedicalInstitutionCode, MyNumberHasher};
use onshi_store::{CentralStore, Facility, PostgresStore, SqliteStore};
use onshi_web::outage::{OutageApp, operator_token_hash};
use serde_json::{Value, json};

#[path = "support/conform.rs"]
mod conform;

const CLINIC: &str = "1311234567";
const PHARMACY: &str = "1341234567";
const CLINIC_PHONE: &str = "03-1234-5678";
const DAY: &str = "2026-11-25";

/// Real time passing, shifted so that the test starts at 2026-11-25 10:00 JST whatever the
/// machine's date: windows open and close in real seconds, dates stay those of the fixture.
struct ShiftedClock {
    start: Instant,
    at: DateTime<Utc>,
}

impl Clock for ShiftedClock {
    fn now_utc(&self) -> DateTime<Utc> {
        self.at + chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default()
    }
}

struct App {
    base: String,
    http: reqwest::Client,
    clock: Arc<ShiftedClock>,
    _dir: tempfile::TempDir,
    /// the PostgreSQL database of the run, dropped after the server's store
    _db: Option<onshi_store::postgres::TestDatabase>,
}

const CLINIC_TOKEN: &str = "tok-clinic";
const PHARMACY_TOKEN: &str = "tok-pharmacy";
const OPERATOR_TOKEN: &str = "tok-operator";

/// Two more persons with the same name, birth date and sex as each other (for a hit list), at
/// different addresses and insurers.
fn twins_csv(fx: &fixture::Fixture) -> String {
    let kyo = format!("{},全国健康保険協会東京支部", fx.kyokai);
    let kum = format!("{},おんし商事健康保険組合", fx.kumiai);
    format!(
        "{QUAL_HEADER}\n\
         {},{kyo},01,1001,2020,00,1,山田　花子,山田　花子,ヤマダ　ハナコ,2,19700707,1500001,東京都渋谷区神宮前1-1-1,おんし工業株式会社,20100401,,,030,,,,,\n\
         {},{kum},01,77,3020,00,1,山田　花子,山田　花子,ヤマダ　ハナコ,2,19700707,5300001,大阪府大阪市北区梅田2-2-2,おんし商事株式会社,20120401,,,030,,,,,\n",
        fixture::my_number(20),
        fixture::my_number(21),
    )
}

async fn spawn() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).unwrap());
    spawn_over(store, dir, None).await
}

/// The suite's server over a fresh PostgreSQL database (dropped with the app).
async fn spawn_on_postgres() -> App {
    let db = onshi_store::postgres::TestDatabase::create().unwrap();
    let url = db.url().to_string();
    let store = tokio::task::spawn_blocking(move || PostgresStore::open(&url).unwrap())
        .await
        .unwrap();
    spawn_over(Arc::new(store), tempfile::tempdir().unwrap(), Some(db)).await
}

async fn spawn_over<S: CentralStore + 'static>(
    store: Arc<S>,
    dir: tempfile::TempDir,
    db: Option<onshi_store::postgres::TestDatabase>,
) -> App {
    let hasher = MyNumberHasher::new(b"test-key-0123456789").unwrap();
    let pins = PinHasher::new(b"test-pin-key-0123456789").unwrap();
    let cards = Arc::new(
        onshi_card::CardStore::open(dir.path().join("cards.sqlite"), pins.clone()).unwrap(),
    );
    let fx = fixture::build();
    for (q, c) in [
        (fx.qualifications_csv.clone(), Some(fx.cards_csv.clone())),
        (twins_csv(&fx), None),
    ] {
        let report = import::import(
            store.as_ref(),
            &hasher,
            &cards,
            Some(Input {
                name: "q.csv".into(),
                reader: q.as_bytes(),
            }),
            c.as_ref().map(|c| Input {
                name: "c.csv".into(),
                reader: c.as_bytes(),
            }),
            &mut |_| {},
        )
        .unwrap();
        assert!(report.committed, "fixture import: {:?}", report.errors);
    }
    for (code, name, token) in [
        (CLINIC, "おんしクリニック", CLINIC_TOKEN),
        (PHARMACY, "おんし薬局", PHARMACY_TOKEN),
    ] {
        store
            .upsert_facility(
                &Facility {
                    code: MedicalInstitutionCode::parse(code).unwrap(),
                    name: name.into(),
                },
                &onshi_web::token_hash(token),
            )
            .unwrap();
    }
    let clinic = MedicalInstitutionCode::parse(CLINIC).unwrap();
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
    let clock = Arc::new(ShiftedClock {
        start: Instant::now(),
        at: onshi_central::clock::jst()
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .unwrap()
            .with_timezone(&Utc),
    });
    let central = Central::new(store.clone(), store.clone(), clock.clone());
    let state = onshi_web::AppState::new(central, store.clone(), cards.clone()).with_outage(
        OutageApp::with_clock(store, clock.clone(), OutageConfig::default()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(onshi_web::serve(listener, state, std::future::pending()));
    App {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        _dir: dir,
        _db: db,
    }
}

/// A test on SQLite (`$sqlite`) and the same on PostgreSQL (`$postgres`), both running `$body`
/// against the suite's server. On PostgreSQL the search and each match's history are one
/// statement (`OutageStore::search_persons_with_history`).
macro_rules! on_both_backends {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $body(Arc::new(spawn().await)).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            $body(Arc::new(spawn_on_postgres().await)).await;
        }
    };
}

impl App {
    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v = r.json().await.unwrap_or(Value::Null);
        conform::check("POST", path, status, &v);
        (status, v)
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v = r.json().await.unwrap_or(Value::Null);
        conform::check("GET", path, status, &v);
        (status, v)
    }

    /// The clinic files a request through the API, as its desk does; returns its id.
    async fn clinic_request(&self) -> i64 {
        let (s, v) = self
            .post(
                CLINIC_TOKEN,
                "/v1/outage/requests",
                json!({"facility_name": "おんしクリニック", "contact_person": "受付 山本", "reason": "停電"}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_i64().unwrap()
    }

    /// Runs the procedure up to `enabled` for the clinic; returns the request id.
    async fn enable_clinic(&self, until: Option<String>) -> i64 {
        let id = self.clinic_request().await;
        let op = |step: &str| format!("/v1/operator/outage/requests/{id}/{step}");
        let (s, v) = self
            .post(
                OPERATOR_TOKEN,
                &op("verify"),
                json!({"phone": CLINIC_PHONE}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = self
            .post(OPERATOR_TOKEN, &op("issue-form"), json!({}))
            .await;
        assert_eq!(s, 200, "{v}");
        let body = match until {
            Some(u) => json!({ "until": u }),
            None => json!({}),
        };
        let (s, v) = self.post(OPERATOR_TOKEN, &op("enable"), body).await;
        assert_eq!(s, 200, "{v}");
        id
    }

    async fn search(&self, body: Value) -> (u16, Value) {
        self.post(CLINIC_TOKEN, "/v1/outage/search", body).await
    }
}

/// A complete, valid search for the fixture's `valid` person (田中 太郎).
fn tanaka() -> Value {
    json!({
        "staff_id": "受付01",
        "birthdate": "1980-04-02",
        "sex": "1",
        "confirmation_date": DAY,
        "name_kana": "タナカ　タロウ",
        "address": "東京都千代田区千代田1-1",
    })
}

fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn error_of(v: &Value) -> (&str, &str) {
    (
        v["error"]["field"].as_str().unwrap_or(""),
        v["error"]["rule"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn r13_whole_lifecycle_from_request_to_usage_report() {
    let app = spawn().await;
    // not enabled: the search is refused, and the attempt is recorded
    let (s, v) = app.search(tanaka()).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(error_of(&v).1, "r13_not_enabled");

    // 1. request (the facility files it)
    let (s, v) = app
        .post(
            CLINIC_TOKEN,
            "/v1/outage/requests",
            json!({"facility_name": "おんしクリニック", "contact_person": "受付 山本", "reason": "停電のため顔認証付きカードリーダーが使えない"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["state"], "requested");
    assert_eq!(v["requested_by"], format!("facility:{CLINIC}/受付 山本"));
    let id = v["id"].as_i64().unwrap();
    // a second open request is refused
    let (s, v) = app
        .post(
            CLINIC_TOKEN,
            "/v1/outage/requests",
            json!({"facility_name": "x", "contact_person": "y", "reason": "z"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(error_of(&v).1, "r13_one_open_request");
    // steps out of order are refused
    let op = |step: &str| format!("/v1/operator/outage/requests/{id}/{step}");
    let (s, v) = app.post(OPERATOR_TOKEN, &op("enable"), json!({})).await;
    assert_eq!(s, 409, "{v}");

    // 2. call-back: another number is refused (and logged), the registered one accepted
    let (s, v) = app
        .post(
            OPERATOR_TOKEN,
            &op("verify"),
            json!({"phone": "090-1111-2222"}),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(error_of(&v), ("phone", "r13_callback_number"));
    let (s, v) = app
        .post(
            OPERATOR_TOKEN,
            &op("verify"),
            json!({"phone": "（０３）１２３４－５６７８"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "verified");
    assert_eq!(v["callback_phone"], "0312345678");
    assert_eq!(v["verified_by"], "operator:コールセンター佐々木");

    // 2. usage-report form to the registered e-mail
    let (s, v) = app.post(OPERATOR_TOKEN, &op("issue-form"), json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "form_issued");
    assert_eq!(v["form_email"], "clinic@example.jp");
    // still no search before the operator enables it
    let (s, _) = app.search(tanaka()).await;
    assert_eq!(s, 403);

    // 3. enabled; default window: until the end of the day (JST)
    let (s, v) = app.post(OPERATOR_TOKEN, &op("enable"), json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "enabled");
    assert_eq!(v["window_until"], "2026-11-26T00:00:00.000+09:00");
    assert_eq!(v["window_open"], true);
    let (_, st) = app.get(CLINIC_TOKEN, "/v1/outage").await;
    assert_eq!(st["search_allowed"], true, "{st}");

    // 4. search: one hit → the qualification at once, ready for the claim (R17)
    let (s, v) = app.search(tanaka()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["hits"], 1);
    let q = &v["qualification"];
    assert_eq!(q["qualification_validity"], "1");
    let shown = &q["qualifications"][0];
    assert_eq!(shown["InsurerNumber"], "01130012");
    assert_eq!(shown["InsuredCardSymbol"], "1001");
    assert_eq!(shown["InsuredIdentificationNumber"], "2001");
    assert_eq!(shown["InsuredBranchNumber"], "00");
    assert_eq!(shown["lost"], false);
    assert_eq!(shown["claim"]["source"], "outage_search");
    assert_eq!(shown["claim"]["insurer_number"], "01130012");
    assert_eq!(shown["claim"]["audit_id"], v["search_id"]);

    // 4. usage report: the title must be the notice's
    let (s, v) = app
        .post(
            CLINIC_TOKEN,
            &format!("/v1/outage/requests/{id}/report"),
            json!({"title": "利用報告", "reporter": "山本", "outage": "停電 10:00-12:00"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(error_of(&v), ("title", "r13_report_title"));
    let (s, v) = app
        .post(
            CLINIC_TOKEN,
            &format!("/v1/outage/requests/{id}/report"),
            json!({"title": REPORT_TITLE, "reporter": "山本", "outage": "停電 10:00-12:00", "patients": 1}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "reported");
    assert_eq!(v["report"]["searches_recorded"], 1);
    assert_eq!(v["reported_by"], format!("facility:{CLINIC}/山本"));

    // reported: the window is over
    let (s, v) = app.search(tanaka()).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(error_of(&v).1, "r13_window_closed");

    // every step is in the log with its time and actor, the refused call-back too
    let (_, v) = app
        .get(
            OPERATOR_TOKEN,
            &format!("/v1/operator/outage/requests/{id}"),
        )
        .await;
    let actions: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "request",
            "verify_refused",
            "verify",
            "issue_form",
            "search_refused",
            "enable",
            "report",
            "search_refused"
        ]
    );
    for e in v["events"].as_array().unwrap() {
        assert!(
            e["at"].as_str().unwrap().starts_with("2026-11-25T10:"),
            "{e}"
        );
        assert!(!e["actor"].as_str().unwrap().is_empty());
    }
    assert_eq!(v["registered_contact"]["phone"], "0312345678");
    // the facility sees where its request stands
    let (_, st) = app.get(CLINIC_TOKEN, "/v1/outage").await;
    assert_eq!(st["search_allowed"], false);
    assert_eq!(st["requests"][0]["state"], "reported");
    assert_eq!(st["requests"][0]["state_label"], "利用報告済み");
}

#[tokio::test]
async fn r13_search_is_refused_once_the_window_has_passed_and_the_attempt_is_kept() {
    let app = spawn().await;
    let until = (app.clock.now_jst() + chrono::Duration::milliseconds(1500))
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string();
    app.enable_clinic(Some(until)).await;
    let (s, v) = app.search(tanaka()).await;
    assert_eq!(s, 200, "{v}");
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let (s, v) = app.search(tanaka()).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(error_of(&v).1, "r13_window_closed");
    let (_, a) = app.get(CLINIC_TOKEN, "/v1/outage/audit").await;
    let rows = a["audit"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{a}");
    assert_eq!(rows[0]["kind"], "refused");
    assert_eq!(rows[0]["outcome"], "r13_window_closed");
    assert_eq!(rows[0]["criteria"]["name_kana"], "タナカ　タロウ");
    assert_eq!(rows[1]["kind"], "search");
}

#[tokio::test]
async fn r13_operator_can_close_the_window_early_and_limits_its_length() {
    let app = spawn().await;
    // a window longer than the limit is refused
    let (_, v) = app
        .post(
            CLINIC_TOKEN,
            "/v1/outage/requests",
            json!({"facility_name": "おんしクリニック", "contact_person": "山本", "reason": "通信障害"}),
        )
        .await;
    let id = v["id"].as_i64().unwrap();
    let op = |step: &str| format!("/v1/operator/outage/requests/{id}/{step}");
    app.post(
        OPERATOR_TOKEN,
        &op("verify"),
        json!({"phone": "0312345678"}),
    )
    .await;
    app.post(
        OPERATOR_TOKEN,
        &op("issue-form"),
        json!({"email": "other@example.jp"}),
    )
    .await;
    let (s, v) = app
        .post(
            OPERATOR_TOKEN,
            &op("enable"),
            json!({"until": "2026-12-31T00:00:00+09:00"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(error_of(&v), ("until", "r13_window_limit"));
    let (s, v) = app
        .post(
            OPERATOR_TOKEN,
            &op("enable"),
            json!({"until": "2026-11-25T18:00:00+09:00"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["window_until"], "2026-11-25T18:00:00.000+09:00");
    assert_eq!(v["form_email"], "other@example.jp");
    let (s, _) = app.search(tanaka()).await;
    assert_eq!(s, 200);
    let (s, v) = app.post(OPERATOR_TOKEN, &op("close"), json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "closed");
    let (s, v) = app.search(tanaka()).await;
    assert_eq!(s, 403);
    assert_eq!(error_of(&v).1, "r13_window_closed");
    // a closed request can still be reported
    let (s, v) = app
        .post(
            CLINIC_TOKEN,
            &format!("/v1/outage/requests/{id}/report"),
            json!({"title": REPORT_TITLE, "reporter": "山本", "outage": "通信障害"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn r13_a_call_taken_by_the_operator_and_a_facility_without_a_registered_number() {
    let app = spawn().await;
    // the pharmacy has no registered phone: the call-back cannot be verified
    let (s, v) = app
        .post(
            OPERATOR_TOKEN,
            "/v1/operator/outage/requests",
            json!({"facility_code": PHARMACY, "facility_name": "おんし薬局", "contact_person": "薬剤師 森", "reason": "カードリーダー故障"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["requested_by"], "operator:コールセンター佐々木");
    let id = v["id"].as_i64().unwrap();
    let (s, v) = app
        .post(
            OPERATOR_TOKEN,
            &format!("/v1/operator/outage/requests/{id}/verify"),
            json!({"phone": "03-9999-0000"}),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(error_of(&v), ("phone", "r13_no_registered_phone"));
    // unknown facility codes and missing fields are named
    let (s, v) = app
        .post(
            OPERATOR_TOKEN,
            "/v1/operator/outage/requests",
            json!({"facility_code": "1319999999", "facility_name": "x", "contact_person": "y", "reason": "z"}),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(error_of(&v).0, "facility_code");
    for missing in ["facility_name", "contact_person", "reason"] {
        let body = with(
            json!({"facility_name": "x", "contact_person": "y", "reason": "z"}),
            json!({ missing: null }),
        );
        let (s, v) = app.post(CLINIC_TOKEN, "/v1/outage/requests", body).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(error_of(&v), (missing, "required"));
    }
    // the facility may cancel its own request; the pharmacy cannot see the clinic's
    let (_, v) = app
        .post(
            CLINIC_TOKEN,
            "/v1/outage/requests",
            json!({"facility_name": "x", "contact_person": "y", "reason": "z"}),
        )
        .await;
    let cid = v["id"].as_i64().unwrap();
    let (s, _) = app
        .get(PHARMACY_TOKEN, &format!("/v1/outage/requests/{cid}"))
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .post(
            PHARMACY_TOKEN,
            &format!("/v1/outage/requests/{cid}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, v) = app
        .post(
            CLINIC_TOKEN,
            &format!("/v1/outage/requests/{cid}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "cancelled");
}

#[tokio::test]
async fn r14_each_required_field_and_contradiction_is_refused_by_name() {
    let app = spawn().await;
    app.enable_clinic(None).await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"staff_id": null}), "staff_id", "required"),
        (json!({"birthdate": null}), "birthdate", "r14_required"),
        (json!({"sex": null}), "sex", "r14_required"),
        (
            json!({"confirmation_date": null}),
            "confirmation_date",
            "r14_required",
        ),
        (
            json!({"name_kana": null, "name": null}),
            "name",
            "r14_name_or_kana",
        ),
        (
            json!({"address": null, "insurer_name": null}),
            "address",
            "r14_address_or_insurer",
        ),
        (json!({"birthdate": "1980-02-30"}), "birthdate", "date"),
        (json!({"sex": "男"}), "sex", "code"),
        (json!({"name_kana": "田中太郎"}), "name_kana", "kana"),
        (
            json!({"confirmation_date": "1979-01-01"}),
            "confirmation_date",
            "after_birth",
        ),
        (
            json!({"confirmation_date": "2026-11-26"}),
            "confirmation_date",
            "not_future",
        ),
        (
            json!({"birthdate": "2027-01-01"}),
            "birthdate",
            "not_future",
        ),
        (json!({"address": "１"}), "address", "length"),
        (
            json!({"address": null, "insurer_name": "協"}),
            "insurer_name",
            "length",
        ),
    ];
    for (change, field, rule) in cases {
        let (s, v) = app.search(with(tanaka(), change.clone())).await;
        assert_eq!(s, 400, "{change}: {v}");
        assert_eq!(error_of(&v), (field, rule), "{change}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "the message names the field: {v}"
        );
    }
    // refused input is kept in the audit too
    let (_, a) = app
        .get(CLINIC_TOKEN, "/v1/outage/audit?kind=refused&limit=100")
        .await;
    assert_eq!(a["audit"].as_array().unwrap().len(), 14);
    // YYYYMMDD and full-width digits are accepted for dates
    let (s, v) = app
        .search(with(
            tanaka(),
            json!({"birthdate": "19800402", "confirmation_date": "２０２６－１１－２５"}),
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["hits"], 1);
}

on_both_backends!(
    r14_exact_match_tolerates_width_script_and_spaces_only,
    r14_exact_match_tolerates_width_script_and_spaces_only_on_postgresql,
    exact_match_tolerates_width_script_and_spaces
);

async fn exact_match_tolerates_width_script_and_spaces(app: Arc<App>) {
    app.enable_clinic(None).await;
    let hits = |v: &Value| v["hits"].as_u64().unwrap();
    // tolerated: half-width, hiragana, no space, spaces anywhere, separate dakuten marks
    for kana in [
        "ﾀﾅｶ ﾀﾛｳ",
        "たなか たろう",
        "タナカタロウ",
        " タ ナ カ　タ ロ ウ ",
    ] {
        let (s, v) = app
            .search(with(tanaka(), json!({ "name_kana": kana })))
            .await;
        assert_eq!((s, hits(&v)), (200, 1), "{kana}: {v}");
    }
    // the kanji name: width and spaces folded
    for name in ["田中太郎", "田中 太郎", " 田中　太郎"] {
        let (s, v) = app
            .search(with(tanaka(), json!({"name_kana": null, "name": name})))
            .await;
        assert_eq!((s, hits(&v)), (200, 1), "{name}: {v}");
    }
    // not tolerated: partial names, other kana, 異体字, other sex or birth date
    for (change, why) in [
        (json!({"name_kana": "タナカ"}), "family name only"),
        (json!({"name_kana": "タナカ タロ"}), "prefix"),
        (json!({"name_kana": "ダナカ タロウ"}), "voiced kana"),
        (json!({"name_kana": "タナカ タロー"}), "ー for ウ"),
        (
            json!({"name_kana": null, "name": "田仲太郎"}),
            "other kanji",
        ),
        (
            json!({"name_kana": null, "name": "田中"}),
            "family name only",
        ),
        (json!({"sex": "2"}), "sex"),
        (json!({"birthdate": "1980-04-03"}), "birth date"),
        (json!({"address": "大阪府"}), "address"),
    ] {
        let (s, v) = app.search(with(tanaka(), change.clone())).await;
        assert_eq!((s, hits(&v)), (200, 0), "{why}: {change}: {v}");
        assert_eq!(v["outcome"], "no_hits");
    }
    // both name and kana given: both must match
    let (_, v) = app
        .search(with(tanaka(), json!({"name": "田中太郎"})))
        .await;
    assert_eq!(hits(&v), 1);
    let (_, v) = app
        .search(with(tanaka(), json!({"name": "田中次郎"})))
        .await;
    assert_eq!(hits(&v), 0);
    // address: part of the registered address, width / dashes / 丁目番 folded
    for addr in ["千代田区", "千代田１－１", "東京都千代田区千代田1丁目1"] {
        let (s, v) = app.search(with(tanaka(), json!({ "address": addr }))).await;
        assert_eq!((s, hits(&v)), (200, 1), "{addr}: {v}");
    }
    // insurer name instead of the address: part of a registered insurer's name
    let (s, v) = app
        .search(with(
            tanaka(),
            json!({"address": null, "insurer_name": "協会東京支部"}),
        ))
        .await;
    assert_eq!((s, hits(&v)), (200, 1), "{v}");
    let (_, v) = app
        .search(with(
            tanaka(),
            json!({"address": null, "insurer_name": "健康保険組合"}),
        ))
        .await;
    assert_eq!(hits(&v), 0);
}

on_both_backends!(
    r14_several_hits_give_a_list_and_staff_choose_one,
    r14_several_hits_give_a_list_and_staff_choose_one_on_postgresql,
    several_hits_give_a_list_and_staff_choose_one
);

async fn several_hits_give_a_list_and_staff_choose_one(app: Arc<App>) {
    app.enable_clinic(None).await;
    let (s, v) = app
        .search(json!({
            "staff_id": "受付02", "birthdate": "1970-07-07", "sex": "2", "confirmation_date": DAY,
            "name": "山田花子", "insurer_name": "健康保険",
        }))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["hits"], 2);
    assert!(v["qualification"].is_null());
    let list = v["candidates"].as_array().unwrap();
    // enough to tell them apart: address and insurer differ
    assert_ne!(list[0]["address"], list[1]["address"]);
    assert_ne!(list[0]["insurer_name"], list[1]["insurer_name"]);
    let osaka = list
        .iter()
        .find(|c| c["address"].as_str().unwrap().starts_with("大阪"))
        .unwrap();
    let search_id = v["search_id"].as_i64().unwrap();
    let (s, c) = app
        .post(
            CLINIC_TOKEN,
            &format!("/v1/outage/search/{search_id}/select"),
            json!({"candidate": osaka["candidate"], "staff_id": "受付02"}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    let q = &c["qualification"]["qualifications"][0];
    assert_eq!(q["InsurerName"], "おんし商事健康保険組合");
    assert_eq!(q["InsuredIdentificationNumber"], "3020");
    assert_eq!(q["claim"]["insurer_number"], "06134563");
    // out of range, another facility's search
    let (s, v) = app
        .post(
            CLINIC_TOKEN,
            &format!("/v1/outage/search/{search_id}/select"),
            json!({"candidate": 3}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(error_of(&v).0, "candidate");
    let (s, v) = app
        .post(
            PHARMACY_TOKEN,
            &format!("/v1/outage/search/{search_id}/select"),
            json!({"candidate": 1}),
        )
        .await;
    assert_eq!(s, 403, "the pharmacy is not enabled: {v}");
    // narrowing by address gives one
    let (_, v) = app
        .search(json!({
            "staff_id": "受付02", "birthdate": "1970-07-07", "sex": "2", "confirmation_date": DAY,
            "name_kana": "やまだ はなこ", "address": "渋谷区",
        }))
        .await;
    assert_eq!(v["hits"], 1);
    assert_eq!(
        v["qualification"]["qualifications"][0]["InsuredIdentificationNumber"],
        "2020"
    );
}

on_both_backends!(
    r14_r17_lost_qualification_is_shown_as_lost_and_past_dates_work_after_the_fact,
    r14_r17_lost_qualification_is_shown_as_lost_and_past_dates_work_after_the_fact_on_postgresql,
    lost_qualification_is_shown_as_lost_and_past_dates_work
);

async fn lost_qualification_is_shown_as_lost_and_past_dates_work(app: Arc<App>) {
    app.enable_clinic(None).await;
    let sato = json!({
        "staff_id": "受付01", "birthdate": "1985-11-11", "sex": "1", "confirmation_date": DAY,
        "name_kana": "サトウ ケン", "insurer_name": "おんし商事",
    });
    let (s, v) = app.search(sato.clone()).await;
    assert_eq!(s, 200, "{v}");
    let q = &v["qualification"];
    assert_eq!(q["qualification_validity"], "2");
    assert_eq!(q["qualifications"][0]["lost"], true);
    assert_eq!(q["qualifications"][0]["claim"]["lost"], true);
    assert_eq!(q["qualifications"][0]["DisqualificationDate"], "20261001");
    // the visit was before the loss (confirmed afterwards): the then valid qualification
    let (_, v) = app
        .search(with(sato, json!({"confirmation_date": "2026-09-15"})))
        .await;
    let q = &v["qualification"];
    assert_eq!(q["qualification_validity"], "1");
    assert_eq!(q["qualifications"][0]["lost"], false);
    assert_eq!(
        q["qualifications"][0]["claim"]["confirmation_date"],
        "2026-09-15"
    );
}

on_both_backends!(
    r14_concurrent_searches_each_get_their_own_audit_line_before_the_answer,
    r14_concurrent_searches_each_get_their_own_audit_line_before_the_answer_on_postgresql,
    concurrent_searches_each_get_their_own_audit_line
);

/// The audit lines of concurrent searches are committed in groups: every search still gets
/// its own line, with its own criteria, in the audit before it is answered — also when more
/// are sent at once than the server runs at once (the rest wait their turn).
async fn concurrent_searches_each_get_their_own_audit_line(app: Arc<App>) {
    app.enable_clinic(None).await;
    let n = (3 * onshi_web::outage::searches_at_once()).clamp(48, 480);
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..n {
        let app = app.clone();
        tasks.spawn(async move {
            let staff = format!("受付{k:03}");
            let (status, v) = app
                .search(with(tanaka(), json!({ "staff_id": staff })))
                .await;
            // the line is there as soon as the answer is
            let (_, audit) = app.get(CLINIC_TOKEN, "/v1/outage/audit?limit=500").await;
            (staff, status, v, audit)
        });
    }
    let mut ids = std::collections::BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let (staff, status, v, audit) = done.unwrap();
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["hits"], 1);
        let sid = v["search_id"].as_i64().unwrap();
        assert!(ids.insert(sid), "search id {sid} given twice");
        let mine = audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == sid)
            .unwrap_or_else(|| panic!("search {sid} answered before its audit line: {audit}"));
        assert_eq!(mine["staff_id"], staff);
        assert_eq!(mine["criteria"]["staff_id"], staff);
    }
    let (_, a) = app.get(CLINIC_TOKEN, "/v1/outage/audit?limit=500").await;
    assert_eq!(a["audit"].as_array().unwrap().len(), n);
}

#[tokio::test]
async fn r14_audit_is_kept_and_each_role_sees_what_it_may() {
    let app = spawn().await;
    app.enable_clinic(None).await;
    app.search(tanaka()).await;
    let (_, v) = app
        .search(json!({
            "staff_id": "受付03", "birthdate": "1970-07-07", "sex": "2", "confirmation_date": DAY,
            "name": "山田花子", "insurer_name": "健康保険",
        }))
        .await;
    let sid = v["search_id"].as_i64().unwrap();
    app.post(
        CLINIC_TOKEN,
        &format!("/v1/outage/search/{sid}/select"),
        json!({"candidate": 1, "staff_id": "受付03"}),
    )
    .await;
    // the pharmacy, not enabled, tries once
    let (s, _) = app
        .post(PHARMACY_TOKEN, "/v1/outage/search", tanaka())
        .await;
    assert_eq!(s, 403);

    let (_, a) = app.get(CLINIC_TOKEN, "/v1/outage/audit").await;
    let rows = a["audit"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{a}");
    assert!(rows.iter().all(|r| r["facility"] == CLINIC));
    let select = &rows[0];
    assert_eq!(select["kind"], "select");
    assert_eq!(select["staff_id"], "受付03");
    assert_eq!(select["search_id"], sid);
    assert_eq!(select["chosen_name"], "山田　花子");
    let search = &rows[1];
    assert_eq!(search["kind"], "search");
    assert_eq!(search["hits"], 2);
    assert_eq!(search["criteria"]["name"], "山田花子");
    assert!(search["at"].as_str().unwrap().starts_with("2026-11-25T10:"));
    assert_eq!(
        rows[2]["chosen_name"], "田中　太郎",
        "one hit is chosen at once"
    );
    // a facility cannot widen its view by asking for another facility
    let (_, a) = app
        .get(
            PHARMACY_TOKEN,
            &format!("/v1/outage/audit?facility={CLINIC}"),
        )
        .await;
    let rows = a["audit"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["facility"], PHARMACY);
    assert_eq!(rows[0]["outcome"], "r13_not_enabled");
    // the operator lists per facility, or all
    let (_, a) = app
        .get(
            OPERATOR_TOKEN,
            &format!("/v1/operator/outage/audit?facility={CLINIC}"),
        )
        .await;
    assert_eq!(a["audit"].as_array().unwrap().len(), 3);
    let (_, a) = app.get(OPERATOR_TOKEN, "/v1/operator/outage/audit").await;
    assert_eq!(a["audit"].as_array().unwrap().len(), 4);
    let (_, f) = app
        .get(
            OPERATOR_TOKEN,
            &format!("/v1/operator/outage/facilities/{PHARMACY}"),
        )
        .await;
    assert_eq!(f["events"][0]["action"], "search_refused", "{f}");
    // roles do not mix
    let (s, _) = app.get(CLINIC_TOKEN, "/v1/operator/outage/audit").await;
    assert_eq!(s, 401);
    let (s, _) = app.get(OPERATOR_TOKEN, "/v1/outage/audit").await;
    assert_eq!(s, 401);
    let (s, _) = app
        .http
        .get(format!("{}/v1/outage", app.base))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s, 401);
}

/// The operator's browser without the browser: a cookie jar, no redirects followed.
struct OperatorBrowser {
    http: reqwest::Client,
    base: String,
}

impl OperatorBrowser {
    fn new(base: &str) -> Self {
        OperatorBrowser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
        }
    }

    /// Signs in with the operator token: the answer's status and its Set-Cookie.
    async fn log_in(&self, token: &str) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}/operator/outage/login", self.base))
            .header("origin", &self.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status().as_u16(), cookie)
    }

    async fn page(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Posts a screen form (`origin` None = no Origin header, as a form from nowhere).
    async fn post(&self, path: &str, origin: Option<&str>, body: String) -> (u16, String) {
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with the CSRF token")
        + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn r13_operator_screens_in_japanese_behind_a_session_login_the_token_never_in_the_cookie() {
    let app = spawn().await;
    let op = OperatorBrowser::new(&app.base);
    // not signed in: to the login form
    let (s, _) = op.page("/operator/outage").await;
    assert_eq!(s, 303);
    let (s, login) = op.page("/operator/outage/login").await;
    assert_eq!(s, 200);
    assert!(login.contains("オペレータートークン"), "{login}");
    // the facility's screens are not served by the central any more: the desk has them
    let (s, _) = op.page("/outage").await;
    assert_eq!(s, 404);
    let (s, _) = op.page("/outage/login").await;
    assert_eq!(s, 404);
    // a wrong token: refused, no session
    let (s, cookie) = op.log_in("tok-wrong").await;
    assert_eq!(s, 401);
    assert!(cookie.is_empty(), "{cookie}");
    // the right one: a session whose cookie carries a random id, never the token
    let (s, cookie) = op.log_in(OPERATOR_TOKEN).await;
    assert_eq!(s, 303);
    assert!(cookie.starts_with("onshi_operator="), "{cookie}");
    assert!(!cookie.contains(OPERATOR_TOKEN), "{cookie}");
    assert!(
        !cookie.contains(&operator_token_hash(OPERATOR_TOKEN)),
        "{cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/operator/outage"] {
        assert!(cookie.contains(attr), "{attr}: {cookie}");
    }
    // the clinic asks through the API (its desk does so); the operator's screen shows it
    let (s, v) = app
        .post(
            CLINIC_TOKEN,
            "/v1/outage/requests",
            json!({"facility_name": "おんしクリニック", "contact_person": "受付 山本", "reason": "停電", "staff_id": "S01"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["requested_by"], format!("facility:{CLINIC}/S01"), "{v}");
    let id = v["id"].as_i64().unwrap();
    let (s, page) = op.page("/operator/outage").await;
    assert_eq!(s, 200);
    assert!(page.contains("受付済み（折り返し電話待ち）"), "{page}");
    assert!(page.contains("0312345678"));
    assert!(page.contains("折り返し電話で確認した"));
    assert!(
        page.contains("コールセンター佐々木"),
        "who is signed in: {page}"
    );
    // a step from the screen, with the page's token and Origin
    let csrf = csrf_of(&page);
    let (s, page) = op
        .post(
            "/operator/outage/action",
            Some(&app.base),
            format!("csrf={csrf}&do=verify&id={id}&phone=03-1234-5678"),
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains(&format!("申請 {id}: 電話確認済み（利用報告書送付待ち）")),
        "{page}"
    );
    let (_, v) = app
        .get(CLINIC_TOKEN, &format!("/v1/outage/requests/{id}"))
        .await;
    assert_eq!(v["state"], "verified", "{v}");
    // logout ends the session
    let (s, _) = op
        .post(
            "/operator/outage/logout",
            Some(&app.base),
            format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(s, 303);
    let (s, _) = op.page("/operator/outage").await;
    assert_eq!(s, 303, "signed out");
}

#[tokio::test]
async fn csrf_an_operator_form_from_another_site_is_refused_and_changes_nothing() {
    let app = spawn().await;
    let id = app.clinic_request().await;
    let op = OperatorBrowser::new(&app.base);
    assert_eq!(op.log_in(OPERATOR_TOKEN).await.0, 303);
    let (_, page) = op.page("/operator/outage").await;
    let csrf = csrf_of(&page);
    let verify = |token: &str| format!("csrf={token}&do=verify&id={id}&phone=03-1234-5678");
    // another site's page posting with the operator's cookie: without the token, with a
    // wrong one, or with the token but another Origin (or none)
    for (origin, body) in [
        (
            Some(app.base.as_str()),
            format!("do=verify&id={id}&phone=03-1234-5678"),
        ),
        (Some(app.base.as_str()), verify("00ff")),
        (Some("http://evil.example"), verify(&csrf)),
        (None, verify(&csrf)),
    ] {
        let (s, page) = op.post("/operator/outage/action", origin, body).await;
        assert_eq!(s, 403, "{origin:?}: {page}");
        assert!(
            page.contains("ほかのサイトからの送信は受け付けません"),
            "{page}"
        );
    }
    let (_, v) = app
        .get(CLINIC_TOKEN, &format!("/v1/outage/requests/{id}"))
        .await;
    assert_eq!(v["state"], "requested", "nothing changed: {v}");
    // a login form posted from another site does not open a session
    let other = OperatorBrowser::new(&app.base);
    let (s, _) = other
        .post(
            "/operator/outage/login",
            Some("http://evil.example"),
            format!("token={OPERATOR_TOKEN}"),
        )
        .await;
    assert_eq!(s, 403);
    // the session cookie is not a credential of the JSON API
    let r = op
        .http
        .get(format!("{}/v1/operator/outage/requests", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// `<script>alert('x')</script>"&'`, form-encoded.
const HOSTILE_ENC: &str = "%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%22%26%27";

fn escaped(page: &str, body: &str) {
    assert!(!body.contains("<script>alert"), "{page}: markup:\n{body}");
    assert!(
        body.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;&#34;&#38;&#39;"),
        "{page}: the hostile text is not shown escaped:\n{body}"
    );
}

#[tokio::test]
async fn xss_outage_screens_escape_every_free_text_field() {
    let app = spawn().await;
    let hostile = "<script>alert('x')</script>\"&'";
    // the request's free text, as a facility's desk sends it
    let (s, v) = app
        .post(
            CLINIC_TOKEN,
            "/v1/outage/requests",
            json!({"facility_name": hostile, "contact_person": hostile, "reason": hostile}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    // a search with hostile criteria is refused (not enabled) and recorded in the audit
    let (s, _) = app
        .post(
            CLINIC_TOKEN,
            "/v1/outage/search",
            json!({"staff_id": hostile, "birthdate": "1980-04-02", "sex": "1", "confirmation_date": DAY, "name": hostile, "address": hostile}),
        )
        .await;
    assert_eq!(s, 403);
    let op = OperatorBrowser::new(&app.base);
    assert_eq!(op.log_in(OPERATOR_TOKEN).await.0, 303);
    let (_, page) = op.page("/operator/outage").await;
    escaped("operator screen", &page);
    let (_, filtered) = op
        .page(&format!("/operator/outage?facility={HOSTILE_ENC}"))
        .await;
    escaped("operator screen (filter)", &filtered);
    // the operator's own free text: the phone number typed at the call-back
    let csrf = csrf_of(&page);
    let (_, page) = op
        .post(
            "/operator/outage/action",
            Some(&app.base),
            format!("csrf={csrf}&do=verify&id={id}&phone={HOSTILE_ENC}"),
        )
        .await;
    assert!(!page.contains("<script>alert"), "{page}");
}
