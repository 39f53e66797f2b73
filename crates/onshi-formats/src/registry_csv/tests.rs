//! Tests of the registry files: one test per rule (named after the rule id), line numbering,
//! round trips through the writers, and parsers that never panic.

use chrono::NaiveDate;
use onshi_domain::codes::{FamilyClass, LimitClass, ReasonOfLoss};
use onshi_domain::numbers::{InsurerNumber, MyNumber, Sex};
use proptest::prelude::*;

use super::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("test date")
}

fn my_number(seed: u8) -> String {
    let mut first = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1];
    first[10] = seed % 10;
    MyNumber::from_first11(&first)
        .expect("digits")
        .expose_digits()
}

/// A valid 本人 row of 協会けんぽ東京支部.
fn qrow() -> QualificationCsvRow {
    QualificationCsvRow {
        my_number: my_number(1),
        insurer_number: InsurerNumber::from_body("0113001")
            .expect("body")
            .as_str()
            .to_string(),
        insurer_name: "全国健康保険協会東京支部".into(),
        card_classification: "01".into(),
        symbol: "12345678".into(),
        number: "42".into(),
        branch: "00".into(),
        family_class: "1".into(),
        insured_name: "山田　太郎".into(),
        name: "山田　太郎".into(),
        name_kana: "ヤマダ　タロウ".into(),
        sex: "1".into(),
        birthdate: "19800401".into(),
        post_number: "1600022".into(),
        address: "東京都新宿区新宿１丁目２番３号".into(),
        employer: "株式会社東和システム".into(),
        qualification_date: "20150401".into(),
        disqualification_date: String::new(),
        reason_of_loss: String::new(),
        contribution_ratio: "030".into(),
        elderly_ratio: String::new(),
        elderly_valid_from: String::new(),
        elderly_valid_to: String::new(),
        limit_class: "A03".into(),
        preschool: String::new(),
        card_issuance_date: "20150410".into(),
        card_valid_from: "20150401".into(),
        card_valid_to: String::new(),
        ..QualificationCsvRow::default()
    }
}

fn crow() -> CardCsvRow {
    CardCsvRow {
        my_number: my_number(1),
        card_serial: "C000000000001".into(),
        pin: "1234".into(),
        cert_expiry: "20290401".into(),
        status: "active".into(),
        name: "山田　太郎".into(),
        name_kana: "ヤマダ　タロウ".into(),
        sex: "1".into(),
        birthdate: "19800401".into(),
        address: "東京都新宿区新宿１丁目２番３号".into(),
        cert_public_key: String::new(),
    }
}

fn qfile(rows: &[QualificationCsvRow]) -> Vec<u8> {
    let mut w = QualificationCsvWriter::new(Vec::new()).expect("header");
    for r in rows {
        w.write(r).expect("row");
    }
    w.into_inner().expect("flush")
}

fn cfile(rows: &[CardCsvRow]) -> Vec<u8> {
    let mut w = CardCsvWriter::new(Vec::new()).expect("header");
    for r in rows {
        w.write(r).expect("row");
    }
    w.into_inner().expect("flush")
}

fn read_q(bytes: &[u8]) -> Vec<Result<QualificationRecord, Vec<RowError>>> {
    read_qualifications("q.csv", bytes)
        .expect("header")
        .collect()
}

fn read_c(bytes: &[u8]) -> Vec<Result<CardRecord, Vec<RowError>>> {
    read_cards("c.csv", bytes).expect("header").collect()
}

/// The errors of the single row made from `row`.
fn q_errors(row: QualificationCsvRow) -> Vec<RowError> {
    let rows = read_q(&qfile(&[row]));
    assert_eq!(rows.len(), 1);
    match rows.into_iter().next() {
        Some(Err(e)) => e,
        other => panic!("expected errors, got {other:?}"),
    }
}

fn c_errors(row: CardCsvRow) -> Vec<RowError> {
    let rows = read_c(&cfile(&[row]));
    assert_eq!(rows.len(), 1);
    match rows.into_iter().next() {
        Some(Err(e)) => e,
        other => panic!("expected errors, got {other:?}"),
    }
}

fn q_ok(row: QualificationCsvRow) -> QualificationRecord {
    match read_q(&qfile(&[row])).into_iter().next() {
        Some(Ok(r)) => r,
        other => panic!("expected a record, got {other:?}"),
    }
}

fn c_ok(row: CardCsvRow) -> CardRecord {
    match read_c(&cfile(&[row])).into_iter().next() {
        Some(Ok(r)) => r,
        other => panic!("expected a record, got {other:?}"),
    }
}

/// Asserts exactly one error, on `column` with `rule`, and returns it.
fn one(errors: Vec<RowError>, column: &str, rule: &str) -> RowError {
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = errors.into_iter().next().expect("one error");
    assert_eq!((e.column.as_str(), e.rule), (column, rule), "{e}");
    e
}

// ---- accepted rows ----

#[test]
fn a_valid_qualification_row_reads_into_the_domain_model() {
    let r = q_ok(qrow());
    assert_eq!(r.line, 2);
    assert_eq!(r.my_number.expose_digits(), my_number(1));
    assert_eq!(r.person.name, "山田　太郎");
    assert_eq!(r.person.sex, Sex::Male);
    assert_eq!(r.person.birthdate, d(1980, 4, 1));
    assert_eq!(r.person.post_number.as_deref(), Some("1600022"));
    let q = &r.qualification;
    assert_eq!(q.insurer_number.as_str(), "01130012");
    assert_eq!(q.family_class, FamilyClass::Insured);
    assert_eq!(q.symbol.as_str(), "12345678");
    assert_eq!(q.branch.as_str(), "00");
    assert_eq!(q.contribution_ratio, Some(30));
    assert_eq!(q.limit_class, Some(LimitClass::A03));
    assert_eq!(q.disqualification_date, None);
    assert!(!q.preschool);
    assert!(q.elderly.is_none());
}

