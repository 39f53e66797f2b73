//! End-to-end in headless Chromium: the medical information under consent (R2) as a clerk
//! reaches it from a visit — a PIN-less card placed on the reader by face authentication with
//! the patient's consent to 薬剤情報 and 診療情報 opens both screens with the patient's drugs and
//! treatments (the same access as any card); a patient who consented to nothing gets the
//! central's refusal on the same screen.
//!
//! Screenshots when ONSHI_SCREENSHOTS names a folder (see browser.rs).

mod common;

use chrono::NaiveDate;
use common::{DAY, Driver, start_world};
use onshi_domain::medinfo::{DiagnosisRecord, DrugRecord, DrugSource, MedicalRecords};
use onshi_store::{MedicalInfoStore, RegistryRead};

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn drug(source: DrugSource, on: &str, name: &str, usage: &str) -> DrugRecord {
    DrugRecord {
        source,
        dispensed_on: day(on),
        prescribed_on: Some(day(on)),
        dispenser_code: "1341234567".into(),
        dispenser_name: "おんし薬局".into(),
        prescriber_code: Some("1310000013".into()),
        prescriber_name: Some("さくら整形外科".into()),
        in_out: "2".into(),
        drug_code: "620000101".into(),
        drug_name: name.into(),
        ingredient: None,
        quantity: "1".into(),
        unit: "錠".into(),
        usage: Some(usage.into()),
        special_instruction: None,
        times: Some("28".into()),
        id_class: "1".into(),
    }
}

fn treatment(on: &str, code: &str, name: &str, operation: bool) -> DiagnosisRecord {
    DiagnosisRecord {
        treated_on: day(on),
        facility_code: "1310000021".into(),
        facility_name: "みなと総合病院".into(),
        code: code.into(),
        name: name.into(),
        id_class: if operation { "50" } else { "12" }.into(),
        quantity: None,
        times: Some("1".into()),
        unit: None,
        operation,
    }
}

/// A new visit at the clinic, the patient at the desk, and the card handed over.
async fn visit_with_card(b: &Driver, base: &str, serial: &str, pinless: bool) {
    b.goto(&format!("{base}/desk/")).await;
    b.script(
        "document.querySelector('[name=service_date]').value=arguments[0];",
        serde_json::json!([DAY]),
    )
    .await;
    b.choose("患者本人が窓口にいる").await;
    b.click("受付を始める").await;
    b.type_in("[name=card_serial]", serial).await;
    if pinless {
        b.choose("暗証番号を設定していないカード").await;
    }
    b.click("カードを受け取った").await;
    assert!(b.text("#next").await.contains("顔認証"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_r2_drug_and_diagnosis_screens_with_a_pin_less_cards_consent_refused_without() {
    let w = start_world().await;
    let hanako = w.store.card("C0002").unwrap().unwrap().person_id;
    let taro = w.store.card("C0001").unwrap().unwrap().person_id;
    w.store
        .add_medical_records(&[
            (
                hanako,
                MedicalRecords {
                    drugs: vec![
                        drug(
                            DrugSource::Claim,
                            "2026-09-14",
                            "アムロジピン錠５ｍｇ",
                            "1日1回朝食後",
                        ),
                        drug(
                            DrugSource::Dispensing,
                            "2026-11-02",
                            "ロキソプロフェンＮａ錠６０ｍｇ",
                            "疼痛時",
                        ),
                    ],
                    diagnoses: vec![
                        treatment("2026-10-20", "112007410", "再診料", false),
                        treatment(
                            "2026-10-21",
                            "150000101",
                            "虫垂切除術（虫垂周囲膿瘍を伴わないもの）",
                            true,
                        ),
                    ],
                    checkups: Vec::new(),
                },
            ),
            (
                taro,
                MedicalRecords {
                    drugs: vec![drug(
                        DrugSource::Claim,
                        "2026-10-05",
                        "メトホルミン塩酸塩錠２５０ｍｇ",
                        "1日2回朝夕食後",
                    )],
                    ..MedicalRecords::default()
                },
            ),
        ])
        .unwrap();

    let b = Driver::start().await;
    common::log_in(&b, &w.clinic, "S01").await;
    assert!(b.text("body").await.contains("受付 一郎（S01）"));

    // ---------------- the PIN-less card by face, consent to 薬剤情報 and 診療情報 on the reader
    visit_with_card(&b, &w.clinic, "C0002", true).await;
    // the consents are behind the reader form's 「同意」 summary, as the patient chose them
    b.script(
        "document.querySelector('#next details summary').click();",
        serde_json::json!([]),
    )
    .await;
    b.choose("薬剤情報").await;
    b.choose("診療情報").await;
    b.choose("一致").await;
    b.click("カードリーダーで確認する").await;
    assert!(b.text("#online-result").await.contains("資格（有効）"));
    let links = b.text("#medinfo-links").await;
    assert!(
        links.contains("薬剤情報") && links.contains("診療情報"),
        "{links}"
    );

    b.click("薬剤情報").await;
    assert!(
        b.url().await.ends_with("/medinfo/drug"),
        "{}",
        b.url().await
    );
    assert!(b.text("h1").await.contains("鈴木　花子"));
    assert_eq!(b.text("#medinfo-refused").await, "", "granted");
    let drugs = b.text("#medinfo-drugs").await;
    for want in [
        "アムロジピン錠５ｍｇ",
        "1日1回朝食後",
        "2026-09-14",
        "レセプト",
        "ロキソプロフェンＮａ錠６０ｍｇ",
        "疼痛時",
        "電子処方箋（調剤）",
        "おんし薬局（処方 さくら整形外科）",
    ] {
        assert!(
            drugs.contains(want),
            "{want} on the 薬剤情報 screen:\n{drugs}"
        );
    }
    // newest first
    assert!(
        drugs.find("ロキソプロフェン") < drugs.find("アムロジピン"),
        "{drugs}"
    );
    b.shot("23-medinfo-drug").await;

    b.click("診療情報").await;
    assert!(b.url().await.ends_with("/medinfo/diagnosis"));
    let treatments = b.text("#medinfo-treatments").await;
    assert!(treatments.contains("再診料"), "{treatments}");
    assert!(treatments.contains("112007410"), "{treatments}");
    assert!(treatments.contains("みなと総合病院"), "{treatments}");
    assert!(
        !treatments.contains("虫垂切除術"),
        "手術 is its own screen and consent: {treatments}"
    );
    // 手術情報 was not consented to: refused, though the same card opened the others
    b.click("手術情報").await;
    assert!(
        b.text("#medinfo-refused")
            .await
            .contains("同意がありません"),
        "{}",
        b.text("body").await
    );
    assert_eq!(b.text("#medinfo-treatments").await, "");

    // ---------------- a patient who consented to nothing: the central's refusal
    visit_with_card(&b, &w.clinic, "C0001", false).await;
    b.choose("一致").await;
    b.click("カードリーダーで確認する").await;
    assert!(b.text("#online-result").await.contains("資格（有効）"));
    b.click("薬剤情報").await;
    assert!(b.text("h1").await.contains("田中　太郎"));
    let refused = b.text("#medinfo-refused").await;
    assert!(refused.contains("同意がありません"), "{refused}");
    assert_eq!(b.text("#medinfo-drugs").await, "", "no records shown");
    assert!(
        !b.text("body").await.contains("メトホルミン"),
        "nothing of the patient's records"
    );
    b.shot("24-medinfo-refused").await;
    b.click("受付に戻る").await;
    assert!(b.url().await.contains("/desk/visits/"));
    b.quit().await;
}
