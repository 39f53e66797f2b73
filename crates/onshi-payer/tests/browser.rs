//! End-to-end in headless Chromium (Debian's chromium + chromium-driver): payer staff sign in,
//! decide a 不詳 claim with two candidates on the worklist (R22) and settle the month; then an
//! insurer signs in and reads its view — the claims re-assigned to it (R21/R22), its 按分
//! share with the inputs (R22), the R11 list and the R23 notices. Fails loudly when the
//! browser is missing.
//!
//! Screenshots when ONSHI_SCREENSHOTS names a folder:
//! `ONSHI_SCREENSHOTS=$PWD/docs/screens cargo test -p onshi-payer --test browser`.

mod common;

use common::*;
use onshi_payer::api::{PayerApp, router, token_hash};
use onshi_payer::model::{PayerCode, YearMonth};
use onshi_payer::store::{PaymentRow, Principal, Role};
use onshi_webdriver::Driver;

const STAFF: &str = "staff-browser-token";
const FAC: &str = "facility-browser-token";

fn insurer_token(i: &onshi_domain::numbers::InsurerNumber) -> String {
    format!("insurer-browser-{i}")
}

/// The month's file: valid, 振替, 分割, 不詳 with one / two / no candidate, and a patient of
/// 72 charged 3割 where the registry says 2割 (R11).
fn month_file() -> Vec<u8> {
    let mut kobayashi = claim(7, "小林六郎", "202611", Some(&a()), "9001", &[4]);
    kobayashi.copay_yen = 3700;
    uke_bytes(
        "1",
        FACILITY,
        "202612",
        &[
            claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3, 10]),
            claim(2, "鈴木花子", "202611", Some(&a()), "2001", &[5, 12]),
            claim(3, "高橋三郎", "202611", Some(&a()), "4001", &[3, 10, 20]),
            claim(4, "山本花子", "202611", None, "777777777", &[7]),
            claim(5, "渡辺太郎", "202611", None, "777777777", &[8]),
            claim(6, "誰でもない", "202611", None, "777777777", &[9]),
            kobayashi,
        ],
    )
}

