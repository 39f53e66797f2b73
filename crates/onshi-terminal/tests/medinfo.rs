//! Medical information under consent (R2) through the terminal's folders: `YZKsiquc01req_`
//! (薬剤情報, FileCategory 2 / 4 XML, 1 / 3 PDF) and `TKKsiquc01req_` (特定健診情報) answered with the data only
//! while the consent given at this facility's reader is valid — a PIN-less card exactly like
//! any other — refused with `ResultCode` / `MessageContents` otherwise, every answer recorded
//! as a view listable by the facility and by the patient.

mod common;

use std::time::Duration;

use chrono::NaiveDate;
use common::*;
use onshi_domain::medinfo::*;
use onshi_formats::terminal_xml::medinfo::{CheckupInfoResponse, DrugInfoResponse};
use onshi_formats::terminal_xml::siquc01::QualificationResponse;
use onshi_formats::terminal_xml::{Encoding, encode_text};
use onshi_store::{MedicalInfoStore, RegistryRead, ViewsOf};
use serde_json::{Value, json};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn request(kind: &str, number: &str, category: &str) -> Vec<u8> {
    let body = if kind == "YZK" {
        format!(
            "<StartDate>202601</StartDate><EndDate>202612</EndDate><FileCategory>{category}</FileCategory>"
        )
    } else {
        format!("<FileCategory>{category}</FileCategory>")
    };
    let text = format!(
        r#"<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>
<XmlMsg>
  <MessageHeader>
    <MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode>
    <InsurerNumber>01130012</InsurerNumber>
    <InsuranceCardSymbol>1001</InsuranceCardSymbol>
    <InsuredPersonIdentificationNumber>{number}</InsuredPersonIdentificationNumber>
    <BranchNumber>00</BranchNumber>
    <ArbitraryFileIdentifier>照会-{number}</ArbitraryFileIdentifier>
  </MessageHeader>
  <MessageBody>{body}</MessageBody>
</XmlMsg>
"#
    );
    encode_text(&text, Encoding::ShiftJis).unwrap()
}

fn records() -> MedicalRecords {
    let drug = |source, on: &str, name: &str| DrugRecord {
        source,
        dispensed_on: d(on),
        prescribed_on: Some(d(on)),
        dispenser_code: "1341234567".into(),
        dispenser_name: "おんし薬局".into(),
        prescriber_code: Some(CLINIC.into()),
        prescriber_name: Some("おんし内科".into()),
        in_out: "2".into(),
        drug_code: "620000101".into(),
        drug_name: name.into(),
        ingredient: None,
        quantity: "1".into(),
        unit: "錠".into(),
        usage: Some("1日1回朝食後".into()),
        special_instruction: None,
        times: Some("28".into()),
        id_class: "1".into(),
    };
    let diag = |name: &str, operation: bool| DiagnosisRecord {
        treated_on: d("2026-10-02"),
        facility_code: CLINIC.into(),
        facility_name: "おんし内科".into(),
        code: "112007410".into(),
        name: name.into(),
        id_class: if operation { "50" } else { "12" }.into(),
        quantity: None,
        times: Some("1".into()),
        unit: None,
        operation,
    };
    MedicalRecords {
        drugs: vec![
            drug(DrugSource::Claim, "2026-10-02", "アムロジピン錠５ｍｇ"),
            drug(DrugSource::Dispensing, "2026-11-20", "ロキソプロフェン錠"),
            drug(DrugSource::Claim, "2025-03-01", "範囲外の薬"),
        ],
        diagnoses: vec![diag("再診料", false), diag("虫垂切除術", true)],
        checkups: vec![CheckupItem {
            checked_on: d("2026-05-10"),
            item_code: "9N001000000000001".into(),
            item_name: "身長".into(),
            data_type: "PQ".into(),
            value: "158.0".into(),
            unit: Some("cm".into()),
            oid: None,
            value_name: None,
        }],
    }
}

fn person_of(c: &CentralServer, serial: &str) -> i64 {
    c.store.card(serial).unwrap().unwrap().person_id
}

