//! End-to-end: a clerk at the desk in headless Chromium (Debian's chromium + chromium-driver),
//! clicking and typing as a new user would and reading what the screens say. Fails loudly
//! when the browser is missing.
//!
//! Screenshots of the main screens are written when ONSHI_SCREENSHOTS names a folder:
//! `ONSHI_SCREENSHOTS=$PWD/docs/screens cargo test -p onshi-desk --test browser`.

mod common;

use common::{DAY, Driver, start_world};

async fn start_visit(b: &Driver, desk: &str, presence: &str) {
    start_visit_on(b, desk, presence, DAY).await;
}

async fn start_visit_on(b: &Driver, desk: &str, presence: &str, day: &str) {
    b.goto(&format!("{desk}/desk/")).await;
    b.script(
        "document.querySelector('[name=service_date]').value=arguments[0];",
        serde_json::json!([day]),
    )
    .await;
    b.choose(presence).await;
    b.click("受付を始める").await;
    assert!(
        b.url().await.contains("/desk/visits/"),
        "a visit screen opens"
    );
}

async fn next_says(b: &Driver, what: &str) {
    let next = b.text("#next").await;
    assert!(
        next.contains(what),
        "the next step should say {what:?}; it says:\n{next}\n--- page ---\n{}",
        b.text("body").await
    );
}

