//! The payer over its real HTTP API: UKE files in, 振替/分割 (R21), identification and 按分
//! (R22), settlement with the facility's hook (R27), the insurers' views (R11, R23) and who
//! sees what.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use onshi_payer::api::{PayerApp, router, token_hash};
use onshi_payer::model::{PayerCode, YearMonth};
use onshi_payer::store::{FacilityRow, PaymentRow, Principal, Role};
use serde_json::{Value, json};

struct Server {
    base: String,
    /// the payer's public key (its statements to hooks are signed)
    public_key: String,
    w: World,
    http: reqwest::Client,
}

const STAFF1: &str = "staff-kikin-token";
const STAFF2: &str = "staff-kokuhoren-token";
const FAC: &str = "facility-token";
const OTHER_FAC: &str = "other-facility-token";

fn insurer_token(i: &onshi_domain::numbers::InsurerNumber) -> String {
    format!("insurer-{i}")
}

async fn spawn_on(backend: Backend) -> Server {
    spawn_with(world_on(backend)).await
}

/// Each test once per backend of the payer's store: `sqlite::name` and `postgres::name`.
macro_rules! on_both {
    ($($t:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $t() { super::$t(super::Backend::Sqlite).await; })*
        }
        mod postgres {
            $(#[tokio::test] async fn $t() { super::$t(super::Backend::Postgres).await; })*
        }
    };
}

on_both!(
    r21_furikae_bunkatsu_public_funds_and_the_2022_02_rule_over_http,
    r22_identification_single_several_none_and_the_worklist_over_http,
    r22_refused_file_leaves_nothing_behind_over_http,
    the_same_file_twice_is_recognised_over_http,
    one_insurer_never_sees_another_insurers_members,
    r22_apportionment_settlement_hook_and_r27_purge_over_http,
    r11_list_shows_the_share_difference_of_a_patient_of_70_and_over_without_return,
    r22_worklist_screen_escapes_what_it_shows_and_needs_the_csrf_token,
    r21_r22_public_fund_only_claims_are_paid_by_their_fund_never_reassigned_nor_pooled,
    a_public_fund_only_claim_with_a_wrong_fund_number_is_refused_whole,
);

async fn spawn_with(w: World) -> Server {
    let add = |t: &str, role, payer, subject: &str| {
        w.store
            .add_principal(
                &token_hash(t),
                &Principal {
                    role,
                    payer,
                    subject: subject.into(),
                },
                "2026-12-01T00:00:00Z",
            )
            .unwrap();
    };
    add(STAFF1, Role::Staff, PayerCode::Kikin, "審査担当A");
    add(STAFF2, Role::Staff, PayerCode::Kokuhoren, "国保連担当");
    add(FAC, Role::Facility, PayerCode::Kikin, FACILITY);
    add(OTHER_FAC, Role::Facility, PayerCode::Kikin, "1320000015");
    w.store
        .upsert_facility(&FacilityRow {
            payer: PayerCode::Kikin,
            code: "1320000015".into(),
            name: "他院".into(),
            hook_url: None,
        })
        .unwrap();
    for i in [a(), b(), c()] {
        add(
            &insurer_token(&i),
            Role::Insurer,
            PayerCode::Kikin,
            i.as_str(),
        );
    }
    // the payer signs its statements to facilities' hooks with its key
    let key = onshi_payer::signing::PayerKey::generate().unwrap();
    let public_key = key.public_key_hex();
    let app = PayerApp::new(w.service.clone()).with_hooks(onshi_payer::signing::Hooks::new(
        onshi_payer::service::hook_client(None).unwrap(),
        key,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(app)).await.unwrap() });
    Server {
        base: format!("http://{addr}"),
        public_key,
        w,
        http: reqwest::Client::new(),
    }
}

impl Server {
    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
    async fn submit(&self, token: &str, bytes: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!(
                "{}/v1/payer/submissions?file_name=RECEIPTC.UKE",
                self.base
            ))
            .bearer_auth(token)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap())
    }
    async fn claims(&self, id: i64) -> Vec<Value> {
        let (s, v) = self
            .get(STAFF1, &format!("/v1/payer/submissions/{id}"))
            .await;
        assert_eq!(s, 200, "{v}");
        v["claims"].as_array().unwrap().clone()
    }
}

fn by_receipt(claims: &[Value], n: u32) -> &Value {
    claims
        .iter()
        .find(|c| c["claim"]["receipt_number"] == n)
        .unwrap()
}

fn kubun(claims: &[Value], n: u32) -> String {
    by_receipt(claims, n)["kubun"].as_str().unwrap().to_string()
}