async fn ask(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Vec<u8> {
    put_request(dir, name, bytes);
    wait_answer(dir, name, Duration::from_secs(20)).await
}

async fn drugs(dir: &std::path::Path, name: &str, number: &str, cat: &str) -> DrugInfoResponse {
    let b = ask(dir, name, &request("YZK", number, cat)).await;
    assert!(std::str::from_utf8(&b).is_err(), "answered in Shift_JIS");
    let (enc, r) = DrugInfoResponse::read(&b).unwrap();
    assert_eq!(enc, Encoding::ShiftJis);
    r
}

async fn checkups(dir: &std::path::Path, name: &str, number: &str) -> CheckupInfoResponse {
    let b = ask(dir, name, &request("TKK", number, "2")).await;
    CheckupInfoResponse::read(&b).unwrap().1
}

/// The text of a PDF as an independent reader extracts it (poppler's `pdftotext`, installed by
/// scripts/test, in its reading order), with its page count from `pdfinfo`.
fn pdf_text(path: &std::path::Path) -> String {
    pdf_text_with(path, &[])
}

/// As [`pdf_text`], with more `pdftotext` options (`-layout`).
fn pdf_text_with(path: &std::path::Path, options: &[&str]) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"%PDF-"),
        "{} is not a PDF",
        path.display()
    );
    let info = std::process::Command::new("pdfinfo")
        .arg(path)
        .output()
        .expect("pdfinfo (poppler-utils) is needed; scripts/test installs it");
    assert!(
        info.status.success(),
        "pdfinfo: {}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.lines()
            .any(|l| l.starts_with("Page size:") && l.contains("595 x 842 pts (A4)")),
        "{info}"
    );
    let out = std::process::Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .args(options)
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is needed; scripts/test installs it");
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn face(t: &TerminalProc, serial: &str, consent: Value) -> QualificationResponse {
    let (s, v) = place(
        t,
        json!({"card_serial": serial, "face": "ok", "consent": consent,
               "prescription": "electronic"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "confirmed", "{v}");
    let name = v["face_file"].as_str().unwrap();
    let b = std::fs::read(exchange(&t.dir).face.join(name)).unwrap();
    QualificationResponse::read(&b).unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_drug_information_only_with_consent_and_every_view_recorded() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let pid = person_of(&c, "C0001");
    c.store.add_medical_records(&[(pid, records())]).unwrap();

    // no consent yet: refused, and the refusal is recorded
    let r = drugs(dir.path(), "YZKsiquc01req_001.xml", "2001", "2").await;
    assert_eq!(r.header.result_code, "2");
    assert!(
        r.header
            .message_contents
            .as_deref()
            .unwrap()
            .contains("同意がありません")
    );
    assert!(r.qua_inf.is_none() && r.claims.is_empty());
    assert_eq!(
        r.header.arbitrary_file_identifier.as_deref(),
        Some("照会-2001")
    );

    // consent at the reader to drugs and 診療情報: signed, recorded by the central, in the result
    let f = face(&t, "C0001", json!({"drug": true, "diagnosis": true})).await;
    // the patient chose an electronic prescription on the reader's screen (OQSCD017 1)
    assert_eq!(f.body.prescription_issue_select.as_deref(), Some("1"));
    let k = &f.body.results[0].consents;
    assert_eq!(k.pharmacists_info_cons_flg.as_deref(), Some("1"));
    assert_eq!(k.diagnosis_info_cons_flg.as_deref(), Some("1"));
    assert_eq!(
        k.specific_health_checkups_info_cons_flg.as_deref(),
        Some("0")
    );
    let at = |s: &Option<String>| {
        chrono::NaiveDateTime::parse_from_str(s.as_deref().unwrap(), "%Y%m%d%H%M%S").unwrap()
    };
    assert_eq!(
        at(&k.pharmacists_info_available_time) - at(&k.pharmacists_info_cons_time),
        CONSENT_LASTS
    );

    // FileCategory 4: drugs + 診療情報, within StartDate..EndDate; 手術 only with its own consent
    let r = drugs(dir.path(), "YZKsiquc01req_002.xml", "2001", "4").await;
    assert_eq!(r.header.result_code, "1", "{:?}", r.header.message_contents);
    let q = r.qua_inf.as_ref().unwrap();
    assert_eq!(q.name.as_deref(), Some("田中　太郎"));
    assert_eq!(q.birth.as_deref(), Some("19800402"));
    assert_eq!(q.adm_gend_code.as_deref(), Some("1"));
    let drugs_in = |ms: &[onshi_formats::terminal_xml::medinfo::MonthInf]| -> Vec<String> {
        ms.iter()
            .flat_map(|m| m.days.iter())
            .flat_map(|d| d.drugs.iter())
            .filter_map(|g| g.drug_n.clone())
            .collect()
    };
    assert_eq!(drugs_in(&r.claims), vec!["アムロジピン錠５ｍｇ"]);
    assert_eq!(drugs_in(&r.dispensings), vec!["ロキソプロフェン錠"]);
    let treatments: Vec<_> = r
        .claims
        .iter()
        .flat_map(|m| m.treatments.iter())
        .filter_map(|x| x.sin_inf_n.clone())
        .collect();
    assert_eq!(
        treatments,
        vec!["再診料"],
        "no 手術 without the 手術 consent"
    );
    let day = &r.claims.iter().find(|m| !m.days.is_empty()).unwrap();
    assert_eq!(day.head.me_tr_month.as_deref(), Some("202610"));
    assert_eq!(day.days[0].di_date, "20261002");

    // FileCategory 2: drugs only
    let r = drugs(dir.path(), "YZKsiquc01req_003.xml", "2001", "2").await;
    assert_eq!(r.header.result_code, "1");
    assert!(r.claims.iter().all(|m| m.treatments.is_empty()));

    // checkups were not consented to
    let r = checkups(dir.path(), "TKKsiquc01req_004.xml", "2001").await;
    assert_eq!(r.header.result_code, "2");
    assert!(r.header.message_contents.unwrap().contains("特定健診情報"));

    // FileCategory 1: the PDF rendering, beside an XML answer that says where it is
    let r = drugs(dir.path(), "YZKsiquc01req_005.xml", "2001", "1").await;
    assert_eq!(r.header.result_code, "1", "{:?}", r.header.message_contents);
    assert!(r.header.message_contents.unwrap().contains("PDF"));
    let text = pdf_text(&exchange(dir.path()).res.join("YZKsiquc01res_005.pdf"));
    assert!(text.contains("アムロジピン錠５ｍｇ"), "{text}");
    assert!(
        !text.contains("再診料"),
        "no 診療情報 in FileCategory 1: {text}"
    );

    // unknown numbers
    let r = drugs(dir.path(), "YZKsiquc01req_006.xml", "9999", "2").await;
    assert_eq!(r.header.result_code, "3");

    // every view is recorded: listable by the facility (its API) and by the patient
    let v: Value = reqwest::Client::new()
        .get(format!("{}/v1/medical-info/views", c.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let views = v["views"].as_array().unwrap();
    let summary: Vec<(String, String, bool)> = views
        .iter()
        .rev()
        .map(|x| {
            (
                x["kind"].as_str().unwrap().to_string(),
                x["channel"].as_str().unwrap().to_string(),
                x["granted"].as_bool().unwrap(),
            )
        })
        .collect();
    let s = |k: &str, ch: &str, g: bool| (k.to_string(), ch.to_string(), g);
    assert_eq!(
        summary,
        vec![
            s("drug", "YZKsiquc01/2", false),
            s("drug", "YZKsiquc01/4", true),
            s("diagnosis", "YZKsiquc01/4", true),
            s("drug", "YZKsiquc01/2", true),
            s("checkup", "TKKsiquc01/2", false),
            s("drug", "YZKsiquc01/1", true),
        ],
        "{v}"
    );
    let mine = c.store.medical_views(ViewsOf::Person(pid), 100).unwrap();
    assert_eq!(mine.len(), 6);
    assert!(mine.iter().all(|x| x.facility == CLINIC));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_a_pin_less_card_opens_the_same_information_with_consent() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let pid = person_of(&c, "C0002");
    c.store.add_medical_records(&[(pid, records())]).unwrap();
    let r = checkups(dir.path(), "TKKsiquc01req_101.xml", "2002").await;
    assert_eq!(r.header.result_code, "2", "no consent yet");
    // face authentication on the PIN-less card, consent to everything
    let f = face(
        &t,
        "C0002",
        json!({"drug": true, "checkup": true, "diagnosis": true, "operation": true}),
    )
    .await;
    assert_eq!(
        f.body.results[0]
            .consents
            .operation_info_cons_flg
            .as_deref(),
        Some("1")
    );
    let r = checkups(dir.path(), "TKKsiquc01req_102.xml", "2002").await;
    assert_eq!(r.header.result_code, "1", "{:?}", r.header.message_contents);
    let q = r.qualifications_info.unwrap();
    assert_eq!(q.name.as_deref(), Some("鈴木　花子"));
    assert_eq!(q.administrative_gender_code.as_deref(), Some("2"));
    assert_eq!(r.checkups.len(), 1);
    assert_eq!(r.checkups[0].effective_time, "20260510");
    assert_eq!(r.checkups[0].items[0].item_name.as_deref(), Some("身長"));
    let r = drugs(dir.path(), "YZKsiquc01req_103.xml", "2002", "4").await;
    assert_eq!(r.header.result_code, "1");
    let treatments: Vec<_> = r
        .claims
        .iter()
        .flat_map(|m| m.treatments.iter())
        .filter_map(|x| x.sin_inf_n.clone())
        .collect();
    assert_eq!(
        treatments,
        vec!["再診料", "虫垂切除術"],
        "手術 with its consent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_pdf_renderings_with_consent_read_by_an_independent_pdf_reader() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let pid = person_of(&c, "C0002");
    let mut recs = records();
    let item =
        |on: &str, name: &str, data_type: &str, value: &str, unit: Option<&str>| CheckupItem {
            checked_on: d(on),
            item_code: "9N000000000000001".into(),
            item_name: name.into(),
            data_type: data_type.into(),
            value: value.into(),
            unit: unit.map(Into::into),
            oid: None,
            value_name: None,
        };
    recs.checkups.extend([
        item("2026-05-10", "収縮期血圧", "PQ", "128", Some("mmHg")),
        CheckupItem {
            oid: Some("1.2.392.200119.6.2101".into()),
            value_name: Some("（－）".into()),
            ..item("2026-05-10", "尿糖", "CD", "1", None)
        },
        item("2025-05-12", "身長", "PQ", "157.5", Some("cm")),
    ]);
    // enough lines for several pages, and a name outside the BMP (𠮷, U+20BB7)
    for i in 0..120 {
        recs.drugs.push(DrugRecord {
            drug_name: format!("長期処方薬{i:03}"),
            dispenser_code: "1349999999".into(),
            dispenser_name: "𠮷田薬局".into(),
            ..recs.drugs[1].clone()
        });
    }
    c.store.add_medical_records(&[(pid, recs)]).unwrap();
    let res = exchange(dir.path()).res;

    // no consent yet: the XML refusal alone, no PDF
    let r = drugs(dir.path(), "YZKsiquc01req_301.xml", "2002", "3").await;
    assert_eq!(r.header.result_code, "2");
    assert!(!res.join("YZKsiquc01res_301.pdf").exists());

    face(
        &t,
        "C0002",
        json!({"drug": true, "checkup": true, "diagnosis": true, "operation": true}),
    )
    .await;

    // FileCategory 3: drugs and 診療情報 as a PDF
    let r = drugs(dir.path(), "YZKsiquc01req_302.xml", "2002", "3").await;
    assert_eq!(r.header.result_code, "1", "{:?}", r.header.message_contents);
    assert!(r.claims.is_empty(), "the data is in the PDF, not the XML");
    let path = res.join("YZKsiquc01res_302.pdf");
    let text = pdf_text(&path);
    for want in [
        "薬剤情報・診療情報",
        "鈴木　花子",
        "アムロジピン錠５ｍｇ",
        "ロキソプロフェン錠",
        "長期処方薬119",
        // outside the BMP (𠮷, U+20BB7)
        "𠮷田薬局",
        "再診料",
        "虫垂切除術",
        "2026年10月",
    ] {
        // pdftotext gives the ideographic space as a plain one
        let want = want.replace('　', " ");
        assert!(
            text.contains(&want),
            "{want} missing from the PDF text:\n{text}"
        );
    }
    assert!(!text.contains("範囲外の薬"), "outside StartDate..EndDate");
    let info = std::process::Command::new("pdfinfo")
        .arg(&path)
        .output()
        .unwrap();
    let pages: u32 = String::from_utf8_lossy(&info.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:").map(|v| v.trim().parse().unwrap()))
        .unwrap();
    assert!(pages >= 3, "{pages} pages");
    assert!(
        text.contains(&format!("3 / {pages}")),
        "every page numbered"
    );

    // 特定健診情報, FileCategory 1
    let b = ask(
        dir.path(),
        "TKKsiquc01req_303.xml",
        &request("TKK", "2002", "1"),
    )
    .await;
    let r = CheckupInfoResponse::read(&b).unwrap().1;
    assert_eq!(r.header.result_code, "1", "{:?}", r.header.message_contents);
    // every line whole, in reading order and with the layout kept: the items with their
    // results and units under each checkup day (newest first), the patient, the dates
    let path = res.join("TKKsiquc01res_303.pdf");
    let text = pdf_text(&path);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let expected = [
        "特定健診情報",
        "氏名 鈴木 花子（スズキ ハナコ） 生年月日 1992年7月15日 性別 女",
        "実施日 2026年5月10日",
        "身長 158.0 cm",
        "収縮期血圧 128 mmHg",
        "尿糖 （－）",
        "実施日 2025年5月12日",
        "身長 157.5 cm",
    ];
    let mut at = 0;
    for want in expected {
        let found = lines[at..].iter().position(|l| *l == want);
        assert!(found.is_some(), "line {want:?} (in this order) in:\n{text}");
        at += found.unwrap_or_default() + 1;
    }
    let made = lines
        .iter()
        .find(|l| l.starts_with("作成 "))
        .unwrap_or_else(|| panic!("the 作成 line:\n{text}"));
    assert!(
        made.ends_with(&format!("医療機関コード {CLINIC}")),
        "{made}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("特定健診情報 鈴木 花子 ") && l.ends_with(" 1 / 1")),
        "the footer:\n{text}"
    );
    let layout = pdf_text_with(&path, &["-layout"]);
    for want in expected {
        assert!(
            layout.lines().any(|l| l.trim() == want),
            "{want:?} with -layout:\n{layout}"
        );
    }
    // no staging file left behind
    let left: Vec<_> = std::fs::read_dir(&res)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_a_lapsed_consent_is_refused() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let _t = start_terminal(&c, dir.path(), &[]);
    let pid = person_of(&c, "C0001");
    c.store.add_medical_records(&[(pid, records())]).unwrap();
    // a consent given at this facility two days ago (it lasts one day)
    let two_days_ago = chrono::Utc::now()
        .with_timezone(&onshi_central::clock::jst())
        .naive_local()
        - chrono::TimeDelta::days(2);
    c.store
        .record_consents(&[ConsentGrant::given(
            pid,
            CLINIC,
            MedicalInfoKind::Drug,
            two_days_ago,
        )])
        .unwrap();
    let r = drugs(dir.path(), "YZKsiquc01req_201.xml", "2001", "2").await;
    assert_eq!(r.header.result_code, "2");
    assert!(
        r.header
            .message_contents
            .as_deref()
            .unwrap()
            .contains("有効期限"),
        "{:?}",
        r.header.message_contents
    );
    assert!(r.claims.is_empty());
    // a consent given to another facility opens nothing here
    c.store
        .record_consents(&[ConsentGrant::given(
            pid,
            "1319999999",
            MedicalInfoKind::Drug,
            two_days_ago + chrono::TimeDelta::days(2),
        )])
        .unwrap();
    let r = drugs(dir.path(), "YZKsiquc01req_202.xml", "2001", "2").await;
    assert_eq!(r.header.result_code, "2");
    let views = c
        .store
        .medical_views(ViewsOf::Facility(CLINIC), 10)
        .unwrap();
    assert_eq!(views.len(), 2);
    assert!(views.iter().all(|v| !v.granted));
}
