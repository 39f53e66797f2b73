//! The folder interface end to end: a real central on a random port, a real terminal process,
//! request files written into a real `req` folder and the answers read from `res`.

mod common;

use std::time::Duration;

use common::*;
use onshi_formats::terminal_xml::muquc01::BulkUploadResponse;
use onshi_formats::terminal_xml::muquc02::BulkFetchResponse;
use onshi_formats::terminal_xml::siimm01::RefRegistrationResponse;
use onshi_formats::terminal_xml::siquc01::QualificationResponse;
use onshi_formats::terminal_xml::{Encoding, detect_encoding};

const T: Duration = Duration::from_secs(20);

async fn ask(dir: &std::path::Path, name: &str, bytes: &[u8]) -> (Encoding, QualificationResponse) {
    put_request(dir, name, bytes);
    let b = wait_answer(dir, name, T).await;
    QualificationResponse::read(&b).unwrap_or_else(|e| {
        panic!(
            "{name}: answer unreadable: {e}\n{}",
            String::from_utf8_lossy(&b)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r5_r7_every_result_class_by_numbers_in_both_encodings() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let kyokai = c.fx.kyokai.as_str().to_string();
    let kumiai = c.fx.kumiai.as_str().to_string();
    // (number set, expected 資格有効性)
    let cases = [
        (kyokai.as_str(), "1001", "2001", "00", "19800402", "1"), // valid
        (kumiai.as_str(), "77", "3001", "00", "19851111", "2"),   // lost, nothing newer
        (kumiai.as_str(), "77", "3007", "00", "19900303", "3"),   // lost, newer exists (R7)
        (kyokai.as_str(), "1001", "9999", "00", "19800402", "4"), // nothing registered
    ];
    for (i, (ins, sym, num, br, birth, want)) in cases.iter().enumerate() {
        for sjis in [false, true] {
            let name = format!("OQSsiquc01req_case{i}_{sjis}.xml");
            let (enc, r) = ask(
                t.dir.as_path(),
                &name,
                &single_request(ins, sym, num, br, birth, sjis),
            )
            .await;
            assert_eq!(
                enc,
                if sjis {
                    Encoding::ShiftJis
                } else {
                    Encoding::Utf8
                }
            );
            assert_eq!(
                r.header.character_code_identifier,
                if sjis { "1" } else { "0" }
            );
            assert_eq!(r.header.segment_of_result, "1", "{name}");
            assert_eq!(r.header.reference_classification.as_deref(), Some("2"));
            assert!(r.header.error_code.is_none());
            assert_eq!(
                r.header.arbitrary_file_identifier.as_deref(),
                Some("テスト-1")
            );
            assert_eq!(
                r.body.qualification_validity.as_deref(),
                Some(*want),
                "{name}"
            );
            let echo = r.body.search_info.as_ref().unwrap();
            assert_eq!(echo.insured_branch_number.as_deref(), Some("00"));
            match *want {
                "1" => {
                    assert!(r.is_confirmed());
                    let e = &r.body.results[0].insured;
                    assert_eq!(e.insured_partial_contribution_ratio.as_deref(), Some("030"));
                    assert_eq!(e.name.as_deref(), Some("田中　太郎"));
                    assert_eq!(e.name_kana.as_deref(), Some("ﾀﾅｶ ﾀﾛｳ"));
                }
                "2" => {
                    let e = &r.body.results[0].insured;
                    assert_eq!(e.disqualification_date.as_deref(), Some("20261001"));
                    assert_eq!(e.insurer_number.as_deref(), Some(kumiai.as_str()));
                }
                "3" => {
                    // R7: the newer qualification is never shown
                    assert!(
                        r.body
                            .results
                            .iter()
                            .all(|e| e.insured.insurer_number.as_deref() == Some(kumiai.as_str()))
                    );
                }
                _ => assert!(r.body.results.is_empty()),
            }
        }
    }
    // the request files are gone, each answered once (the terminal removes a request just
    // after publishing its answer, so the last one may still be there for a moment)
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let left = loop {
        let left: Vec<_> = std::fs::read_dir(exchange(t.dir.as_path()).req)
            .unwrap()
            .flatten()
            .collect();
        if left.is_empty() || std::time::Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_an_abnormal_end_that_says_what_is_wrong() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let good = String::from_utf8(single_request(
        c.fx.kyokai.as_str(),
        "1001",
        "2001",
        "00",
        "19800402",
        false,
    ))
    .unwrap();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "notxml",
            b"hello, this is not XML".to_vec(),
            "1001",
            "not well-formed",
        ),
        (
            "root",
            b"<?xml version=\"1.0\"?><Other><a/></Other>".to_vec(),
            "1002",
            "XmlMsg",
        ),
        (
            "missing",
            good.replace(
                "<InsuredIdentificationNumber>2001</InsuredIdentificationNumber>",
                "",
            )
            .into_bytes(),
            "1003",
            "InsuredIdentificationNumber",
        ),
        (
            "insurer",
            good.replace(c.fx.kyokai.as_str(), "01130019").into_bytes(),
            "1004",
            "check digit",
        ),
        (
            "facility",
            good.replace(CLINIC, "1341234567").into_bytes(),
            "1005",
            "1341234567",
        ),
        (
            "badsjis",
            {
                let mut b = good.replace("UTF-8", "Shift_JIS").into_bytes();
                b.extend_from_slice(&[0x81, 0x20]);
                b
            },
            "1001",
            "Shift_JIS",
        ),
    ];
    for (tag, bytes, code, says) in cases {
        let name = format!("OQSsiquc01req_{tag}.xml");
        let (_, r) = ask(t.dir.as_path(), &name, &bytes).await;
        assert_eq!(r.header.segment_of_result, "9", "{tag}");
        assert_eq!(r.header.error_code.as_deref(), Some(code), "{tag}");
        let msg = r.header.error_message.clone().unwrap_or_default();
        assert!(msg.contains(says), "{tag}: {msg}");
        assert_eq!(r.body.processing_result_status, "2");
        assert_eq!(r.body.processing_result_code.as_deref(), Some(code));
    }
    // an unknown message kind is answered too
    let (_, r) = ask(t.dir.as_path(), "OQSxxxxx99req_1.xml", good.as_bytes()).await;
    assert_eq!(r.header.error_code.as_deref(), Some("1002"));
    // the bulk kinds for 訪問診療 / オンライン診療 / 医療扶助 and the bulk 照会番号 registration
    // get a clear "not offered" answer under their own name, never a parse error
    for name in [
        "OQSmuhvq01req_1.xml",
        "OQSmuonq02req_1.xml",
        "OQSmutic01req_1.xml",
        "OQSmuimm01req_1.xml",
    ] {
        let (_, r) = ask(
            t.dir.as_path(),
            name,
            b"<XmlMsg><MessageHeader/><MessageBody/></XmlMsg>",
        )
        .await;
        assert_eq!(r.header.error_code.as_deref(), Some("1009"), "{name}");
        assert!(
            r.header
                .error_message
                .unwrap_or_default()
                .contains("扱えません")
                || name != "OQSmuimm01req_1.xml"
        );
        assert_eq!(r.body.processing_result_code.as_deref(), Some("1009"));
    }
    // and the terminal is still alive and answering
    let (_, r) = ask(t.dir.as_path(), "OQSsiquc01req_after.xml", good.as_bytes()).await;
    assert!(r.is_confirmed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_down_is_an_abnormal_end_and_the_terminal_keeps_running() {
    // a port nobody listens on
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = start_central().await; // only for the card emulation and the reader's key
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal_at(
        &c,
        &format!("http://127.0.0.1:{port}"),
        dir.path(),
        &["--central-timeout-ms", "1500"],
    );
    let req = single_request("01130012", "1001", "2001", "00", "19800402", true);
    for i in 0..2 {
        let (enc, r) = ask(t.dir.as_path(), &format!("OQSsiquc01req_down{i}.xml"), &req).await;
        assert_eq!(enc, Encoding::ShiftJis);
        assert_eq!(r.header.segment_of_result, "9");
        assert_eq!(r.header.error_code.as_deref(), Some("2001"));
        assert!(r.header.error_message.unwrap().contains("接続できません"));
    }
    let (s, v) = place(
        &t,
        serde_json::json!({"card_serial": "C0001", "face": "ok"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["outcome"], "unreachable", "{v}");
    assert_eq!(v["error_code"], "2001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_number_is_registered_and_returned_with_later_results() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let single = String::from_utf8(single_request(
        c.fx.kyokai.as_str(),
        "1001",
        "2001",
        "00",
        "19800402",
        false,
    ))
    .unwrap();
    let reg = single.replace(
        "</QualificationConfirmSearchInfo>",
        "</QualificationConfirmSearchInfo>\n    <ReferenceNumber>000123</ReferenceNumber>",
    );
    put_request(t.dir.as_path(), "OQSsiimm01req_1.xml", reg.as_bytes());
    let b = wait_answer(t.dir.as_path(), "OQSsiimm01req_1.xml", T).await;
    let (_, r) = RefRegistrationResponse::read(&b).unwrap();
    assert_eq!(
        r.header.segment_of_result,
        "1",
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert_eq!(r.reference_number.as_deref(), Some("000123"));
    let (_, r) = ask(t.dir.as_path(), "OQSsiquc01req_2.xml", single.as_bytes()).await;
    assert_eq!(
        r.body.results[0].consents.reference_number.as_deref(),
        Some("000123")
    );
    // and on the patient's own card confirmation at the reader
    let (_, v) = place(&t, serde_json::json!({"card_serial": "C0001", "face": "ok", "confirmation_date": "2026-11-25"})).await;
    assert_eq!(
        v["response"]["body"]["results"][0]["consents"]["reference_number"], "000123",
        "{v}"
    );
    // a bad reference number is refused with the rule
    let bad = single.replace(
        "</QualificationConfirmSearchInfo>",
        "</QualificationConfirmSearchInfo><ReferenceNumber>12 34</ReferenceNumber>",
    );
    put_request(t.dir.as_path(), "OQSsiimm01req_3.xml", bad.as_bytes());
    let b = wait_answer(t.dir.as_path(), "OQSsiimm01req_3.xml", T).await;
    let (_, r) = RefRegistrationResponse::read(&b).unwrap();
    assert_eq!(r.header.error_code.as_deref(), Some("1004"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_upload_gives_a_reception_number_and_fetch_returns_units_with_counts() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let ky = c.fx.kyokai.as_str();
    let ku = c.fx.kumiai.as_str();
    let entry = |ins: &str, sym: &str, num: &str, birth: &str| {
        format!(
            "<QualificationConfirmSearchInfo><InsurerNumber>{ins}</InsurerNumber><InsuredCardSymbol>{sym}</InsuredCardSymbol><InsuredIdentificationNumber>{num}</InsuredIdentificationNumber><InsuredBranchNumber>00</InsuredBranchNumber><Birthdate>{birth}</Birthdate></QualificationConfirmSearchInfo>"
        )
    };
    let up = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><XmlMsg><MessageHeader><QualificationConfirmationDate>{DAY}</QualificationConfirmationDate><MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode></MessageHeader><MessageBody><QualificationConfirmSearchInfoList>{}{}{}</QualificationConfirmSearchInfoList></MessageBody></XmlMsg>",
        entry(ky, "1001", "2001", "19800402"),
        entry(ku, "77", "3001", "19851111"),
        entry(ky, "1001", "9999", "19800402"),
    );
    put_request(t.dir.as_path(), "OQSmuquc01req_1.xml", up.as_bytes());
    let b = wait_answer(t.dir.as_path(), "OQSmuquc01req_1.xml", T).await;
    let (_, r) = BulkUploadResponse::read(&b).unwrap();
    assert_eq!(r.header.segment_of_result, "1");
    assert_eq!(r.number_of_requests, Some(3));
    let rn = r.reception_number.unwrap();
    let mut done = None;
    for i in 0..100 {
        let f = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><XmlMsg><MessageHeader><QualificationConfirmationDate>{DAY}</QualificationConfirmationDate><MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode></MessageHeader><MessageBody><ReceptionNumber>{rn}</ReceptionNumber></MessageBody></XmlMsg>"
        );
        let name = format!("OQSmuquc02req_{i}.xml");
        put_request(t.dir.as_path(), &name, f.as_bytes());
        let b = wait_answer(t.dir.as_path(), &name, T).await;
        let (_, r) = BulkFetchResponse::read(&b).unwrap();
        if r.header.segment_of_result == "1" {
            done = Some(r);
            break;
        }
        assert_eq!(r.header.segment_of_result, "2", "処理中 while not done");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = done.expect("bulk finished");
    assert_eq!(r.number_of_requests, Some(3));
    assert_eq!(r.number_of_processed, Some(3));
    assert_eq!(r.number_of_normal_end, Some(3));
    let v: Vec<_> = r
        .units
        .iter()
        .map(|u| {
            (
                u.sequence_number,
                u.result.qualification_validity.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(v, vec![(1, "1".into()), (2, "2".into()), (3, "4".into())]);
    // an unknown reception number
    let f = format!(
        "<XmlMsg><MessageHeader><QualificationConfirmationDate>{DAY}</QualificationConfirmationDate><MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode></MessageHeader><MessageBody><ReceptionNumber>999</ReceptionNumber></MessageBody></XmlMsg>"
    );
    put_request(t.dir.as_path(), "OQSmuquc02req_x.xml", f.as_bytes());
    let b = wait_answer(t.dir.as_path(), "OQSmuquc02req_x.xml", T).await;
    let (_, r) = BulkFetchResponse::read(&b).unwrap();
    assert_eq!(r.header.error_code.as_deref(), Some("1007"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sjis_request_whose_answer_cannot_be_sjis_is_an_explicit_error() {
    let c = start_central().await;
    // a person whose name Shift_JIS cannot carry
    let mut q = onshi_central::fixture::QUAL_HEADER.to_string();
    q.push('\n');
    let mn = onshi_central::fixture::my_number(40);
    q.push_str(&format!("{mn},{},全国健康保険協会東京支部,01,1001,4040,00,1,𠮷田　一,𠮷田　一,ヨシダ　ハジメ,1,19700101,1000001,東京都,,20150401,,,030,,,,,\n", c.fx.kyokai.as_str()));
    let hasher = onshi_domain::numbers::MyNumberHasher::new(b"test-key-0123456789").unwrap();
    let rep = onshi_central::import::import(
        c.store.as_ref(),
        &hasher,
        &c.cards,
        Some(onshi_central::import::Input {
            name: "q".into(),
            reader: q.as_bytes(),
        }),
        None::<onshi_central::import::Input<&[u8]>>,
        &mut |_| {},
    )
    .unwrap();
    assert!(rep.committed, "{:?}", rep.errors);
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let req = single_request(c.fx.kyokai.as_str(), "1001", "4040", "00", "19700101", true);
    put_request(t.dir.as_path(), "OQSsiquc01req_kichi.xml", &req);
    let b = wait_answer(t.dir.as_path(), "OQSsiquc01req_kichi.xml", T).await;
    assert_eq!(detect_encoding(&b).unwrap(), Encoding::ShiftJis);
    let (_, r) = QualificationResponse::read(&b).unwrap();
    assert_eq!(r.header.error_code.as_deref(), Some("1006"));
    assert!(r.header.error_message.unwrap().contains("U+20BB7"));
    assert!(!b.windows(2).any(|w| w == b"&#"), "no character reference");
    assert!(
        !b.windows(3).any(|w| w == "?田".as_bytes()),
        "no silent '?'"
    );
    // in UTF-8 the same confirmation goes through
    let req = single_request(
        c.fx.kyokai.as_str(),
        "1001",
        "4040",
        "00",
        "19700101",
        false,
    );
    let (_, r) = ask(t.dir.as_path(), "OQSsiquc01req_kichi8.xml", &req).await;
    assert_eq!(r.body.results[0].insured.name.as_deref(), Some("𠮷田　一"));
}

/// SegmentOfResult of a 異常終了 is 9 in one public source and 3 in another: a setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abnormal_segment_of_result_is_a_setting() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &["--abnormal-segment", "3"]);
    // a wrong check digit: refused at the terminal
    let bad = single_request("01130013", "1001", "2001", "00", "19800402", false);
    let (_, r) = ask(t.dir.as_path(), "OQSsiquc01req_seg3.xml", &bad).await;
    assert_eq!(r.header.segment_of_result, "3");
    assert_eq!(r.header.error_code.as_deref(), Some("1004"));
    // a normal answer keeps 1
    let good = single_request(
        c.fx.kyokai.as_str(),
        "1001",
        "2001",
        "00",
        "19800402",
        false,
    );
    let (_, r) = ask(t.dir.as_path(), "OQSsiquc01req_seg1.xml", &good).await;
    assert_eq!(r.header.segment_of_result, "1");
}

/// A request over the size limit gets a 1008 answer, read only at its head (issue 11 item 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_size_limit_is_answered_without_being_read_whole() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let mut big = single_request(
        c.fx.kyokai.as_str(),
        "1001",
        "2001",
        "00",
        "19800402",
        false,
    );
    big.resize(onshi_formats::terminal_xml::MAX_MESSAGE_BYTES + 1024, b' ');
    let (_, r) = ask(t.dir.as_path(), "OQSsiquc01req_big.xml", &big).await;
    assert_eq!(r.header.error_code.as_deref(), Some("1008"));
    assert!(
        r.header
            .error_message
            .unwrap_or_default()
            .contains("大きすぎます")
    );
    // the header's date was still echoed from the head of the file
    assert_eq!(
        r.header.qualification_confirmation_date.as_deref(),
        Some(DAY)
    );
}