fn bill_to(claims: &[Value], n: u32) -> Vec<String> {
    by_receipt(claims, n)["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["bill_to"]["insurer_number"].as_str().unwrap().to_string())
        .collect()
}

/// The first pool's 按分 shares of a statement: (保険者番号, yen), in the statement's order.
fn first_pool_shares(stmt: &Value) -> Vec<(String, u64)> {
    stmt["apportionment"][0]["shares"]
        .as_array()
        .expect("the statement's first pool has shares")
        .iter()
        .map(|x| {
            (
                x["insurer_number"]
                    .as_str()
                    .expect("insurer_number")
                    .to_string(),
                x["share_yen"].as_u64().expect("share_yen"),
            )
        })
        .collect()
}

fn r21_file() -> Vec<u8> {
    let mut tanaka = claim(4, "田中四郎", "202611", Some(&a()), "5001", &[5]);
    tanaka.public_funds = 1;
    uke_bytes(
        "1",
        FACILITY,
        "202612",
        &[
            claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3, 10]),
            claim(2, "鈴木花子", "202611", Some(&a()), "2001", &[5, 12]),
            claim(3, "高橋三郎", "202611", Some(&a()), "4001", &[3, 10, 20]),
            tanaka,
            claim(5, "伊藤五郎", "202201", Some(&a()), "6001", &[10]),
            claim(6, "伊藤五郎", "202202", Some(&a()), "6001", &[10]),
        ],
    )
}

async fn r21_furikae_bunkatsu_public_funds_and_the_2022_02_rule_over_http(backend: Backend) {
    let s = spawn_on(backend).await;
    let (st, out) = s.submit(FAC, r21_file()).await;
    assert_eq!(st, 201, "{out}");
    let id = out["submission"]["id"].as_i64().unwrap();
    let cl = s.claims(id).await;
    assert_eq!(
        (kubun(&cl, 1), bill_to(&cl, 1)),
        ("02".into(), vec![a().to_string()])
    );
    assert_eq!(
        (kubun(&cl, 2), bill_to(&cl, 2)),
        ("04".into(), vec![b().to_string()])
    );
    assert_eq!(
        (kubun(&cl, 3), bill_to(&cl, 3)),
        ("05".into(), vec![a().to_string(), c().to_string()])
    );
    assert_eq!(
        (kubun(&cl, 4), bill_to(&cl, 4)),
        ("06".into(), vec![a().to_string()])
    );
    assert_eq!(
        (kubun(&cl, 5), bill_to(&cl, 5)),
        ("04".into(), vec![b().to_string()])
    );
    assert_eq!(
        (kubun(&cl, 6), bill_to(&cl, 6)),
        ("02".into(), vec![a().to_string()])
    );

    // the facility's 資格確認結果連絡書 lists each change, in the SN vocabulary
    let (st, r) = s
        .get(FAC, &format!("/v1/payer/submissions/{id}/renrakusho"))
        .await;
    assert_eq!(st, 200);
    let kubuns: Vec<(u64, String)> = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["receipt_number"].as_u64().unwrap(),
                e["shori_kubun"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kubuns,
        vec![
            (2, "04".into()),
            (3, "05".into()),
            (4, "06".into()),
            (5, "04".into())
        ]
    );
    let split = &r["entries"][1]["parts"];
    assert_eq!(split[0]["days"], json!([3, 10]));
    assert_eq!(split[1]["days"], json!([20]));
    // and as a file in the facility's folder
    let dir = s.w._dir.path().join("out").join(FACILITY);
    let f = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("kekka-renrakusho-1-202612-")
        });
    let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
    assert!(text.contains(",05,分割,"), "{text}");
}

async fn r22_identification_single_several_none_and_the_worklist_over_http(backend: Backend) {
    let s = spawn_on(backend).await;
    let mut several_narrowed = claim(4, "渡辺太郎", "202611", None, "777777777", &[9]);
    several_narrowed
        .tekiyou
        .push("住所：北海道札幌市７－７".into());
    let file = uke_bytes(
        "1",
        FACILITY,
        "202612",
        &[
            claim(1, "山本花子", "202611", None, "777777777", &[7]),
            claim(2, "渡辺太郎", "202611", None, "777777777", &[8]),
            claim(3, "誰でもない", "202611", None, "777777777", &[9]),
            several_narrowed,
        ],
    );
    let (st, out) = s.submit(FAC, file).await;
    assert_eq!(st, 201, "{out}");
    assert_eq!(
        out["by_status"],
        json!({"assigned": 2, "pool": 1, "worklist": 1})
    );
    let id = out["submission"]["id"].as_i64().unwrap();
    let cl = s.claims(id).await;
    assert_eq!(bill_to(&cl, 1), vec![b().to_string()]);
    assert!(
        by_receipt(&cl, 1)["evidence"]["matched"]
            .as_array()
            .unwrap()
            .contains(&json!("kana_name"))
    );
    assert_eq!(bill_to(&cl, 4), vec![a().to_string()]);
    assert_eq!(by_receipt(&cl, 3)["status"], "pool");

    // several: staff decide; a facility may not
    let (st, _) = s.get(FAC, "/v1/payer/worklist").await;
    assert_eq!(st, 403);
    let (_, wl) = s.get(STAFF1, "/v1/payer/worklist").await;
    let item = &wl["items"][0];
    assert_eq!(item["candidates"].as_array().unwrap().len(), 2);
    let claim_id = item["claim"]["id"].as_i64().unwrap();
    let (st, e) = s
        .post(
            STAFF1,
            &format!("/v1/payer/worklist/{claim_id}"),
            json!({"person_id": 999_999}),
        )
        .await;
    assert_eq!((st, e["error"]["rule"].as_str()), (409, Some("R22")));
    let chosen = item["candidates"][1]["person_id"].as_i64().unwrap();
    let (st, d) = s
        .post(
            STAFF1,
            &format!("/v1/payer/worklist/{claim_id}"),
            json!({"person_id": chosen}),
        )
        .await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["claim"]["status"], "assigned");
    assert!(
        d["claim"]["evidence"]["matched"]
            .as_array()
            .unwrap()
            .contains(&json!("staff:審査担当A"))
    );
    // decided once only
    let (st, e) = s
        .post(
            STAFF1,
            &format!("/v1/payer/worklist/{claim_id}"),
            json!({"person_id": null}),
        )
        .await;
    assert_eq!(st, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already decided")
    );
}

