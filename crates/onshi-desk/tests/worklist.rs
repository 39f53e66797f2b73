//! 事後確認 (R12, R14, R17) over HTTP, no browser: visits recorded at the desk while the
//! central was unreachable stay unconfirmed on the worklist; once the facility's outage mode
//! is enabled (or the central is back) the clerk resolves them by the outage-mode search or by
//! card, and the visit's claim carries the numbers and the source. The desk's terminal talks to
//! a real central (onshi-web with the outage mode, SQLite, the fixture registry) over HTTP
//! through a fault-injecting client.

mod common;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use onshi_card::PinHasher;
use onshi_central::fixture;
use onshi_central::import::{self, Input};
use onshi_central::outage::OutageConfig;
use onshi_central::{Central, Clock};
use onshi_domain::numbers::{MedicalInstitutionCode, MyNumberHasher};
use onshi_store::outage::OutageStore;
use onshi_store::{Facility, FacilityStore, SqliteStore};
use onshi_terminal::client::{Fault, FaultyCentral, HttpCentral};
use onshi_web::outage::{OutageApp, operator_token_hash};
use serde_json::{Value, json};

const CLINIC: &str = "1311234567";
const CLINIC_TOKEN: &str = "tok-clinic";
const OPERATOR_TOKEN: &str = "tok-operator";
const CLINIC_PHONE: &str = "03-1234-5678";
const DAY: &str = "2026-11-25";

/// Real time passing, shifted to start at 2026-11-25 10:00 JST whatever the machine's date,
/// so that the outage window (until the end of the day) stays open during the test.
struct ShiftedClock {
    start: Instant,
    at: DateTime<Utc>,
}

impl Clock for ShiftedClock {
    fn now_utc(&self) -> DateTime<Utc> {
        self.at + chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default()
    }
}

