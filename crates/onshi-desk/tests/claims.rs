//! Claims at the facility over the real desk HTTP API: visits at the desk → content from the
//! receipt computer → month check and close → the UKE files read back record by record → the
//! payer's settlement and the R27 purge.

mod common;

use common::{DAY, start_world};
use ed25519_dalek::{Signer, SigningKey};
use onshi_formats::uke::{UkeClaim, UkeFile};
use serde_json::{Value, json};

const MONTH: &str = "202611";

struct Desk {
    base: String,
    /// the clerk at the desk's screens
    http: reqwest::Client,
    /// the receipt computer on the claims API, with the terminal's API token
    api: reqwest::Client,
}

impl Desk {
    async fn new(w: &common::World, base: &str) -> Self {
        Desk {
            base: base.to_string(),
            http: common::signed_in(base, "S01").await,
            api: common::api_client(w.token(base)),
        }
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        common::post_form(&self.http, &format!("{}{path}", self.base), form).await
    }

    async fn visit(&self) -> (String, i64) {
        let (status, url, _) = self
            .post_form(
                "/desk/visits",
                &[
                    ("presence", "at_desk"),
                    ("service_date", DAY),
                    ("staff", "S01"),
                ],
            )
            .await;
        assert_eq!(status, 200);
        let id = url.rsplit('/').next().unwrap().parse().unwrap();
        (url, id)
    }

    async fn act(&self, visit: &str, form: &[(&str, &str)]) -> String {
        let (status, _, body) = self.post_form(&format!("{visit}/act"), form).await;
        assert_eq!(status, 200, "{form:?}\n{body}");
        body
    }

    /// A card confirmed by face at the reader.
    async fn card_visit(&self, serial: &str) -> (String, i64) {
        let (v, id) = self.visit().await;
        self.act(&v, &[("action", "card_received"), ("card_serial", serial)])
            .await;
        self.act(
            &v,
            &[
                ("action", "reader"),
                ("mode", "face"),
                ("face_result", "ok"),
            ],
        )
        .await;
        (v, id)
    }

    async fn declare(&self, v: &str, form: &[(&str, &str)]) {
        self.act(
            v,
            &[
                ("action", "doc_absent"),
                ("docs", "kakuninsho,insurance_card"),
            ],
        )
        .await;
        let (status, _, body) = self.post_form(&format!("{v}/moushitatesho"), form).await;
        assert_eq!(status, 200, "{body}");
    }

    /// The receipt computer for the claims API, the clerk's session for the rest.
    fn client(&self, path: &str) -> &reqwest::Client {
        if path.starts_with("/desk/api/") {
            &self.api
        } else {
            &self.http
        }
    }

    async fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client(path)
            .put(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("put");
        common::conform_json("PUT", r).await
    }

