//! Golden files of the medical-information messages (R2): `YZKsiquc01req` / `…res` and
//! `TKKsiquc01req` / `…res`, written by hand in Shift_JIS from SPEC's element list
//! (tests/golden/terminal/YZK*, TKK*). Each file is read with onshi's reader and compared with
//! the message built here; what onshi's writer makes of that message reads back the same.

use chrono::NaiveDate;
use onshi_formats::terminal_xml::Encoding;
use onshi_formats::terminal_xml::medinfo::*;

fn golden(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/terminal")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn header(code: &str, message: Option<&str>, afi: &str, time: &str) -> MedicalInfoHeader {
    MedicalInfoHeader {
        process_execution_time: time.into(),
        medical_institution_code: "1311234567".into(),
        arbitrary_file_identifier: s(afi),
        result_code: code.into(),
        message_contents: message.map(str::to_string),
        character_code_identifier: "1".into(),
    }
}

#[test]
fn r2_drug_request_golden_reads_with_its_own_element_names() {
    let b = golden("YZKsiquc01req_sjis.xml");
    assert!(std::str::from_utf8(&b).is_err(), "the file is Shift_JIS");
    let (enc, r) = MedicalInfoRequest::read(MedicalInfoMessage::Drug, &b).unwrap();
    assert_eq!(enc, Encoding::ShiftJis);
    assert_eq!(r.medical_institution_code.as_str(), "1311234567");
    assert_eq!(r.insurer_number.as_str(), "01130012");
    assert_eq!(r.symbol.as_str(), "１００１");
    assert_eq!(r.number.as_str(), "2001");
    assert_eq!(r.branch.as_ref().unwrap().as_str(), "00");
    assert_eq!(r.arbitrary_file_identifier.as_deref(), Some("薬剤-000123"));
    assert_eq!(r.start_month, NaiveDate::from_ymd_opt(2026, 6, 1));
    assert_eq!(r.end_month, NaiveDate::from_ymd_opt(2026, 11, 1));
    assert_eq!(r.file_category, FileCategory::WithDiagnosisXml);
    assert_eq!(r.pr_di_inf_classification.as_deref(), Some("1"));
}

#[test]
fn r2_checkup_request_golden_reads() {
    let (_, r) = MedicalInfoRequest::read(
        MedicalInfoMessage::Checkup,
        &golden("TKKsiquc01req_sjis.xml"),
    )
    .unwrap();
    assert_eq!(r.file_category, FileCategory::Xml);
    assert_eq!(r.start_month, None);
    // 3 and 4 are drug categories only
    let bad = "<XmlMsg><MessageHeader><MedicalInstitutionCode>1311234567</MedicalInstitutionCode>\
        <InsurerNumber>01130012</InsurerNumber>\
        <InsuredPersonIdentificationNumber>2001</InsuredPersonIdentificationNumber>\
        </MessageHeader><MessageBody><FileCategory>4</FileCategory></MessageBody></XmlMsg>";
    let e = MedicalInfoRequest::read(MedicalInfoMessage::Checkup, bad.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("MessageBody/FileCategory"), "{e}");
}

fn month(head: MonthHead) -> MonthInf {
    MonthInf {
        head,
        ..MonthInf::default()
    }
}

fn pharmacy_head(m: &str) -> MonthHead {
    MonthHead {
        di_org: s("2"),
        me_tr_di_h_cd: s("1341234567"),
        me_tr_di_h_nm: s("おんし薬局"),
        me_tr_month: s(m),
        prls_h_cd: s("1311234567"),
        prls_h_nm: s("おんし内科"),
        pr_is_org: s("1"),
        in_out: s("2"),
    }
}