#[test]
fn empty_optionals_are_none() {
    let mut row = qrow();
    row.symbol.clear();
    row.post_number.clear();
    row.address.clear();
    row.employer.clear();
    row.contribution_ratio.clear();
    row.limit_class.clear();
    let r = q_ok(row);
    assert_eq!(r.qualification.symbol.as_str(), "");
    assert_eq!(r.person.post_number, None);
    assert_eq!(r.person.address, None);
    assert_eq!(r.qualification.employer, None);
    assert_eq!(r.qualification.contribution_ratio, None);
    assert_eq!(r.qualification.limit_class, None);
}

#[test]
fn a_lost_qualification_with_elderly_and_preschool_fields() {
    let mut row = qrow();
    row.disqualification_date = "20261001".into();
    row.reason_of_loss = "03".into();
    row.elderly_ratio = "20".into();
    row.elderly_valid_from = "20260801".into();
    row.elderly_valid_to = "20270731".into();
    row.preschool = "1".into();
    let r = q_ok(row);
    let q = &r.qualification;
    assert_eq!(q.disqualification_date, Some(d(2026, 10, 1)));
    assert_eq!(q.reason_of_loss, Some(ReasonOfLoss::OtherInsurance));
    let e = q.elderly.as_ref().expect("elderly");
    assert_eq!(
        (e.ratio, e.valid_from, e.valid_to),
        (20, d(2026, 8, 1), Some(d(2027, 7, 31)))
    );
    assert!(q.preschool);
}

#[test]
fn newborn_qualification_may_start_on_the_birth_day() {
    let mut row = qrow();
    row.birthdate = "20261101".into();
    row.qualification_date = "20261101".into();
    assert_eq!(q_ok(row).qualification.qualification_date, d(2026, 11, 1));
}

#[test]
fn kokuho_six_digit_insurer_and_full_width_symbol() {
    let mut row = qrow();
    row.insurer_number = InsurerNumber::from_body("13104")
        .expect("body")
        .as_str()
        .into();
    row.insurer_name = "新宿区".into();
    row.symbol = "１２".into();
    row.employer.clear();
    let r = q_ok(row);
    assert!(r.qualification.insurer_number.is_kokuho());
    assert_eq!(r.qualification.symbol.as_str(), "１２");
}

#[test]
fn a_valid_card_row_and_a_pin_less_card() {
    let r = c_ok(crow());
    assert_eq!(r.line, 2);
    assert_eq!(r.pin.as_deref(), Some("1234"));
    assert_eq!(r.status, CardStatusCode::Active);
    assert_eq!(r.cert_expiry, d(2029, 4, 1));
    let dbg = format!("{r:?}");
    assert!(
        !dbg.contains("1234\"") && !dbg.contains(&my_number(1)),
        "{dbg}"
    );
    let mut row = crow();
    row.pin.clear();
    row.address.clear();
    let r = c_ok(row);
    assert_eq!(r.pin, None);
    assert_eq!(r.address, None);
}

#[test]
fn card_status_codes_round_trip() {
    for s in CardStatusCode::ALL {
        assert_eq!(CardStatusCode::parse(s.code()), Some(s));
    }
    assert_eq!(CardStatusCode::parse("Active"), None);
}

// ---- one test per rule ----

#[test]
fn rule_header_missing_extra_and_misordered_columns() {
    let e = read_qualifications("q.csv", &b"my_number,insurer_number\n"[..])
        .err()
        .expect("header error");
    assert_eq!((e.line, e.rule), (1, rule::HEADER));
    assert_eq!(e.column, "insurer_name");
    assert!(e.message.contains(&QUALIFICATION_COLUMNS.join(",")), "{e}");
    assert!(e.message.contains("missing insurer_name"), "{e}");

    let mut cols = CARD_COLUMNS.to_vec();
    cols.swap(1, 2);
    let e = read_cards("c.csv", format!("{}\n", cols.join(",")).as_bytes())
        .err()
        .expect("header error");
    assert_eq!((e.rule, e.column.as_str()), (rule::HEADER, "card_serial"));
    assert!(e.message.contains("out of order"), "{e}");

    let e = read_cards(
        "c.csv",
        format!("{},photo\n", CARD_COLUMNS.join(",")).as_bytes(),
    )
    .err()
    .expect("header error");
    assert!(e.message.contains("unexpected photo"), "{e}");
    assert_eq!(e.to_string().split(':').next(), Some("c.csv"));

    let e = read_cards("c.csv", &b""[..]).err().expect("empty");
    assert_eq!((e.line, e.rule), (1, rule::HEADER));
    // The header of the other file is refused too.
    assert!(read_cards("c.csv", &qfile(&[])[..]).is_err());
}

#[test]
fn cards_certificate_key_read_as_bytes_checked_and_optional() {
    let key = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    let mut with_key = crow();
    with_key.cert_public_key = key.to_uppercase();
    let mut bad = crow();
    bad.card_serial = "C000000000002".into();
    bad.cert_public_key = "3d40".into();
    let rows = read_c(&cfile(&[with_key, crow(), bad]));
    let got = rows[0].as_ref().expect("a row with its key");
    assert_eq!(got.cert_public_key.map(hex::encode).as_deref(), Some(key));
    assert_eq!(
        rows[1].as_ref().expect("a row without").cert_public_key,
        None
    );
    let errs = rows[2].as_ref().expect_err("a short key");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        (errs[0].column.as_str(), errs[0].rule, errs[0].line),
        ("cert_public_key", rule::FORMAT, 4)
    );
    assert!(errs[0].message.contains("64 hex digits"), "{}", errs[0]);

    // A file of the format before the column: ten columns, every key absent.
    let header = CARD_COLUMNS[..CARD_COLUMNS_REQUIRED].join(",");
    let row = crow().fields()[..CARD_COLUMNS_REQUIRED].join(",");
    let rows = read_c(format!("{header}\n{row}\n").as_bytes());
    assert!(
        matches!(&rows[..], [Ok(r)] if r.cert_public_key.is_none() && r.card_serial == "C000000000001"),
        "{rows:?}"
    );
    // Nine columns are too few.
    let e = read_cards(
        "c.csv",
        format!("{}\n", CARD_COLUMNS[..9].join(",")).as_bytes(),
    )
    .err()
    .expect("header error");
    assert_eq!((e.rule, e.column.as_str()), (rule::HEADER, "address"));
}

