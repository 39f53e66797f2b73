//! End-to-end in headless Chromium: the 請求 screen (`/desk/claims`) as claims staff use it —
//! the month's open items, the content form for a visit the receipt computer did not send,
//! the レセプト cards (a card-confirmed claim and a 不詳 claim with the 申立書's details in the
//! 摘要, R17, R20), the close, and the UKE file behind the download link.
//!
//! Screenshots when ONSHI_SCREENSHOTS names a folder (see browser.rs).

mod common;

use common::{DAY, Driver, start_world};

async fn post(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> String {
    let (status, path, _) = common::post_form(http, url, form).await;
    assert!((200..300).contains(&status), "{url}: {status}");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_claims_screen_r17_r20_content_close_and_download() {
    let w = start_world().await;
    let base = &w.clinic;
    let http = common::signed_in(base, "S01").await;
    // a patient confirmed by card, and one with nothing registered who declares (R20)
    let mut visits = Vec::new();
    for (serial, declare) in [("C0001", false), ("C0004", true)] {
        let v = post(
            &http,
            &format!("{base}/desk/visits"),
            &[
                ("presence", "at_desk"),
                ("service_date", DAY),
                ("staff", "S01"),
            ],
        )
        .await;
        let act = format!("{base}{v}/act");
        post(
            &http,
            &act,
            &[("action", "card_received"), ("card_serial", serial)],
        )
        .await;
        post(
            &http,
            &act,
            &[
                ("action", "reader"),
                ("mode", "face"),
                ("face_result", "ok"),
            ],
        )
        .await;
        if declare {
            post(
                &http,
                &act,
                &[
                    ("action", "doc_absent"),
                    ("docs", "kakuninsho,insurance_card"),
                ],
            )
            .await;
            post(
                &http,
                &format!("{base}{v}/moushitatesho"),
                &[
                    ("has_valid_insurance", "on"),
                    ("insurance_type", "shaho"),
                    ("employer", "おんし工業株式会社"),
                    ("name", "高橋　美咲"),
                    ("name_kana", "タカハシ　ミサキ"),
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
        }
        post(&http, &act, &[("action", "charge")]).await;
        visits.push(v.rsplit('/').next().unwrap().to_string());
    }

    let b = Driver::start().await;
    common::log_in(&b, base, "S01").await;
    b.goto(&format!("{base}/desk/claims?month=202611")).await;
    let open = b.text("#open-items").await;
    assert!(open.contains("診療内容"), "{open}");
    assert!(
        open.contains("被保険者番号等をもう一度確認"),
        "R20: ask again before 不詳: {open}"
    );
    assert!(
        b.attr("#close-month", "disabled").await == "true",
        "closing waits for the contents"
    );
    b.shot("18-claims-open").await;
    for (i, id) in visits.iter().enumerate() {
        let form = format!("#content-{id}");
        b.type_in(
            &format!("{form} [name=points]"),
            if i == 0 { "298" } else { "361" },
        )
        .await;
        b.type_in(
            &format!("{form} [name=charged_yen]"),
            if i == 0 { "890" } else { "1080" },
        )
        .await;
        b.type_in(&format!("{form} [name=diagnosis]"), "急性上気道炎")
            .await;
        if i == 0 {
            b.type_in(&format!("{form} [name=name_kana]"), "タナカタロウ")
                .await;
        }
        b.click_in(&form, "記録する").await;
        assert!(b.text("#message").await.contains("記録しました"));
    }
    let body = b.text("main").await;
    assert!(body.contains("レセプト（2件）"), "{body}");
    let fushou = b.text("[data-basis=unknown]").await;
    for part in [
        "77777777",
        "不詳",
        "住所：東京都港区芝公園４－２－８",
        "連絡先：０３－１１１１－２２２２",
        "1080円",
    ] {
        assert!(fushou.contains(part), "{part} on the 不詳 card: {fushou}");
    }
    let current = b.text("[data-basis=current]").await;
    assert!(
        current.contains("01130012") && current.contains("298点"),
        "{current}"
    );
    b.shot("19-claims-receipts").await;
    b.click("診療分を締める").await;
    assert!(b.text("#closed").await.contains("締め済み"));
    let href = b.attr("#download-1-claim", "href").await;
    assert!(!href.is_empty(), "a download link for the 支払基金 file");
    b.shot("20-claims-closed").await;
    b.quit().await;
    let url = if href.starts_with("http") {
        href.clone()
    } else {
        format!("{base}{href}")
    };
    // the link is the clerk's, under the staff session; nobody else's
    let anonymous = reqwest::get(&url).await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let bytes = common::signed_in(base, "S01")
        .await
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let file = onshi_formats::uke::UkeFile::read(&bytes[..]).expect("the downloaded file reads");
    assert_eq!(file.claims.len(), 2);
    assert!(file.claims.iter().any(|c| c.is_fushou()));
}