fn drug_answer() -> DrugInfoResponse {
    let mut claim = month(pharmacy_head("202610"));
    claim.days.push(DiDateInf {
        di_date: "20261002".into(),
        pr_date: s("20261002"),
        drugs: vec![DrugInf {
            drug_c: s("620000101"),
            drug_n: s("アムロジピン錠５ｍｇ"),
            ingre_n: s("アムロジピンベシル酸塩"),
            qua1: s("1"),
            unit: s("錠"),
            usage_n: s("1日1回朝食後"),
            sp_inst: None,
            times: s("28"),
            me_tr_id_cl: s("1"),
        }],
    });
    let mut clinic = month(MonthHead {
        di_org: s("1"),
        me_tr_di_h_cd: s("1311234567"),
        me_tr_di_h_nm: s("おんし内科"),
        me_tr_month: s("202610"),
        ..MonthHead::default()
    });
    clinic.treatments.push(MeTrInf {
        sin_inf_cd: s("112007410"),
        sin_inf_n: s("再診料"),
        me_tr_id_cl: s("12"),
        qua1: None,
        times: s("1"),
        unit: None,
    });
    let mut disp = month(pharmacy_head("202611"));
    disp.days.push(DiDateInf {
        di_date: "20261120".into(),
        pr_date: s("20261120"),
        drugs: vec![DrugInf {
            drug_c: s("620000107"),
            drug_n: s("ロキソプロフェンＮａ錠６０ｍｇ"),
            ingre_n: None,
            qua1: s("1"),
            unit: s("錠"),
            usage_n: s("疼痛時"),
            sp_inst: None,
            times: s("5"),
            me_tr_id_cl: s("2"),
        }],
    });
    DrugInfoResponse {
        header: header("1", None, "薬剤-000123", "20261125101500"),
        qua_inf: Some(QuaInf {
            name: s("田中　太郎"),
            kana_name: s("ﾀﾅｶ ﾀﾛｳ"),
            birth: s("19800402"),
            adm_gend_code: s("1"),
        }),
        claims: vec![claim, clinic],
        prescriptions: vec![],
        dispensings: vec![disp],
    }
}

#[test]
fn r2_drug_answer_golden_is_what_onshi_reads_and_writes() {
    let (enc, got) = DrugInfoResponse::read(&golden("YZKsiquc01res_sjis.xml")).unwrap();
    assert_eq!(enc, Encoding::ShiftJis);
    let want = drug_answer();
    assert_eq!(got, want);
    assert!(got.header.is_success());
    let ours = want.write(Encoding::ShiftJis).unwrap();
    assert_eq!(DrugInfoResponse::read(&ours).unwrap().1, want);
}

#[test]
fn r2_refusal_golden_has_result_code_and_message() {
    let (_, got) = DrugInfoResponse::read(&golden("YZKsiquc01res_no_consent_sjis.xml")).unwrap();
    let want = DrugInfoResponse {
        header: header(
            "2",
            Some("薬剤情報の閲覧に患者の同意がありません。カードリーダーで同意を得てください。"),
            "薬剤-000123",
            "20261125101500",
        ),
        ..DrugInfoResponse::default()
    };
    assert_eq!(got, want);
    assert!(!got.header.is_success());
    let ours = want.write(Encoding::ShiftJis).unwrap();
    assert_eq!(DrugInfoResponse::read(&ours).unwrap().1, want);
}

#[test]
fn r2_checkup_answer_golden_is_what_onshi_reads_and_writes() {
    let (_, got) = CheckupInfoResponse::read(&golden("TKKsiquc01res_sjis.xml")).unwrap();
    let want = CheckupInfoResponse {
        header: header("1", None, "健診-000124", "20261125101600"),
        qualifications_info: Some(QualificationsInfo {
            name: s("田中　太郎"),
            kanas_name: s("ﾀﾅｶ ﾀﾛｳ"),
            birthday: s("19800402"),
            administrative_gender_code: s("1"),
        }),
        checkups: vec![SpecificHealthCheckupInfo {
            effective_time: "20260510".into(),
            items: vec![
                HealthCheckupResultAndQuestionInfo {
                    item_code: s("9N001000000000001"),
                    item_name: s("身長"),
                    data_type: s("PQ"),
                    data_value: s("170.2"),
                    unit: s("cm"),
                    oid: None,
                    data_value_name: None,
                },
                HealthCheckupResultAndQuestionInfo {
                    item_code: s("9N736000000000011"),
                    item_name: s("喫煙"),
                    data_type: s("CD"),
                    data_value: s("2"),
                    unit: None,
                    oid: s("1.2.392.200119.6.1005"),
                    data_value_name: s("いいえ"),
                },
            ],
        }],
    };
    assert_eq!(got, want);
    let ours = want.write(Encoding::ShiftJis).unwrap();
    assert_eq!(CheckupInfoResponse::read(&ours).unwrap().1, want);
}