#[test]
fn header_tolerates_a_bom_and_crlf() {
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend(cfile(&[crow()]));
    let text = String::from_utf8(bytes)
        .expect("utf8")
        .replace('\n', "\r\n");
    let rows = read_c(text.as_bytes());
    assert!(matches!(&rows[..], [Ok(r)] if r.line == 2), "{rows:?}");
}

#[test]
fn rule_malformed_wrong_field_count() {
    let mut bytes = cfile(&[crow()]);
    bytes.extend(b"123,456\n");
    bytes.extend(cfile(&[crow()]).split(|&b| b == b'\n').nth(1).expect("row"));
    bytes.extend(b",extra\n");
    let rows = read_c(&bytes);
    assert_eq!(rows.len(), 3);
    assert!(rows[0].is_ok());
    let e = one(rows[1].clone().expect_err("short"), "pin", rule::MALFORMED);
    assert_eq!(e.line, 3);
    assert!(e.message.contains("2 fields"), "{e}");
    let e = one(rows[2].clone().expect_err("long"), "(row)", rule::MALFORMED);
    assert_eq!(e.line, 4);
}

#[test]
fn rule_malformed_unbalanced_quote_swallows_the_rest_into_one_error() {
    let mut bytes = cfile(&[crow()]);
    bytes.extend("\"unclosed,C1,1234\n".as_bytes());
    bytes.extend(cfile(&[crow()]).split(|&b| b == b'\n').nth(1).expect("row"));
    bytes.push(b'\n');
    let rows = read_c(&bytes);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let errors = rows[1].clone().expect_err("unbalanced");
    assert_eq!(errors[0].line, 3);
    assert_eq!(errors[0].rule, rule::MALFORMED);
}

#[test]
fn rule_malformed_line_break_inside_a_quoted_field() {
    let mut row = crow();
    row.address = "東京都\n新宿区".into();
    let e = one(c_errors(row), "address", rule::MALFORMED);
    assert!(e.message.contains("line break"), "{e}");
}

#[test]
fn rule_malformed_a_runaway_record_stops_reading_with_bounded_memory() {
    let mut bytes = cfile(&[]);
    bytes.push(b'"');
    bytes.extend(std::iter::repeat_n(b'x', 3 << 20));
    let rows = read_c(&bytes);
    assert_eq!(rows.len(), 1);
    let e = one(
        rows[0].clone().expect_err("runaway"),
        "(row)",
        rule::MALFORMED,
    );
    assert!(e.message.contains("unbalanced quote"), "{e}");
}

#[test]
fn rule_encoding_invalid_utf8_names_the_column() {
    let mut bytes = cfile(&[]);
    let row = crow();
    let mut fields: Vec<Vec<u8>> = row.fields().iter().map(|f| f.as_bytes().to_vec()).collect();
    fields[5] = vec![0x8e, 0x52, 0x93, 0x63]; // 山田 in Shift_JIS
    bytes.extend(fields.join(&b","[..]));
    bytes.push(b'\n');
    let rows = read_c(&bytes);
    one(rows[0].clone().expect_err("sjis"), "name", rule::ENCODING);
}