    async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client(path)
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("post");
        common::conform_json("POST", r).await
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .client(path)
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get");
        common::conform_json("GET", r).await
    }

    async fn content(&self, id: i64, points: u32, yen: u32) {
        let (status, body) = self
            .put_json(
                &format!("/desk/api/visits/{id}/content"),
                &content(points, yen),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }

    async fn close(&self) -> Value {
        let (status, body) = self
            .post_json(&format!("/desk/api/claims/{MONTH}/close"), &json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Registers `key` as payer `payer`'s in the claim settings (the rest kept).
    async fn register_payer(&self, payer: &str, key: &SigningKey) {
        let (_, mut settings) = self.get_json("/desk/api/claims/settings").await;
        let keys = settings["payer_keys"].as_array_mut().expect("payer_keys");
        keys.push(
            json!({"payer": payer, "public_key": hex::encode(key.verifying_key().as_bytes())}),
        );
        let (status, body) = self.put_json("/desk/api/claims/settings", &settings).await;
        assert_eq!(status, 200, "{body}");
    }

    /// POSTs the bytes of a statement to the settlement hook, with `signature` as its
    /// `X-Onshi-Payer-Signature` (and nothing else: the payer has no token of the terminal).
    async fn post_statement(&self, body: &[u8], signature: Option<&str>) -> (u16, Value) {
        let mut rq = reqwest::Client::new()
            .post(format!("{}/desk/api/claims/settlement", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(sig) = signature {
            rq = rq.header("x-onshi-payer-signature", sig);
        }
        common::conform_json("POST", rq.send().await.expect("post")).await
    }

    /// A statement signed by `key` as payer `payer`'s.
    async fn settle_signed(&self, payer: &str, key: &SigningKey, st: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(st).unwrap();
        self.post_statement(&body, Some(&sign(payer, key, &body)))
            .await
    }

    /// The filed file of a payer, parsed.
    async fn file(&self, payer: &str) -> (Vec<u8>, UkeFile) {
        let r = self
            .api
            .get(format!(
                "{}/desk/api/claims/files/202612/{payer}/claim",
                self.base
            ))
            .send()
            .await
            .unwrap();
        let (status, bytes) = common::conform("GET", r).await;
        assert_eq!(status, 200);
        let file = UkeFile::read(&bytes[..]).expect("the facility's file reads back");
        (bytes, file)
    }
}

/// A payer's signing key (ed25519) made of `seed`.
fn payer_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// `X-Onshi-Payer-Signature` of `body` by `key` as payer `payer`'s.
fn sign(payer: &str, key: &SigningKey, body: &[u8]) -> String {
    format!("{payer}:{}", hex::encode(key.sign(body).to_bytes()))
}

fn content(points: u32, yen: u32) -> Value {
    json!({
        "patient_id": "P0001",
        "sex": "male",
        "points": points,
        "charged_yen": yen,
        "diagnoses": [
            {"code": "0000999", "name": "急性上気道炎", "start_date": "2026-11-25", "main": true}
        ],
        "lines": [
            {"kind": "SI", "shikibetsu": "11", "code": "111000110", "points": 291},
            {"kind": "IY", "shikibetsu": "21", "code": "620000402", "quantity": "3", "points": 7}
        ]
    })
}

/// The first claim of a file.
fn first_claim(file: &UkeFile) -> &UkeClaim {
    file.claims.first().expect("a claim")
}

fn ho(c: &UkeClaim) -> onshi_formats::uke::Ho {
    c.ho().expect("HO").clone()
}

fn free_comments(c: &UkeClaim) -> Vec<String> {
    c.free_comments().into_iter().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r17_card_confirmed_online_claim_carries_those_numbers_and_sn_01() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (v, id) = d.card_visit("C0001").await;
    d.act(&v, &[("action", "charge")]).await;
    d.content(id, 298, 890).await;
    let body = d.close().await;
    assert_eq!(body["month"]["claims"].as_array().unwrap().len(), 1);
    let (bytes, file) = d.file("1").await;
    assert!(
        bytes.ends_with(b"\r\n\x1a"),
        "CR LF after every record, 0x1A last"
    );
    let recs = first_claim(&file);
    let h = ho(recs);
    assert_eq!(h.insurer_number.as_str(), "01130012");
    assert_eq!(h.days.as_str(), "1");
    assert_eq!(h.total_points.as_str(), "298");
    let sn = recs.sn().next().expect("SN").clone();
    assert_eq!(sn.confirmation.as_str(), "01", "SN 確認区分 01 (R17)");
    assert!(sn.insurer_number.is_none(), "the payer's fields stay empty");
    assert!(free_comments(recs).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r19_lost_qualification_from_the_invalid_result_is_claimed_under_the_lost_numbers() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (v, id) = d.card_visit("C0003").await;
    d.declare(
        &v,
        &[
            ("has_valid_insurance", "on"),
            ("insurance_type", "shaho"),
            ("employer", "おんし工業株式会社"),
            ("name", "佐藤　健"),
            ("sex", "1"),
            ("address", "東京都港区芝公園4-2-8"),
            ("phone", "03-1111-2222"),
        ],
    )
    .await;
    d.act(&v, &[("action", "charge")]).await;
    d.content(id, 298, 890).await;
    let (_, month) = d.get_json(&format!("/desk/api/claims/{MONTH}")).await;
    let claim = &month["claims"][0];
    assert_eq!(claim["basis"], "lost", "{claim}");
    assert!(claim["rules"].as_array().unwrap().contains(&json!("R19")));
    d.close().await;
    let (_, file) = d.file("1").await;
    let recs = first_claim(&file);
    assert_eq!(ho(recs).insurer_number.as_str(), w.fx.kumiai.as_str());
    // R19 carries no 不詳 marking
    assert!(free_comments(recs).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r20_fushou_claim_carries_the_declaration_in_the_tekiyou_and_goes_to_the_declared_payer() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    // 資格情報なし, 国保 declared → 国保連
    let (v, id) = d.card_visit("C0004").await;
    d.declare(
        &v,
        &[
            ("has_valid_insurance", "on"),
            ("insurance_type", "kokuho"),
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
    d.act(&v, &[("action", "charge")]).await;
    d.content(id, 298, 890).await;
    // before close: the month says to ask the patient again (R20)
    let (_, month) = d.get_json(&format!("/desk/api/claims/{MONTH}")).await;
    let codes: Vec<&str> = month["open"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"fushou_ask_again"), "{codes:?}");
    assert_eq!(month["claims"][0]["payer"], "kokuhoren");
    d.close().await;
    let (_, file) = d.file("2").await;
    let recs = first_claim(&file);
    let h = ho(recs);
    assert_eq!(h.insurer_number.as_str(), "77777777");
    assert!(h.kigou.is_none(), "記号 empty");
    assert_eq!(h.bangou.as_deref(), Some("７７７７７７７７７"));
    let comments = free_comments(recs);
    assert_eq!(
        comments.first().map(String::as_str),
        Some("不詳"),
        "{comments:?}"
    );
    assert!(
        comments.contains(&"住所：東京都港区芝公園４－２－８".to_string()),
        "{comments:?}"
    );
    assert!(
        comments.contains(&"連絡先：０３－１１１１－２２２２".to_string()),
        "{comments:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r20_fushou_insurer_number_and_unknown_type_payer_are_facility_settings() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (status, _) = d
        .put_json(
            "/desk/api/claims/settings",
            &json!({"facility_name": "おんし内科", "phone": "0312345678",
                    "rules": {"fushou_insurer": "check_digit", "unknown_type_payer": "kokuhoren"}}),
        )
        .await;
    assert_eq!(status, 200);
    let (v, id) = d.card_visit("C0004").await;
    d.declare(
        &v,
        &[
            ("has_valid_insurance", "on"),
            ("insurance_type", "unknown"),
            ("name", "高橋　美咲"),
            ("era", "heisei"),
            ("birth_year", "12"),
            ("birth_month", "1"),
            ("birth_day", "1"),
            ("sex", "2"),
            ("address", "東京都港区芝公園4-2-8"),
        ],
    )
    .await;
    d.act(&v, &[("action", "charge")]).await;
    d.content(id, 100, 300).await;
    d.close().await;
    let (_, file) = d.file("2").await;
    assert_eq!(ho(first_claim(&file)).insurer_number.as_str(), "77777779");
    // the desk engine gives the same block under the same setting
    let (_, sit) = d
        .get_json(&format!("/desk/visits/{id}/situation.json"))
        .await;
    let mut sit = sit;
    sit["claim_settings"] =
        json!({"fushou_insurer": "check_digit", "unknown_type_payer": "kokuhoren"});
    let dec = onshi_domain::desk::assess(&serde_json::from_value(sit).unwrap()).unwrap();
    let block = dec.claim.unwrap().file.unwrap();
    assert_eq!(block.numbers.insurer_number, "77777779");
    assert_eq!(block.payer, onshi_domain::claims::Payer::Kokuhoren);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_the_amount_charged_at_the_window_is_never_rewritten() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (v, id) = d.card_visit("C0001").await;
    // content before 会計 is refused
    let (status, _) = d
        .put_json(
            &format!("/desk/api/visits/{id}/content"),
            &content(298, 890),
        )
        .await;
    assert_eq!(status, 409);
    d.act(&v, &[("action", "charge")]).await;
    d.content(id, 298, 890).await;
    // points may be corrected, the charged amount may not (R11)
    d.content(id, 310, 890).await;
    let (status, body) = d
        .put_json(
            &format!("/desk/api/visits/{id}/content"),
            &content(310, 930),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["class"], "charged_is_a_fact");
    assert!(body["error"]["message"].as_str().unwrap().contains("R11"));
    let (_, month) = d.get_json(&format!("/desk/api/claims/{MONTH}")).await;
    assert_eq!(month["claims"][0]["charged_yen"], 890);
    assert_eq!(month["claims"][0]["points"], 310);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_content_names_every_field_and_a_bad_file_records_nothing() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (v, id) = d.card_visit("C0001").await;
    d.act(&v, &[("action", "charge")]).await;
    let mut bad = content(298, 890);
    bad["diagnoses"][0]["code"] = json!("99");
    bad["lines"][1]["shikibetsu"] = json!("77");
    let (status, body) = d
        .put_json(&format!("/desk/api/visits/{id}/content"), &bad)
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = body["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["diagnoses[0].code", "lines[1].shikibetsu"]);
    // a file with one good and one bad entry: nothing is recorded
    let (status, body) = d
        .post_json(
            "/desk/api/claims/contents",
            &json!([{"visit_id": id, "content": content(298, 890)}, {"visit_id": 99999, "content": content(1, 0)}]),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["problems"][0]["field"], "[1].visit_id");
    let (status, _) = d.get_json(&format!("/desk/api/visits/{id}/content")).await;
    assert_eq!(status, 404, "nothing half-accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn month_close_is_blocked_while_content_is_missing_then_idempotent() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (v, id) = d.card_visit("C0001").await;
    d.act(&v, &[("action", "charge")]).await;
    let (status, body) = d
        .post_json(&format!("/desk/api/claims/{MONTH}/close"), &json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["open"][0]["code"], "no_content");
    d.content(id, 298, 890).await;
    let first = d.close().await;
    assert_eq!(first["closed_now"], true);
    let again = d.close().await;
    assert_eq!(again["closed_now"], false);
    assert_eq!(again["month"]["files"].as_array().unwrap().len(), 1);
    assert_eq!(first["month"]["files"], again["month"]["files"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_r20_numbers_learned_after_filing_go_into_a_reclaim() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (v, id) = d.card_visit("C0004").await;
    d.declare(
        &v,
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
        ],
    )
    .await;
    d.act(&v, &[("action", "charge")]).await;
    d.content(id, 298, 890).await;
    d.close().await;
    // the patient brings the numbers after filing (R20 → R18)
    d.act(
        &v,
        &[
            ("action", "reported_numbers"),
            ("insurer_number", "01130012"),
            ("symbol", "1001"),
            ("number", "2004"),
        ],
    )
    .await;
    let (_, month) = d.get_json(&format!("/desk/api/claims/{MONTH}")).await;
    let changed = month["changed_since_filing"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{month}");
    assert_eq!(changed[0]["basis"], "oral");
    let (status, body) = d
        .post_json(
            &format!("/desk/api/claims/{MONTH}/reclaim?billing_month=202701"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reclaimed"], 1);
    let r = d
        .api
        .get(format!("{}/desk/api/claims/files/202701/1/reclaim", d.base))
        .send()
        .await
        .unwrap();
    let (status, bytes) = common::conform("GET", r).await;
    assert_eq!(status, 200);
    let file = UkeFile::read(&bytes[..]).unwrap();
    assert_eq!(ho(first_claim(&file)).insurer_number.as_str(), "01130012");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn koki_claim_has_its_receipt_type_and_goes_to_the_kokuhoren() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (v, id) = d.card_visit("C0009").await;
    d.act(&v, &[("action", "charge")]).await;
    d.content(id, 298, 300).await;
    d.close().await;
    let (_, file) = d.file("2").await;
    let recs = first_claim(&file);
    let re = recs.re().clone();
    assert_eq!(re.receipt_kind.as_str(), "1318");
    assert_eq!(ho(recs).insurer_number.as_str(), w.fx.koki.as_str());
    assert_eq!(
        ho(recs).share_amount.as_ref().map(|n| n.as_str()),
        Some("300")
    );
}

const R27_ADDRESS: &str = "東京都港区芝公園4-2-8-R27";

/// A 不詳 visit with its 申立書, charged, its month closed and filed: the visit and the
/// statement of the 支払基金 that settles it.
async fn fushou_filed(d: &Desk) -> (i64, Value) {
    let (v, id) = d.card_visit("C0004").await;
    let address = R27_ADDRESS;
    d.declare(
        &v,
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
            ("address", address),
            ("phone", "03-9999-0000"),
        ],
    )
    .await;
    d.act(&v, &[("action", "charge")]).await;
    d.content(id, 298, 890).await;
    let closed = d.close().await;
    let sha = closed["month"]["files"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let statement = json!({
        "format": "onshi-settlement/1", "payer": "1", "facility": common::CLINIC,
        "billing_month": "202612", "file_sha256": sha,
        "claims": [{"receipt_number": 1, "service_month": MONTH, "status": "settled",
                    "insurer_number": "01130012", "kakunin_kubun": "03", "points": 298, "amount_yen": 2090}]
    });
    (id, statement)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r27_settlement_of_a_fushou_claim_signed_by_its_payer_purges_the_moushitatesho_from_every_file()
 {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (id, statement) = fushou_filed(&d).await;
    let address = R27_ADDRESS;
    let kikin = payer_key(1);
    d.register_payer("1", &kikin).await;
    let (status, out) = d.settle_signed("1", &kikin, &statement).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["purged_visits"], json!([id]));
    // the same statement again does nothing twice
    let (_, again) = d.settle_signed("1", &kikin, &statement).await;
    assert_eq!(again["recorded"], false);
    // not in the desk's or the claims' files, in any form the address was written
    let wide = onshi_domain::claims::to_fullwidth(address);
    let data = onshi_terminal::exchange::default_data_dir(&w.clinic_dir);
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("desk.sqlite") || name.starts_with("claims.sqlite")) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for needle in [address, wide.as_str(), "03-9999-0000"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} still in {name}"
            );
        }
    }
    // the file written again has only 「不詳」 left
    let (_, file) = d.file("1").await;
    assert_eq!(free_comments(first_claim(&file)), ["不詳"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_for_a_file_never_filed_here_is_refused_whole() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let kikin = payer_key(1);
    d.register_payer("1", &kikin).await;
    let (status, body) = d
        .settle_signed(
            "1",
            &kikin,
            &json!({"format": "onshi-settlement/1", "payer": "1", "facility": common::CLINIC,
                    "billing_month": "202612", "file_sha256": "00", "claims": []}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("file_sha256")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pharmacy_month_is_not_closed_into_a_medical_claim_file() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.pharmacy).await;
    let (v, id) = d.card_visit("C0001").await;
    d.act(&v, &[("action", "charge")]).await;
    d.content(id, 120, 360).await;
    let (status, body) = d
        .post_json(&format!("/desk/api/claims/{MONTH}/close"), &json!({}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["class"], "not_offered");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("RECEIPTY.UKE"),
        "{body}"
    );
    // nothing was frozen: the month is still open
    let (_, month) = d.get_json(&format!("/desk/api/claims/{MONTH}")).await;
    assert!(month["closed_at"].is_null(), "{month}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_and_bad_path_parameters_get_a_4xx_naming_the_member() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (v, id) = d.card_visit("C0001").await;
    d.act(&v, &[("action", "charge")]).await;
    // a member of the wrong type: 400 `json`, naming the member
    let mut bad = content(298, 890);
    bad["lines"][0]["times"] = json!("twice");
    let (status, body) = d
        .put_json(&format!("/desk/api/visits/{id}/content"), &bad)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["class"], "json");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("lines[0].times: "), "{message}");
    // a member the content does not have
    let mut bad = content(298, 890);
    bad["colour"] = json!("red");
    let (status, body) = d
        .put_json(&format!("/desk/api/visits/{id}/content"), &bad)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{body}"
    );
    // a visit id that is not a number, a month that is not YYYYMM
    let (status, body) = d
        .put_json("/desk/api/visits/x1/content", &content(298, 890))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["class"], "path");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("id (path)"),
        "{body}"
    );
    let (status, body) = d.get_json("/desk/api/claims/2026-11").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["class"], "month");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("month (path)"),
        "{body}"
    );
    let (status, body) = d
        .post_json(&format!("/desk/api/claims/{MONTH}/reclaim"), &json!({}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("billing_month (query)"),
        "{body}"
    );
    // a content problem answers with a message besides the problems
    let mut bad = content(298, 890);
    bad["diagnoses"][0]["code"] = json!("99");
    let (status, body) = d
        .put_json(&format!("/desk/api/visits/{id}/content"), &bad)
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("diagnoses[0].code"),
        "{body}"
    );
}

/// A request of the claims API sent with `client`, checked against the document.
async fn call(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rq = client.request(m, url);
    if let Some(b) = body {
        rq = rq.json(b);
    }
    common::conform_json(method, rq.send().await.expect("request")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claims_api_without_the_terminals_token_or_with_a_wrong_one_is_401_and_changes_nothing()
{
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (v, id) = d.card_visit("C0001").await;
    d.act(&v, &[("action", "charge")]).await;
    let before = d.get_json("/desk/api/claims/settings").await;
    assert_eq!(before.0, 200);
    let nobody = reqwest::Client::new();
    let wrong = common::api_client("0123456789abcdef0123456789abcdef0123456789abcdef");
    // the other terminal's token is not this one's
    let other = common::api_client(&w.pharmacy_token);
    let base = &w.clinic;
    let calls: Vec<(&str, String, Option<Value>)> = vec![
        (
            "PUT",
            format!("{base}/desk/api/visits/{id}/content"),
            Some(content(298, 890)),
        ),
        ("GET", format!("{base}/desk/api/visits/{id}/content"), None),
        (
            "POST",
            format!("{base}/desk/api/claims/contents"),
            Some(json!([{"visit_id": id, "content": content(298, 890)}])),
        ),
        (
            "PUT",
            format!("{base}/desk/api/claims/settings"),
            Some(json!({"facility_name": "乗っ取り", "phone": "0000000000"})),
        ),
        ("GET", format!("{base}/desk/api/claims/settings"), None),
        ("GET", format!("{base}/desk/api/claims/{MONTH}"), None),
        (
            "POST",
            format!("{base}/desk/api/claims/{MONTH}/close"),
            None,
        ),
        (
            "POST",
            format!("{base}/desk/api/claims/{MONTH}/reclaim?billing_month=202701"),
            None,
        ),
        (
            "GET",
            format!("{base}/desk/api/claims/files/202612/1/claim"),
            None,
        ),
    ];
    for client in [&nobody, &wrong, &other] {
        for (method, url, body) in &calls {
            let (status, answer) = call(client, method, url, body.as_ref()).await;
            assert_eq!(status, 401, "{method} {url}: {answer}");
            assert_eq!(answer["error"]["class"], "auth", "{answer}");
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("Authorization"),
                "names the header: {message}"
            );
        }
    }
    // a header that is not a bearer token is refused the same
    let r = nobody
        .get(format!("{base}/desk/api/claims/settings"))
        .header("Authorization", format!("Basic {}", w.clinic_token))
        .send()
        .await
        .unwrap();
    assert_eq!(common::conform_json("GET", r).await.0, 401);
    // nothing changed: no content, the settings as they were, the month open
    let (status, _) = d.get_json(&format!("/desk/api/visits/{id}/content")).await;
    assert_eq!(status, 404, "no content recorded");
    assert_eq!(d.get_json("/desk/api/claims/settings").await, before);
    let (_, month) = d.get_json(&format!("/desk/api/claims/{MONTH}")).await;
    assert_eq!(month["closed_at"], Value::Null, "{month}");
    assert_eq!(month["files"], json!([]));
    // with the token it works
    d.content(id, 298, 890).await;
    let closed = d.close().await;
    assert_eq!(closed["closed_now"], true);
    let (bytes, _) = d.file("1").await;
    assert!(!bytes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claims_screen_signed_in_reads_the_files_without_the_token_and_posts_only_with_its_csrf_token()
 {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (v, id) = d.card_visit("C0001").await;
    d.act(&v, &[("action", "charge")]).await;
    d.content(id, 298, 890).await;
    d.close().await;
    // the 請求 screen links its files under /desk/api/: the signed-in clerk downloads them
    let (status, page) = common::DeskClient::new(&w.clinic)
        .await
        .get(&format!("/desk/claims?month={MONTH}"))
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("/desk/api/claims/files/202612/1/claim"),
        "the screen links the file"
    );
    let r = d
        .http
        .get(format!("{}/desk/api/claims/files/202612/1/claim", w.clinic))
        .send()
        .await
        .unwrap();
    let (status, bytes) = common::conform("GET", r).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, d.file("1").await.0);
    // a post under the session still needs the session's CSRF token and the desk's Origin
    let jar_only = {
        // signed in, but sending the session cookie alone
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar)
            .build()
            .unwrap();
        let r = http
            .post(format!("{}/desk/login", w.clinic))
            .header("Origin", &w.clinic)
            .form(&[("staff_id", "S01"), ("password", common::PASSWORD)])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        http
    };
    let r = jar_only
        .put(format!("{}/desk/api/claims/settings", w.clinic))
        .header("Origin", &w.clinic)
        .json(&json!({"facility_name": "乗っ取り"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "no CSRF token");
    let (_, s) = d.get_json("/desk/api/claims/settings").await;
    assert_ne!(s["facility_name"], "乗っ取り");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_the_claim_file_cannot_carry_are_refused_naming_the_field_and_nothing_is_stored() {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (_, before) = d.get_json("/desk/api/claims/settings").await;
    let (status, body) = d
        .put_json(
            "/desk/api/claims/settings",
            &json!({"facility_name": "おんし内科", "phone": "03À1234"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["class"], "settings_invalid");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("電話番号") && message.contains("Windows-31J"),
        "{message}"
    );
    assert_eq!(d.get_json("/desk/api/claims/settings").await.1, before);
}

/// A statement refused: what it is, its body, its signature header, the status and class.
type Refused<'a> = (&'a str, Vec<u8>, Option<String>, u16, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r27_a_statement_unsigned_forged_by_an_unregistered_key_or_of_another_payer_is_refused_and_the_moushitatesho_stays()
 {
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let (id, statement) = fushou_filed(&d).await;
    let kikin = payer_key(1);
    let stranger = payer_key(9);
    d.register_payer("1", &kikin).await;
    let body = serde_json::to_vec(&statement).unwrap();
    let mut altered = statement.clone();
    altered["claims"][0]["amount_yen"] = json!(1);
    let altered = serde_json::to_vec(&altered).unwrap();
    // signed by payer 1's key as payer 2's (no key of 2 registered), and a statement of
    // payer 2 signed by payer 1
    let mut of_two = statement.clone();
    of_two["payer"] = json!("2");
    let of_two = serde_json::to_vec(&of_two).unwrap();
    let refused: Vec<Refused> = vec![
        ("no signature", body.clone(), None, 401, "auth"),
        (
            "not <payer>:<hex>",
            body.clone(),
            Some("1".into()),
            401,
            "auth",
        ),
        (
            "a bad payer",
            body.clone(),
            Some(sign("x", &kikin, &body)),
            401,
            "auth",
        ),
        (
            "too short",
            body.clone(),
            Some("1:abcd".into()),
            401,
            "auth",
        ),
        (
            "an unregistered key",
            body.clone(),
            Some(sign("1", &stranger, &body)),
            403,
            "signature",
        ),
        (
            "over other bytes",
            body.clone(),
            Some(sign("1", &kikin, &altered)),
            403,
            "signature",
        ),
        (
            "the body altered after signing",
            altered.clone(),
            Some(sign("1", &kikin, &body)),
            403,
            "signature",
        ),
        (
            "as a payer with no key",
            body.clone(),
            Some(sign("2", &kikin, &body)),
            403,
            "signature",
        ),
        (
            "payer 2's statement signed by payer 1",
            of_two.clone(),
            Some(sign("1", &kikin, &of_two)),
            403,
            "signature",
        ),
    ];
    for (what, b, sig, status, class) in &refused {
        let (got, answer) = d.post_statement(b, sig.as_deref()).await;
        assert_eq!(got, *status, "{what}: {answer}");
        assert_eq!(answer["error"]["class"], *class, "{what}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("X-Onshi-Payer-Signature")
                || *what == "payer 2's statement signed by payer 1",
            "{what}: names the header: {answer}"
        );
    }
    // the terminal's token is not a payer's signature
    let r = d
        .api
        .post(format!("{}/desk/api/claims/settlement", d.base))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(common::conform_json("POST", r).await.0, 401);
    // nothing taken, nothing purged: the 申立書 is still in the claim and in its file
    let purges = onshi_desk::claims::ClaimStore::open(
        &onshi_terminal::exchange::default_data_dir(&w.clinic_dir)
            .join(onshi_desk::claims::CLAIMS_FILE),
    )
    .unwrap()
    .purges()
    .unwrap();
    assert!(purges.is_empty(), "{purges:?}");
    let (_, file) = d.file("1").await;
    let comments = free_comments(first_claim(&file));
    assert!(
        comments.iter().any(|c| c.contains("芝公園")),
        "the 申立書's address is still filed: {comments:?}"
    );
    // and the payer's own signature is taken: the 申立書 is purged (R27)
    let (status, out) = d.settle_signed("1", &kikin, &statement).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["purged_visits"], json!([id]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payer_key_that_is_not_an_ed25519_public_key_of_payer_1_or_2_is_refused_naming_the_field()
{
    let w = start_world().await;
    let d = Desk::new(&w, &w.clinic).await;
    let good = hex::encode(payer_key(1).verifying_key().as_bytes());
    for (keys, field) in [
        (
            json!([{"payer": "3", "public_key": good}]),
            "payer_keys[0].payer",
        ),
        (
            json!([{"payer": "1", "public_key": good}, {"payer": "2", "public_key": "abcd"}]),
            "payer_keys[1].public_key",
        ),
    ] {
        let (status, body) = d
            .put_json("/desk/api/claims/settings", &json!({"payer_keys": keys}))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["class"], "settings_invalid");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{field}: {body}"
        );
    }
    let (_, s) = d.get_json("/desk/api/claims/settings").await;
    assert_eq!(s["payer_keys"], json!([]), "nothing stored");
}
