//! The claims half end to end, over the real HTTP APIs: a clinic's desk records four visits
//! (confirmed online; a job changer claimed under the lost qualification, R19; a 不詳 claim whose
//! person the registry knows, R20; a 不詳 claim nobody can attribute), closes the month and
//! submits its UKE file to the 支払基金; the new insurer of the job changer registers meanwhile;
//! the payer re-assigns (振替, R21), identifies (R22), apportions (按分, R22) and settles; its
//! statement reaches the clinic's settlement hook, which purges the settled 申立書 (R27).

use std::sync::Arc;

use chrono::NaiveDate;
use onshi_card::PinHasher;
use onshi_central::fixture;
use onshi_central::import::{self, Input};
use onshi_central::{Central, SystemClock};
use onshi_domain::codes::{CardClassification, FamilyClass};
use onshi_domain::numbers::{
    BranchNumber, InsuredNumber, InsuredSymbol, MedicalInstitutionCode, MyNumber, MyNumberHasher,
};
use onshi_domain::qualification::Qualification;
use onshi_payer::api::{PayerApp, router, token_hash};
use onshi_payer::model::{PayerCode, YearMonth};
use onshi_payer::rules::{PayerCalendar, PayerSettings};
use onshi_payer::service::PayerService;
use onshi_payer::store::{FacilityRow, PayerStore, PaymentRow, Principal, Role, SqlitePayerStore};
use onshi_store::{ImportStore, SqliteStore};
use onshi_terminal::client::InProcessCentral;
use serde_json::{Value, json};

const CLINIC: &str = "1311234567";

mod support;
const DAY: &str = "2026-11-25";
const FAC_TOKEN: &str = "clinic-at-kikin";
const STAFF_TOKEN: &str = "kikin-staff";

struct Desk {
    base: String,
    /// the clerk, signed in at the desk's screens
    http: reqwest::Client,
    /// the receipt computer: the claims API with the terminal's API token
    api: reqwest::Client,
}