#[test]
fn rule_io_a_failing_reader_ends_with_one_error() {
    struct Failing(Vec<u8>, usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1 >= self.0.len() {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = buf.len().min(self.0.len() - self.1).min(10);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    let mut bytes = cfile(&[crow()]);
    bytes.truncate(bytes.len() - 1);
    let rows: Vec<_> = read_cards("c.csv", Failing(bytes, 0))
        .expect("header")
        .collect();
    assert_eq!(rows.len(), 1);
    let e = one(rows[0].clone().expect_err("io"), "(row)", rule::IO);
    assert!(e.message.contains("disk gone"), "{e}");
}

#[test]
fn rule_required_fields() {
    for col in [
        "my_number",
        "insurer_number",
        "insurer_name",
        "card_classification",
        "number",
        "branch",
        "family_class",
        "insured_name",
        "name",
        "name_kana",
        "sex",
        "birthdate",
        "qualification_date",
    ] {
        let mut row = qrow();
        let i = QUALIFICATION_COLUMNS
            .iter()
            .position(|c| *c == col)
            .expect("column");
        let mut fields: Vec<String> = row.fields().iter().map(|s| s.to_string()).collect();
        fields[i].clear();
        set_q(&mut row, &fields);
        one(q_errors(row), col, rule::REQUIRED);
    }
    for col in [
        "my_number",
        "card_serial",
        "cert_expiry",
        "status",
        "name",
        "name_kana",
        "sex",
        "birthdate",
    ] {
        let mut row = crow();
        let i = CARD_COLUMNS.iter().position(|c| *c == col).expect("column");
        let mut fields: Vec<String> = row.fields().iter().map(|s| s.to_string()).collect();
        fields[i].clear();
        set_c(&mut row, &fields);
        one(c_errors(row), col, rule::REQUIRED);
    }
}

#[test]
fn rule_required_reason_of_loss_once_lost() {
    let mut row = qrow();
    row.disqualification_date = "20261001".into();
    one(q_errors(row), "reason_of_loss", rule::REQUIRED);
}

#[test]
fn rule_only_with_reason_of_loss_without_loss() {
    let mut row = qrow();
    row.reason_of_loss = "03".into();
    one(q_errors(row), "reason_of_loss", rule::ONLY_WITH);
}

#[test]
fn rule_only_with_pin_locked_needs_a_pin() {
    let mut row = crow();
    row.status = "pin_locked".into();
    assert_eq!(c_ok(row.clone()).status, CardStatusCode::PinLocked);
    row.pin.clear();
    one(c_errors(row), "status", rule::ONLY_WITH);
}

#[test]
fn rule_all_or_nothing_elderly_fields() {
    let mut row = qrow();
    row.elderly_ratio = "20".into();
    let errors = q_errors(row);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors.iter().all(|e| e.rule == rule::ALL_OR_NOTHING));
    assert_eq!(errors[0].column, "elderly_valid_from");
    assert_eq!(errors[1].column, "elderly_valid_to");
}

#[test]
fn rule_format_of_numbers_serials_pins_and_post_numbers() {
    let mut row = qrow();
    row.my_number = "1234".into();
    let e = one(q_errors(row), "my_number", rule::FORMAT);
    assert!(!e.message.contains("1234"), "{e}");

    let mut row = qrow();
    row.insurer_number = "0113001".into();
    one(q_errors(row), "insurer_number", rule::FORMAT);

    let mut row = qrow();
    row.branch = "0".into();
    one(q_errors(row), "branch", rule::FORMAT);

    for bad in ["160002", "160-00222", "16O0022", "１６００００２"] {
        let mut row = qrow();
        row.post_number = bad.into();
        one(q_errors(row), "post_number", rule::FORMAT);
    }
    let mut row = qrow();
    row.post_number = "160-0022".into();
    assert_eq!(q_ok(row).person.post_number.as_deref(), Some("1600022"));

    for bad in ["C-1", "カード", &"A".repeat(33)] {
        let mut row = crow();
        row.card_serial = bad.into();
        one(c_errors(row), "card_serial", rule::FORMAT);
    }
    let mut row = crow();
    row.card_serial = "a".repeat(32);
    assert!(c_ok(row).card_serial.len() == 32);

    for bad in ["123", "12345", "12a4", "１２３４"] {
        let mut row = crow();
        row.pin = bad.into();
        let e = one(c_errors(row), "pin", rule::FORMAT);
        assert!(!e.message.contains(bad), "{e}");
    }

    let mut row = qrow();
    row.birthdate = "1980-04-01".into();
    one(q_errors(row), "birthdate", rule::FORMAT);

    let mut row = qrow();
    row.address = "東京都\u{7}新宿区".into();
    one(q_errors(row), "address", rule::FORMAT);
}

#[test]
fn rule_check_digit_of_my_number_and_insurer_number() {
    let mut row = qrow();
    let mut digits = my_number(1).into_bytes();
    digits[11] = b'0' + (digits[11] - b'0' + 1) % 10;
    let bad = String::from_utf8(digits).expect("ascii");
    row.my_number = bad.clone();
    let e = one(q_errors(row), "my_number", rule::CHECK_DIGIT);
    assert!(
        !e.message.contains(&bad) && !e.to_string().contains(&bad),
        "{e}"
    );

    let mut row = qrow();
    row.insurer_number = "01130013".into();
    one(q_errors(row), "insurer_number", rule::CHECK_DIGIT);

    let mut row = crow();
    row.my_number = bad;
    one(c_errors(row), "my_number", rule::CHECK_DIGIT);
}

#[test]
fn rule_impossible_date() {
    for bad in ["20230229", "20231301", "20230400", "18671231"] {
        let mut row = qrow();
        row.qualification_date = bad.into();
        one(q_errors(row), "qualification_date", rule::IMPOSSIBLE_DATE);
    }
    let mut row = crow();
    row.cert_expiry = "20270230".into();
    one(c_errors(row), "cert_expiry", rule::IMPOSSIBLE_DATE);
}

#[test]
fn rule_unknown_code_in_each_code_column() {
    let cases: [(&str, &str); 7] = [
        ("card_classification", "1"),
        ("family_class", "3"),
        ("sex", "0"),
        ("reason_of_loss", "3"),
        ("limit_class", "A07"),
        ("preschool", "0"),
        ("sex", "男"),
    ];
    for (col, bad) in cases {
        let mut row = qrow();
        if col == "reason_of_loss" {
            row.disqualification_date = "20261001".into();
        }
        let i = QUALIFICATION_COLUMNS
            .iter()
            .position(|c| *c == col)
            .expect("column");
        let mut fields: Vec<String> = row.fields().iter().map(|s| s.to_string()).collect();
        fields[i] = bad.into();
        set_q(&mut row, &fields);
        let e = one(q_errors(row), col, rule::UNKNOWN_CODE);
        assert!(
            e.message.contains(col) || e.message.contains("OQSCD"),
            "{e}"
        );
    }
    let mut row = crow();
    row.status = "lost".into();
    one(c_errors(row), "status", rule::UNKNOWN_CODE);
}

#[test]
fn rule_order_of_dates() {
    let mut row = qrow();
    row.qualification_date = "19800331".into();
    let e = one(q_errors(row), "qualification_date", rule::ORDER);
    assert!(e.message.contains("before birthdate"), "{e}");

    for same_or_before in ["20150401", "20150301"] {
        let mut row = qrow();
        row.disqualification_date = same_or_before.into();
        row.reason_of_loss = "03".into();
        one(q_errors(row), "disqualification_date", rule::ORDER);
    }

    let mut row = qrow();
    row.elderly_ratio = "20".into();
    row.elderly_valid_from = "20270801".into();
    row.elderly_valid_to = "20270731".into();
    one(q_errors(row), "elderly_valid_to", rule::ORDER);
}

#[test]
fn rule_kana_name_must_be_kana() {
    let mut row = qrow();
    row.name_kana = "山田　太郎".into();
    one(q_errors(row), "name_kana", rule::KANA);
    let mut row = crow();
    row.name_kana = "YAMADA TARO".into();
    one(c_errors(row), "name_kana", rule::KANA);
}

#[test]
fn rule_ratio_values() {
    for (given, want) in [
        ("030", 30),
        ("30", 30),
        ("020", 20),
        ("10", 10),
        ("010", 10),
    ] {
        let mut row = qrow();
        row.contribution_ratio = given.into();
        assert_eq!(
            q_ok(row).qualification.contribution_ratio,
            Some(want),
            "{given}"
        );
    }
    for bad in ["0", "000", "25", "040", "100"] {
        let mut row = qrow();
        row.contribution_ratio = bad.into();
        one(q_errors(row), "contribution_ratio", rule::RATIO);
    }
    for bad in ["3割", "0030", "-30"] {
        let mut row = qrow();
        row.contribution_ratio = bad.into();
        one(q_errors(row), "contribution_ratio", rule::FORMAT);
    }
    let mut row = qrow();
    row.elderly_ratio = "15".into();
    row.elderly_valid_from = "20260801".into();
    row.elderly_valid_to = "20270731".into();
    one(q_errors(row), "elderly_ratio", rule::RATIO);
}

#[test]
fn every_rule_id_is_distinct_and_short() {
    let mut ids = rule::ALL.to_vec();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), rule::ALL.len());
    assert!(
        ids.iter()
            .all(|r| r.len() <= 16 && r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    );
}

