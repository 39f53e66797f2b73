//! `POST /v1/assess` over HTTP: the desk engine's decision, no token, errors naming the field.

use std::sync::Arc;

use onshi_card::PinHasher;
use onshi_central::{Central, SystemClock};
use onshi_domain::desk;
use onshi_store::SqliteStore;
use serde_json::{Value, json};

#[path = "support/conform.rs"]
mod conform;

async fn spawn() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).unwrap());
    let pins = PinHasher::new(b"test-pin-key-0123456789").unwrap();
    let cards = Arc::new(
        onshi_card::CardStore::open(dir.path().join("cards.sqlite"), pins.clone()).unwrap(),
    );
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    let state = onshi_web::AppState::new(central, store.clone(), cards.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(onshi_web::serve(listener, state, std::future::pending()));
    (format!("http://{addr}"), dir)
}

async fn post(base: &str, body: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/assess"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    conform::check("POST", "/v1/assess", status, &v);
    (status, v)
}

#[tokio::test]
async fn assess_over_http_is_the_engine_without_a_token() {
    let (base, _dir) = spawn().await;
    let situation = json!({
        "service_date": "2026-11-25",
        "facility": "clinic",
        "my_number_card": {"status": "shown", "pin_set": true, "face": "succeeded"},
        "online": {"validity": "4"},
        "shikaku_kakuninsho": {"status": "absent"},
        "insurance_card": {"status": "absent"},
        "moushitatesho": {"status": "shown", "birth_date": "昭和60年4月1日",
            "address": "東京都千代田区霞が関1-2-2", "employer": "株式会社オンシ", "phone": "03-1234-5678"}
    })
    .to_string();
    let (status, body) = post(&base, &situation).await;
    assert_eq!(status, 200, "{body}");
    let engine = serde_json::to_value(desk::assess_json(&situation).unwrap()).unwrap();
    assert_eq!(body, engine);
    assert_eq!(body["claim"]["basis"], "unknown");
    assert!(
        body["claim"]["tekiyou"]
            .as_str()
            .unwrap()
            .starts_with("不詳")
    );
}

#[tokio::test]
async fn assess_errors_name_the_field() {
    let (base, _dir) = spawn().await;
    let (status, body) = post(
        &base,
        r#"{"service_date":"2026-11-25","facility":"clinic","my_number_card":{"status":"shown","pin_set":true,"face":"maybe"}}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "my_number_card.face");
    assert_eq!(body["error"]["rule"], "json");
    let (status, body) = post(
        &base,
        r#"{"service_date":"2026-11-25","facility":"clinic","my_number_card":{"status":"shown","pin_set":false},"portal_screen":{"status":"absent"}}"#,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "portal_screen");
    assert_eq!(body["error"]["rule"], "R2");
}