/// A client signed in at the desk as S01, sending the desk's Origin and the session's CSRF
/// token as the desk's own pages do.
async fn signed_in(base: &str) -> reqwest::Client {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let page = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap()
        .post(format!("{base}/desk/login"))
        .header("Origin", base)
        .form(&[("staff_id", "S01"), ("password", "desk-password-1")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = support::csrf_of(&page);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", base.parse().unwrap());
    headers.insert("x-csrf-token", token.parse().unwrap());
    reqwest::Client::builder()
        .cookie_provider(jar)
        .default_headers(headers)
        .build()
        .unwrap()
}

impl Desk {
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> String {
        let body = support::form(form);
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("post");
        let path = r.url().path().to_string();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{path}: {form:?}\n{text}");
        path
    }

    /// A visit: the card on the reader by face, then what `then` does, then 会計 and the
    /// receipt computer's content. Returns the visit id.
    async fn visit(&self, serial: &str, patient: &str, declare: Option<&[(&str, &str)]>) -> i64 {
        let v = self
            .post(
                "/desk/visits",
                &[
                    ("presence", "at_desk"),
                    ("service_date", DAY),
                    ("staff", "S01"),
                ],
            )
            .await;
        let act = format!("{v}/act");
        self.post(
            &act,
            &[("action", "card_received"), ("card_serial", serial)],
        )
        .await;
        match declare {
            None => {
                self.post(
                    &act,
                    &[
                        ("action", "reader"),
                        ("mode", "face"),
                        ("face_result", "ok"),
                    ],
                )
                .await;
            }
            Some(form) => {
                // the reader is broken (R8 b, the OQS still reachable), no document (R9)
                self.post(&act, &[("action", "equipment"), ("cause", "reader_broken")])
                    .await;
                for docs in ["portal", "kakuninsho,insurance_card", "oshirase"] {
                    self.post(&act, &[("action", "doc_absent"), ("docs", docs)])
                        .await;
                }
                self.post(&format!("{v}/moushitatesho"), form).await;
            }
        }
        if declare.is_none() && serial == "C0003" {
            // 資格（無効）: the 申立書, claimed under the lost qualification (R19)
            self.post(
                &act,
                &[
                    ("action", "doc_absent"),
                    ("docs", "kakuninsho,insurance_card"),
                ],
            )
            .await;
            self.post(
                &format!("{v}/moushitatesho"),
                &[
                    ("has_valid_insurance", "on"),
                    ("insurance_type", "shaho"),
                    ("employer", "おんし工業株式会社"),
                    ("name", "佐藤　健"),
                    ("sex", "1"),
                    ("address", "東京都港区芝公園4-2-8"),
                ],
            )
            .await;
        }
        self.post(&act, &[("action", "charge")]).await;
        let id: i64 = v.rsplit('/').next().unwrap().parse().unwrap();
        let r = self
            .api
            .put(format!("{}/desk/api/visits/{id}/content", self.base))
            .json(&json!({"patient_id": patient, "points": 1000, "charged_yen": 3000,
                          "diagnoses": [{"code": "0000999", "name": "急性上気道炎", "start_date": DAY}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            204,
            "{}",
            r.text().await.unwrap_or_default()
        );
        id
    }
}

/// A 申立書: name, kana, birth date as (era, year, month, day), sex, address.
fn declaration<'a>(
    (name, kana): (&'a str, &'a str),
    (era, y, m, d): (&'a str, &'a str, &'a str, &'a str),
    sex: &'a str,
    address: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("has_valid_insurance", "on"),
        ("insurance_type", "shaho"),
        ("employer", "おんし工業株式会社"),
        ("name", name),
        ("name_kana", kana),
        ("era", era),
        ("birth_year", y),
        ("birth_month", m),
        ("birth_day", d),
        ("sex", sex),
        ("address", address),
        ("phone", "03-5555-0000"),
    ]
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r19_r20_r21_r22_r27_a_month_of_claims_from_the_desk_through_the_payer_and_back() {
    let dir = tempfile::tempdir().unwrap();
    // the central's registry, the clinic's terminal and desk
    let registry = Arc::new(SqliteStore::open(dir.path().join("central.sqlite")).unwrap());
    let hasher = MyNumberHasher::new(b"test-key-0123456789").unwrap();
    let pins = PinHasher::new(b"test-pin-key-0123456789").unwrap();
    let cards =
        Arc::new(onshi_card::CardStore::open(dir.path().join("cards.sqlite"), pins).unwrap());
    let fx = fixture::build();
    let report = import::import(
        registry.as_ref(),
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
    assert!(report.committed, "{:?}", report.errors);
    let central = Central::new(registry.clone(), registry.clone(), Arc::new(SystemClock));
    let state = onshi_web::AppState::new(central, registry.clone(), cards.clone());
    let facility = MedicalInstitutionCode::parse(CLINIC).unwrap();
    let client = Arc::new(InProcessCentral::new(
        state.central.clone(),
        state.cards.clone(),
        facility.clone(),
    ));
    let cfg = onshi_terminal::Config::new(facility, &dir.path().join("clinic"));
    let terminal =
        onshi_terminal::Terminal::open(cfg, client, Arc::new(SystemClock)).expect("terminal");
    let data = terminal.exchange().data.clone();
    let token = onshi_terminal::api::ApiToken::generate().expect("token");
    let api = reqwest::Client::builder()
        .default_headers(reqwest::header::HeaderMap::from_iter([(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", token.expose()).parse().unwrap(),
        )]))
        .build()
        .unwrap();
    let desk = onshi_desk::Desk::open(terminal)
        .expect("desk")
        .with_api_token(token);
    // the payer signs its statements; the clinic takes them by its public key (R27)
    let payer_key = onshi_payer::signing::PayerKey::generate().unwrap();
    let mut settings = desk.claims.settings().unwrap();
    settings
        .payer_keys
        .push(onshi_desk::claims::signature::PayerPublicKey {
            payer: "1".into(),
            public_key: payer_key.public_key_hex(),
        });
    desk.claims.store.set_settings(&settings).unwrap();
    desk.staff
        .set("S01", "受付 一郎", "desk-password-1")
        .expect("staff");
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let desk_url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(l, onshi_desk::router(desk)).await;
    });
    let d = Desk {
        base: desk_url.clone(),
        http: signed_in(&desk_url).await,
        api,
    };

    // the payer (支払基金) over the same registry, with the clinic's hook and a past of payments
    let payer_store = Arc::new(SqlitePayerStore::open(dir.path().join("payer.sqlite")).unwrap());
    payer_store
        .upsert_facility(&FacilityRow {
            payer: PayerCode::Kikin,
            code: CLINIC.into(),
            name: "おんし内科クリニック".into(),
            hook_url: Some(format!("{desk_url}/desk/api/claims/settlement")),
        })
        .unwrap();
    for (token, role, subject) in [
        (FAC_TOKEN, Role::Facility, CLINIC),
        (STAFF_TOKEN, Role::Staff, "審査担当"),
    ] {
        payer_store
            .add_principal(
                &token_hash(token),
                &Principal {
                    role,
                    payer: PayerCode::Kikin,
                    subject: subject.into(),
                },
                "2026-12-01T00:00:00Z",
            )
            .unwrap();
    }
    // 協会けんぽ paid the clinic three times what the 組合健保 did over the reference year
    let mut past = Vec::new();
    for m in 1..=10u8 {
        for (insurer, yen) in [
            (fx.kyokai.as_str(), 300_000u64),
            (fx.kumiai.as_str(), 100_000),
        ] {
            past.push(PaymentRow {
                payer: PayerCode::Kikin,
                insurer_number: insurer.to_string(),
                facility: CLINIC.into(),
                service_month: YearMonth::parse(&format!("2026{m:02}")).unwrap(),
                source: "history".into(),
                amount_yen: yen,
                claims: 10,
            });
        }
    }
    payer_store.add_payments(&past).unwrap();
    let service = PayerService {
        store: payer_store.clone(),
        registry: registry.clone(),
        calendar: PayerCalendar::default(),
        settings: PayerSettings::default(),
        out_dir: Some(dir.path().join("statements")),
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let payer_url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let app = PayerApp::new(service).with_hooks(onshi_payer::signing::Hooks::new(
            onshi_payer::service::hook_client(None).unwrap(),
            payer_key,
        ));
        let _ = axum::serve(l, router(app)).await;
    });

    // the month at the desk
    let a = d.visit("C0001", "P0001", None).await; // confirmed online (R17)
    let b = d.visit("C0003", "P0002", None).await; // 資格（無効）: the lost qualification (R19)
    let c_form = declaration(
        ("伊藤　誠", "イトウ　マコト"),
        ("showa", "50", "5", "5"),
        "1",
        "東京都中央区銀座1-1-1",
    );
    let c = d.visit("C0005", "P0003", Some(&c_form)).await; // 不詳, the registry knows him (R20, R22)
    let x_form = declaration(
        ("架空　太郎", "カクウ　タロウ"),
        ("showa", "60", "1", "1"),
        "1",
        "東京都品川区1-2-3-R27",
    );
    let x = d.visit("C0004", "P0004", Some(&x_form)).await; // 不詳, nobody can tell (按分)
    let r = d
        .api
        .post(format!("{desk_url}/desk/api/claims/202611/close"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let file = d
        .api
        .get(format!("{desk_url}/desk/api/claims/files/202612/1/claim"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // meanwhile the job changer's new insurer registers him from 2026-10-01 (R21)
    {
        let lost = fx.person("lost");
        let h = hasher.hash(&MyNumber::parse(&lost.my_number).unwrap());
        let mut tx = registry.begin_import().unwrap();
        let person = tx.person_by_hash(&h).unwrap().expect("the job changer");
        tx.upsert_insurer(&fx.kyokai, "全国健康保険協会東京支部")
            .unwrap();
        tx.insert_new_qualification(
            person.id,
            "佐藤　健",
            &Qualification {
                insurer_number: fx.kyokai.clone(),
                insurer_name: "全国健康保険協会東京支部".into(),
                card_classification: CardClassification::General,
                symbol: InsuredSymbol::parse("1001").unwrap(),
                number: InsuredNumber::parse("9003").unwrap(),
                branch: BranchNumber::parse("00").unwrap(),
                family_class: FamilyClass::Insured,
                insured_name: "佐藤　健".into(),
                employer: Some("おんし工業株式会社".into()),
                qualification_date: date("2026-10-01"),
                disqualification_date: None,
                reason_of_loss: None,
                contribution_ratio: Some(30),
                elderly: None,
                limit_class: None,
                preschool: false,
                card_dates: Default::default(),
                details: Default::default(),
            },
        )
        .unwrap();
        tx.commit().unwrap();
    }

    // the file goes to the 支払基金
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{payer_url}/v1/payer/submissions"))
        .bearer_auth(FAC_TOKEN)
        .body(file.to_vec())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let intake: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{intake}");
    // nothing for staff to decide: one candidate or none each time
    let wl: Value = http
        .get(format!("{payer_url}/v1/payer/worklist"))
        .bearer_auth(STAFF_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let open = wl["worklist"]
        .as_array()
        .or_else(|| wl.as_array())
        .map_or(0, |a| a.len());
    assert_eq!(open, 0, "{wl}");
    let r = http
        .post(format!("{payer_url}/v1/payer/settlements"))
        .bearer_auth(STAFF_TOKEN)
        .json(&json!({"billing_month": "202612"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let settled: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{settled}");
    assert_eq!(settled["hooks"][0]["hook"], "http 200", "{settled}");
    let st = &settled["statements"][0];
    let claim = |n: u64| {
        st["claims"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["receipt_number"] == n)
            .cloned()
            .unwrap_or(Value::Null)
    };
    // receipt numbers follow the patient numbers P0001 … P0004
    assert_eq!(claim(1)["kakunin_kubun"], "02", "unchanged: {st}");
    assert_eq!(
        claim(2)["kakunin_kubun"],
        "04",
        "振替 to the new insurer (R21): {st}"
    );
    assert_eq!(claim(2)["insurer_number"], fx.kyokai.as_str(), "{st}");
    assert_eq!(
        claim(3)["insurer_number"],
        fx.kyokai.as_str(),
        "identified (R22): {st}"
    );
    assert_eq!(claim(4)["settled_by"], "apportionment", "按分 (R22): {st}");
    for n in 1..=4 {
        assert_eq!(claim(n)["status"], "settled", "claim {n}: {st}");
    }

    // back at the clinic: every claim settled, the 申立書 of b, c and x purged (R27)
    let (_, month): (u16, Value) = {
        let r = d
            .api
            .get(format!("{desk_url}/desk/api/claims/202611"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    };
    assert_eq!(month["claims"].as_array().unwrap().len(), 4);
    let purge_log =
        onshi_desk::claims::ClaimStore::open(&data.join(onshi_desk::claims::CLAIMS_FILE))
            .unwrap()
            .purges()
            .unwrap();
    let purged: Vec<i64> = purge_log.iter().map(|p| p.visit_id).collect();
    for v in [b, c, x] {
        assert!(purged.contains(&v), "visit {v} purged: {purged:?}");
    }
    assert!(!purged.contains(&a), "no 申立書 at visit {a}");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("desk.sqlite") || name.starts_with("claims.sqlite") {
            let bytes = std::fs::read(&path).unwrap();
            for needle in ["東京都品川区1-2-3-R27", "東京都品川区１－２－３－Ｒ２７"]
            {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{needle} still in {name}"
                );
            }
        }
    }
}