async fn r22_refused_file_leaves_nothing_behind_over_http(backend: Backend) {
    let s = spawn_on(backend).await;
    let mut bad = uke_bytes(
        "1",
        FACILITY,
        "202612",
        &[claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3])],
    );
    // a wrong check digit in HO 保険者番号 (line 3), and a GO total that does not add up
    let text = String::from_utf8_lossy(&bad).into_owned();
    assert!(text.contains(&a().to_string()));
    let wrong = format!(
        "{}{}",
        &a().as_str()[..7],
        (a().as_str().as_bytes()[7] - b'0' + 1) % 10
    );
    bad = bad
        .windows(8)
        .position(|w| w == a().as_str().as_bytes())
        .map(|i| {
            let mut v = bad.clone();
            v[i..i + 8].copy_from_slice(wrong.as_bytes());
            v
        })
        .unwrap();
    let (st, e) = s.submit(FAC, bad).await;
    assert_eq!(st, 422, "{e}");
    let r = &e["reasons"][0];
    assert_eq!(
        (
            r["line"].as_u64(),
            r["record"].as_str(),
            r["field"].as_str()
        ),
        (Some(3), Some("HO"), Some("保険者番号"))
    );
    // a file of another facility, sent with this facility's token, and broken layout
    let other = uke_bytes(
        "1",
        "1320000015",
        "202612",
        &[claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3])],
    );
    let (st, e) = s.submit(FAC, other).await;
    assert_eq!(
        (st, e["reasons"][0]["rule"].as_str()),
        (422, Some("payer.sender"))
    );
    let (st, e) = s.submit(FAC, b"IR,1,13\r\n".to_vec()).await;
    assert_eq!(st, 422, "{e}");
    assert!(
        e["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("fields")
    );
    // addressed to the other payer
    let kokuho = uke_bytes(
        "2",
        FACILITY,
        "202612",
        &[claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3])],
    );
    let (st, e) = s.submit(FAC, kokuho).await;
    assert_eq!(
        (st, e["reasons"][0]["rule"].as_str()),
        (422, Some("payer.addressee"))
    );
    // nothing of any of them was kept
    let (_, l) = s.get(STAFF1, "/v1/payer/submissions").await;
    assert_eq!(l["submissions"], json!([]));
}

async fn the_same_file_twice_is_recognised_over_http(backend: Backend) {
    let s = spawn_on(backend).await;
    let (st1, one) = s.submit(FAC, r21_file()).await;
    let (st2, two) = s.submit(FAC, r21_file()).await;
    assert_eq!((st1, st2), (201, 200));
    assert_eq!(two["duplicate"], true);
    assert_eq!(one["submission"]["id"], two["submission"]["id"]);
    let (_, l) = s.get(STAFF1, "/v1/payer/submissions").await;
    assert_eq!(l["submissions"].as_array().unwrap().len(), 1);
}

/// One insurer never sees another's members; a facility never sees another's files; a payer
/// never sees the other payer's.
async fn one_insurer_never_sees_another_insurers_members(backend: Backend) {
    let s = spawn_on(backend).await;
    let (_, out) = s.submit(FAC, r21_file()).await;
    let id = out["submission"]["id"].as_i64().unwrap();
    let (st, v) = s.get(&insurer_token(&b()), "/v1/insurer/claims").await;
    assert_eq!(st, 200);
    let text = v.to_string();
    for n in ["1001", "4001", "4002", "6001"] {
        assert!(
            !text.contains(&format!("\"{n}\"")),
            "insurer B sees {n}: {text}"
        );
    }
    assert!(text.contains("\"3001\"") && text.contains("\"6002\""));
    // 分割: insurer C sees only its own part of 高橋's claim
    let (_, v) = s.get(&insurer_token(&c()), "/v1/insurer/claims").await;
    let parts = v["claims"][0]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0]["bill_to"]["number"], "4002");
    assert!(!v.to_string().contains("\"4001\""));
    // roles
    let (st, _) = s
        .get(&insurer_token(&b()), &format!("/v1/payer/submissions/{id}"))
        .await;
    assert_eq!(st, 403);
    let (st, _) = s
        .get(OTHER_FAC, &format!("/v1/payer/submissions/{id}"))
        .await;
    assert_eq!(st, 404);
    let (_, l) = s.get(OTHER_FAC, "/v1/payer/submissions").await;
    assert_eq!(l["submissions"], json!([]));
    let (st, _) = s.get(STAFF2, &format!("/v1/payer/submissions/{id}")).await;
    assert_eq!(st, 404);
    let (st, _) = s.get("no-such-token", "/v1/insurer/claims").await;
    assert_eq!(st, 401);
}