// ---- rows with several faults, display ----

#[test]
fn a_row_reports_every_wrong_field() {
    let mut row = qrow();
    row.insurer_number = "01130013".into();
    row.sex = "9".into();
    row.name_kana = "yamada".into();
    row.birthdate = "20230229".into();
    row.contribution_ratio = "0".into();
    let errors = q_errors(row);
    let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.column.as_str(), e.rule)).collect();
    assert_eq!(
        got,
        [
            ("insurer_number", rule::CHECK_DIGIT),
            ("name_kana", rule::KANA),
            ("sex", rule::UNKNOWN_CODE),
            ("birthdate", rule::IMPOSSIBLE_DATE),
            ("contribution_ratio", rule::RATIO),
        ]
    );
}

#[test]
fn error_display_names_file_line_and_column() {
    let mut row = qrow();
    row.sex = "9".into();
    let e = one(q_errors(row), "sex", rule::UNKNOWN_CODE);
    let s = e.to_string();
    assert!(s.starts_with("q.csv:2: column sex: "), "{s}");
}

// ---- line numbers ----

#[test]
fn lines_are_physical_with_crlf_blank_lines_and_quoted_line_breaks() {
    let header = CARD_COLUMNS.join(",");
    let good = cfile(&[crow()]);
    let good_row = String::from_utf8(good).expect("utf8");
    let good_row = good_row.lines().nth(1).expect("row").to_string();
    let mut bad = crow();
    bad.sex = "9".into();
    let bad_row = String::from_utf8(cfile(&[bad])).expect("utf8");
    let bad_row = bad_row.lines().nth(1).expect("row").to_string();
    let mut multi = crow();
    multi.address = "a\nb".into();
    let multi_row = String::from_utf8(cfile(&[multi])).expect("utf8");
    let multi_row = multi_row
        .split_once('\n')
        .expect("header")
        .1
        .trim_end()
        .to_string();

    for eol in ["\n", "\r\n"] {
        // line 1 header, 2 good, 3 blank, 4 bad, 5–6 multi-line, 7 blank, 8 blank, 9 bad (no EOL)
        let text = [
            header.as_str(),
            &good_row,
            "",
            &bad_row,
            &multi_row,
            "",
            "",
            &bad_row,
        ]
        .join(eol);
        let rows = read_c(text.as_bytes());
        let lines: Vec<u64> = rows
            .iter()
            .map(|r| match r {
                Ok(rec) => rec.line,
                Err(e) => e[0].line,
            })
            .collect();
        assert_eq!(lines, [2, 4, 5, 9], "eol {eol:?}");
        let mut with_eol = text.clone();
        with_eol.push_str(eol);
        let rows = read_c(with_eol.as_bytes());
        assert_eq!(
            rows.last()
                .and_then(|r| r.as_ref().err())
                .map(|e| e[0].line),
            Some(9)
        );
    }
}

#[test]
fn many_rows_keep_their_lines_across_buffer_refills() {
    let rows: Vec<CardCsvRow> = (0..5000)
        .map(|i| {
            let mut r = crow();
            r.card_serial = format!("C{i}");
            if i % 997 == 0 {
                r.sex = "x".into();
            }
            r
        })
        .collect();
    let text = String::from_utf8(cfile(&rows))
        .expect("utf8")
        .replace('\n', "\r\n");
    for (i, r) in read_c(text.as_bytes()).into_iter().enumerate() {
        let line = i as u64 + 2;
        match r {
            Ok(rec) => assert_eq!(rec.line, line),
            Err(e) => {
                assert_eq!(i % 997, 0);
                assert_eq!(e[0].line, line);
            }
        }
    }
}

// ---- round trips ----

#[test]
fn qualification_rows_round_trip_through_writer_and_reader() {
    let mut lost = qrow();
    lost.disqualification_date = "20261001".into();
    lost.reason_of_loss = "03".into();
    lost.elderly_ratio = "030".into();
    lost.elderly_valid_from = "20260801".into();
    lost.elderly_valid_to = "20270731".into();
    let mut quoted = qrow();
    quoted.employer = "株式会社\"東和\",本社".into();
    quoted.post_number = "160-0022".into();
    let rows = vec![qrow(), lost, quoted];
    for (i, r) in read_q(&qfile(&rows)).into_iter().enumerate() {
        let rec = r.expect("valid");
        assert_eq!(rec.line, i as u64 + 2);
        let mut want = rows[i].clone();
        want.post_number = want.post_number.replace('-', "");
        assert_eq!(QualificationCsvRow::from_record(&rec), want);
    }
}

#[test]
fn card_rows_round_trip_through_writer_and_reader() {
    let mut pinless = crow();
    pinless.pin.clear();
    let rows = vec![crow(), pinless];
    for (i, r) in read_c(&cfile(&rows)).into_iter().enumerate() {
        assert_eq!(CardCsvRow::from_record(&r.expect("valid")), rows[i]);
    }
}

#[test]
fn writer_row_clear_keeps_nothing() {
    let mut r = qrow();
    r.clear();
    assert_eq!(r, QualificationCsvRow::default());
    let mut c = crow();
    c.clear();
    assert_eq!(c, CardCsvRow::default());
}

