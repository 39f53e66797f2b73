//! Golden files of the terminal XML messages (tests/golden/terminal/): each message is built in
//! code, written, and compared byte for byte with the checked-in file; then the file is read
//! back and must give the same message. `UPDATE_GOLDEN=1 cargo test` rewrites the files.

use chrono::NaiveDate;
use onshi_domain::codes::LimitConsent;
use onshi_domain::numbers::{
    BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber, MedicalInstitutionCode,
};
use onshi_formats::terminal_xml::muquc01::{BulkUploadRequest, BulkUploadResponse};
use onshi_formats::terminal_xml::muquc02::{BulkConfirmUnit, BulkFetchRequest, BulkFetchResponse};
use onshi_formats::terminal_xml::siimm01::{RefRegistrationRequest, RefRegistrationResponse};
use onshi_formats::terminal_xml::siquc01::{QualificationResponse, SingleRequest};
use onshi_formats::terminal_xml::*;

fn golden(name: &str, bytes: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/terminal")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert!(
        want == bytes,
        "{name} differs from the golden file:\n{}",
        String::from_utf8_lossy(bytes)
    );
}

fn header() -> RequestHeader {
    RequestHeader {
        qualification_confirmation_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        medical_institution_code: MedicalInstitutionCode::parse("1311234567").unwrap(),
        arbitrary_file_identifier: Some("RC-000123".into()),
    }
}

fn search(number: &str, branch: &str, birth: (i32, u32, u32)) -> SearchInfo {
    SearchInfo {
        insurer_number: InsurerNumber::parse("01130012").unwrap(),
        symbol: InsuredSymbol::parse("1001").unwrap(),
        number: InsuredNumber::parse(number).unwrap(),
        branch: Some(BranchNumber::parse(branch).unwrap()),
        birthdate: NaiveDate::from_ymd_opt(birth.0, birth.1, birth.2).unwrap(),
        limit_consent: LimitConsent::NotConsented,
    }
}

fn resp_header(segment: &str, reference: Option<&str>, enc: Encoding) -> ResponseHeader {
    ResponseHeader {
        process_execution_time: "20261125093012".into(),
        qualification_confirmation_date: Some("20261125".into()),
        medical_institution_code: "1311234567".into(),
        arbitrary_file_identifier: Some("RC-000123".into()),
        reference_classification: reference.map(str::to_string),
        segment_of_result: segment.into(),
        error_code: None,
        error_message: None,
        character_code_identifier: CharacterCodes::default().code(enc).into(),
    }
}

fn entry_tanaka() -> QualificationEntry {
    QualificationEntry {
        insured: InsuredPart {
            insured_card_classification: Some("01".into()),
            insurer_number: Some("01130012".into()),
            insured_card_symbol: Some("1001".into()),
            insured_identification_number: Some("2001".into()),
            insured_branch_number: Some("00".into()),
            personal_family_classification: Some("1".into()),
            insured_name: Some("田中　太郎".into()),
            name: Some("田中　太郎".into()),
            name_kana: Some("ﾀﾅｶ ﾀﾛｳ".into()),
            sex1: Some("1".into()),
            birthdate: Some("19800402".into()),
            address: Some("東京都千代田区千代田1-1".into()),
            post_number: Some("1000001".into()),
            qualification_date: Some("20150401".into()),
            insured_certificate_issuance_date: Some("20150410".into()),
            insured_card_valid_date: Some("20150401".into()),
            insured_partial_contribution_ratio: Some("030".into()),
            insurer_name: Some("全国健康保険協会東京支部".into()),
            ..InsuredPart::default()
        },
        limit_consent: LimitConsentPart {
            limit_application_certificate_related_cons_flg: Some("0".into()),
            ..LimitConsentPart::default()
        },
        ..QualificationEntry::default()
    }
}

fn single_response(enc: Encoding) -> QualificationResponse {
    let mut e = entry_tanaka();
    e.consents.reference_number = Some("000123".into());
    QualificationResponse {
        header: resp_header("1", Some("2"), enc),
        body: ResultBody {
            processing_result_status: "1".into(),
            qualification_validity: Some("1".into()),
            search_info: Some(search("2001", "00", (1980, 4, 2)).echo()),
            results: vec![e],
            ..ResultBody::default()
        },
    }
}

fn roundtrip_single_response(name: &str, r: &QualificationResponse, enc: Encoding) {
    let bytes = r.write(enc).unwrap();
    golden(name, &bytes);
    let (e2, back) = QualificationResponse::read(&bytes).unwrap();
    assert_eq!(e2, enc);
    assert_eq!(&back, r);
}

#[test]
fn siquc01_request_utf8_and_sjis() {
    let r = SingleRequest {
        header: header(),
        search: search("2001", "00", (1980, 4, 2)),
    };
    for (enc, name) in [
        (Encoding::Utf8, "OQSsiquc01req_utf8.xml"),
        (Encoding::ShiftJis, "OQSsiquc01req_sjis.xml"),
    ] {
        let b = r.write(enc).unwrap();
        golden(name, &b);
        assert_eq!(SingleRequest::read(&b).unwrap(), (enc, r.clone()));
    }
}

#[test]
fn siquc01_response_valid_utf8_and_sjis() {
    for (enc, name) in [
        (Encoding::Utf8, "OQSsiquc01res_valid_utf8.xml"),
        (Encoding::ShiftJis, "OQSsiquc01res_valid_sjis.xml"),
    ] {
        roundtrip_single_response(name, &single_response(enc), enc);
    }
}

