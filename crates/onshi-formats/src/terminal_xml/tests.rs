use super::siquc01::{QualificationResponse, SingleRequest};
use super::*;

const REQ: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg>
  <MessageHeader>
    <QualificationConfirmationDate>20261125</QualificationConfirmationDate>
    <MedicalInstitutionCode>1311234567</MedicalInstitutionCode>
    <ArbitraryFileIdentifier>A&amp;B</ArbitraryFileIdentifier>
  </MessageHeader>
  <MessageBody>
    <QualificationConfirmSearchInfo>
      <InsurerNumber>01130012</InsurerNumber>
      <InsuredCardSymbol>１００１</InsuredCardSymbol>
      <InsuredIdentificationNumber>2001</InsuredIdentificationNumber>
      <InsuredBranchNumber>00</InsuredBranchNumber>
      <Birthdate>19800402</Birthdate>
      <LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>
    </QualificationConfirmSearchInfo>
  </MessageBody>
</XmlMsg>
"#;

fn sjis(s: &str) -> Vec<u8> {
    let s = s.replace("UTF-8", "Shift_JIS");
    encode_text(&s, Encoding::ShiftJis).unwrap()
}

#[test]
fn single_request_reads_in_both_encodings_and_keeps_leading_zeros() {
    for bytes in [REQ.as_bytes().to_vec(), sjis(REQ)] {
        let (enc, r) = SingleRequest::read(&bytes).unwrap();
        assert_eq!(r.search.insurer_number.as_str(), "01130012");
        assert_eq!(r.search.branch.as_ref().unwrap().as_str(), "00");
        assert_eq!(r.search.symbol.as_str(), "１００１");
        assert_eq!(r.header.arbitrary_file_identifier.as_deref(), Some("A&B"));
        let again = r.write(enc).unwrap();
        let (_, back) = SingleRequest::read(&again).unwrap();
        assert_eq!(back, r);
    }
}

#[test]
fn sjis_bytes_are_really_sjis() {
    let b = sjis(REQ);
    assert!(
        std::str::from_utf8(&b).is_err(),
        "full-width digits must not be UTF-8 bytes"
    );
    assert_eq!(detect_encoding(&b).unwrap(), Encoding::ShiftJis);
}

#[test]
fn malformed_requests_name_what_is_wrong() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not xml at all".to_vec(), "not well-formed XML"),
        (b"".to_vec(), "no root element"),
        (b"<Other/>".to_vec(), "root element must be XmlMsg"),
        (
            REQ.replace("<InsurerNumber>01130012</InsurerNumber>", "")
                .into_bytes(),
            "QualificationConfirmSearchInfo/InsurerNumber: required element is missing",
        ),
        (
            REQ.replace("01130012", "01130013").into_bytes(),
            "check digit",
        ),
        (
            REQ.replace("19800402</Birthdate>", "19800231</Birthdate>")
                .into_bytes(),
            "Birthdate",
        ),
        (
            REQ.replace("</XmlMsg>", "").into_bytes(),
            "ends inside element XmlMsg",
        ),
        (
            REQ.replace("encoding=\"UTF-8\"", "encoding=\"EUC-JP\"")
                .into_bytes(),
            "EUC-JP",
        ),
        (
            REQ.replace("<XmlMsg>", "<!DOCTYPE x [<!ENTITY a \"b\">]><XmlMsg>")
                .into_bytes(),
            "DOCTYPE",
        ),
        (
            REQ.replace("<MessageBody>", "<MessageBody>&foo;")
                .into_bytes(),
            "unknown entity",
        ),
    ];
    for (bytes, want) in cases {
        let e = SingleRequest::read(&bytes).unwrap_err().to_string();
        assert!(e.contains(want), "{e:?} should contain {want:?}");
    }
    let mut bad = sjis(REQ);
    bad.push(0x81);
    let e = SingleRequest::read(&bad).unwrap_err().to_string();
    assert!(e.contains("not valid Shift_JIS"), "{e}");
}

#[test]
fn a_character_shift_jis_cannot_carry_is_an_error_naming_the_element() {
    let mut r = QualificationResponse::default();
    r.header.segment_of_result = "1".into();
    r.body.processing_result_status = "1".into();
    let mut e = QualificationEntry::default();
    e.insured.name = Some("𠮷野　家".into());
    r.body.results.push(e);
    let err = r.write(Encoding::ShiftJis).unwrap_err();
    assert_eq!(
        err,
        XmlError::Unrepresentable {
            path: "XmlMsg/MessageBody/ResultList/ResultOfQualificationConfirmation/Name".into(),
            ch: '𠮷',
            code: 0x20BB7
        }
    );
    // UTF-8 carries it, and no '?' or character reference ever appears
    let ok = r.write(Encoding::Utf8).unwrap();
    let text = String::from_utf8(ok).unwrap();
    assert!(text.contains("𠮷野") && !text.contains("&#"));
    // half-width kana and 髙 (an extension character of Windows-31J) are carried
    assert!(sjis_can_carry('ｱ') && sjis_can_carry('髙') && !sjis_can_carry('😀'));
}

