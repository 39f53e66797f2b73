//! Unit and property tests of the UKE reader and writer. The golden files (written by hand)
//! are tested in `tests/uke_golden.rs`.

use std::io::Cursor;

use proptest::prelude::*;

use super::*;

/// Windows-31J bytes of a UTF-8 text, lines joined with CR LF (the test's own encoding, not
/// the writer's).
fn sjis(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        let (b, _, bad) = encoding_rs::SHIFT_JIS.encode(l);
        assert!(!bad, "test text not encodable: {l}");
        out.extend_from_slice(&b);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn records(bytes: &[u8]) -> Vec<Result<Record, UkeErrors>> {
    RecordReader::new(Cursor::new(bytes)).collect()
}

fn only_error(bytes: &[u8]) -> UkeError {
    let all: Vec<UkeError> = records(bytes)
        .into_iter()
        .filter_map(Result::err)
        .flat_map(|e| e.0)
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

fn write_one(r: &Record) -> Result<Vec<u8>, UkeWriteError> {
    let mut w = UkeWriter::new(Vec::new());
    w.write_record(r)?;
    w.finish_without_eof_mark()
}

const IR: &str = "IR,1,13,1,1234567,,オンシ診療所,202510,00,03-1234-5678";
const RE: &str =
    "RE,1,1112,202509,山田　太郎,1,19800401,,,,,,,123,,,,,,,,,,,,,,,,,,,,,,,ヤマダタロウ,";
const HO: &str = "HO,06130012,１２３,４５６７,2,580,,,,,,1740,,,";
const SN: &str = "SN,1,01,,,,00,,";
const JD: &str = "JD,1,,,1,,,,,,,,1,,,,,,,,,,,,,,,,,,,,";
const SY: &str = "SY,0000999,20250903,1,,かぜ,01,";
const SI: &str = "SI,12,1,112007410,,76,2,,,,,,,,,1,,,,,,,,1,,,,,,,,,,,,,,,,,,,,";
const CO: &str = "CO,01,1,810000001,不詳";
const GO: &str = "GO,1,580,99";

#[test]
fn layouts_have_the_field_counts_of_the_record_layout() {
    let want = [
        ("IR", 10),
        ("RE", 38),
        ("HO", 15),
        ("KO", 12),
        ("SN", 9),
        ("JD", 33),
        ("MF", 33),
        ("SY", 8),
        ("SI", 44),
        ("IY", 44),
        ("TO", 48),
        ("CO", 5),
        ("SJ", 3),
        ("GO", 4),
    ];
    for (id, n) in want {
        let spec = Record::layout(id).unwrap();
        assert_eq!(spec.len(), n, "{id}");
        for (i, f) in spec.iter().enumerate() {
            assert_eq!(f.number, i + 1, "{id} {}", f.ja);
        }
    }
    assert!(Record::layout("KH").is_none());
}

#[test]
fn reads_a_small_claim_field_by_field() {
    let bytes = sjis(&[IR, RE, HO, SN, JD, SY, SI, CO, GO]);
    let file = UkeFile::read(Cursor::new(&bytes)).unwrap();
    assert_eq!(file.ir.facility_code.as_str(), "1234567");
    assert_eq!(file.ir.billing_month.to_string(), "202510");
    assert_eq!(file.ir.facility_name.as_deref(), Some("オンシ診療所"));
    assert!(!file.eof_mark);
    let c = &file.claims[0];
    assert_eq!(c.re().receipt_kind.as_str(), "1112");
    assert_eq!(c.insurer_number().unwrap().as_str(), "06130012");
    assert_eq!(c.ho().unwrap().kigou.as_deref(), Some("１２３"));
    assert_eq!(c.ho().unwrap().bangou.as_deref(), Some("４５６７"));
    let p = c.person();
    assert_eq!(p.kana_name, Some("ヤマダタロウ"));
    assert_eq!(p.birth_date.to_string(), "1980-04-01");
    assert_eq!(p.sex, "1");
    assert_eq!(c.service_month().to_string(), "202509");
    assert_eq!(c.service_days(), vec![3, 11]);
    assert_eq!(c.total_points(), 580);
    assert_eq!(c.ichibu_futankin(), Some(1740));
    assert_eq!(c.free_comments(), vec!["不詳"]);
    assert_eq!(c.confirmation(), Some(sn::KAKUNIN_FACILITY));
    assert_eq!(file.go.total_points.value(), 580);
    // and back, byte for byte
    assert_eq!(file.to_bytes().unwrap(), bytes);
}

#[test]
fn service_days_come_from_the_si_day_counts_without_jd() {
    let bytes = sjis(&[IR, RE, HO, SN, SY, SI, GO]);
    let file = UkeFile::read(Cursor::new(&bytes)).unwrap();
    // SI 算定日: fields 14–44 are days 1–31; the SI above counts on days 3 and 11
    assert_eq!(file.claims[0].service_days(), vec![3, 11]);
}

#[test]
fn eof_mark_is_accepted_not_required_and_kept() {
    let mut bytes = sjis(&[IR, RE, HO, GO]);
    let without = UkeFile::read(Cursor::new(&bytes)).unwrap();
    assert!(!without.eof_mark);
    bytes.push(0x1a);
    let with = UkeFile::read(Cursor::new(&bytes)).unwrap();
    assert!(with.eof_mark);
    assert_eq!(with.to_bytes().unwrap(), bytes);
}

#[test]
fn data_after_the_eof_mark_is_an_error() {
    let mut bytes = sjis(&[IR, RE, HO]);
    bytes.push(0x1a);
    bytes.extend_from_slice(&sjis(&[GO]));
    let e = UkeFile::read(Cursor::new(&bytes)).unwrap_err();
    assert!(e.iter().any(|e| e.rule == Rule::DataAfterEof), "{e}");
}

#[test]
fn a_record_without_cr_lf_is_an_error() {
    let mut bytes = sjis(&[IR]);
    bytes.extend_from_slice(b"GO,1,580,99");
    let e = only_error(&bytes);
    assert_eq!(
        (e.line, e.record.as_str(), &e.rule),
        (2, "GO", &Rule::LineEnding)
    );
    let lf_only = b"GO,1,580,99\n".to_vec();
    assert_eq!(only_error(&lf_only).rule, Rule::LineEnding);
}

#[test]
fn errors_name_line_record_field_and_rule() {
    let bad_ho = "HO,0613001X,１２３,４５６７,2,580,,,,,,,,,";
    let e = only_error(&sjis(&[IR, RE, bad_ho]));
    assert_eq!(e.line, 3);
    assert_eq!(e.record, "HO");
    let f = e.field.clone().unwrap();
    assert_eq!((f.number, f.ja.as_str()), (2, "保険者番号"));
    assert_eq!(e.rule, Rule::BadInsurerNumber);
    assert_eq!(
        e.to_string(),
        "line 3, record HO, field 2 保険者番号 (insurer number): 8 digits, or a 6-digit 国保 number right-justified with two spaces"
    );
}

#[test]
fn every_error_of_a_record_and_of_a_file_is_reported() {
    // two bad fields in one HO, a bad date in SY, a wrong field count in SN
    let bad_ho = "HO,06130012,,,x,58a,,,,,,,,,";
    let bad_sy = "SY,0000999,20250931,1,,かぜ,01,";
    let bad_sn = "SN,1,01,,,00,,";
    let bytes = sjis(&[IR, RE, bad_ho, bad_sn, bad_sy, GO]);
    let e = UkeFile::read(Cursor::new(&bytes)).unwrap_err();
    let rules: Vec<(u64, &str, Option<usize>)> = e
        .iter()
        .map(|e| {
            (
                e.line,
                e.record.as_str(),
                e.field.as_ref().map(|f| f.number),
            )
        })
        .collect();
    assert_eq!(
        rules,
        vec![
            (3, "HO", Some(5)),
            (3, "HO", Some(6)),
            (4, "SN", None),
            (5, "SY", Some(3)),
        ],
        "{e}"
    );
    assert!(matches!(
        e.0[2].rule,
        Rule::FieldCount {
            expected: 9,
            found: 8
        }
    ));
    assert_eq!(e.0[3].rule, Rule::BadDate);
}

#[test]
fn widths_are_counted_in_shift_jis_bytes() {
    // 傷病名称 ≤ 400 bytes: 200 full-width characters fit, 201 do not
    let fits = format!("SY,0000999,20250903,1,,{},,", "あ".repeat(200));
    assert!(records(&sjis(&[&fits]))[0].is_ok());
    let wide = format!("SY,0000999,20250903,1,,{},,", "あ".repeat(201));
    let e = only_error(&sjis(&[&wide]));
    assert_eq!(
        e.rule,
        Rule::TooWide {
            max: 400,
            found: 402
        }
    );
    // 医療機関コード is fixed at 7
    let short = "IR,1,13,1,123456,,,202510,00,";
    assert_eq!(
        only_error(&sjis(&[short])).rule,
        Rule::TooNarrow { width: 7, found: 6 }
    );
}

#[test]
fn kana_name_and_free_comment_must_be_full_width() {
    let half = RE.replace("ヤマダタロウ", "ﾔﾏﾀﾞﾀﾛｳ");
    let e = only_error(&sjis(&[&half]));
    assert_eq!((e.field.unwrap().number, e.rule), (37, Rule::NotFullWidth));
    let ascii = "CO,01,1,810000001,abc";
    assert_eq!(only_error(&sjis(&[ascii])).rule, Rule::NotFullWidth);
}

#[test]
fn six_digit_kokuho_insurer_number_keeps_its_two_spaces() {
    let ho = "HO,  138057,,１２３４５,1,300,,,,,,,,,";
    let r = records(&sjis(&[ho])).remove(0).unwrap();
    let Record::Ho(h) = &r else { panic!("{r:?}") };
    assert_eq!(h.insurer_number.as_str(), "  138057");
    assert_eq!(h.insurer_number.digits(), "138057");
    assert!(h.insurer_number.is_six_digit_kokuho());
    assert_eq!(write_one(&r).unwrap(), sjis(&[ho]));
    assert_eq!(InsurerNo::parse("138057").unwrap().as_str(), "  138057");
}

#[test]
fn unknown_records_are_kept_and_written_back() {
    let kh = "KH,国保連固有の情報";
    let hr = "HR,01,,";
    let bytes = sjis(&[IR, kh, RE, HO, hr, GO]);
    let file = UkeFile::read(Cursor::new(&bytes)).unwrap();
    assert_eq!(
        file.before_claims,
        vec![Record::Other {
            id: "KH".into(),
            fields: vec!["国保連固有の情報".into()]
        }]
    );
    assert!(
        matches!(&file.claims[0].body()[1], Record::Other { id, fields } if id == "HR" && fields.len() == 3)
    );
    assert_eq!(file.to_bytes().unwrap(), bytes);
}

#[test]
fn bad_record_ids_and_bytes_that_are_not_windows_31j() {
    assert_eq!(only_error(b"hO,1\r\n").rule, Rule::BadRecordId);
    assert_eq!(only_error(b"\r\n").rule, Rule::EmptyLine);
    // 0x82 0x20 is a lead byte with an invalid trail
    let e = only_error(b"KH,\x82\x20\r\n");
    assert_eq!((e.field.unwrap().number, e.rule), (2, Rule::NotShiftJis));
    // 0xED40 (NEC-selected IBM extension) decodes, but onshi would write 0xFA5C: refused
    let e = only_error(b"KH,\xed\x40\r\n");
    assert_eq!(e.rule, Rule::NonCanonicalEncoding);
    // 0x8790 ≒ (NEC row 13) duplicates 0x81E0 of JIS X 0208: refused; 0x81E0 reads
    assert_eq!(
        only_error(b"KH,\x87\x90\r\n").rule,
        Rule::NonCanonicalEncoding
    );
    assert!(records(b"KH,\x81\xe0\r\n")[0].is_ok());
    // NEC row 13 characters without a duplicate (①, 0x8740) read and write back
    let r = records(b"KH,\x87\x40\r\n").remove(0).unwrap();
    assert_eq!(write_one(&r).unwrap(), b"KH,\x87\x40\r\n");
    // a quote inside a field
    assert_eq!(only_error(b"KH,a\"b\r\n").rule, Rule::ForbiddenChar('"'));
}

#[test]
fn a_line_longer_than_the_limit_is_reported_and_skipped() {
    let mut bytes = b"KH,".to_vec();
    bytes.extend(std::iter::repeat_n(b'a', MAX_LINE_BYTES + 10));
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(&sjis(&[GO]));
    let rs = records(&bytes);
    assert_eq!(rs.len(), 2);
    assert_eq!(
        rs[0].as_ref().unwrap_err().0[0].rule,
        Rule::LineTooLong {
            max: MAX_LINE_BYTES
        }
    );
    assert!(matches!(rs[1], Ok(Record::Go(_))));
}

#[test]
fn writer_refuses_values_that_do_not_fit() {
    let base = match records(&sjis(&[CO])).remove(0).unwrap() {
        Record::Co(c) => c,
        r => panic!("{r:?}"),
    };
    let with = |text: &str| {
        let mut c = base.clone();
        c.text = Some(text.into());
        write_one(&Record::Co(c))
    };
    let rule = |r: Result<Vec<u8>, UkeWriteError>| match r {
        Err(UkeWriteError::Invalid(e)) => e.0[0].rule.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(rule(with("東京、港区,1")), Rule::ForbiddenChar(','));
    assert_eq!(rule(with("東京\"港区")), Rule::ForbiddenChar('"'));
    assert_eq!(rule(with("東京\r\n港区")), Rule::ForbiddenChar('\r'));
    assert_eq!(
        rule(with(&"あ".repeat(201))),
        Rule::TooWide {
            max: 400,
            found: 402
        }
    );
    assert_eq!(rule(with("𠮷野家")), Rule::Unencodable('𠮷'));
    // the JIS wave dash has no Windows-31J code (its full-width tilde U+FF5E has)
    assert_eq!(rule(with("１日３回〜")), Rule::Unencodable('〜'));
    assert!(with("１日３回～").is_ok());
    // U+00A5 would be written as 0x5C and read back as a backslash
    let mut sy = match records(&sjis(&[SY])).remove(0).unwrap() {
        Record::Sy(s) => s,
        r => panic!("{r:?}"),
    };
    sy.name = Some("¥100".into());
    assert_eq!(
        rule(write_one(&Record::Sy(sy.clone()))),
        Rule::Unencodable('¥')
    );
    // U+2212 MINUS SIGN has no code of its own (the full-width hyphen-minus is U+FF0D)
    sy.name = Some("−1".into());
    assert_eq!(rule(write_one(&Record::Sy(sy))), Rule::Unencodable('−'));
    // an unknown record may not take a known id
    let fake = Record::Other {
        id: "HO".into(),
        fields: vec![],
    };
    assert_eq!(rule(write_one(&fake)), Rule::ReservedRecordId);
    // nothing of a refused record is written
    let mut w = UkeWriter::new(Vec::new());
    assert!(w.write_record(&fake).is_err());
    assert_eq!(w.finish_without_eof_mark().unwrap(), Vec::<u8>::new());
}

#[test]
fn writer_ends_every_record_with_cr_lf_and_the_file_with_0x1a() {
    let file = UkeFile::read(Cursor::new(sjis(&[IR, RE, HO, SN, GO]))).unwrap();
    let mut w = UkeWriter::new(Vec::new());
    w.write_record(&Record::Ir(file.ir.clone())).unwrap();
    w.write_claim(&file.claims[0]).unwrap();
    w.write_record(&Record::Go(file.go.clone())).unwrap();
    let bytes = w.finish().unwrap();
    let mut want = sjis(&[IR, RE, HO, SN, GO]);
    want.push(0x1a);
    assert_eq!(bytes, want);
}

#[test]
fn record_order_is_checked_per_claim() {
    let cases: [(&[&str], &str); 6] = [
        (&[RE, HO, GO], "the file must begin with IR"),
        (&[IR, HO, RE, HO, GO], "claim record before any RE"),
        (&[IR, RE, SY, HO, GO], "HO after a later record"),
        (&[IR, RE, HO, HO, GO], "more than one HO"),
        (&[IR, RE, HO], "the file must end with GO"),
        (&[IR, RE, SN, GO], "a claim needs an HO or a KO"),
    ];
    for (lines, want) in cases {
        let e = UkeFile::read(Cursor::new(sjis(lines))).unwrap_err();
        assert!(
            e.iter()
                .any(|e| matches!(&e.rule, Rule::Order(w) if w.contains(want))),
            "{want}: {e}"
        );
    }
    let after_go = UkeFile::read(Cursor::new(sjis(&[IR, RE, HO, GO, SY]))).unwrap_err();
    assert!(after_go.to_string().contains("no record may follow GO"));
}

#[test]
fn go_totals_must_match_the_claims() {
    let e = UkeFile::read(Cursor::new(sjis(&[IR, RE, HO, "GO,2,581,99"]))).unwrap_err();
    let rules: Vec<_> = e.iter().map(|e| e.rule.clone()).collect();
    assert_eq!(
        rules,
        vec![
            Rule::Total {
                expected: 1,
                found: 2
            },
            Rule::Total {
                expected: 580,
                found: 581
            }
        ]
    );
}

#[test]
fn claim_reader_skips_a_broken_claim_and_keeps_the_others() {
    let re2 = RE.replace("RE,1,", "RE,2,");
    let bad_re = RE.replace("RE,1,1112,202509", "RE,3,1112,202513");
    let bytes = sjis(&[IR, RE, HO, &bad_re, HO, SY, &re2, HO, GO]);
    let items: Vec<_> = ClaimReader::new(Cursor::new(bytes)).collect();
    let claims: Vec<&UkeClaim> = items
        .iter()
        .filter_map(|i| match i {
            Ok(FileItem::Claim(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(claims.len(), 2);
    assert_eq!(claims[1].re().receipt_number.as_str(), "2");
    assert_eq!(
        claims.iter().map(|c| c.first_line()).collect::<Vec<_>>(),
        vec![Some(2), Some(7)]
    );
    assert_eq!(UkeClaim::new(claims[0].re().clone()).first_line(), None);
    let errors: Vec<_> = items.iter().filter_map(|i| i.as_ref().err()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0[0].rule, Rule::BadYearMonth);
}

#[test]
fn claims_from_parts_and_helpers_for_the_claim_builder() {
    let file = UkeFile::read(Cursor::new(sjis(&[IR, RE, HO, JD, SY, CO, GO]))).unwrap();
    let c = &file.claims[0];
    let parts = ClaimParts {
        ho: c.ho().cloned(),
        sn: vec![Sn::facility(1, Some(Num::padded(0, 2)))],
        jd: c.jd().cloned().collect(),
        sy: c.sy().cloned().collect(),
        tekiyou: c.tekiyou().cloned().collect(),
        ..ClaimParts::default()
    };
    let built = UkeClaim::from_parts(c.re().clone(), parts).unwrap();
    let out = UkeFile::new(file.ir.clone(), vec![built]);
    let mut want = sjis(&[IR, RE, HO, SN, JD, SY, CO, GO]);
    want.push(0x1a);
    assert_eq!(out.to_bytes().unwrap(), want);
    assert!(
        UkeClaim::from_parts(
            c.re().clone(),
            ClaimParts {
                tekiyou: vec![Record::Go(file.go.clone())],
                ..ClaimParts::default()
            }
        )
        .is_err()
    );
}

#[test]
fn uncoded_diagnosis_uses_0000999_and_its_name() {
    let d = chrono::NaiveDate::from_ymd_opt(2025, 9, 3).unwrap();
    let sy = Sy::uncoded("かぜ", d, true);
    assert_eq!(sy.code.as_str(), sy::UNCODED_DIAGNOSIS);
    let bytes = write_one(&Record::Sy(sy)).unwrap();
    assert_eq!(bytes, sjis(&[SY]));
}

#[test]
fn r20_fushou_claim_is_recognised_by_its_insurer_number() {
    let ho = format!("HO,{FUSHOU_INSURER},,{FUSHOU_NUMBER},1,300,,,,,,,,,");
    let file = UkeFile::read(Cursor::new(sjis(&[IR, RE, &ho, SN, CO, "GO,1,300,99"]))).unwrap();
    let c = &file.claims[0];
    assert!(c.is_fushou());
    assert_eq!(c.ho().unwrap().kigou, None);
    assert_eq!(c.free_comments().first(), Some(&FUSHOU_TEXT));
}

// ---- property tests -------------------------------------------------------------------

const FULL: &[char] = &[
    'あ', 'ア', 'ン', 'ー', '漢', '字', '東', '京', '都', '１', '９', 'Ａ', '　', '（', '）', '・',
    '髙', '﨑', '①', 'Ⅲ',
];
const HALF: &[char] = &['a', 'Z', '0', '9', ' ', '-', '.', '/', 'ｱ', 'ﾝ', '(', ')'];

fn full_width(max_chars: usize, min_chars: usize) -> BoxedStrategy<String> {
    proptest::collection::vec(proptest::sample::select(FULL), min_chars..=max_chars)
        .prop_map(|v| v.into_iter().collect())
        .boxed()
}

fn from_set(set: &'static [char], min: usize, max: usize) -> BoxedStrategy<String> {
    proptest::collection::vec(proptest::sample::select(set), min..=max)
        .prop_map(|v| v.into_iter().collect())
        .boxed()
}

fn field_value(spec: &FieldSpec) -> BoxedStrategy<String> {
    let lo = spec.min.max(1);
    let hi = spec.max;
    let value = match spec.kind {
        Kind::Digits => from_set(&['0', '1', '2', '5', '7', '9'], lo, hi),
        Kind::Decimal => (1usize..=hi.min(6), 0usize..=hi.saturating_sub(7).min(4))
            .prop_map(|(i, d)| {
                if d == 0 {
                    "3".repeat(i)
                } else {
                    format!("{}.{}", "1".repeat(i), "5".repeat(d))
                }
            })
            .boxed(),
        Kind::Ascii => from_set(&['a', 'Z', '0', '9', ' ', '-', '.', '/', '(', ')'], lo, hi),
        Kind::FullWidth => full_width(hi / 2, lo.div_ceil(2)),
        Kind::Text => proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(FULL),
                proptest::sample::select(HALF)
            ],
            1..=hi,
        )
        .prop_map(move |v| {
            let mut s = String::new();
            let mut bytes = 0;
            for c in v {
                let w = if FULL.contains(&c) { 2 } else { 1 };
                if bytes + w > hi {
                    break;
                }
                bytes += w;
                s.push(c);
            }
            s
        })
        .boxed(),
        Kind::Date => (1900i32..2100, 1u32..=12, 1u32..=31)
            .prop_map(|(y, m, d)| {
                let d = d.min(28);
                format!("{y:04}{m:02}{d:02}")
            })
            .boxed(),
        Kind::YearMonth => (1900u32..2100, 1u32..=12)
            .prop_map(|(y, m)| format!("{y:04}{m:02}"))
            .boxed(),
        Kind::Insurer => prop_oneof![
            "[0-9]{8}".prop_map(|s| s),
            "[0-9]{6}".prop_map(|s| format!("  {s}")),
        ]
        .boxed(),
    };
    if spec.required {
        value
    } else {
        prop_oneof![1 => Just(String::new()), 3 => value].boxed()
    }
}

fn known_record(id: &'static str) -> BoxedStrategy<Record> {
    let spec = Record::layout(id).unwrap();
    let fields: Vec<BoxedStrategy<String>> = spec.iter().skip(1).map(field_value).collect();
    fields
        .prop_map(move |mut f| {
            f.insert(0, id.to_owned());
            Record::from_checked_in(&mut f)
        })
        .boxed()
}

fn other_record() -> BoxedStrategy<Record> {
    (
        "[A-Z][A-Z0-9]".prop_filter("unknown id", |id| !KNOWN_IDS.contains(&id.as_str())),
        proptest::collection::vec(prop_oneof![from_set(HALF, 0, 10), full_width(10, 0)], 0..6),
    )
        .prop_map(|(id, fields)| Record::Other { id, fields })
        .boxed()
}

fn any_record() -> BoxedStrategy<Record> {
    let mut all: Vec<BoxedStrategy<Record>> = KNOWN_IDS.iter().map(|id| known_record(id)).collect();
    all.push(other_record());
    proptest::strategy::Union::new(all).boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// parse(write(x)) == x for every record kind, over the whole domain its layout allows.
    #[test]
    fn parse_of_write_is_identity_for_every_record(r in any_record()) {
        let bytes = write_one(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(bytes.ends_with(b"\r\n"));
        let back: Vec<_> = records(&bytes);
        prop_assert_eq!(back.len(), 1);
        let back = back.into_iter().next().unwrap().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &r);
        // and the bytes again
        prop_assert_eq!(write_one(&back).unwrap(), bytes);
    }

    /// A whole file of generated claims reads back to the same file.
    #[test]
    fn parse_of_write_is_identity_for_a_file(
        ir in known_record("IR"),
        claims in proptest::collection::vec(
            (known_record("RE"), known_record("HO"),
                proptest::collection::vec(known_record("SY"), 0..3),
                proptest::collection::vec(
                prop_oneof![known_record("SI"), known_record("IY"),
                    known_record("TO"), known_record("CO"), known_record("SJ"), other_record()],
                0..5)),
            0..4),
    ) {
        let Record::Ir(ir) = ir else { unreachable!() };
        let claims: Vec<UkeClaim> = claims.into_iter().map(|(re, ho, sy, rest)| {
            let (Record::Re(re), Record::Ho(ho)) = (re, ho) else { unreachable!() };
            let sy = sy.into_iter().filter_map(|r| match r { Record::Sy(s) => Some(s), _ => None }).collect();
            let mut c = UkeClaim::from_parts(re, ClaimParts { ho: Some(ho), sy, ..Default::default() }).unwrap();
            for r in rest { c.push(r).unwrap(); }
            c
        }).collect();
        let file = UkeFile::new(ir, claims);
        let bytes = file.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(bytes.last(), Some(&0x1a));
        let back = UkeFile::read(Cursor::new(&bytes)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, file);
    }

    /// The reader never panics, whatever the bytes.
    #[test]
    fn reader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = UkeFile::read(Cursor::new(&bytes));
        for item in ClaimReader::new(Cursor::new(&bytes)) { let _ = item; }
    }

    /// Nor on lines that look like records: valid lines with bytes changed, cut or doubled.
    #[test]
    fn reader_never_panics_on_damaged_records(
        recs in proptest::collection::vec(any_record(), 1..6),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = Vec::new();
        for r in &recs { bytes.extend(write_one(r).unwrap()); }
        for (at, b) in edits { let i = at.index(bytes.len()); bytes[i] = b; }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep);
        for item in ClaimReader::new(Cursor::new(&bytes)) { let _ = item; }
        for item in RecordReader::new(Cursor::new(&bytes)) {
            if let Err(e) = item { prop_assert!(!e.is_empty()); }
        }
    }
}