/// The UI and `onshi assess` give the same decision: the visit's situation, assessed by the
/// one engine, shows the share and claim basis the screen shows.
async fn same_as_assess(b: &Driver, desk: &str) {
    let url = b.url().await;
    let id = url
        .rsplit("/desk/visits/")
        .next()
        .and_then(|s| s.split(['?', '/']).next())
        .unwrap_or_default()
        .to_string();
    let json = common::signed_in(desk, "S01")
        .await
        .get(format!("{desk}/desk/visits/{id}/situation.json"))
        .send()
        .await
        .expect("situation")
        .text()
        .await
        .expect("text");
    let d =
        onshi_domain::desk::assess_json(&json).expect("the engine accepts the stored situation");
    let share = b.text("#share").await;
    if let Some(s) = &d.share {
        let label = if s.percent >= 100 {
            "10割".to_string()
        } else {
            format!("{}割", s.percent / 10)
        };
        assert!(share.contains(&label), "screen {share:?} vs engine {label}");
    }
    if let Some(c) = &d.claim {
        let basis = serde_json::to_value(c.basis).expect("basis");
        assert_eq!(
            b.attr("#claim", "data-basis").await,
            basis.as_str().unwrap_or_default()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_desk_walkthrough_r2_r3_r4_r6_r7_r9_r10_r15_r16_r19_r24() {
    let w = start_world().await;
    let b = Driver::start().await;

    // ------------------------------------------------------------------ login, home
    b.goto(&format!("{}/desk/", w.clinic)).await;
    assert!(
        b.url().await.contains("/desk/login"),
        "nobody signed in yet"
    );
    b.type_in("#staff_id", "S01").await;
    b.shot("00-login").await;
    b.type_in("#password", common::PASSWORD).await;
    b.click("ログイン").await;
    let home = b.text("body").await;
    assert!(home.contains("受付 一郎（S01）"), "{home}");
    assert!(home.contains("受付を始めて"), "{home}");
    b.shot("01-home").await;

    // ---------------- 1. PIN-less card, face fails → 目視確認 → 有効 (R2, R3, R15)
    start_visit(&b, &w.clinic, "患者本人が窓口にいる").await;
    next_says(&b, "マイナ保険証").await;
    b.shot("02-ask-card").await;
    b.type_in("[name=card_serial]", "C0002").await;
    b.choose("暗証番号を設定していないカード").await;
    b.click("カードを受け取った").await;
    next_says(&b, "顔認証").await;
    b.shot("03-reader-panel").await;
    b.choose("一致しない").await;
    b.click("カードリーダーで確認する").await;
    next_says(&b, "目視確認モードへ切り替え").await;
    assert!(
        b.text("#next").await.contains("R15"),
        "the rule behind it is shown"
    );
    b.shot("04-visual-mode").await;
    // a new user forgets the tick first: the screen says what is missing (R3); who checked
    // is the signed-in staff member
    assert!(b.text("#visual_staff").await.contains("S01"));
    b.click("カードリーダーで確認する").await;
    assert!(b.text("#error").await.contains("目視で本人確認完了"));
    b.choose("目視で本人確認完了").await;
    b.click("カードリーダーで確認する").await;
    assert!(b.text("#online-result").await.contains("資格（有効）"));
    assert!(b.text("#identity").await.contains("目視確認（職員 S01）"));
    assert!(b.text("#share").await.contains("3割"));
    next_says(&b, "自己負担分（3割等）で会計").await;
    same_as_assess(&b, &w.clinic).await;
    b.shot("05-result-valid").await;
    b.click("3割で会計した").await;
    assert!(b.text("#share").await.contains("会計済み"));
    assert_eq!(b.attr("#claim", "data-basis").await, "current");

    // ---------------- 2. 資格（無効） → 申立書 → share, claim on the lost qualification (R6, R10, R19, R24)
    start_visit(&b, &w.clinic, "患者本人が窓口にいる").await;
    b.type_in("[name=card_serial]", "C0003").await;
    b.click("カードを受け取った").await;
    b.choose("一致").await;
    b.click("カードリーダーで確認する").await;
    let result = b.text("#online-result").await;
    assert!(result.contains("資格（無効）"), "{result}");
    let body = b.text("body").await;
    assert!(
        body.contains("06134568") || body.contains("0613456"),
        "old insurer number shown (R6)"
    );
    assert!(body.contains("喪失した資格の旧保険者番号"));
    next_says(&b, "資格確認書・保険証").await;
    b.shot("06-result-invalid").await;
    b.click("持っていない").await;
    next_says(&b, "被保険者資格申立書").await;
    b.click("申立書を入力する").await;
    // pre-filled from the card's result: name and 和暦 birth date (昭和60年11月11日)
    assert_eq!(b.attr("#f-name", "value").await, "佐藤　健");
    assert_eq!(b.attr("#f-birth_year", "value").await, "60");
    // and kana, sex and address from the card's last result in the history (R26)
    assert!(b.attr("#f-name_kana", "value").await.starts_with("サトウ"));
    assert!(b.attr("#f-address", "value").await.contains("千代田"));
    b.choose("社保").await;
    b.type_in("#f-name_kana", "サトウ　ケン").await;
    b.type_in("#f-address", "東京都千代田区千代田1-1").await;
    b.type_in("#f-phone", "090-1234-5678").await;
    b.choose("男").await;
    // a share is asked of 70+ and 後期 only (※2): the form says so, naming the field
    b.choose("3割").await;
    b.click("申立書を受け付ける").await;
    let errors = b.text("#form-errors").await;
    assert!(errors.contains("一部負担金の割合"), "{errors}");
    assert!(errors.contains("70歳以上"), "{errors}");
    b.shot("07-moushitatesho-errors").await;
    b.choose("記入しない（70歳未満）").await;
    b.type_in("#f-employer", "おんし商事株式会社").await;
    b.click("申立書を受け付ける").await;
    assert!(b.text("#message").await.contains("申立書を受け付けました"));
    assert!(b.text("#share").await.contains("3割"));
    assert!(b.text("#confirmation").await.contains("申立書"));
    assert_eq!(b.attr("#claim", "data-basis").await, "lost");
    assert!(b.text("#claim").await.contains("喪失済みの資格"));
    same_as_assess(&b, &w.clinic).await;
    b.shot("08-declared-lost-claim").await;
    let visit_url = b.url().await;
    let visit_url = visit_url.split('?').next().unwrap_or_default().to_string();
    b.goto(&format!("{visit_url}/moushitatesho/print")).await;
    let print = b.text("body").await;
    for s in [
        "被保険者資格申立書に関する説明書",
        "1 保険証等に関する事項",
        "2 マイナンバーカードの券面事項等",
        "おんし商事株式会社",
        "☑ 社保",
        "☑ 昭和",
    ] {
        assert!(print.contains(s), "print shows {s}");
    }
    b.shot("09-moushitatesho-print").await;
    b.goto(&visit_url).await;
    b.click("会計した").await;

    // the confirmation history keeps the lost qualification and who did the 目視確認 (R6, R3)
    b.goto(&format!("{}/desk/history", w.clinic)).await;
    let h = b.text("#history").await;
    assert!(h.contains("無効") && h.contains("20261001"), "{h}");
    assert!(h.contains("S01"));
    b.shot("10-history").await;

    // ---------------- 3. nothing at all → 10割 (R16)
    start_visit(&b, &w.clinic, "患者本人が窓口にいる").await;
    b.click("マイナ保険証を持っていない").await;
    next_says(&b, "資格確認書・保険証").await;
    b.click("持っていない").await;
    let share = b.text("#share").await;
    assert!(share.contains("10割"), "{share}");
    next_says(&b, "10割で会計").await;
    assert!(b.text("#claim").await.contains("保険請求はしません"));
    same_as_assess(&b, &w.clinic).await;
    b.shot("11-full-cost").await;
    b.click("10割で会計した").await;

    // ---------------- 4. returning patient → share kept (R10, R16, R18)
    start_visit(&b, &w.clinic, "患者本人が窓口にいる").await;
    b.click("マイナ保険証を持っていない").await;
    assert!(b.text("#returning").await.contains("鈴木　花子"));
    b.click_in_row("鈴木　花子", "この患者の前回情報を使う")
        .await;
    next_says(&b, "資格確認書・保険証").await;
    b.click("持っていない").await;
    next_says(&b, "口頭で確認").await;
    assert!(
        b.text("#next").await.contains("01130012"),
        "the known numbers are shown"
    );
    b.shot("12-returning-oral").await;
    b.click("変わっていない").await;
    assert!(b.text("#share").await.contains("3割"));
    assert_eq!(b.attr("#claim", "data-basis").await, "oral");
    same_as_assess(&b, &w.clinic).await;
    b.click("3割で会計した").await;

    // ---------------- 5. pharmacy, a proxy with a PIN-less card → prescription (R4)
    common::log_in(&b, &w.pharmacy, "S02").await;
    start_visit(&b, &w.pharmacy, "代理人").await;
    b.type_in("[name=card_serial]", "C0009").await;
    b.choose("暗証番号を設定していないカード").await;
    b.click("カードを受け取った").await;
    next_says(&b, "処方箋").await;
    assert!(
        b.text("body")
            .await
            .contains("患者本人が不在のため顔認証・目視確認はできません")
    );
    b.shot("13-pharmacy-proxy").await;
    let koki = w.fx.koki.as_str().to_string();
    b.type_in("[name=insurer_number]", &koki).await;
    b.type_in("[name=number]", "39009").await;
    b.type_in("[name=branch]", "00").await;
    b.select("#next [name=share]", "10").await;
    b.click("提示された内容で確認する").await;
    let share = b.text("#share").await;
    assert!(share.contains("1割"), "{share}\n{}", b.text("body").await);
    assert!(b.text("#confirmation").await.contains("処方箋"));
    same_as_assess(&b, &w.pharmacy).await;
    b.shot("14-pharmacy-prescription").await;

    // ---------------- 5b. a proxy at the clinic with a PIN-less card → the 資格確認書 (R4)
    start_visit(&b, &w.clinic, "代理人").await;
    b.type_in("[name=card_serial]", "C0002").await;
    b.choose("暗証番号を設定していないカード").await;
    b.click("カードを受け取った").await;
    next_says(&b, "資格確認書・保険証").await;
    b.choose("資格確認書").await;
    b.type_in("[name=insurer_number]", "01130012").await;
    b.type_in("[name=symbol]", "1001").await;
    b.type_in("[name=number]", "2002").await;
    b.type_in("[name=branch]", "00").await;
    b.select("#next [name=share]", "30").await;
    b.script(
        "document.querySelector('#next [name=expiry]').value='2030-03-31';",
        serde_json::json!([]),
    )
    .await;
    b.click("提示された内容で確認する").await;
    assert!(b.text("#share").await.contains("3割"));
    assert!(b.text("#confirmation").await.contains("資格確認書"));
    assert_eq!(b.attr("#claim", "data-basis").await, "current");
    same_as_assess(&b, &w.clinic).await;
    b.click("3割で会計した").await;

    // ---------------- 6. an expired insurance card under the temporary measure: its numbers
    // confirmed online through the terminal's req/res folders (R7, dated rule)
    start_visit_on(&b, &w.clinic, "患者本人が窓口にいる", "2026-01-15").await;
    b.click("マイナ保険証を持っていない").await;
    b.choose("健康保険証").await;
    b.type_in("[name=insurer_number]", "01130012").await;
    b.type_in("[name=symbol]", "1001").await;
    b.type_in("[name=number]", "2001").await;
    b.type_in("[name=branch]", "00").await;
    b.script(
        "document.querySelector('#next [name=expiry]').value='2025-11-30';",
        serde_json::json!([]),
    )
    .await;
    b.click("提示された内容で確認する").await;
    next_says(&b, "記号・番号等でオンライン資格確認").await;
    b.select("#next [name=era]", "showa").await;
    b.type_in("[name=year]", "55").await;
    b.type_in("[name=month]", "4").await;
    b.type_in("[name=day]", "2").await;
    b.click("記号・番号等でオンライン資格確認する").await;
    let body = b.text("body").await;
    assert!(body.contains("暫定措置"), "{body}");
    assert!(b.text("#share").await.contains("3割"));
    assert!(b.text("#confirmation").await.contains("期限切れ保険証"));
    assert!(
        body.contains("OQSsiquc01res_desk"),
        "answered through the res folder"
    );
    same_as_assess(&b, &w.clinic).await;
    b.shot("17-numbers-online").await;

    // ---------------- patient portal (R2, R9)
    b.goto(&format!("{}/portal", w.central)).await;
    b.type_in("#card_serial", "C0002").await;
    b.type_in("#pin", "1234").await;
    b.click("ログイン").await;
    assert!(
        b.text("#portal-error")
            .await
            .contains("暗証番号を設定していないカード")
    );
    b.shot("15-portal-pinless-refused").await;
    b.type_in("#card_serial", "C0001").await;
    b.type_in("#pin", "1234").await;
    b.click("ログイン").await;
    assert!(b.text("#qualification").await.contains("01130012"));
    b.shot("16-portal-qualification").await;

    b.quit().await;
}