#[test]
fn error_code_and_message_only_when_not_normal() {
    let mut r = QualificationResponse::default();
    r.header.segment_of_result = "1".into();
    r.header.error_code = Some("X".into());
    r.header.error_message = Some("Y".into());
    r.body.processing_result_status = "1".into();
    let t = String::from_utf8(r.write(Encoding::Utf8).unwrap()).unwrap();
    assert!(
        !t.contains("ErrorCode") && !t.contains("ErrorMessage"),
        "{t}"
    );
    r.header.segment_of_result = "9".into();
    let t = String::from_utf8(r.write(Encoding::Utf8).unwrap()).unwrap();
    assert!(t.contains("<ErrorCode>X</ErrorCode>") && t.contains("<ErrorMessage>Y</ErrorMessage>"));
}

#[test]
fn response_file_names() {
    assert_eq!(
        response_file_name("OQSsiquc01req_20261125_001.xml").as_deref(),
        Some("OQSsiquc01res_20261125_001.xml")
    );
    assert_eq!(
        MessageKind::from_request_file("OQSmuquc02req_x.xml"),
        Some(MessageKind::BulkFetch)
    );
    assert_eq!(MessageKind::from_request_file("foo.xml"), None);
    // the 訪問診療 / オンライン診療 / 医療扶助 bulk kinds are recognised (answered "not offered")
    for (name, kind) in [
        ("OQSmuhvq01req_a.xml", MessageKind::BulkHomeVisit),
        ("OQSmuhvq02req_a.xml", MessageKind::BulkHomeVisit),
        ("OQSmuonq01req_a.xml", MessageKind::BulkOnline),
        ("OQSmuonq02req_a.xml", MessageKind::BulkOnline),
        ("OQSmutic01req_a.xml", MessageKind::BulkMedicalAid),
        ("OQSmutic02req_a.xml", MessageKind::BulkMedicalAid),
    ] {
        assert_eq!(MessageKind::from_request_file(name), Some(kind), "{name}");
        assert!(!kind.is_offered());
    }
    assert_eq!(MessageKind::from_request_file("OQSmuhvq03req_a.xml"), None);
    // the face file name ends with the 14-digit timestamp as its last `_` field
    let name = face::face_file_name("20261125093000", 7);
    assert_eq!(name, "OQSsiquc01res_face_000007_20261125093000.xml");
    let last = name.trim_end_matches(".xml").rsplit('_').next();
    assert_eq!(last, Some("20261125093000"));
    assert_eq!(
        face::parse_face_file_name(&name),
        Some(("20261125093000".into(), 7))
    );
    // the earlier layout is still recognised
    assert_eq!(
        face::parse_face_file_name("OQSsiquc01res_face_20261125093000_000007.xml"),
        Some(("20261125093000".into(), 7))
    );
}

#[test]
fn character_codes_setting() {
    assert_eq!(CharacterCodes::default().code(Encoding::ShiftJis), "1");
    assert_eq!(
        CharacterCodes::parse("1,2").unwrap(),
        CharacterCodes::one_two()
    );
    assert!(CharacterCodes::parse("1,1").is_err());
    assert!(CharacterCodes::parse("x").is_err());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = SingleRequest::read(&bytes);
            let _ = QualificationResponse::read(&bytes);
            let _ = siimm01::RefRegistrationRequest::read(&bytes);
            let _ = muquc01::BulkUploadRequest::read(&bytes);
            let _ = muquc02::BulkFetchRequest::read(&bytes);
            let _ = muquc02::BulkFetchResponse::read(&bytes);
        }

        #[test]
        fn parsers_never_panic_on_mutated_requests(
            cut in 0usize..800, insert in proptest::collection::vec(any::<u8>(), 0..8), pos in 0usize..800
        ) {
            for base in [REQ.as_bytes().to_vec(), sjis(REQ)] {
                let mut b = base.clone();
                let p = pos.min(b.len());
                b.splice(p..p, insert.iter().copied());
                b.truncate(cut.max(1).min(b.len()));
                let _ = SingleRequest::read(&b);
                let _ = muquc01::BulkUploadRequest::read(&b);
            }
        }
    }
}

#[test]
fn the_drug_consent_is_read_under_either_name() {
    let xml = |name: &str| {
        format!(
            "<ResultOfQualificationConfirmation><{name}ConsFlg>1</{name}ConsFlg>\
             <{name}ConsTime>20261125093010</{name}ConsTime>\
             <{name}AvailableTime>20261126093010</{name}AvailableTime>\
             </ResultOfQualificationConfirmation>"
        )
    };
    for name in ["PharmacistsInfo", "PharmaceuticalInfo"] {
        let root = tree::parse(&xml(name)).unwrap();
        let e = QualificationEntry::read(&root);
        assert_eq!(e.consents.pharmacists_info_cons_flg.as_deref(), Some("1"));
        assert_eq!(
            e.consents.pharmacists_info_available_time.as_deref(),
            Some("20261126093010")
        );
    }
}