fn set_q(row: &mut QualificationCsvRow, fields: &[String]) {
    let mut it = fields.iter().cloned();
    let mut next = || it.next().unwrap_or_default();
    *row = QualificationCsvRow {
        my_number: next(),
        insurer_number: next(),
        insurer_name: next(),
        card_classification: next(),
        symbol: next(),
        number: next(),
        branch: next(),
        family_class: next(),
        insured_name: next(),
        name: next(),
        name_kana: next(),
        sex: next(),
        birthdate: next(),
        post_number: next(),
        address: next(),
        employer: next(),
        qualification_date: next(),
        disqualification_date: next(),
        reason_of_loss: next(),
        contribution_ratio: next(),
        elderly_ratio: next(),
        elderly_valid_from: next(),
        elderly_valid_to: next(),
        limit_class: next(),
        preschool: next(),
        card_issuance_date: next(),
        card_valid_from: next(),
        card_valid_to: next(),
        name_of_other: next(),
        name_of_other_kana: next(),
        sex2: next(),
        elderly_certificate_date: next(),
        limit_certificate_classification: next(),
        limit_certificate_date: next(),
        limit_valid_from: next(),
        limit_valid_to: next(),
        limit_long_term_date: next(),
        specific_diseases: next(),
        registration_date: next(),
    };
}

fn set_c(row: &mut CardCsvRow, fields: &[String]) {
    let mut it = fields.iter().cloned();
    let mut next = || it.next().unwrap_or_default();
    *row = CardCsvRow {
        my_number: next(),
        card_serial: next(),
        pin: next(),
        cert_expiry: next(),
        status: next(),
        name: next(),
        name_kana: next(),
        sex: next(),
        birthdate: next(),
        address: next(),
        cert_public_key: next(),
    };
}

// ---- never panic ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn readers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(rows) = read_qualifications("q.csv", &bytes[..]) {
            for _ in rows {}
        }
        if let Ok(rows) = read_cards("c.csv", &bytes[..]) {
            for _ in rows {}
        }
    }

    #[test]
    fn readers_never_panic_on_arbitrary_bodies_after_a_valid_header(body in "(?s).{0,400}|[\",\\r\\n0-9a-z ー　ア-ン]{0,400}") {
        let mut q = qfile(&[]);
        q.extend(body.as_bytes());
        for r in read_qualifications("q.csv", &q[..]).expect("header") {
            if let Err(errors) = r {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(rule::ALL.contains(&e.rule));
                    prop_assert!(e.line >= 2);
                }
            }
        }
        let mut c = cfile(&[]);
        c.extend(body.as_bytes());
        for r in read_cards("c.csv", &c[..]).expect("header") {
            if let Err(errors) = r {
                prop_assert!(!errors.is_empty());
            }
        }
    }

    #[test]
    fn any_single_field_replaced_by_anything_is_a_record_or_errors(
        col in 0usize..25,
        value in "\\PC{0,12}|[0-9]{0,13}",
    ) {
        let mut row = qrow();
        let mut fields: Vec<String> = row.fields().iter().map(|s| s.to_string()).collect();
        fields[col] = value;
        set_q(&mut row, &fields);
        let rows = read_q(&qfile(&[row]));
        prop_assert_eq!(rows.len(), 1);
        if let Err(errors) = &rows[0] {
            prop_assert!(errors.iter().all(|e| rule::ALL.contains(&e.rule)));
        }
    }

    #[test]
    fn card_field_replaced_by_anything_is_a_record_or_errors(
        col in 0usize..10,
        value in "\\PC{0,12}|[0-9]{0,13}",
    ) {
        let mut row = crow();
        let mut fields: Vec<String> = row.fields().iter().map(|s| s.to_string()).collect();
        fields[col] = value;
        set_c(&mut row, &fields);
        let rows = read_c(&cfile(&[row]));
        prop_assert_eq!(rows.len(), 1);
    }
}

#[test]
fn errors_never_show_a_my_number() {
    let mut row = qrow();
    row.sex = "9".into();
    for e in q_errors(row) {
        assert!(!e.to_string().contains(&my_number(1)));
    }
    let _ = MyNumber::parse(&my_number(1)).expect("valid");
}

// ---- golden files (also shown in docs/formats/registry-csv.md) ----

const GOLDEN_QUALIFICATIONS: &str = include_str!("testdata/qualifications.csv");
const GOLDEN_CARDS: &str = include_str!("testdata/cards.csv");
const BAD_QUALIFICATIONS: &str = include_str!("testdata/qualifications_bad.csv");
const BAD_REPORT: &str = include_str!("testdata/qualifications_bad.report");
const DOC: &str = include_str!("../../../../docs/formats/registry-csv.md");

/// The error report of a file, one error per line, as `Display` writes them.
fn report<T>(rows: impl Iterator<Item = Result<T, Vec<RowError>>>) -> String {
    rows.filter_map(Result::err)
        .flatten()
        .map(|e| format!("{e}\n"))
        .collect()
}

#[test]
fn golden_files_read_without_errors_and_write_back_the_same() {
    let quals = read_q(GOLDEN_QUALIFICATIONS.as_bytes());
    let quals: Vec<QualificationRecord> =
        quals.into_iter().map(|r| r.expect("golden row")).collect();
    let rows: Vec<QualificationCsvRow> =
        quals.iter().map(QualificationCsvRow::from_record).collect();
    let written = String::from_utf8(qfile(&rows)).expect("utf8");
    // post numbers are stored without the hyphen
    assert_eq!(
        written,
        GOLDEN_QUALIFICATIONS.replace("176-0001", "1760001")
    );

    let cards: Vec<CardRecord> = read_c(GOLDEN_CARDS.as_bytes())
        .into_iter()
        .map(|r| r.expect("golden card"))
        .collect();
    let rows: Vec<CardCsvRow> = cards.iter().map(CardCsvRow::from_record).collect();
    assert_eq!(String::from_utf8(cfile(&rows)).expect("utf8"), GOLDEN_CARDS);

    // the family: three rows, one number, branches 00 01 02, one 本人
    let family: Vec<&QualificationRecord> = quals
        .iter()
        .filter(|r| r.qualification.number.as_str() == "4501")
        .collect();
    assert_eq!(family.len(), 3);
    assert_eq!(
        family
            .iter()
            .map(|r| r.qualification.branch.as_str())
            .collect::<Vec<_>>(),
        ["00", "01", "02"]
    );
    assert!(
        family
            .iter()
            .all(|r| r.qualification.insured_name == "山田　太郎")
    );
    assert!(family[2].qualification.preschool);
    // a history: two rows of one person, the first lost the day the second began
    let sato: Vec<&QualificationRecord> = quals
        .iter()
        .filter(|r| r.person.name == "佐藤　誠")
        .collect();
    assert_eq!(sato.len(), 2);
    assert_eq!(
        sato[0].qualification.disqualification_date,
        Some(sato[1].qualification.qualification_date)
    );
    // a PIN-less card and a locked PIN
    assert!(cards.iter().any(|c| c.pin.is_none()));
    assert!(cards.iter().any(|c| c.status == CardStatusCode::PinLocked));
}