/// What a hook received: the signature header, the body's bytes.
type Received = (Option<String>, Vec<u8>);

async fn r22_apportionment_settlement_hook_and_r27_purge_over_http(backend: Backend) {
    let s = spawn_on(backend).await;
    // the facility's settlement hook: a real HTTP server that keeps what it receives, the
    // signature header with the body's bytes
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let g = got.clone();
    let hook = axum::Router::new().route(
        "/settlement",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let g = g.clone();
                async move {
                    let sig = headers
                        .get("x-onshi-payer-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    g.lock().unwrap().push((sig, body.to_vec()));
                    "ok"
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/settlement", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, hook).await.unwrap() });
    s.w.store
        .upsert_facility(&FacilityRow {
            payer: PayerCode::Kikin,
            code: FACILITY.into(),
            name: "オンシ診療所".into(),
            hook_url: Some(hook_url),
        })
        .unwrap();
    // the payment record: A 600,000, B 300,000, C 100,000 yen to the facility in 2026-06
    let past: Vec<PaymentRow> = [(a(), 600_000u64), (b(), 300_000), (c(), 100_000)]
        .into_iter()
        .map(|(i, amount_yen)| PaymentRow {
            payer: PayerCode::Kikin,
            insurer_number: i.to_string(),
            facility: FACILITY.into(),
            service_month: YearMonth::parse("202606").unwrap(),
            source: "synthetic".into(),
            amount_yen,
            claims: 1,
        })
        .collect();
    s.w.store.add_payments(&past).unwrap();
    let mut p1 = claim(1, "誰でもない", "202611", None, "777777777", &[7]);
    p1.points = 1001;
    p1.tekiyou.push("住所：秘密県秘密市一丁目".into());
    p1.tekiyou.push("電話：０３－９９９９－１２３４".into());
    let mut p2 = claim(2, "誰でもない", "202611", None, "777777777", &[8]);
    p2.points = 500;
    let bytes = uke_bytes(
        "1",
        FACILITY,
        "202612",
        &[
            p1,
            p2,
            claim(3, "鈴木花子", "202611", Some(&a()), "2001", &[5]),
        ],
    );
    let sha = onshi_payer::service::file_sha256(&bytes);
    let (st, _) = s.submit(FAC, bytes).await;
    assert_eq!(st, 201);
    let (st, out) = s
        .post(
            STAFF1,
            "/v1/payer/settlements",
            json!({"billing_month": "202612"}),
        )
        .await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["refused"], json!([]));
    let stmt = &out["statements"][0];
    // pool (10,010 − 3,700) + (5,000 − 3,700) = 7,610 yen → 4,566 / 2,283 / 761
    let shares = first_pool_shares(stmt);
    assert_eq!(
        shares,
        vec![
            (b().to_string(), 2283),
            (a().to_string(), 4566),
            (c().to_string(), 761)
        ]
    );
    assert_eq!(stmt["file_sha256"], sha);
    // the facility reads its statement, and its hook received the same
    let (st, mine) = s.get(FAC, "/v1/payer/statements/202612").await;
    assert_eq!(st, 200);
    assert_eq!(&mine["statements"][0], stmt);
    let (sig, body) = got
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("the hook was called");
    assert_eq!(&serde_json::from_slice::<Value>(&body).unwrap(), stmt);
    // signed by the payer (R27: the facility purges on it): `1:<hex>` over the exact bytes
    let sig = sig.expect("the statement carries the payer's signature");
    let (payer, hex_sig) = sig.split_once(':').unwrap();
    assert_eq!(payer, "1");
    let key: [u8; 32] = hex::decode(&s.public_key).unwrap().try_into().unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
    let sig: [u8; 64] = hex::decode(hex_sig).unwrap().try_into().unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&sig);
    assert!(key.verify_strict(&body, &sig).is_ok(), "over the body sent");
    let mut other = body.clone();
    other.push(b' ');
    assert!(key.verify_strict(&other, &sig).is_err(), "and no other");
    let (st, _) = s.get(OTHER_FAC, "/v1/payer/statements/202612").await;
    assert_eq!(st, 404);
    // the insurer sees its share with its inputs
    let (_, sh) = s.get(&insurer_token(&c()), "/v1/insurer/shares").await;
    let share = &sh["shares"][0];
    assert_eq!(share["share"]["share_yen"], 761);
    assert_eq!(share["share"]["paid_yen"], 100_000);
    assert_eq!(share["share"]["total_paid_yen"], 1_000_000);
    assert_eq!(
        share["inputs"]["reference_period"],
        json!({"from": "202511", "to": "202610"})
    );
    // R27: the 申立書 details are gone from the payer's claims, and from its SQLite file byte
    // for byte
    let left =
        s.w.store
            .claims_of_month(
                PayerCode::Kikin,
                FACILITY,
                YearMonth::parse("202612").unwrap(),
            )
            .unwrap();
    for needle in ["秘密県", "０３－９９９９"] {
        assert!(
            !left
                .iter()
                .any(|c| c.reviewed.claim.tekiyou.iter().any(|t| t.contains(needle))),
            "{needle} in the stored claims"
        );
    }
    if let Some(db) = &s.w.payer_file {
        for f in [db.clone(), db.with_extension("sqlite-wal")] {
            let b = std::fs::read(&f).unwrap_or_default();
            for needle in ["秘密県", "０３－９９９９"] {
                assert!(
                    !b.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{needle} in {f:?}"
                );
            }
        }
    }
}

async fn r11_list_shows_the_share_difference_of_a_patient_of_70_and_over_without_return(
    backend: Backend,
) {
    let s = spawn_on(backend).await;
    // 小林六郎, 72 in 2026-11: 2割 by age. 1,000 points → 2,000 yen due; 3,000 charged (declared 3割)
    let mut k = claim(1, "小林六郎", "202611", Some(&a()), "9001", &[4]);
    k.points = 1000;
    k.copay_yen = 3000;
    let (st, _) = s
        .submit(
            FAC,
            uke_bytes(
                "1",
                FACILITY,
                "202612",
                &[k, claim(2, "佐藤一郎", "202611", Some(&a()), "1001", &[3])],
            ),
        )
        .await;
    assert_eq!(st, 201);
    let (_, v) = s.get(&insurer_token(&a()), "/v1/insurer/r11").await;
    let e = v["entries"].as_array().unwrap();
    assert_eq!(e.len(), 1, "{v}");
    assert_eq!(e[0]["name"], "小林六郎");
    assert_eq!(
        (
            e[0]["due_yen"].as_i64(),
            e[0]["charged_yen"].as_i64(),
            e[0]["difference_yen"].as_i64()
        ),
        (Some(2000), Some(3000), Some(-1000))
    );
    assert_eq!(e[0]["action"], "refund");
    assert_eq!(e[0]["returned"], false);
    // the claim itself stays billed unchanged
    let (_, cl) = s.get(&insurer_token(&a()), "/v1/insurer/claims").await;
    assert!(
        cl["claims"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "小林六郎" && c["kakunin_kubun"] == "02")
    );
}

/// R23 over HTTP, from a hand-made registry: an employee insurer's member registered in the OQS
/// after the card was issued gets a notice giving the dates (and whether the registration was
/// made by the as-of date); one registered before the issuance gets none; another insurer's
/// member is never shown; a 国保 insurer gets none even for a late registration; nothing
/// outside the measure's dates (as-of before it, a card issued before it, a measure ended).
#[tokio::test]
async fn r23_notices_list_members_registered_after_their_card_was_issued_with_the_dates() {
    use onshi_domain::numbers::Sex::*;
    let person = |name: &'static str, kana: &'static str, sex, quals| PersonSpec {
        name,
        kana,
        sex,
        birth: "1988-08-08",
        address: "東京都千代田区1-1",
        quals,
    };
    let people = || {
        vec![
            // A's member: job change on 2026-11-01, card 11-05, registered 11-19 (late)
            person(
                "中村一美",
                "ナカムラカズミ",
                Female,
                vec![
                    qual(&b(), "9101", "2015-04-01", Some("2026-11-01"), None),
                    dated(
                        qual(&a(), "9102", "2026-11-01", None, Some("千代田商会")),
                        "2026-11-05",
                        "2026-11-19",
                    ),
                ],
            ),
            // A's member registered before the card was issued
            person(
                "木村二郎",
                "キムラジロウ",
                Male,
                vec![dated(
                    qual(&a(), "9103", "2026-11-01", None, None),
                    "2026-11-06",
                    "2026-11-02",
                )],
            ),
            // A's member whose late registration came with a card issued before the measure
            person(
                "林三子",
                "ハヤシミツコ",
                Female,
                vec![dated(
                    qual(&a(), "9104", "2023-06-01", None, None),
                    "2023-06-05",
                    "2023-06-20",
                )],
            ),
            // B's member registered late: B's, never A's
            person(
                "松本四郎",
                "マツモトシロウ",
                Male,
                vec![dated(
                    qual(&b(), "9105", "2026-11-01", None, None),
                    "2026-11-05",
                    "2026-11-25",
                )],
            ),
            // 国保's member registered late: 国保 is not employee insurance
            person(
                "井上五月",
                "イノウエサツキ",
                Female,
                vec![dated(
                    qual(&k(), "9106", "2026-11-01", None, None),
                    "2026-11-05",
                    "2026-11-25",
                )],
            ),
        ]
    };
    let s = spawn_with(world_with(people())).await;
    let kokuho = "insurer-kokuho";
    s.w.store
        .add_principal(
            &token_hash(kokuho),
            &Principal {
                role: Role::Insurer,
                payer: PayerCode::Kokuhoren,
                subject: k().as_str().into(),
            },
            "2026-12-01T00:00:00Z",
        )
        .unwrap();
    let notices = |v: &Value| v["notices"].as_array().unwrap().clone();

    let (st, v) = s
        .get(&insurer_token(&a()), "/v1/insurer/notices?as_of=2026-12-01")
        .await;
    assert_eq!(st, 200, "{v}");
    let n = notices(&v);
    assert_eq!(n.len(), 1, "only 中村 of A's members: {v}");
    let n = &n[0];
    assert_eq!(n["rule"], "R23");
    assert_eq!(n["member"]["name"], "中村一美");
    assert_eq!(n["member"]["number"], "9102");
    assert_eq!(n["qualification_date"], "2026-11-01");
    assert_eq!(n["card_issued_on"], "2026-11-05");
    assert_eq!(n["registered_on"], "2026-11-19");
    assert_eq!(n["days_after_issuance"], 14);
    assert_eq!(n["registered_by_as_of"], true);
    assert_eq!(n["as_of"], "2026-12-01");
    let reason = n["reason"].as_str().unwrap();
    assert!(
        reason.contains("2026-11-19") && reason.contains("2026-11-05"),
        "{reason}"
    );
    let text = n["text"].as_str().unwrap();
    for want in [
        "2026年11月5日",
        "2026年11月19日にオンライン資格確認等システムに登録されました",
        "マイナポータル",
        "保険証等もお持ちください",
        "当分の間の措置",
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    assert_eq!(n["measure"]["time_limited"], true);
    assert_eq!(n["measure"]["in_force_from"], "2023-07-10");
    assert_eq!(n["measure"]["in_force_until"], Value::Null);
    let all = v.to_string();
    for never in ["木村二郎", "林三子", "松本四郎", "井上五月"] {
        assert!(!all.contains(never), "{never} is not in A's notices: {v}");
    }

    // between the issuance and the registration: not registered yet
    let (_, v) = s
        .get(&insurer_token(&a()), "/v1/insurer/notices?as_of=2026-11-10")
        .await;
    let n = notices(&v);
    assert_eq!(n.len(), 1, "{v}");
    assert_eq!(n[0]["registered_by_as_of"], false);
    assert!(
        n[0]["text"]
            .as_str()
            .unwrap()
            .contains("まだオンライン資格確認等システムに登録されていません"),
        "{v}"
    );
    // before the card was issued: nothing to tell yet
    let (_, v) = s
        .get(&insurer_token(&a()), "/v1/insurer/notices?as_of=2026-11-04")
        .await;
    assert_eq!(v["notices"], json!([]), "{v}");

    // B sees its own member and not A's
    let (_, v) = s
        .get(&insurer_token(&b()), "/v1/insurer/notices?as_of=2026-12-01")
        .await;
    let n = notices(&v);
    assert_eq!(n.len(), 1, "{v}");
    assert_eq!(n[0]["member"]["name"], "松本四郎");
    assert!(!v.to_string().contains("中村一美"), "{v}");

    // 国保: none, though its member was registered late
    let (st, v) = s.get(kokuho, "/v1/insurer/notices?as_of=2026-12-01").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["notices"], json!([]), "{v}");

    // before the measure began
    let (_, v) = s
        .get(&insurer_token(&a()), "/v1/insurer/notices?as_of=2023-07-09")
        .await;
    assert_eq!(v["notices"], json!([]), "{v}");

    // a measure that ended: nothing after its end, the notice up to it
    let mut w = world_with(people());
    w.service.calendar.r23_measure_until = Some(d("2026-11-30"));
    let ended = spawn_with(w).await;
    let (_, v) = ended
        .get(&insurer_token(&a()), "/v1/insurer/notices?as_of=2026-12-01")
        .await;
    assert_eq!(v["notices"], json!([]), "{v}");
    let (_, v) = ended
        .get(&insurer_token(&a()), "/v1/insurer/notices?as_of=2026-11-30")
        .await;
    let n = notices(&v);
    assert_eq!(n.len(), 1, "{v}");
    assert_eq!(n[0]["measure"]["in_force_until"], "2026-11-30");
}

/// Signs in on the screens with a token; returns the session cookie.
async fn sign_in(s: &Server, token: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/payer/login", s.base))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let c = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
    c.split(';').next().unwrap().to_string()
}

async fn r22_worklist_screen_escapes_what_it_shows_and_needs_the_csrf_token(backend: Backend) {
    let s = spawn_on(backend).await;
    let mut evil = claim(1, "渡辺太郎", "202611", None, "777777777", &[8]);
    evil.name = "<script>alert(1)</script>".into();
    let (st, _) = s
        .submit(FAC, uke_bytes("1", FACILITY, "202612", &[evil]))
        .await;
    assert_eq!(st, 201);
    let cookie = sign_in(&s, STAFF1).await;
    let page = s
        .http
        .get(format!("{}/payer/worklist", s.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("保険者の特定"));
    assert!(!page.contains("<script>alert(1)</script>"), "unescaped");
    assert!(
        page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"),
        "{page}"
    );
    // a form post without the session's CSRF token is refused, with it the choice is made
    let (_, wl) = s.get(STAFF1, "/v1/payer/worklist").await;
    let id = wl["items"][0]["claim"]["id"].as_i64().unwrap();
    let pid = wl["items"][0]["candidates"][0]["person_id"]
        .as_i64()
        .unwrap()
        .to_string();
    let url = format!("{}/payer/worklist/{id}", s.base);
    let r = s
        .http
        .post(&url)
        .header("cookie", &cookie)
        .form(&[("csrf", "forged"), ("person_id", pid.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = s
        .http
        .post(&url)
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("person_id", pid.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("請求先を決定しました"));
    // an insurer's session does not reach the staff screens; no session goes to the login
    let ic = sign_in(&s, &insurer_token(&b())).await;
    let r = s
        .http
        .get(format!("{}/payer/worklist", s.base))
        .header("cookie", &ic)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let page = s
        .http
        .get(format!("{}/insurer/", s.base))
        .header("cookie", &ic)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("請求と按分"));
}

/// A 公費単独 claim (no HO): paid by `fund` (its 受給者番号 1234566), the patient paying
/// `copay` yen under the fund.
fn public_fund_only(
    no: u32,
    who: &str,
    fund: &onshi_domain::numbers::InsurerNumber,
    points: u64,
    copay: u64,
) -> onshi_payer::model::Claim {
    let mut c = claim(no, who, "202611", Some(&a()), "", &[4, 18]);
    c.numbers = onshi_payer::model::ClaimedNumbers {
        insurer: onshi_payer::model::ClaimedInsurer::PublicFundOnly,
        insurer_raw: fund.to_string(),
        symbol: String::new(),
        number: "1234566".into(),
        branch: None,
    };
    c.points = points;
    c.copay_yen = copay;
    c.public_funds = 1;
    c.funds = vec![onshi_payer::model::PublicFund {
        payer_number: fund.clone(),
        recipient_number: "1234566".into(),
        days: 2,
        points,
        copay_yen: copay,
    }];
    c
}

async fn r21_r22_public_fund_only_claims_are_paid_by_their_fund_never_reassigned_nor_pooled(
    backend: Backend,
) {
    let s = spawn_on(backend).await;
    // 生活保護 (法別 12) and 精神通院 (法別 21) of Tokyo
    let (seiho, seishin) = (ins("1213601"), ins("2113601"));
    // the payment record: A and B paid the facility; a public fund paid it far more, which
    // must weigh nothing in 按分 (R22 shares among insurers)
    let past: Vec<PaymentRow> = [
        (a(), 600_000u64, "synthetic"),
        (b(), 400_000, "synthetic"),
        (seiho.clone(), 9_000_000, "public_fund"),
    ]
    .into_iter()
    .map(|(i, amount_yen, source)| PaymentRow {
        payer: PayerCode::Kikin,
        insurer_number: i.to_string(),
        facility: FACILITY.into(),
        service_month: YearMonth::parse("202606").unwrap(),
        source: source.into(),
        amount_yen,
        claims: 1,
    })
    .collect();
    s.w.store.add_payments(&past).unwrap();
    // 鈴木花子 lost A on 2026-10-01 and is under B since: an insurance claim under A would be
    // re-assigned (R21); her 公費単独 claim is not. Nobody in the registry has the second.
    let mut pooled = claim(3, "誰でもない", "202611", None, "777777777", &[9]);
    pooled.points = 1000;
    pooled.copay_yen = 0;
    let bytes = uke_bytes(
        "1",
        FACILITY,
        "202612",
        &[
            public_fund_only(1, "鈴木花子", &seiho, 1200, 0),
            public_fund_only(2, "不明者", &seishin, 800, 800),
            pooled,
            claim(4, "佐藤一郎", "202611", Some(&a()), "1001", &[3]),
        ],
    );
    let (st, out) = s.submit(FAC, bytes).await;
    assert_eq!(st, 201, "{out}");
    assert_eq!(out["by_status"], json!({"assigned": 3, "pool": 1}), "{out}");
    let id = out["submission"]["id"].as_i64().unwrap();
    let claims = s.claims(id).await;
    for (n, fund) in [(1, &seiho), (2, &seishin)] {
        let c = by_receipt(&claims, n);
        assert_eq!(kubun(&claims, n), "02", "as claimed: {c}");
        assert_eq!(bill_to(&claims, n), vec![fund.to_string()], "{c}");
        assert_eq!(c["parts"][0]["public_fund"], true, "{c}");
        assert_eq!(c["parts"][0]["bill_to"]["number"], "1234566", "{c}");
        assert_eq!(c["status"], "assigned", "never pooled: {c}");
        assert_eq!(c["person_id"], Value::Null, "never identified: {c}");
        assert!(c["reason"].as_str().unwrap().contains("公費単独"), "{c}");
    }
    // nothing changed for the facility to learn
    let (_, ren) = s
        .get(FAC, &format!("/v1/payer/submissions/{id}/renrakusho"))
        .await;
    let listed: Vec<u64> = ren["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["receipt_number"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, vec![3], "{ren}");
    // the insurers never see them
    for i in [a(), b()] {
        let (_, v) = s.get(&insurer_token(&i), "/v1/insurer/claims").await;
        for c in v["claims"].as_array().unwrap() {
            assert!(
                ![1, 2].contains(&c["receipt_number"].as_u64().unwrap()),
                "{v}"
            );
        }
    }
    let (st, out) = s
        .post(
            STAFF1,
            "/v1/payer/settlements",
            json!({"billing_month": "202612"}),
        )
        .await;
    assert_eq!(st, 200, "{out}");
    let stmt = &out["statements"][0];
    let line = |n: u64| {
        stmt["claims"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["receipt_number"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(line(1)["status"], "settled", "{stmt}");
    assert_eq!(line(1)["settled_by"], "review", "{stmt}");
    assert_eq!(line(1)["payer_kind"], "public_fund", "{stmt}");
    assert_eq!(line(1)["insurer_number"], seiho.as_str(), "{stmt}");
    assert_eq!(line(1)["amount_yen"], 12_000, "{stmt}");
    assert_eq!(line(2)["insurer_number"], seishin.as_str(), "{stmt}");
    assert_eq!(line(2)["amount_yen"], 8_000 - 800, "{stmt}");
    assert_eq!(line(3)["settled_by"], "apportionment", "{stmt}");
    // the pool (10,000 yen) is shared by A and B only, 6:4 — the fund's payments weigh nothing
    let shares = first_pool_shares(stmt);
    assert_eq!(
        shares,
        vec![(b().to_string(), 4_000), (a().to_string(), 6_000)],
        "{stmt}"
    );
    // the statement's totals per payer: each fund apart from the insurers
    let by_payer = stmt["by_payer"].as_array().unwrap();
    let total = |kind: &str, number: Option<&str>| {
        by_payer
            .iter()
            .find(|t| t["payer_kind"] == kind && t["payer_number"].as_str() == number)
            .map(|t| {
                (
                    t["claims"].as_u64().unwrap(),
                    t["amount_yen"].as_u64().unwrap(),
                )
            })
    };
    assert_eq!(
        total("public_fund", Some(seiho.as_str())),
        Some((1, 12_000)),
        "{stmt}"
    );
    assert_eq!(
        total("public_fund", Some(seishin.as_str())),
        Some((1, 7_200)),
        "{stmt}"
    );
    assert_eq!(
        total("insurer", Some(a().as_str())),
        Some((1, 12_340 - 3_700)),
        "{stmt}"
    );
    assert_eq!(total("apportionment", None), Some((1, 10_000)), "{stmt}");
    // the payment record keeps what the funds paid, apart: never a weight of 按分
    let w =
        s.w.store
            .payments_to(
                PayerCode::Kikin,
                FACILITY,
                YearMonth::parse("202601").unwrap(),
                YearMonth::parse("202612").unwrap(),
            )
            .unwrap();
    assert!(
        w.iter()
            .all(|x| x.insurer_number != seiho && x.insurer_number != seishin),
        "{w:?}"
    );
}

async fn a_public_fund_only_claim_with_a_wrong_fund_number_is_refused_whole(backend: Backend) {
    let s = spawn_on(backend).await;
    let fund = ins("1213601");
    let mut bytes = uke_bytes(
        "1",
        FACILITY,
        "202612",
        &[public_fund_only(1, "鈴木花子", &fund, 1200, 0)],
    );
    // a wrong check digit in place of the right one
    let at = format!("KO,{fund}");
    let i = bytes
        .windows(at.len())
        .position(|w| w == at.as_bytes())
        .unwrap()
        + at.len()
        - 1;
    bytes[i] = if bytes[i] == b'9' { b'0' } else { bytes[i] + 1 };
    let (st, out) = s.submit(FAC, bytes).await;
    assert_eq!(st, 422, "{out}");
    let r = &out["reasons"][0];
    assert_eq!(
        (
            r["record"].as_str(),
            r["field"].as_str(),
            r["rule"].as_str()
        ),
        (Some("KO"), Some("負担者番号"), Some("payer.fund")),
        "{out}"
    );
    assert_eq!(r["line"], 3, "{out}");
    let (_, subs) = s.get(STAFF1, "/v1/payer/submissions").await;
    assert_eq!(subs["submissions"], json!([]), "nothing kept");
}