#[test]
fn siquc01_response_abnormal_end() {
    let mut h = resp_header("9", Some("2"), Encoding::Utf8);
    h.error_code = Some("2001".into());
    h.error_message =
        Some("資格確認システム（中央）に接続できません（10秒以内に応答がありません）。".into());
    let r = QualificationResponse {
        header: h,
        body: ResultBody::error(
            "2001",
            "資格確認システム（中央）に接続できません（10秒以内に応答がありません）。",
        ),
    };
    roundtrip_single_response("OQSsiquc01res_central_unreachable.xml", &r, Encoding::Utf8);
}

#[test]
fn face_result_lost_qualification_r6() {
    let mut e = entry_tanaka();
    e.insured.insurer_number = Some("06134563".into());
    e.insured.insured_card_symbol = Some("77".into());
    e.insured.insured_identification_number = Some("3001".into());
    e.insured.disqualification_date = Some("20261001".into());
    e.insured.reason_of_loss = Some("03".into());
    e.consents.pharmacists_info_cons_flg = Some("1".into());
    e.consents.pharmacists_info_cons_time = Some("20261125093010".into());
    e.consents.specific_health_checkups_info_cons_flg = Some("0".into());
    e.consents.diagnosis_info_cons_flg = Some("1".into());
    e.consents.diagnosis_info_cons_time = Some("20261125093010".into());
    let r = QualificationResponse {
        header: ResponseHeader {
            arbitrary_file_identifier: None,
            ..resp_header("1", Some("1"), Encoding::Utf8)
        },
        body: ResultBody {
            processing_result_status: "1".into(),
            qualification_validity: Some("2".into()),
            results: vec![e],
            ..ResultBody::default()
        },
    };
    roundtrip_single_response(
        &face::face_file_name("20261125093012", 1),
        &r,
        Encoding::Utf8,
    );
}

#[test]
fn siimm01_request_and_response() {
    let r = RefRegistrationRequest {
        header: header(),
        search: search("2001", "00", (1980, 4, 2)),
        reference_number: "000123".into(),
    };
    let b = r.write(Encoding::Utf8).unwrap();
    golden("OQSsiimm01req.xml", &b);
    assert_eq!(RefRegistrationRequest::read(&b).unwrap().1, r);
    let res = RefRegistrationResponse {
        header: resp_header("1", Some("2"), Encoding::Utf8),
        processing_result_status: "1".into(),
        processing_result_code: None,
        processing_result_message: None,
        search_info: Some(r.search.echo()),
        reference_number: Some("000123".into()),
    };
    let b = res.write(Encoding::Utf8).unwrap();
    golden("OQSsiimm01res.xml", &b);
    assert_eq!(RefRegistrationResponse::read(&b).unwrap().1, res);
}

#[test]
fn muquc01_and_muquc02() {
    let up = BulkUploadRequest {
        header: header(),
        entries: vec![
            search("2001", "00", (1980, 4, 2)),
            search("9999", "00", (1990, 1, 1)),
        ],
    };
    let b = up.write(Encoding::Utf8).unwrap();
    golden("OQSmuquc01req.xml", &b);
    assert_eq!(BulkUploadRequest::read(&b).unwrap().1, up);
    let upr = BulkUploadResponse {
        header: resp_header("1", Some("2"), Encoding::Utf8),
        processing_result_status: "1".into(),
        processing_result_code: None,
        processing_result_message: None,
        reception_number: Some("2026112500000001".into()),
        number_of_requests: Some(2),
    };
    let b = upr.write(Encoding::Utf8).unwrap();
    golden("OQSmuquc01res.xml", &b);
    assert_eq!(BulkUploadResponse::read(&b).unwrap().1, upr);

    let f = BulkFetchRequest {
        header: header(),
        reception_number: "2026112500000001".into(),
    };
    let b = f.write(Encoding::Utf8).unwrap();
    golden("OQSmuquc02req.xml", &b);
    assert_eq!(BulkFetchRequest::read(&b).unwrap().1, f);
    let fr = BulkFetchResponse {
        header: resp_header("1", Some("2"), Encoding::Utf8),
        processing_result_status: "1".into(),
        processing_result_code: None,
        processing_result_message: None,
        reception_number: Some("2026112500000001".into()),
        number_of_requests: Some(2),
        number_of_processed: Some(2),
        number_of_normal_end: Some(2),
        number_of_errors: Some(0),
        units: vec![
            BulkConfirmUnit {
                sequence_number: 1,
                result: ResultBody {
                    processing_result_status: "1".into(),
                    qualification_validity: Some("1".into()),
                    search_info: Some(up.entries[0].echo()),
                    results: vec![entry_tanaka()],
                    ..ResultBody::default()
                },
            },
            BulkConfirmUnit {
                sequence_number: 2,
                result: ResultBody {
                    processing_result_status: "1".into(),
                    qualification_validity: Some("4".into()),
                    search_info: Some(up.entries[1].echo()),
                    ..ResultBody::default()
                },
            },
        ],
    };
    let b = fr.write(Encoding::Utf8).unwrap();
    golden("OQSmuquc02res.xml", &b);
    assert_eq!(BulkFetchResponse::read(&b).unwrap().1, fr);
}
