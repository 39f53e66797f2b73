//! The desk's screens over HTTP (no browser): the equipment-class paths, the outage mode, the
//! 不詳 claim and the numbers brought later, refusals that name the field, and the purge.

mod common;

use common::{DAY, start_world};

struct Desk {
    base: String,
    http: reqwest::Client,
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

impl Desk {
    async fn new(base: &str) -> Self {
        Desk {
            base: base.to_string(),
            http: common::signed_in(base, "S01").await,
        }
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("post");
        let url = r.url().path().to_string();
        (r.status().as_u16(), url, r.text().await.expect("text"))
    }

    /// Starts a visit; returns its path.
    async fn visit(&self, presence: &str) -> String {
        let (status, url, _) = self
            .post(
                "/desk/visits",
                &[
                    ("presence", presence),
                    ("service_date", DAY),
                    ("staff", "S01"),
                ],
            )
            .await;
        assert_eq!(status, 200);
        assert!(url.starts_with("/desk/visits/"), "{url}");
        url
    }

    async fn act(&self, visit: &str, form: &[(&str, &str)]) -> String {
        let (status, _, body) = self.post(&format!("{visit}/act"), form).await;
        assert_eq!(status, 200, "{form:?}\n{body}");
        body
    }
}

fn next_of(body: &str) -> &str {
    let start = body.find("id=\"next\"").unwrap_or(0);
    let end = body[start..]
        .find("</h2>")
        .map(|e| start + e)
        .unwrap_or(body.len());
    &body[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_r9_reader_broken_then_portal_screen_confirms_the_current_qualification() {
    let w = start_world().await;
    let d = Desk::new(&w.clinic).await;
    let v = d.visit("at_desk").await;
    d.act(&v, &[("action", "card_received"), ("card_serial", "C0001")])
        .await;
    let body = d
        .act(&v, &[("action", "equipment"), ("cause", "reader_broken")])
        .await;
    assert!(
        next_of(&body).contains("マイナポータル"),
        "{}",
        next_of(&body)
    );
    let body = d
        .act(
            &v,
            &[
                ("action", "doc_shown"),
                ("doc", "portal"),
                ("insurer_number", "01130012"),
                ("symbol", "1001"),
                ("number", "2001"),
                ("branch", "00"),
                ("share", "30"),
            ],
        )
        .await;
    assert!(body.contains("マイナポータルの資格情報画面"));
    assert!(body.contains("data-basis=\"current\""));
    assert!(body.contains("<span class=\"big\">3割</span>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_r13_r14_power_cut_outage_mode_requested_enabled_and_searched() {
    let w = start_world().await;
    let d = Desk::new(&w.clinic).await;
    let v = d.visit("at_desk").await;
    d.act(&v, &[("action", "card_received"), ("card_serial", "C0001")])
        .await;
    d.act(&v, &[("action", "equipment"), ("cause", "power_cut")])
        .await;
    let body = d
        .act(&v, &[("action", "doc_absent"), ("docs", "portal")])
        .await;
    let body = if next_of(&body).contains("資格確認書") {
        d.act(
            &v,
            &[
                ("action", "doc_absent"),
                ("docs", "kakuninsho,insurance_card"),
            ],
        )
        .await
    } else {
        body
    };
    assert!(body.contains("システム障害時モード"), "{body}");
    let body = d
        .act(&v, &[("action", "outage"), ("status", "requested")])
        .await;
    assert!(body.contains("およそ30分"));
    d.act(&v, &[("action", "outage"), ("status", "active")])
        .await;
    let body = d
        .act(
            &v,
            &[
                ("action", "outage_found"),
                ("insurer_number", "01130012"),
                ("symbol", "1001"),
                ("number", "2001"),
                ("share", "30"),
            ],
        )
        .await;
    assert!(body.contains("システム障害時モードの検索"), "{body}");
    assert!(body.contains("<span class=\"big\">3割</span>"));
    assert!(body.contains("システム障害時機能の利用報告"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r20_not_found_moushitatesho_fushou_claim_then_numbers_brought_later_then_r27_purge() {
    let w = start_world().await;
    let d = Desk::new(&w.clinic).await;
    let v = d.visit("at_desk").await;
    d.act(&v, &[("action", "card_received"), ("card_serial", "C0004")])
        .await;
    let body = d
        .act(
            &v,
            &[
                ("action", "reader"),
                ("mode", "face"),
                ("face_result", "ok"),
            ],
        )
        .await;
    assert!(body.contains("資格情報なし"));
    d.act(
        &v,
        &[
            ("action", "doc_absent"),
            ("docs", "kakuninsho,insurance_card"),
        ],
    )
    .await;
    // a 和暦 date that does not exist is refused, naming the field
    let (status, _, body) = d
        .post(
            &format!("{v}/moushitatesho"),
            &[
                ("has_valid_insurance", "on"),
                ("era", "heisei"),
                ("birth_year", "31"),
                ("birth_month", "5"),
                ("birth_day", "1"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("生年月日：") && body.contains("平成"),
        "{body}"
    );
    let (status, _, body) = d
        .post(
            &format!("{v}/moushitatesho"),
            &[
                ("has_valid_insurance", "on"),
                ("insurance_type", "shaho"),
                ("employer", "おんし工業株式会社"),
                ("name", "高橋　美咲"),
                ("era", "heisei"),
                ("birth_year", "12"),
                ("birth_month", "1"),
                ("birth_day", "1"),
                ("sex", "2"),
                ("address", "東京都港区芝公園4-2-8"),
                ("phone", "03-1111-2222"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("data-basis=\"unknown\""), "{body}");
    assert!(
        body.contains("東京都港区芝公園4-2-8"),
        "摘要 carries the address (R20)"
    );
    d.act(&v, &[("action", "charge")]).await;
    // later: the patient brings the numbers (R20)
    let body = d
        .act(
            &v,
            &[
                ("action", "reported_numbers"),
                ("insurer_number", "01130012"),
                ("symbol", "1001"),
                ("number", "2004"),
            ],
        )
        .await;
    assert!(!body.contains("data-basis=\"unknown\""), "{body}");
    // the claims work purges the 申立書 once settled (R27)
    let id: i64 = v.rsplit('/').next().unwrap().parse().unwrap();
    let store = onshi_desk::VisitStore::open(
        &onshi_terminal::exchange::default_data_dir(&w.clinic_dir).join(onshi_desk::VISITS_FILE),
    )
    .unwrap();
    assert!(onshi_desk::purge(&store, id).unwrap());
    let body = d
        .http
        .get(format!("{}{v}/moushitatesho/print", d.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !body.contains("芝公園"),
        "nothing of the purged form is printed again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_r2_r3_refusals_name_the_field_and_never_crash() {
    let w = start_world().await;
    let d = Desk::new(&w.clinic).await;
    let v = d.visit("at_desk").await;
    // the reader before the card
    let (status, _, body) = d
        .post(
            &format!("{v}/act"),
            &[("action", "reader"), ("mode", "face")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("カードを受け取った"));
    d.act(
        &v,
        &[
            ("action", "card_received"),
            ("card_serial", "C0002"),
            ("pinless", "on"),
        ],
    )
    .await;
    // a PIN for a PIN-less card (R2)
    let (status, _, body) = d
        .post(
            &format!("{v}/act"),
            &[("action", "reader"), ("mode", "pin"), ("pin", "1234")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("暗証番号：暗証番号を設定していないカード"));
    // 目視確認 without ticking 目視で本人確認完了 (R3)
    let (status, _, body) = d
        .post(
            &format!("{v}/act"),
            &[("action", "reader"), ("mode", "visual")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("「目視で本人確認完了」に✓"), "{body}");
    // unknown actions, bad numbers, unknown visits
    let (status, _, _) = d.post(&format!("{v}/act"), &[("action", "??")]).await;
    assert_eq!(status, 400);
    let (status, _, body) = d
        .post(
            &format!("{v}/act"),
            &[
                ("action", "doc_shown"),
                ("doc", "kakuninsho"),
                ("insurer_number", "12345678"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("保険者番号："));
    let (status, _, _) = d
        .post("/desk/visits/999999/act", &[("action", "no_card")])
        .await;
    assert_eq!(status, 404);
    let r = d
        .http
        .get(format!("{}/desk/visits/abc", d.base))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    // a wrong PIN on a PIN card (R1): recorded, the desk moves on
    let v2 = d.visit("at_desk").await;
    d.act(
        &v2,
        &[("action", "card_received"), ("card_serial", "C0001")],
    )
    .await;
    let body = d
        .act(
            &v2,
            &[("action", "reader"), ("mode", "pin"), ("pin", "0000")],
        )
        .await;
    assert!(body.contains("暗証番号：不一致"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desk_is_served_beside_the_terminal_api_through_the_merge_hook() {
    let dir = tempfile::tempdir().unwrap();
    let _ = onshi_terminal::api::EXTRA_ROUTES.set(onshi_desk::routes);
    // a terminal whose central is unreachable still serves its desk
    let cfg = onshi_terminal::Config::new(
        onshi_domain::numbers::MedicalInstitutionCode::parse(common::CLINIC).unwrap(),
        dir.path(),
    );
    let client = std::sync::Arc::new(
        onshi_terminal::client::HttpCentral::new("http://127.0.0.1:9", "t").unwrap(),
    );
    let t = onshi_terminal::Terminal::open(
        cfg,
        client,
        std::sync::Arc::new(onshi_central::SystemClock),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(onshi_terminal::api::serve(
        t,
        listener,
        None,
        std::future::pending(),
    ));
    // the desk answers (its login page: nobody is signed in)
    let body = reqwest::get(format!("http://{addr}/desk/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("受付 ログイン"), "{body}");
    let ok = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert!(ok.status().is_success());
    // its claims API takes the token the terminal wrote to <data>/api.token, as the terminal's
    // own /v1 API does, and nothing else
    let token =
        onshi_terminal::api::read_token(&onshi_terminal::exchange::default_data_dir(dir.path()))
            .expect("the terminal wrote its token");
    let settings = format!("http://{addr}/desk/api/claims/settings");
    let http = reqwest::Client::new();
    let r = http
        .get(&settings)
        .bearer_auth(token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(common::conform("GET", r).await.0, 200);
    let r = http
        .get(format!("http://{addr}/v1/terminal"))
        .bearer_auth(token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the same token on /v1");
    for given in [None, Some("not-the-token")] {
        let mut rq = http.get(&settings);
        if let Some(g) = given {
            rq = rq.bearer_auth(g);
        }
        let (status, body) = common::conform_json("GET", rq.send().await.unwrap()).await;
        assert_eq!(status, 401, "{given:?}: {body}");
        assert_eq!(body["error"]["class"], "auth");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_consents_given_on_a_pinless_card_reach_the_terminal_history() {
    let w = start_world().await;
    let d = Desk::new(&w.clinic).await;
    let v = d.visit("at_desk").await;
    d.act(
        &v,
        &[
            ("action", "card_received"),
            ("card_serial", "C0002"),
            ("pinless", "on"),
        ],
    )
    .await;
    let body = d
        .act(
            &v,
            &[
                ("action", "reader"),
                ("mode", "face"),
                ("face_result", "ok"),
                ("consent_drug", "on"),
                ("consent_diagnosis", "on"),
            ],
        )
        .await;
    assert!(body.contains("資格（有効）"));
    let store = onshi_terminal::TerminalStore::open_read_only(
        &onshi_terminal::exchange::default_data_dir(&w.clinic_dir).join("terminal.sqlite"),
    )
    .unwrap();
    let rows = store
        .history(&onshi_terminal::HistoryQuery::default())
        .unwrap();
    let consents = rows[0].consents.clone().unwrap();
    assert_eq!(consents["drug"], serde_json::json!(true), "{consents}");
    assert_eq!(consents["diagnosis"], serde_json::json!(true));
    assert_eq!(consents["checkup"], serde_json::json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_r24_a_patient_over_70_pays_the_declared_share_and_the_insurer_settles_the_difference()
{
    let w = start_world().await;
    let d = Desk::new(&w.clinic).await;
    let v = d.visit("at_desk").await;
    d.act(&v, &[("action", "card_received"), ("card_serial", "C0008")])
        .await;
    d.act(&v, &[("action", "equipment"), ("cause", "reader_broken")])
        .await;
    d.act(&v, &[("action", "doc_absent"), ("docs", "portal")])
        .await;
    let body = d
        .act(
            &v,
            &[
                ("action", "doc_absent"),
                ("docs", "kakuninsho,insurance_card"),
            ],
        )
        .await;
    assert!(
        next_of(&body).contains("資格情報のお知らせ"),
        "{}",
        next_of(&body)
    );
    let body = d
        .act(&v, &[("action", "doc_absent"), ("docs", "oshirase")])
        .await;
    assert!(
        next_of(&body).contains("被保険者資格申立書"),
        "{}",
        next_of(&body)
    );
    // 72 years old: the form asks the share (※2); she declares 3割
    let (status, _, body) = d
        .post(
            &format!("{v}/moushitatesho"),
            &[
                ("has_valid_insurance", "on"),
                ("insurance_type", "shaho"),
                ("employer", "おんし工業株式会社"),
                ("era", "showa"),
                ("birth_year", "29"),
                ("birth_month", "6"),
                ("birth_day", "10"),
                ("share", "30"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<span class=\"big\">3割</span>"), "{body}");
    assert!(body.contains("申立書で申し立てた割合"));
    assert!(
        body.contains("差額は保険者から患者に請求"),
        "R11 note shown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_the_signed_in_staff_member_is_written_on_each_step_and_as_the_visual_checker() {
    let w = start_world().await;
    let http = common::signed_in(&w.clinic, "S02").await;
    let post = |path: String, body: String| {
        http.post(format!("{}{path}", w.clinic))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // a staff id typed into the form is not who is recorded: the session's is
    let r = post(
        "/desk/visits".into(),
        format!("presence=at_desk&service_date={DAY}&staff={}", enc("誰か")),
    )
    .await
    .unwrap();
    let visit = r.url().path().to_string();
    post(
        format!("{visit}/act"),
        "action=card_received&card_serial=C0001".into(),
    )
    .await
    .unwrap();
    let page = post(
        format!("{visit}/act"),
        format!(
            "action=reader&mode=visual&visual_done=on&visual_staff={}",
            enc("S99")
        ),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert_eq!(page.matches("<td>S02</td>").count(), 3, "{page}");
    assert!(!page.contains("誰か") && !page.contains("S99"), "{page}");
    assert!(page.contains("目視確認（職員 S02）"), "{page}");
    assert!(
        page.contains("受付 二郎（S02）"),
        "the header says who is signed in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_the_visit_leads_to_the_consented_drug_information_and_refuses_the_rest() {
    use onshi_domain::medinfo::{DrugRecord, DrugSource, MedicalInfoKind, MedicalRecords};
    use onshi_store::{MedicalInfoStore, RegistryRead, ViewsOf};
    let w = start_world().await;
    let pid = w.store.card("C0002").unwrap().unwrap().person_id;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 10, 2).unwrap();
    w.store
        .add_medical_records(&[(
            pid,
            MedicalRecords {
                drugs: vec![DrugRecord {
                    source: DrugSource::Dispensing,
                    dispensed_on: day,
                    prescribed_on: Some(day),
                    dispenser_code: "1341234567".into(),
                    dispenser_name: "おんし薬局".into(),
                    prescriber_code: None,
                    prescriber_name: None,
                    in_out: "2".into(),
                    drug_code: "620000101".into(),
                    drug_name: "<script>alert(1)</script>アムロジピン".into(),
                    ingredient: None,
                    quantity: "1".into(),
                    unit: "錠".into(),
                    usage: Some("1日1回朝食後".into()),
                    special_instruction: None,
                    times: Some("28".into()),
                    id_class: "1".into(),
                }],
                ..MedicalRecords::default()
            },
        )])
        .unwrap();
    let d = Desk::new(&w.clinic).await;
    let v = d.visit("at_desk").await;
    d.act(&v, &[("action", "card_received"), ("card_serial", "C0002")])
        .await;
    // the PIN-less card by face, with consent to the drug information only
    let body = d
        .act(
            &v,
            &[
                ("action", "reader"),
                ("mode", "face"),
                ("face_result", "ok"),
                ("consent_drug", "on"),
            ],
        )
        .await;
    assert!(body.contains("資格（有効）"), "{body}");
    assert!(
        body.contains(&format!("{v}/medinfo/drug")),
        "the visit links to it"
    );
    let (status, _, page) = d.post(&format!("{v}/medinfo/drug"), &[]).await;
    assert_eq!(status, 405, "a GET screen");
    let r = d
        .http
        .get(format!("{}{v}/medinfo/drug", d.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page_drug = r.text().await.unwrap();
    assert!(page_drug.contains("medinfo-drugs"), "{page_drug}");
    assert!(
        page_drug.contains("&#60;script&#62;alert(1)"),
        "{page_drug}"
    );
    assert!(page_drug.contains("アムロジピン"));
    assert!(!page_drug.contains("<script>alert(1)"), "escaped");
    let page_checkup = d
        .http
        .get(format!("{}{v}/medinfo/checkup", d.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page_checkup.contains("medinfo-refused"), "{page_checkup}");
    assert!(page_checkup.contains("同意がありません"));
    let _ = page;
    // not signed in: no screen
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{v}/medinfo/drug", d.base))
        .send()
        .await
        .unwrap();
    assert_ne!(anon.status(), 200);
    // both views are recorded at the central, as the desk's
    let views = w.store.medical_views(ViewsOf::Person(pid), 10).unwrap();
    let kinds: Vec<_> = views
        .iter()
        .map(|x| (x.kind, x.granted, x.channel.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (MedicalInfoKind::Checkup, false, "desk"),
            (MedicalInfoKind::Drug, true, "desk")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visit_json_reads_answer_as_documented_and_only_to_a_signed_in_clerk() {
    let w = start_world().await;
    let d = Desk::new(&w.clinic).await;
    let v = d.visit("at_desk").await;
    d.act(&v, &[("action", "card_received"), ("card_serial", "C0001")])
        .await;
    d.act(
        &v,
        &[
            ("action", "reader"),
            ("mode", "face"),
            ("face_result", "ok"),
        ],
    )
    .await;
    d.act(&v, &[("action", "charge")]).await;
    let get = |path: String| {
        let http = d.http.clone();
        let base = d.base.clone();
        async move {
            let r = http.get(format!("{base}{path}")).send().await.expect("get");
            common::conform_json("GET", r).await
        }
    };
    let (status, situation) = get(format!("{v}/situation.json")).await;
    assert_eq!(status, 200, "{situation}");
    let decision = onshi_domain::desk::assess(
        &serde_json::from_value(situation).expect("the situation reads back"),
    )
    .expect("the engine decides on it");
    let (status, claim) = get(format!("{v}/claim.json")).await;
    assert_eq!(status, 200, "{claim}");
    assert_eq!(claim["claim"]["basis"], "current", "{claim}");
    assert_eq!(
        claim["claim"]["basis"],
        serde_json::to_value(decision.claim.expect("a claim").basis).unwrap()
    );
    assert_eq!(claim["unconfirmed"], false);
    // an unknown visit and an id that is not a number: JSON errors naming the id
    let (status, body) = get("/desk/visits/999999/situation.json".into()).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["class"], "visit");
    let (status, body) = get("/desk/visits/abc/claim.json".into()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["class"], "path");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("id (path)"),
        "{body}"
    );
    // without the staff session: to the login page, nothing of the visit
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for json in ["situation.json", "claim.json"] {
        let r = anonymous
            .get(format!("{}{v}/{json}", d.base))
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let (status, body) = common::conform("GET", r).await;
        assert_eq!(status, 303, "{json}");
        assert!(location.starts_with("/desk/login?next="), "{location}");
        assert!(body.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_desk_openapi_document_is_the_checked_in_one() {
    let w = start_world().await;
    let r = reqwest::get(format!("{}/desk/api/openapi.json", w.clinic))
        .await
        .unwrap();
    let (status, served) = common::conform("GET", r).await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(served).unwrap(),
        onshi_desk::openapi::document(),
        "the desk serves the document generated from its types"
    );
    assert!(
        onshi_desk::openapi::document() == include_str!("../../../docs/api/desk-openapi.json"),
        "docs/api/desk-openapi.json is not the document generated from the desk's types: \
         run `cargo run -p onshi -- openapi --desk > docs/api/desk-openapi.json` and review the change"
    );
}