#[test]
fn golden_bad_file_gives_the_documented_report() {
    let rows = read_qualifications("qualifications_bad.csv", BAD_QUALIFICATIONS.as_bytes())
        .expect("header");
    let got = report(rows);
    assert_eq!(got, BAD_REPORT, "actual report:\n{got}");
    let e = read_cards("qualifications.csv", GOLDEN_QUALIFICATIONS.as_bytes())
        .err()
        .expect("wrong header");
    assert!(
        DOC.contains(&e.to_string()),
        "doc lacks the header error:\n{e}"
    );
}

#[test]
fn the_format_page_shows_the_golden_files_verbatim() {
    for (name, text) in [
        ("qualifications.csv", GOLDEN_QUALIFICATIONS),
        ("cards.csv", GOLDEN_CARDS),
        ("qualifications_bad.csv", BAD_QUALIFICATIONS),
        ("report", BAD_REPORT),
    ] {
        assert!(
            DOC.contains(text),
            "docs/formats/registry-csv.md lacks {name}"
        );
    }
    for col in QUALIFICATION_COLUMNS.iter().chain(CARD_COLUMNS.iter()) {
        assert!(
            DOC.contains(&format!("| `{col}` |")),
            "column {col} undocumented"
        );
    }
    for r in rule::ALL {
        assert!(DOC.contains(&format!("`{r}`")), "rule {r} undocumented");
    }
}

// ---- the card / 資格確認書 dates and files of the first version ----

#[test]
fn card_dates_are_read_and_kept_in_order() {
    let mut row = qrow();
    row.card_issuance_date = "20251118".into();
    row.card_valid_from = "20251202".into();
    row.card_valid_to = "20301201".into();
    let r = q_ok(row.clone());
    let d = |s: &str| onshi_domain::wareki::parse_yyyymmdd(s).expect("date");
    assert_eq!(r.qualification.card_dates.issued_on, Some(d("20251118")));
    assert_eq!(r.qualification.card_dates.valid_from, Some(d("20251202")));
    assert_eq!(r.qualification.card_dates.valid_to, Some(d("20301201")));

    // the end before the start is refused, naming the column
    row.card_valid_to = "20251201".into();
    let e = one(q_errors(row.clone()), "card_valid_to", rule::ORDER);
    assert!(e.message.contains("before card_valid_from"), "{e}");
    row.card_valid_to = "20251301".into();
    one(
        q_errors(row.clone()),
        "card_valid_to",
        rule::IMPOSSIBLE_DATE,
    );
    // all three optional
    row.card_issuance_date.clear();
    row.card_valid_from.clear();
    row.card_valid_to.clear();
    let r = q_ok(row);
    assert_eq!(
        r.qualification.card_dates,
        onshi_domain::qualification::CardDates::default()
    );
}

/// A file of the format's first version: its header ends at `preschool`.
fn first_version_file(rows: &[QualificationCsvRow], width: usize) -> Vec<u8> {
    let mut out = QUALIFICATION_COLUMNS[..width].join(",");
    out.push('\n');
    for r in rows {
        out.push_str(&r.fields()[..width].join(","));
        out.push('\n');
    }
    out.into_bytes()
}

#[test]
fn files_of_the_first_version_without_the_card_dates_are_still_read() {
    let row = qrow();
    for width in QUALIFICATION_COLUMNS_REQUIRED..QUALIFICATION_COLUMNS.len() {
        let rows = read_q(&first_version_file(std::slice::from_ref(&row), width));
        let r = rows
            .into_iter()
            .next()
            .expect("one row")
            .unwrap_or_else(|e| panic!("width {width}: {e:?}"));
        assert_eq!(r.person.name, "山田　太郎");
        // the columns the file does not have read as empty
        if width <= 26 {
            assert_eq!(r.qualification.card_dates.valid_from, None, "width {width}");
        } else {
            assert!(r.qualification.card_dates.valid_from.is_some());
        }
    }
    // a row of the old width in a file with the new header is a malformed row, and the other
    // way round
    let mut mixed = first_version_file(std::slice::from_ref(&row), QUALIFICATION_COLUMNS.len());
    mixed.extend_from_slice(
        row.fields()[..QUALIFICATION_COLUMNS_REQUIRED]
            .join(",")
            .as_bytes(),
    );
    mixed.push(b'\n');
    let rows = read_q(&mixed);
    assert!(rows[0].is_ok());
    let e = rows[1].as_ref().expect_err("short row");
    assert_eq!(e[0].rule, rule::MALFORMED);
    assert_eq!(e[0].column, "card_issuance_date");
}

#[test]
fn a_header_shorter_than_the_first_version_or_out_of_order_is_refused() {
    let short = QUALIFICATION_COLUMNS[..QUALIFICATION_COLUMNS_REQUIRED - 1].join(",");
    let e = read_qualifications("q.csv", short.as_bytes())
        .err()
        .expect("short header");
    assert_eq!((e.rule, e.column.as_str()), (rule::HEADER, "preschool"));
    assert!(e.message.contains("missing preschool"), "{e}");
    let older = format!(
        "or its first 25 to {} columns",
        QUALIFICATION_COLUMNS.len() - 1
    );
    assert!(e.message.contains(&older), "{e}");
    let mut cols = QUALIFICATION_COLUMNS.to_vec();
    cols.swap(25, 27);
    let e = read_qualifications("q.csv", cols.join(",").as_bytes())
        .err()
        .expect("out of order");
    assert_eq!(
        (e.rule, e.column.as_str()),
        (rule::HEADER, "card_issuance_date")
    );
}