async fn sign_in(b: &Driver, base: &str, token: &str) {
    b.goto(&format!("{base}/payer/login")).await;
    b.type_in("#token", token).await;
    b.click("ログイン").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r22_browser_worklist_decision_and_the_insurers_view_r11_r23() {
    let w = world();
    let add = |t: &str, role, subject: &str| {
        w.store
            .add_principal(
                &token_hash(t),
                &Principal {
                    role,
                    payer: PayerCode::Kikin,
                    subject: subject.into(),
                },
                "2026-12-01T00:00:00Z",
            )
            .unwrap();
    };
    add(STAFF, Role::Staff, "審査担当A");
    add(FAC, Role::Facility, FACILITY);
    for i in [a(), b(), c()] {
        add(&insurer_token(&i), Role::Insurer, i.as_str());
    }
    // what the insurers paid the facility over the reference period: 按分 weighs by it
    let past: Vec<PaymentRow> = [(a(), 600_000u64), (b(), 300_000), (c(), 100_000)]
        .into_iter()
        .map(|(i, amount)| PaymentRow {
            payer: PayerCode::Kikin,
            insurer_number: i.to_string(),
            facility: FACILITY.into(),
            service_month: YearMonth::parse("202606").unwrap(),
            source: "synthetic".into(),
            amount_yen: amount,
            claims: 10,
        })
        .collect();
    w.store.add_payments(&past).unwrap();
    let app = PayerApp::new(w.service.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(app)).await.unwrap() });

    // the facility submits its month over the API
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{base}/v1/payer/submissions?file_name=RECEIPTC.UKE"
        ))
        .bearer_auth(FAC)
        .body(month_file())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let out: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        out["by_status"],
        serde_json::json!({"assigned": 5, "pool": 1, "worklist": 1})
    );

    let b = Driver::start().await;
    // a screen without signing in sends to the login
    b.goto(&format!("{base}/payer/worklist")).await;
    assert!(b.text("body").await.contains("ログイン"));

    // staff: the home screen counts the open worklist item
    sign_in(&b, &base, STAFF).await;
    assert!(b.url().await.ends_with("/payer/"), "{}", b.url().await);
    assert_eq!(b.text("#worklist-link").await, "1 件");
    b.click("1 件").await;
    let body = b.text("body").await;
    for want in [
        "保険者の特定",
        "カナ氏名・生年月日・性別・診療日に資格あり",
        "レセプト番号 5",
        "渡辺太郎",
        "ワタナベタロウ",
        "札幌建設",
        "那覇観光",
        "北海道札幌市7-7",
        "沖縄県那覇市8-8",
    ] {
        assert!(body.contains(want), "the worklist shows {want:?}:\n{body}");
    }
    // two candidates, each with its own button; nothing is chosen for the staff
    assert_eq!(
        b.script(
            "return document.querySelectorAll('button[id^=choose-]').length;",
            serde_json::json!([])
        )
        .await,
        serde_json::json!(2)
    );
    b.shot("21-payer-worklist").await;
    // staff asked the insurers: the patient is the one working at 札幌建設 (insurer A)
    b.click_in_row("札幌建設", "この者に決定").await;
    let body = b.text("body").await;
    assert!(
        body.contains("レセプト番号 5 の請求先を決定しました"),
        "{body}"
    );
    assert!(body.contains("特定作業中の請求はありません"), "{body}");

    // settle the month (按分 of the pool included)
    b.goto(&format!("{base}/payer/")).await;
    b.type_in("#billing_month", "202612").await;
    b.click("支払確定").await;
    let body = b.text("#notice").await;
    assert!(body.contains("支払を確定しました"), "{body}");
    b.click("ログアウト").await;

    // insurer A's view
    sign_in(&b, &base, &insurer_token(&a())).await;
    assert!(b.url().await.ends_with("/insurer/"), "{}", b.url().await);
    let reassigned = b.text("#reassigned").await;
    for want in [
        "高橋三郎",
        "05 分割",
        "3,10",
        "渡辺太郎",
        "職員が候補者を特定",
    ] {
        assert!(
            reassigned.contains(want),
            "re-assigned claims show {want:?}:\n{reassigned}"
        );
    }
    // valid-as-claimed claims are not "re-assigned"; another insurer's members never show
    assert!(!reassigned.contains("佐藤一郎"), "{reassigned}");
    assert!(!reassigned.contains("鈴木花子"), "{reassigned}");
    // the pool is the one claim with no candidate (レセプト番号 6): 1234 points, 3,700 yen
    // paid at the window → 8,640 yen; A paid 600,000 of the 1,000,000 paid over the reference
    // period (the 12 months before the service month): 60 %, 5,184 yen
    let shares = b.text("#shares").await;
    for want in [
        "202611",
        "8,640",
        "202511〜202610",
        "600,000",
        "1,000,000",
        "5,184",
    ] {
        assert!(shares.contains(want), "the share shows {want:?}:\n{shares}");
    }
    assert_eq!(
        b.script(
            "return document.querySelector('#shares tbody td:nth-child(4)').textContent;",
            serde_json::json!([])
        )
        .await,
        serde_json::json!("6"),
        "the pooled claims are named"
    );
    let r11 = b.text("#r11").await;
    for want in [
        "小林六郎",
        "72",
        "2割",
        "3,700",
        "2,470",
        "-1,230",
        "患者へ返金",
    ] {
        assert!(r11.contains(want), "the R11 list shows {want:?}:\n{r11}");
    }
    let notices = b.text("#notices").await;
    // R23: A's member registered in the OQS after A issued her card, with the dates; not the
    // members whose claims merely reached A
    assert!(notices.contains("中川七海"), "{notices}");
    assert!(notices.contains("2026-11-19"), "{notices}");
    assert!(notices.contains("2026-11-05"), "{notices}");
    assert!(notices.contains("当分の間の措置"), "{notices}");
    assert!(notices.contains("2023-07-10"), "{notices}");
    assert!(!notices.contains("鈴木花子"), "{notices}");
    assert!(!notices.contains("高橋三郎"), "{notices}");
    b.shot("22-insurer-view").await;
    b.quit().await;
}
