//! The central's HTTP API, against the real server on a random port with a real SQLite file.
//! Each test names the rule it proves.

use std::sync::Arc;

use onshi_card::PinHasher;
use onshi_central::fixture::{self, Fixture};
use onshi_central::import::{self, Input};
use onshi_central::{Central, SystemClock};
use onshi_domain::numbers::{MedicalInstitutionCode, MyNumberHasher};
use onshi_store::{Facility, FacilityStore, SqliteStore};
use serde_json::{Value, json};

#[path = "support/conform.rs"]
mod conform;

struct App {
    base: String,
    /// the certified readers of the clinic and of the pharmacy
    readers: Vec<(String, onshi_card::CertifiedReader)>,
    clinic: String,
    pharmacy: String,
    http: reqwest::Client,
    fx: Fixture,
    _dir: tempfile::TempDir,
}

const CLINIC: &str = "1311234567";
const PHARMACY: &str = "1341234567";

async fn spawn() -> App {
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
    for (code, name, token) in [
        (CLINIC, "clinic", "tok-clinic"),
        (PHARMACY, "pharmacy", "tok-pharmacy"),
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
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    let mut readers = Vec::new();
    for code in [CLINIC, PHARMACY] {
        let key = onshi_card::ReaderKey::generate(&format!("reader-{code}")).unwrap();
        central
            .register_reader(
                &MedicalInstitutionCode::parse(code).unwrap(),
                &key.id,
                &key.public_key_hex(),
            )
            .unwrap();
        readers.push((
            code.to_string(),
            onshi_card::CertifiedReader::new(key, cards.clone()),
        ));
    }
    let state = onshi_web::AppState::new(central, store.clone(), cards.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(onshi_web::serve(listener, state, std::future::pending()));
    App {
        readers,
        base: format!("http://{addr}"),
        clinic: "tok-clinic".into(),
        pharmacy: "tok-pharmacy".into(),
        http: reqwest::Client::new(),
        fx,
        _dir: dir,
    }
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
        let v: Value = r.json().await.unwrap();
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
        let v: Value = r.json().await.unwrap();
        conform::check("GET", path, status, &v);
        (status, v)
    }

    /// A card on the certified reader of the facility of `token`: the attempt in `body`
    /// (`face` "ok"/"fail", `pin`, or `visual_staff_id`), signed over a fresh nonce.
    async fn read_at(&self, token: &str, body: Value) -> (u16, Value) {
        let (s, g) = self
            .post(token, "/v1/confirmations/card/nonce", json!({}))
            .await;
        assert_eq!(s, 200, "{g}");
        let code = if token == self.clinic {
            CLINIC
        } else {
            PHARMACY
        };
        let reader = &self.readers.iter().find(|(c, _)| c == code).unwrap().1;
        let attempt = if let Some(f) = body["face"].as_str() {
            onshi_card::IdentityAttempt::Face { matched: f == "ok" }
        } else if let Some(p) = body["pin"].as_str() {
            onshi_card::IdentityAttempt::Pin(onshi_card::Pin::parse(p).unwrap())
        } else {
            onshi_card::IdentityAttempt::Visual {
                staff_id: body["visual_staff_id"].as_str().unwrap_or("").into(),
            }
        };
        let date = body["confirmation_date"].as_str().unwrap_or(DAY);
        let a = reader
            .assert(
                code,
                g["nonce"].as_str().unwrap(),
                body["card_serial"].as_str().unwrap(),
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
                body["limit_consent"].as_bool().unwrap_or(false),
                &attempt,
            )
            .unwrap();
        self.post(
            token,
            "/v1/confirmations/card",
            serde_json::to_value(&a).unwrap(),
        )
        .await
    }

    async fn read(&self, body: Value) -> Value {
        let (s, v) = self.read_at(&self.clinic, body).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    fn serial(&self, key: &str) -> &'static str {
        self.fx.person(key).card_serial.unwrap()
    }
}

const DAY: &str = "2026-11-25";

#[tokio::test]
async fn r1_face_pin_and_visual_each_confirm_a_valid_qualification() {
    let app = spawn().await;
    let s = app.serial("valid");
    for (body, method) in [
        (
            json!({"card_serial": s, "confirmation_date": DAY, "face": "ok"}),
            "face",
        ),
        (
            json!({"card_serial": s, "confirmation_date": DAY, "pin": "1234"}),
            "pin",
        ),
        (
            json!({"card_serial": s, "confirmation_date": DAY, "visual_staff_id": "S01"}),
            "visual",
        ),
    ] {
        let v = app.read(body).await;
        assert_eq!(v["segment_of_result"], "1", "{v}");
        assert_eq!(v["processing_result_status"], "1");
        assert_eq!(v["qualification_validity"], "1");
        assert_eq!(v["identity_method"], method);
        assert_eq!(v["result_list"].as_array().unwrap().len(), 1);
        let r = &v["result_list"][0];
        assert_eq!(r["InsurerNumber"], app.fx.kyokai.as_str());
        assert_eq!(r["InsuredIdentificationNumber"], "2001");
        assert_eq!(r["InsuredBranchNumber"], "00");
        assert_eq!(r["InsuredPartialContributionRatio"], "030");
        assert_eq!(r["NameKana"], "ﾀﾅｶ ﾀﾛｳ");
        assert_eq!(r["Birthdate"], "19800402");
    }
}

#[tokio::test]
async fn r3_visual_confirmation_records_the_staff_member() {
    let app = spawn().await;
    let v = app
        .read(json!({"card_serial": app.serial("pinless"), "confirmation_date": DAY, "visual_staff_id": "受付02"}))
        .await;
    assert_eq!(v["identity_method"], "visual");
    assert_eq!(v["visual_confirmation_staff_id"], "受付02");
    let (_, h) = app.get(&app.clinic, "/v1/confirmations?limit=1").await;
    assert_eq!(h["confirmations"][0]["staff_id"], "受付02");
    assert_eq!(h["confirmations"][0]["identity_method"], "visual");
}

#[tokio::test]
async fn r2_pin_less_card_refuses_pin_and_takes_face() {
    let app = spawn().await;
    let s = app.serial("pinless");
    let v = app
        .read(json!({"card_serial": s, "confirmation_date": DAY, "pin": "1234"}))
        .await;
    assert_eq!(v["segment_of_result"], "9");
    assert_eq!(v["processing_result_status"], "2");
    assert_eq!(v["error"]["class"], "pin_not_set");
    assert!(v.get("qualification_validity").is_none());
    let v = app
        .read(json!({"card_serial": s, "confirmation_date": DAY, "face": "ok"}))
        .await;
    assert_eq!(v["qualification_validity"], "1");
}

#[tokio::test]
async fn wrong_pin_counts_and_the_third_locks() {
    let app = spawn().await;
    let s = app.serial("valid");
    let v = app
        .read(json!({"card_serial": s, "confirmation_date": DAY, "pin": "0000"}))
        .await;
    assert_eq!(v["error"]["class"], "pin_wrong");
    assert_eq!(v["error"]["remaining_attempts"], 2);
    let v = app
        .read(json!({"card_serial": s, "confirmation_date": DAY, "pin": "0000"}))
        .await;
    assert_eq!(v["error"]["remaining_attempts"], 1);
    let v = app
        .read(json!({"card_serial": s, "confirmation_date": DAY, "pin": "0000"}))
        .await;
    assert_eq!(v["error"]["class"], "pin_locked");
    let v = app
        .read(json!({"card_serial": s, "confirmation_date": DAY, "pin": "1234"}))
        .await;
    assert_eq!(
        v["error"]["class"], "pin_locked",
        "the right PIN no longer opens a locked card"
    );
    // R15: face (or visual) still works
    let v = app
        .read(json!({"card_serial": s, "confirmation_date": DAY, "face": "ok"}))
        .await;
    assert_eq!(v["qualification_validity"], "1");
    // a card imported as pin_locked is locked from the start
    let v = app
        .read(json!({"card_serial": app.serial("locked"), "confirmation_date": DAY, "pin": "8888"}))
        .await;
    assert_eq!(v["error"]["class"], "pin_locked");
}

#[tokio::test]
async fn r15_face_failure_is_an_error_the_desk_can_fall_back_from() {
    let app = spawn().await;
    let v = app
        .read(json!({"card_serial": app.serial("valid"), "confirmation_date": DAY, "face": "fail"}))
        .await;
    assert_eq!(v["error"]["class"], "face_mismatch");
    assert!(v["error"]["message"].as_str().unwrap().contains("目視"));
}

#[tokio::test]
async fn certificate_works_in_its_grace_and_not_after() {
    let app = spawn().await;
    let s = app.serial("grace");
    let v = app
        .read(json!({"card_serial": s, "confirmation_date": "2026-11-30", "face": "ok"}))
        .await;
    assert_eq!(v["qualification_validity"], "1", "{v}");
    assert_eq!(v["certificate"]["in_grace"]["usable_until"], "2026-11-30");
    let v = app
        .read(json!({"card_serial": s, "confirmation_date": "2026-12-01", "face": "ok"}))
        .await;
    assert_eq!(v["segment_of_result"], "9");
    assert_eq!(v["error"]["class"], "certificate_expired");
}

#[tokio::test]
async fn revoked_and_unknown_cards_are_clear_errors() {
    let app = spawn().await;
    let v = app
        .read(json!({"card_serial": app.serial("revoked"), "confirmation_date": DAY, "face": "ok"}))
        .await;
    assert_eq!(v["error"]["class"], "card_revoked");
    let v = app
        .read(json!({"card_serial": "NOPE", "confirmation_date": DAY, "face": "ok"}))
        .await;
    assert_eq!(v["error"]["class"], "card_unknown");
}

#[tokio::test]
async fn r5_r6_lost_qualification_is_invalid_and_shows_the_old_numbers() {
    let app = spawn().await;
    let v = app
        .read(json!({"card_serial": app.serial("lost"), "confirmation_date": DAY, "face": "ok"}))
        .await;
    assert_eq!(v["segment_of_result"], "1");
    assert_eq!(v["qualification_validity"], "2");
    assert_eq!(v["qualification_validity_label"], "無効");
    let r = &v["result_list"][0];
    assert_eq!(r["InsurerNumber"], app.fx.kumiai.as_str());
    assert_eq!(r["InsuredCardSymbol"], "77");
    assert_eq!(r["InsuredIdentificationNumber"], "3001");
    assert_eq!(r["DisqualificationDate"], "20261001");
    assert_eq!(r["ReasonOfLoss"], "03");
    // R6: and it stays visible in the confirmation history
    let (_, h) = app.get(&app.clinic, "/v1/confirmations?outcome=2").await;
    let e = &h["confirmations"][0];
    assert_eq!(
        e["result"]["result_list"][0]["InsurerNumber"],
        app.fx.kumiai.as_str()
    );
    assert_eq!(
        e["result"]["result_list"][0]["InsuredIdentificationNumber"],
        "3001"
    );
}

#[tokio::test]
async fn r5_nothing_registered_is_not_found() {
    let app = spawn().await;
    let v = app
        .read(json!({"card_serial": app.serial("none"), "confirmation_date": DAY, "face": "ok"}))
        .await;
    assert_eq!(v["qualification_validity"], "4");
    assert_eq!(v["result_list"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn r5_two_valid_qualifications_at_once_are_multiple() {
    let app = spawn().await;
    let v = app
        .read(
            json!({"card_serial": app.serial("multiple"), "confirmation_date": DAY, "face": "ok"}),
        )
        .await;
    assert_eq!(v["segment_of_result"], "1");
    assert_eq!(v["qualification_validity"], "5", "{v}");
    assert_eq!(v["qualification_validity_label"], "複数該当");
    let insurers: Vec<&str> = v["result_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["InsurerNumber"].as_str().unwrap())
        .collect();
    assert_eq!(insurers, [app.fx.kyokai.as_str(), app.fx.kumiai.as_str()]);
    // before the second one began, only the first
    let v = app
        .read(json!({"card_serial": app.serial("multiple"), "confirmation_date": "2026-03-31", "face": "ok"}))
        .await;
    assert_eq!(v["qualification_validity"], "1");
}

#[tokio::test]
async fn r5_card_after_a_job_change_sees_the_new_qualification() {
    let app = spawn().await;
    let v = app
        .read(json!({"card_serial": app.serial("changed"), "confirmation_date": DAY, "face": "ok"}))
        .await;
    assert_eq!(v["qualification_validity"], "1");
    assert_eq!(v["result_list"][0]["InsurerNumber"], app.fx.kyokai.as_str());
    // before the change, the old one
    let v = app
        .read(json!({"card_serial": app.serial("changed"), "confirmation_date": "2026-09-30", "face": "ok"}))
        .await;
    assert_eq!(v["result_list"][0]["InsurerNumber"], app.fx.kumiai.as_str());
}

#[tokio::test]
async fn cost_share_comes_from_elderly_certificate_and_koki_ratio() {
    let app = spawn().await;
    let v = app
        .read(json!({"card_serial": app.serial("elderly"), "confirmation_date": DAY, "face": "ok", "limit_consent": true}))
        .await;
    let r = &v["result_list"][0];
    assert_eq!(r["InsuredPartialContributionRatio"], "020");
    assert_eq!(
        r["ElderlyRecipientCertificateInfo"]["ElderlyRecipientContributionRatio"],
        "020"
    );
    assert_eq!(r["LimitApplicationCertificateRelatedConsFlg"], "1");
    assert_eq!(
        r["LimitApplicationCertificateRelatedInfo"]["LimitApplicationCertificateClassificationFlag"],
        "B04"
    );
    // without consent, no 限度額 information
    let v = app
        .read(json!({"card_serial": app.serial("elderly"), "confirmation_date": DAY, "face": "ok"}))
        .await;
    assert!(
        v["result_list"][0]
            .get("LimitApplicationCertificateRelatedInfo")
            .is_none()
    );
    let v = app
        .read(json!({"card_serial": app.serial("koki"), "confirmation_date": DAY, "face": "ok"}))
        .await;
    assert_eq!(
        v["result_list"][0]["InsuredPartialContributionRatio"],
        "010"
    );
    assert_eq!(v["result_list"][0]["InsurerNumber"], app.fx.koki.as_str());
}

#[tokio::test]
async fn r7_numbers_search_says_invalid_without_exposing_the_newer_qualification() {
    let app = spawn().await;
    let body = |number: &str, insurer: &str, symbol: &str, birth: &str| {
        json!({"confirmation_date": DAY, "staff_id": "S01",
               "query": {"insurer_number": insurer, "symbol": symbol, "number": number, "birthdate": birth}})
    };
    let kumiai = app.fx.kumiai.to_string();
    let kyokai = app.fx.kyokai.to_string();
    // old card of the job changer who has a new insurer → 3, the newer one not shown
    let (s, v) = app
        .post(
            &app.clinic,
            "/v1/confirmations/numbers",
            body("3007", &kumiai, "77", "1990-03-03"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["reference_classification"], "2");
    assert_eq!(v["qualification_validity"], "3");
    // the answer's own time (YYYYMMDDhhmmss) may hold any digits: 20:07 holds "2007"
    let mut shown = v.clone();
    shown
        .as_object_mut()
        .unwrap()
        .remove("process_execution_time");
    let text = shown.to_string();
    assert!(
        !text.contains(&kyokai),
        "the newer insurer must not be exposed: {text}"
    );
    assert!(
        !text.contains("2007"),
        "the newer number must not be exposed: {text}"
    );
    // lost, nothing newer → 2
    let (_, v) = app
        .post(
            &app.clinic,
            "/v1/confirmations/numbers",
            body("3001", &kumiai, "77", "1985-11-11"),
        )
        .await;
    assert_eq!(v["qualification_validity"], "2");
    // valid, full-width digits typed → 1
    let (_, v) = app
        .post(
            &app.clinic,
            "/v1/confirmations/numbers",
            body("２００１", &kyokai, "１００１", "1980-04-02"),
        )
        .await;
    assert_eq!(v["qualification_validity"], "1");
    // wrong birth date → 4
    let (_, v) = app
        .post(
            &app.clinic,
            "/v1/confirmations/numbers",
            body("2001", &kyokai, "1001", "1980-04-03"),
        )
        .await;
    assert_eq!(v["qualification_validity"], "4");
    // a dependent without a card is found by the numbers and branch
    let mut b = body("2001", &kyokai, "1001", "2010-04-01");
    b["query"]["branch"] = json!("01");
    let (_, v) = app.post(&app.clinic, "/v1/confirmations/numbers", b).await;
    assert_eq!(v["qualification_validity"], "1");
    assert_eq!(v["result_list"][0]["PersonalFamilyClassification"], "2");
}

#[tokio::test]
async fn r6_history_is_per_facility_and_filters_by_date_and_patient() {
    let app = spawn().await;
    app.read(json!({"card_serial": app.serial("valid"), "confirmation_date": "2026-11-20", "face": "ok"})).await;
    app.read(
        json!({"card_serial": app.serial("lost"), "confirmation_date": "2026-11-25", "face": "ok"}),
    )
    .await;
    let (_, v) = app
        .read_at(
            &app.pharmacy,
            json!({"card_serial": app.serial("pinless"), "confirmation_date": DAY, "face": "ok"}),
        )
        .await;
    assert_eq!(v["medical_institution_code"], PHARMACY);

    let (_, all) = app.get(&app.clinic, "/v1/confirmations").await;
    let list = all["confirmations"].as_array().unwrap();
    assert_eq!(list.len(), 2, "the clinic sees only its own two: {all}");
    assert!(list.iter().all(|e| e["facility"] == CLINIC));
    let (_, ph) = app.get(&app.pharmacy, "/v1/confirmations").await;
    assert_eq!(ph["confirmations"].as_array().unwrap().len(), 1);

    let (_, d) = app
        .get(
            &app.clinic,
            "/v1/confirmations?from=2026-11-21&to=2026-11-30",
        )
        .await;
    assert_eq!(d["confirmations"].as_array().unwrap().len(), 1);
    assert_eq!(d["confirmations"][0]["card_serial"], app.serial("lost"));
    // by patient: kana typed in hiragana with a half-width space still matches
    let (_, k) = app
        .get(
            &app.clinic,
            "/v1/confirmations?kana=%E3%81%9F%E3%81%AA%E3%81%8B%20%E3%81%9F%E3%82%8D%E3%81%86",
        )
        .await;
    assert_eq!(k["confirmations"].as_array().unwrap().len(), 1, "{k}");
    let (_, b) = app
        .get(&app.clinic, "/v1/confirmations?birthdate=1985-11-11")
        .await;
    assert_eq!(b["confirmations"].as_array().unwrap().len(), 1);
    // failures are recorded too
    app.read(
        json!({"card_serial": app.serial("pinless"), "confirmation_date": DAY, "pin": "1111"}),
    )
    .await;
    let (_, f) = app
        .get(&app.clinic, "/v1/confirmations?outcome=pin_not_set")
        .await;
    assert_eq!(f["confirmations"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let app = spawn().await;
    // an assertion without its reader is not even read
    let (s, v) = app
        .post(
            &app.clinic,
            "/v1/confirmations/card",
            json!({"card_serial": "C0001", "nonce": "00", "confirmation_date": DAY,
                   "identity": {"result": "verified", "method": "face", "staff_id": null}}),
        )
        .await;
    assert!(s == 422 || s == 400, "{s}");
    assert_eq!(v["error"]["field"], "reader_id", "{v}");
    let (s, v) = app
        .post(&app.clinic, "/v1/confirmations/numbers", json!({"confirmation_date": DAY, "query": {"insurer_number": "01130019", "symbol": "1", "number": "1", "birthdate": "1980-01-01"}}))
        .await;
    assert!(s == 422 || s == 400, "{s}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("insurer_number"),
        "{v}"
    );
    let (s, v) = app
        .get(&app.clinic, "/v1/confirmations?from=2026-13-01")
        .await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn every_call_needs_a_facility_token() {
    let app = spawn().await;
    let (s, v) = app
        .post("wrong", "/v1/confirmations/card/nonce", json!({}))
        .await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["rule"], "auth");
    let r = app
        .http
        .get(format!("{}/v1/confirmations", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn the_served_openapi_document_is_the_checked_in_one() {
    let app = spawn().await;
    let r = app
        .http
        .get(format!("{}/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let served = r.text().await.unwrap();
    assert_eq!(
        served,
        onshi_web::openapi::document(),
        "the server serves the document generated from its types"
    );
    let file = include_str!("../../../docs/api/openapi.json");
    assert!(
        served == file,
        "docs/api/openapi.json is not the document generated from the types: \
         run `cargo run -p onshi -- openapi > docs/api/openapi.json` and review the change"
    );
    let served: Value = serde_json::from_str(&served).unwrap();
    for path in [
        "/v1/confirmations/card/nonce",
        "/v1/confirmations/card",
        "/v1/confirmations/numbers",
        "/v1/confirmations",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} documented");
    }
}

#[test]
fn the_response_check_refuses_what_the_document_does_not_describe() {
    let refused = |method: &'static str, path: &'static str, status: u16, body: Value| {
        std::panic::catch_unwind(move || conform::check(method, path, status, &body)).is_err()
    };
    let facility = json!({"code": CLINIC, "name": "clinic"});
    assert!(!refused("GET", "/v1/facility", 200, facility.clone()));
    // a required member missing, a member of the wrong type, a member not documented
    assert!(refused("GET", "/v1/facility", 200, json!({"code": CLINIC})));
    assert!(refused(
        "GET",
        "/v1/facility",
        200,
        json!({"code": 1, "name": "x"})
    ));
    assert!(refused(
        "GET",
        "/v1/facility",
        200,
        json!({"code": CLINIC, "name": "clinic", "token": "t"})
    ));
    // nested: a history entry with an undocumented member
    assert!(refused(
        "GET",
        "/v1/confirmations?limit=1",
        200,
        json!({"facility": CLINIC, "confirmations": [{"surprise": 1}]})
    ));
    // a status or a route the document does not have
    assert!(refused("GET", "/v1/facility", 418, facility.clone()));
    assert!(refused("GET", "/v1/nowhere", 200, facility));
}
