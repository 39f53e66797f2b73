//! The patient-portal view (R9) over HTTP: sign-in with card + PIN through the chip emulation,
//! a PIN-less card refused with the reason (R2), the PIN lock after 3 wrong PINs (R1), and the
//! R9 caveat when there is no current qualification.

use std::sync::Arc;

use onshi_card::PinHasher;
use onshi_central::fixture;
use onshi_central::import::{self, Input};
use onshi_central::{Central, SystemClock};
use onshi_domain::numbers::MyNumberHasher;
use onshi_store::SqliteStore;

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
    assert!(report.committed);
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    let state = onshi_web::AppState::new(central, store.clone(), cards.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(onshi_web::serve(listener, state, std::future::pending()));
    (format!("http://{addr}"), dir)
}

async fn sign_in(base: &str, serial: &str, pin: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/portal"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("card_serial={serial}&pin={pin}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn r9_portal_shows_the_qualification_screen_after_card_and_pin() {
    let (base, _d) = spawn().await;
    let page = reqwest::get(format!("{base}/portal")).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let (status, body) = sign_in(&base, "C0001", "1234").await;
    assert_eq!(status, 200);
    assert!(body.contains("健康保険証の資格情報"));
    assert!(body.contains("01130012"));
    assert!(body.contains("田中　太郎"));
}

#[tokio::test]
async fn r2_portal_refuses_a_pinless_card_with_the_reason() {
    let (base, _d) = spawn().await;
    let (status, body) = sign_in(&base, "C0002", "1234").await;
    assert_eq!(status, 401);
    assert!(body.contains("暗証番号を設定していないカード"));
    assert!(body.contains("ログインできません"));
    assert!(!body.contains("健康保険証の資格情報</h2>"));
}

#[tokio::test]
async fn r1_portal_counts_wrong_pins_and_locks_at_three() {
    let (base, _d) = spawn().await;
    let (_, b1) = sign_in(&base, "C0001", "0000").await;
    assert!(b1.contains("あと2回"), "{b1}");
    let _ = sign_in(&base, "C0001", "0000").await;
    let (_, b3) = sign_in(&base, "C0001", "0000").await;
    assert!(b3.contains("ロック"), "{b3}");
    let (status, b4) = sign_in(&base, "C0001", "1234").await;
    assert_eq!(status, 401, "the right PIN no longer opens a locked card");
    assert!(b4.contains("ロック"));
}

#[tokio::test]
async fn r9_portal_has_no_current_qualification_for_a_lost_one() {
    let (base, _d) = spawn().await;
    let (status, body) = sign_in(&base, "C0003", "2222").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("現在有効な医療保険の資格情報はありません"),
        "{body}"
    );
}

#[tokio::test]
async fn portal_input_that_is_not_a_form_is_refused_not_a_panic() {
    let (base, _d) = spawn().await;
    for body in [
        "",
        "%",
        "card_serial=%ff%fe",
        "pin=12345678&card_serial=C0001",
        "card_serial=",
    ] {
        let r = reqwest::Client::new()
            .post(format!("{base}/portal"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{body}");
    }
}

#[tokio::test]
async fn xss_portal_shows_a_hostile_card_serial_escaped() {
    let (base, _dir) = spawn().await;
    let (status, body) = sign_in(
        &base,
        "%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%22%26%27",
        "1234",
    )
    .await;
    assert_eq!(status, 401);
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(
        body.contains(
            "value=\"&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;&#34;&#38;&#39;\""
        ),
        "{body}"
    );
}