#[test]
fn details_other_name_sex2_certificates_and_in_school_are_read() {
    let mut row = qrow();
    row.name_of_other = "田村　太郎".into();
    row.name_of_other_kana = "たむら　たろう".into();
    row.sex2 = "2".into();
    row.preschool = "2".into();
    row.limit_certificate_classification = "02".into();
    row.limit_certificate_date = "20260325".into();
    row.limit_valid_from = "20260401".into();
    row.limit_valid_to = "20270331".into();
    row.limit_long_term_date = "20260901".into();
    row.specific_diseases = "1:20240325:20240401::10000;3::20250101:20251231:".into();
    let r = q_ok(row.clone());
    let d = &r.qualification.details;
    assert_eq!(d.name_of_other.as_deref(), Some("田村　太郎"));
    assert_eq!(d.sex2, Some(Sex::Female));
    assert!(d.in_school && !r.qualification.preschool);
    assert_eq!(
        d.limit_certificate.classification.map(|c| c.code()),
        Some("02")
    );
    assert_eq!(d.specific_diseases.len(), 2);
    assert_eq!(d.specific_diseases[0].self_pay, Some(10000));
    assert_eq!(d.specific_diseases[1].issued_on, None);
    // written back the same (kana normalised to katakana as everywhere)
    let back = QualificationCsvRow::from_record(&r);
    assert_eq!(back.specific_diseases, row.specific_diseases);
    assert_eq!(back.preschool, "2");

    let mut bad = row.clone();
    bad.specific_diseases = "4:20240325:20240401::".into();
    one(q_errors(bad), "specific_diseases", rule::UNKNOWN_CODE);
    let mut bad = row.clone();
    bad.specific_diseases = "1:20240325".into();
    let e = one(q_errors(bad), "specific_diseases", rule::FORMAT);
    assert!(
        e.message
            .contains("category:issued:valid_from:valid_to:self_pay"),
        "{e}"
    );
    let mut bad = row.clone();
    bad.limit_valid_to = "20260331".into();
    one(q_errors(bad), "limit_valid_to", rule::ORDER);
    let mut bad = row.clone();
    bad.elderly_certificate_date = "20260720".into();
    one(q_errors(bad), "elderly_certificate_date", rule::ONLY_WITH);
    let mut bad = row;
    bad.preschool = "3".into();
    one(q_errors(bad), "preschool", rule::UNKNOWN_CODE);
}

// ---- the registration date (R23) ----

/// `registration_date` reads into the qualification's details, in any order with the card's
/// issue date; a file that stops before it (38 columns) still reads, with none.
#[test]
fn registration_date_is_read_and_files_without_it_still_read() {
    let mut row = qrow();
    row.card_issuance_date = "20260410".into();
    row.registration_date = "20260420".into();
    let r = q_ok(row.clone());
    assert_eq!(r.qualification.details.registered_on, Some(d(2026, 4, 20)));
    assert_eq!(r.qualification.card_dates.issued_on, Some(d(2026, 4, 10)));
    // before the qualification date too (an insurer may register ahead)
    row.registration_date = "20180301".into();
    assert_eq!(
        q_ok(row.clone()).qualification.details.registered_on,
        Some(d(2018, 3, 1))
    );
    row.registration_date = String::new();
    assert_eq!(q_ok(row.clone()).qualification.details.registered_on, None);
    row.registration_date = "20260420".into();
    let old = first_version_file(std::slice::from_ref(&row), QUALIFICATION_COLUMNS.len() - 1);
    assert!(
        !String::from_utf8_lossy(&old).contains("registration_date"),
        "the file of the previous version has no such column"
    );
    let r = read_q(&old)
        .into_iter()
        .next()
        .expect("one row")
        .expect("a file without registration_date reads");
    assert_eq!(r.qualification.details.registered_on, None);
    assert_eq!(r.qualification.card_dates.issued_on, Some(d(2026, 4, 10)));
}

/// A bad registration date is refused naming the column and the rule.
#[test]
fn rule_format_and_impossible_date_of_registration_date() {
    for (bad, rule_id) in [
        ("2026-04-20", rule::FORMAT),
        ("令和8年4月20日", rule::FORMAT),
        ("20260431", rule::IMPOSSIBLE_DATE),
        ("18000101", rule::IMPOSSIBLE_DATE),
    ] {
        let mut row = qrow();
        row.registration_date = bad.into();
        let e = one(q_errors(row), "registration_date", rule_id);
        assert_eq!(e.column, "registration_date", "{bad}");
        assert_eq!(e.rule, rule_id, "{bad}");
    }
}

/// Rows read unparsed and parsed apart (on other threads, in the import) give what the parsed
/// rows give: the same records and the same errors with their lines, a bad file included.
#[test]
fn unparsed_rows_parse_to_what_the_rows_give() {
    for data in [
        include_str!("testdata/qualifications.csv"),
        include_str!("testdata/qualifications_bad.csv"),
    ] {
        let whole: Vec<_> = read_qualifications("q.csv", data.as_bytes())
            .expect("header")
            .collect();
        let (rows, parser) = read_qualifications("q.csv", data.as_bytes())
            .expect("header")
            .unparsed();
        let apart: Vec<_> = rows.map(|r| r.and_then(|raw| parser.parse(&raw))).collect();
        assert_eq!(whole, apart);
    }
    let cards = include_str!("testdata/cards.csv");
    let broken = format!("{cards}1234,C1\n\"unbalanced,");
    for data in [cards, broken.as_str()] {
        let whole: Vec<_> = read_cards("c.csv", data.as_bytes())
            .expect("header")
            .collect();
        let (rows, parser) = read_cards("c.csv", data.as_bytes())
            .expect("header")
            .unparsed();
        let apart: Vec<_> = rows.map(|r| r.and_then(|raw| parser.parse(&raw))).collect();
        assert_eq!(whole, apart);
        assert!(!whole.is_empty());
    }
}