struct World {
    central: String,
    desk: String,
    fault: Arc<FaultyCentral>,
    fx: fixture::Fixture,
    http: reqwest::Client,
    /// the receipt computer on the claims API (the terminal's API token)
    api: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Two persons with the same name, birth date and sex, at different addresses and insurers.
fn twins_csv(fx: &fixture::Fixture) -> String {
    let kyo = format!("{},全国健康保険協会東京支部", fx.kyokai);
    let kum = format!("{},おんし商事健康保険組合", fx.kumiai);
    format!(
        "{}\n\
         {},{kyo},01,1001,2020,00,1,山田　花子,山田　花子,ヤマダ　ハナコ,2,19700707,1500001,東京都渋谷区神宮前1-1-1,おんし工業株式会社,20100401,,,030,,,,,\n\
         {},{kum},01,77,3020,00,1,山田　花子,山田　花子,ヤマダ　ハナコ,2,19700707,5300001,大阪府大阪市北区梅田2-2-2,おんし商事株式会社,20120401,,,030,,,,,\n",
        fixture::QUAL_HEADER,
        fixture::my_number(20),
        fixture::my_number(21),
    )
}

async fn start() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).expect("store"));
    let hasher = MyNumberHasher::new(b"test-key-0123456789").expect("key");
    let pins = PinHasher::new(b"test-pin-key-0123456789").expect("key");
    let cards = Arc::new(
        onshi_card::CardStore::open(dir.path().join("cards.sqlite"), pins.clone()).expect("key"),
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
    .expect("import");
    assert!(report.committed, "fixture import: {:?}", report.errors);
    // two persons with the same name, birth date and sex (a hit list)
    let twins = twins_csv(&fx);
    let report = import::import(
        store.as_ref(),
        &hasher,
        &cards,
        Some(Input {
            name: "twins.csv".into(),
            reader: twins.as_bytes(),
        }),
        None::<Input<&[u8]>>,
        &mut |_| {},
    )
    .expect("import");
    assert!(report.committed, "twins import: {:?}", report.errors);
    let clinic = MedicalInstitutionCode::parse(CLINIC).expect("code");
    store
        .upsert_facility(
            &Facility {
                code: clinic.clone(),
                name: "おんしクリニック".into(),
            },
            &onshi_web::token_hash(CLINIC_TOKEN),
        )
        .expect("facility");
    store
        .set_facility_contact(
            &clinic,
            "0312345678",
            Some("clinic@example.jp"),
            "2026-11-01T09:00:00.000+09:00",
        )
        .expect("contact");
    store
        .upsert_operator(
            "コールセンター佐々木",
            &operator_token_hash(OPERATOR_TOKEN),
            "2026-11-01T09:00:00.000+09:00",
        )
        .expect("operator");
    let clock = Arc::new(ShiftedClock {
        start: Instant::now(),
        at: onshi_central::clock::jst()
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .single()
            .expect("time")
            .with_timezone(&Utc),
    });
    let central = Central::new(store.clone(), store.clone(), clock.clone());
    // the clinic's certified reader, registered at the central
    let key = onshi_card::ReaderKey::generate("reader-clinic").expect("key");
    central
        .register_reader(&clinic, &key.id, &key.public_key_hex())
        .expect("register");
    let reader = onshi_terminal::client::ReaderLink {
        reader: Arc::new(onshi_card::CertifiedReader::new(key, cards.clone())),
        facility: clinic.clone(),
    };
    let state = onshi_web::AppState::new(central, store.clone(), cards.clone()).with_outage(
        OutageApp::with_clock(store.clone(), clock.clone(), OutageConfig::default()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(onshi_web::serve(listener, state, std::future::pending()));
    let central_url = format!("http://{addr}");

    let http_client = HttpCentral::new(&central_url, CLINIC_TOKEN)
        .expect("client")
        .with_reader(reader);
    let fault = Arc::new(FaultyCentral::new(Arc::new(http_client)));
    let mut cfg = onshi_terminal::Config::new(clinic, &dir.path().join(CLINIC));
    cfg.central_timeout = std::time::Duration::from_secs(5);
    let t = onshi_terminal::Terminal::open(cfg, fault.clone(), clock).expect("terminal");
    let token = onshi_terminal::api::ApiToken::generate().expect("token");
    let api = common::api_client(token.expose());
    let desk = onshi_desk::Desk::open(t)
        .expect("desk")
        .with_api_token(token);
    common::add_staff(&desk);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let a = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, onshi_desk::router(desk)).await;
    });
    let desk_url = format!("http://{a}");
    World {
        central: central_url,
        http: common::signed_in(&desk_url, "S02").await,
        api,
        desk: desk_url,
        fault,
        fx,
        _dir: dir,
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl World {
    /// Posts a form to the desk (following the redirect): status, final path, body.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .http
            .post(format!("{}{path}", self.desk))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("post");
        let url = r.url().path().to_string();
        (r.status().as_u16(), url, r.text().await.expect("text"))
    }

    async fn get(&self, path: &str) -> String {
        let r = self
            .http
            .get(format!("{}{path}", self.desk))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        r.text().await.expect("text")
    }

    async fn claim(&self, visit: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{visit}/claim.json", self.desk))
            .send()
            .await
            .expect("get");
        let (status, body) = common::conform_json("GET", r).await;
        assert_eq!(status, 200, "{visit}/claim.json: {body}");
        body
    }

    /// A visit at the desk whose card confirmation found the central unreachable.
    async fn unreachable_visit(&self) -> (String, i64) {
        let (status, visit, _) = self
            .post(
                "/desk/visits",
                &[
                    ("presence", "at_desk"),
                    ("service_date", DAY),
                    ("staff", "S01"),
                ],
            )
            .await;
        assert_eq!(status, 200);
        let id: i64 = visit.rsplit('/').next().expect("id").parse().expect("id");
        let serial = self.fx.person("valid").card_serial.expect("card");
        let (status, _, body) = self
            .post(
                &format!("{visit}/act"),
                &[("action", "card_received"), ("card_serial", serial)],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        self.fault.set(Fault::Down);
        let (status, _, body) = self
            .post(
                &format!("{visit}/act"),
                &[
                    ("action", "reader"),
                    ("mode", "face"),
                    ("face_result", "ok"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("id=\"after-fact\""), "{body}");
        (visit, id)
    }

    /// A JSON call to the central's API with a bearer token.
    async fn central_post(&self, token: &str, path: String, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.central))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("post");
        let s = r.status().as_u16();
        (s, r.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// The clinic's outage request taken through the operator's steps to `enabled` (R13).
    async fn enable_outage(&self) -> i64 {
        let (s, v) = self.central_post(
            CLINIC_TOKEN,
            "/v1/outage/requests".into(),
            json!({"facility_name": "おんしクリニック", "contact_person": "受付 山本", "reason": "回線障害"}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_i64().expect("id");
        self.operator_enables(id).await;
        id
    }

    /// The call centre's steps on request `id`: call-back, form, enabling (R13).
    async fn operator_enables(&self, id: i64) {
        for (step, body) in [
            ("verify", json!({"phone": CLINIC_PHONE})),
            ("issue-form", json!({})),
            ("enable", json!({})),
        ] {
            let (s, v) = self
                .central_post(
                    OPERATOR_TOKEN,
                    format!("/v1/operator/outage/requests/{id}/{step}"),
                    body,
                )
                .await;
            assert_eq!(s, 200, "{step}: {v}");
        }
    }

    /// The clinic's outage status at the central (its own token, as its terminal has it).
    async fn central_status(&self) -> Value {
        self.http
            .get(format!("{}/v1/outage", self.central))
            .bearer_auth(CLINIC_TOKEN)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json")
    }

    /// The operator ends the clinic's window (R13).
    async fn close_outage(&self, id: i64) {
        let r = self
            .http
            .post(format!(
                "{}/v1/operator/outage/requests/{id}/close",
                self.central
            ))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({}))
            .send()
            .await
            .expect("close");
        assert_eq!(r.status().as_u16(), 200);
    }
}

/// The search for the fixture's `valid` person (田中 太郎), as the clerk types it.
fn tanaka() -> Vec<(&'static str, &'static str)> {
    vec![
        ("staff_id", "S01"),
        ("birthdate", "1980-04-02"),
        ("sex", "1"),
        ("confirmation_date", DAY),
        ("name_kana", "タナカ　タロウ"),
        ("address", "東京都千代田区千代田1-1"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_r14_r17_unreachable_visit_is_unconfirmed_then_resolved_by_the_outage_search() {
    let w = start().await;
    let (visit, id) = w.unreachable_visit().await;

    // on the worklist, unconfirmed; the home screen points at it
    let list = w.get("/desk/unconfirmed").await;
    assert!(list.contains(&format!("id=\"unconfirmed-{id}\"")), "{list}");
    assert!(list.contains("未確認"));
    assert!(w.get("/desk/").await.contains("id=\"worklist-link\""));
    let c = w.claim(&visit).await;
    assert_eq!(c["unconfirmed"], true, "{c}");

    // the central is back, the facility asks for the outage mode and the operator enables it
    w.fault.set(Fault::None);
    w.enable_outage().await;

    // the clerk searches: one hit → the qualification, recorded on the visit
    let (status, url, body) = w
        .post(&format!("/desk/unconfirmed/{id}/search"), &tanaka())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(url, format!("/desk/unconfirmed/{id}"), "{body}");
    assert!(body.contains("id=\"resolved\""), "{body}");
    assert!(body.contains("data-source=\"outage_search\""), "{body}");

    let c = w.claim(&visit).await;
    assert_eq!(c["unconfirmed"], false, "{c}");
    assert_eq!(c["confirmation_source"], "outage_search", "{c}");
    assert_eq!(c["claim"]["basis"], "current", "{c}");
    assert_eq!(c["claim"]["insurer_number"], w.fx.kyokai.as_str(), "{c}");
    assert_eq!(c["claim"]["symbol"], "1001", "{c}");
    assert_eq!(c["claim"]["number"], "2001", "{c}");
    assert_eq!(c["claim"]["branch"], "00", "{c}");
    assert_eq!(c["after_fact"]["source"], "outage_search", "{c}");
    assert!(c["after_fact"]["audit_id"].as_i64().is_some(), "{c}");

    // the audit id is the central's own record of that search
    let r = w
        .http
        .get(format!("{}/v1/outage/audit", w.central))
        .bearer_auth(CLINIC_TOKEN)
        .send()
        .await
        .expect("audit");
    let audit: Value = r.json().await.expect("json");
    let ids: Vec<i64> = audit
        .as_array()
        .or_else(|| audit["audit"].as_array())
        .map(|a| a.iter().filter_map(|e| e["id"].as_i64()).collect())
        .unwrap_or_default();
    assert!(
        ids.contains(&c["after_fact"]["audit_id"].as_i64().unwrap_or(-1)),
        "{audit}"
    );

    // off the worklist; the visit page says how it was confirmed
    let list = w.get("/desk/unconfirmed").await;
    assert!(
        !list.contains(&format!("id=\"unconfirmed-{id}\"")),
        "{list}"
    );
    let page = w.get(&visit).await;
    assert!(
        page.contains("事後確認済み：システム障害時モードの検索"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r13_r14_central_refuses_the_search_when_not_enabled_or_closed_and_the_visit_stays_unconfirmed()
 {
    let w = start().await;
    let (visit, id) = w.unreachable_visit().await;
    w.fault.set(Fault::None);

    // the outage mode has not been enabled for the clinic: the central refuses, with its reason
    let (status, _, body) = w
        .post(&format!("/desk/unconfirmed/{id}/search"), &tanaka())
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("id=\"error\""), "{body}");
    assert!(body.contains("中央が照会を受け付けませんでした"), "{body}");
    assert!(body.contains("id=\"unconfirmed\""), "{body}");

    // still down: the clerk is told so
    w.fault.set(Fault::Down);
    let (status, _, body) = w
        .post(&format!("/desk/unconfirmed/{id}/search"), &tanaka())
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("まだ接続できません"), "{body}");

    // enabled, then the window closed by the operator: refused again
    w.fault.set(Fault::None);
    let req = w.enable_outage().await;
    w.close_outage(req).await;
    let (status, _, body) = w
        .post(&format!("/desk/unconfirmed/{id}/search"), &tanaka())
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("中央が照会を受け付けませんでした"), "{body}");

    let c = w.claim(&visit).await;
    assert_eq!(c["unconfirmed"], true, "{c}");
    assert!(c["after_fact"]["source"].is_null(), "{c}");
    let list = w.get("/desk/unconfirmed").await;
    assert!(list.contains(&format!("id=\"unconfirmed-{id}\"")), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r17_unreachable_visit_resolved_by_card_once_the_central_is_back() {
    let w = start().await;
    let (visit, id) = w.unreachable_visit().await;

    // still down: trying the card again leaves it unconfirmed
    let (status, _, body) = w
        .post(
            &format!("/desk/unconfirmed/{id}/card"),
            &[("mode", "face"), ("face_result", "ok")],
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(w.claim(&visit).await["unconfirmed"], true);

    // the central is back: the reader path confirms the card
    w.fault.set(Fault::None);
    let (status, url, body) = w
        .post(
            &format!("/desk/unconfirmed/{id}/card"),
            &[("mode", "face"), ("face_result", "ok")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(url, format!("/desk/unconfirmed/{id}"), "{body}");
    assert!(body.contains("data-source=\"card\""), "{body}");

    let c = w.claim(&visit).await;
    assert_eq!(c["unconfirmed"], false, "{c}");
    assert_eq!(c["confirmation_source"], "online_card", "{c}");
    assert_eq!(c["claim"]["basis"], "current", "{c}");
    assert_eq!(c["claim"]["insurer_number"], w.fx.kyokai.as_str(), "{c}");
    assert_eq!(c["claim"]["symbol"], "1001", "{c}");
    assert_eq!(c["claim"]["number"], "2001", "{c}");
    assert_eq!(c["after_fact"]["source"], "card", "{c}");
    assert!(c["after_fact"]["audit_id"].is_null(), "{c}");
    let list = w.get("/desk/unconfirmed").await;
    assert!(
        !list.contains(&format!("id=\"unconfirmed-{id}\"")),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_r14_r17_power_cut_visit_resolved_by_choosing_among_several_hits() {
    let w = start().await;
    // a power cut recorded at the desk: the OQS is not reachable (R8), no card read
    let (status, visit, _) = w
        .post(
            "/desk/visits",
            &[
                ("presence", "at_desk"),
                ("service_date", DAY),
                ("staff", "S02"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let id: i64 = visit.rsplit('/').next().expect("id").parse().expect("id");
    let (status, _, body) = w
        .post(
            &format!("{visit}/act"),
            &[("action", "equipment"), ("cause", "power_cut")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let list = w.get("/desk/unconfirmed").await;
    assert!(list.contains(&format!("id=\"unconfirmed-{id}\"")), "{list}");
    // no card was received: the page offers the search only
    let page = w.get(&format!("/desk/unconfirmed/{id}")).await;
    assert!(page.contains("id=\"outage-search\""), "{page}");
    assert!(!page.contains("id=\"card-confirm\""), "{page}");

    w.enable_outage().await;
    let (status, _, body) = w
        .post(
            &format!("/desk/unconfirmed/{id}/search"),
            &[
                ("staff_id", "S02"),
                ("birthdate", "1970-07-07"),
                ("sex", "2"),
                ("name", "山田花子"),
                ("insurer_name", "健康保険"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"candidates\""), "{body}");
    assert!(body.contains("id=\"unconfirmed\""), "{body}");
    let search_id = body
        .split("name=\"search_id\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("search id")
        .to_string();
    // the one in Osaka (おんし商事健康保険組合)
    let osaka = body
        .split("<tr><td>")
        .find(|row| row.contains("大阪府"))
        .and_then(|row| row.split('<').next())
        .expect("the Osaka row")
        .to_string();
    let (status, url, body) = w
        .post(
            &format!("/desk/unconfirmed/{id}/select"),
            &[
                ("search_id", &search_id),
                ("candidate", &osaka),
                ("staff_id", "S02"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(url, format!("/desk/unconfirmed/{id}"), "{body}");
    assert!(body.contains("data-source=\"outage_search\""), "{body}");

    let c = w.claim(&visit).await;
    assert_eq!(c["unconfirmed"], false, "{c}");
    assert_eq!(c["claim"]["basis"], "current", "{c}");
    assert_eq!(c["claim"]["insurer_number"], w.fx.kumiai.as_str(), "{c}");
    assert_eq!(c["claim"]["symbol"], "77", "{c}");
    assert_eq!(c["claim"]["number"], "3020", "{c}");
    assert_eq!(c["claim"]["branch"], "00", "{c}");
    assert_eq!(c["after_fact"]["source"], "outage_search", "{c}");
    assert_eq!(c["after_fact"]["staff"], "S02", "{c}");
    // the audit id is that of the choice, not of the search
    assert_ne!(
        c["after_fact"]["audit_id"].as_i64().map(|i| i.to_string()),
        Some(search_id),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_r17_a_visit_charged_while_unconfirmed_blocks_the_month_then_is_claimed_on_the_outage_search_numbers()
 {
    let w = start().await;
    let (visit, id) = w.unreachable_visit().await;
    // no document, the 申立書, charged at the declared share while the central is down (R10)
    for docs in ["portal", "kakuninsho,insurance_card", "oshirase"] {
        w.post(
            &format!("{visit}/act"),
            &[("action", "doc_absent"), ("docs", docs)],
        )
        .await;
    }
    let (status, _, body) = w
        .post(
            &format!("{visit}/moushitatesho"),
            &[
                ("has_valid_insurance", "on"),
                ("insurance_type", "shaho"),
                ("employer", "おんし工業株式会社"),
                ("name", "田中　太郎"),
                ("era", "showa"),
                ("birth_year", "55"),
                ("birth_month", "4"),
                ("birth_day", "2"),
                ("sex", "1"),
                ("address", "東京都千代田区千代田1-1"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = w
        .post(&format!("{visit}/act"), &[("action", "charge")])
        .await;
    assert_eq!(status, 200, "{body}");
    let r = w
        .api
        .put(format!("{}/desk/api/visits/{id}/content", w.desk))
        .json(&json!({"patient_id": "T0001", "points": 298, "charged_yen": 890}))
        .send()
        .await
        .expect("content");
    assert_eq!(common::conform("PUT", r).await.0, 204);
    // the month cannot be closed while the visit is unconfirmed (R12, R17)
    let r = w
        .api
        .post(format!("{}/desk/api/claims/202611/close", w.desk))
        .send()
        .await
        .expect("close");
    let (status, blocked) = common::conform_json("POST", r).await;
    assert_eq!(status, 409);
    let codes: Vec<&str> = blocked["error"]["open"]
        .as_array()
        .expect("open items")
        .iter()
        .filter_map(|o| o["code"].as_str())
        .collect();
    assert!(codes.contains(&"unconfirmed"), "{blocked}");
    // afterwards: the outage search finds the qualification (R12) and the claim carries it (R17)
    w.fault.set(Fault::None);
    w.enable_outage().await;
    let (status, _, body) = w
        .post(&format!("/desk/unconfirmed/{id}/search"), &tanaka())
        .await;
    assert_eq!(status, 200, "{body}");
    let r = w
        .api
        .post(format!("{}/desk/api/claims/202611/close", w.desk))
        .send()
        .await
        .expect("close");
    let (status, body) = common::conform_json("POST", r).await;
    assert_eq!(status, 200, "{body}");
    let r = w
        .api
        .get(format!("{}/desk/api/claims/files/202612/1/claim", w.desk))
        .send()
        .await
        .expect("file");
    let (status, bytes) = common::conform("GET", r).await;
    assert_eq!(status, 200);
    let file = onshi_formats::uke::UkeFile::read(&bytes[..]).expect("reads");
    let ho = file.claims[0].ho().expect("HO");
    assert_eq!(ho.insurer_number.as_str(), w.fx.kyokai.as_str());
    assert!(
        file.claims[0].free_comments().is_empty(),
        "not 不詳: the search found it"
    );
    assert_eq!(
        ho.share_amount.as_ref().map(|n| n.as_str()),
        Some("890"),
        "R11: as charged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r13_the_desk_files_the_outage_request_and_its_report_as_the_signed_in_staff_member() {
    let w = start().await;
    // before: no request, the search not allowed, the request form
    let page = w.get("/desk/outage").await;
    assert!(page.contains("id=\"search-not-allowed\""), "{page}");
    assert!(page.contains("id=\"request-form\""), "{page}");
    assert!(
        page.contains("受付 二郎（S02）"),
        "the contact is who is signed in: {page}"
    );
    assert!(
        !page.contains(CLINIC_TOKEN),
        "the facility's token is never shown"
    );
    // 1. 利用申請 from the desk, with a reason full of markup
    let hostile = "<script>alert('x')</script>\"&'";
    let (status, path, page) = w
        .post(
            "/desk/outage/request",
            &[("facility_name", "おんしクリニック"), ("reason", hostile)],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(path, "/desk/outage");
    assert!(page.contains("利用申請を受け付けました"), "{page}");
    assert!(page.contains("受付済み（折り返し電話待ち）"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(page.contains("&#60;script&#62;"), "escaped: {page}");
    // the central recorded the staff member, not a typed name
    let st = w.central_status().await;
    let r = &st["requests"][0];
    assert_eq!(r["requested_by"], format!("facility:{CLINIC}/S02"), "{st}");
    assert_eq!(r["contact_person"], "受付 二郎（S02）", "{st}");
    assert_eq!(r["reason"], hostile, "{st}");
    let id = r["id"].as_i64().expect("id");
    // a second request while one is open: the form is gone, and a post is refused by the central
    assert!(!page.contains("id=\"request-form\""), "{page}");
    let (_, _, page) = w
        .post(
            "/desk/outage/request",
            &[("facility_name", "おんしクリニック"), ("reason", "停電")],
        )
        .await;
    assert!(page.contains("id=\"outage-error\""), "{page}");
    assert!(page.contains("HTTP 409"), "{page}");
    assert_eq!(
        w.central_status().await["requests"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // 2.–3. the call centre's steps; the desk shows the search allowed and the steps taken
    w.operator_enables(id).await;
    let page = w.get("/desk/outage").await;
    assert!(page.contains("id=\"search-allowed\""), "{page}");
    assert!(page.contains("利用設定済み"), "{page}");
    assert!(
        page.contains("コールセンター佐々木"),
        "who enabled it: {page}"
    );
    assert!(page.contains("id=\"outage-report\""), "{page}");
    // 4. 利用報告書: a bad count is named, then the report as the signed-in staff member
    let (_, _, page) = w
        .post(
            &format!("/desk/outage/{id}/report"),
            &[("outage", "回線障害 10:00-12:00"), ("patients", "two")],
        )
        .await;
    assert!(page.contains("（patients）"), "{page}");
    let (status, _, page) = w
        .post(
            &format!("/desk/outage/{id}/report"),
            &[("outage", "回線障害 10:00-12:00"), ("patients", "2")],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("利用報告書を提出しました"), "{page}");
    let st = w.central_status().await;
    let r = &st["requests"][0];
    assert_eq!(r["state"], "reported", "{st}");
    assert_eq!(r["report"]["reporter"], "受付 二郎（S02）", "{st}");
    assert_eq!(r["report"]["patients"], 2, "{st}");
    // a new request, withdrawn from the desk
    let (_, _, _) = w
        .post(
            "/desk/outage/request",
            &[
                ("facility_name", "おんしクリニック"),
                ("reason", "カードリーダー故障"),
            ],
        )
        .await;
    let st = w.central_status().await;
    let second = st["requests"][0]["id"].as_i64().expect("id");
    assert_ne!(second, id);
    let (_, _, page) = w.post(&format!("/desk/outage/{second}/cancel"), &[]).await;
    assert!(page.contains("利用申請を取り消しました"), "{page}");
    let st = w.central_status().await;
    assert_eq!(st["requests"][0]["state"], "cancelled", "{st}");
    assert_eq!(
        st["requests"][0]["cancelled_by"],
        format!("facility:{CLINIC}/S02"),
        "{st}"
    );
    // the central unreachable: the screen says to phone the call centre
    w.fault.set(Fault::Down);
    let page = w.get("/desk/outage").await;
    assert!(
        page.contains("コールセンターへ電話で利用申請してください"),
        "{page}"
    );
}
