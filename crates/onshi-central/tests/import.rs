//! The insurers' bulk import: all or nothing, idempotent, and the mislink guard.

use onshi_card::{CardStore, PinHasher};
use onshi_central::fixture::{self, CARD_HEADER, QUAL_HEADER};
use onshi_central::import::{self, ImportReport, Input};
use onshi_domain::numbers::MyNumberHasher;
use onshi_store::{RegistryRead, SqliteStore};

struct Env {
    store: SqliteStore,
    hasher: MyNumberHasher,
    cards: CardStore,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    Env {
        store: SqliteStore::open(dir.path().join("i.sqlite")).unwrap(),
        hasher: MyNumberHasher::new(b"import-test-key-0001").unwrap(),
        cards: CardStore::open(
            dir.path().join("i.cards.sqlite"),
            PinHasher::new(b"import-test-pin-0001").unwrap(),
        )
        .unwrap(),
        _dir: dir,
    }
}

impl Env {
    fn run(&self, q: Option<&str>, c: Option<&str>) -> ImportReport {
        import::import(
            &self.store,
            &self.hasher,
            &self.cards,
            q.map(|s| Input {
                name: "q.csv".into(),
                reader: s.as_bytes(),
            }),
            c.map(|s| Input {
                name: "c.csv".into(),
                reader: s.as_bytes(),
            }),
            &mut |_| {},
        )
        .unwrap()
    }
}

#[allow(clippy::too_many_arguments)] // one argument per CSV column under test
fn row(
    my_number: &str,
    name: &str,
    kana: &str,
    sex: &str,
    birth: &str,
    insurer: &str,
    number: &str,
    from: &str,
    to: &str,
) -> String {
    let reason = if to.is_empty() { "" } else { "03" };
    format!(
        "{my_number},{insurer},テスト健康保険組合,01,10,{number},00,1,{name},{name},{kana},{sex},{birth},,,,{from},{to},{reason},030,,,,,"
    )
}

fn file(header: &str, rows: &[String]) -> String {
    let mut s = format!("{header}\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

fn insurer() -> String {
    onshi_domain::numbers::InsurerNumber::from_body("0613456")
        .unwrap()
        .to_string()
}

fn card(my_number: &str, serial: &str, name: &str, kana: &str, sex: &str, birth: &str) -> String {
    format!("{my_number},{serial},1234,20300101,active,{name},{kana},{sex},{birth},東京都")
}

#[test]
fn fixture_imports_and_reimport_changes_nothing() {
    let e = env();
    let fx = fixture::build();
    let r = e.run(Some(&fx.qualifications_csv), Some(&fx.cards_csv));
    assert!(r.committed, "{:?}", r.errors);
    assert_eq!(r.persons_created, 12);
    assert_eq!(r.qualifications.inserted, 13);
    assert_eq!(r.cards.inserted, 11);
    let before = e.store.counts().unwrap();
    let r2 = e.run(Some(&fx.qualifications_csv), Some(&fx.cards_csv));
    assert!(r2.committed);
    assert_eq!(r2.persons_created, 0);
    assert_eq!(
        (
            r2.qualifications.inserted,
            r2.qualifications.updated,
            r2.qualifications.unchanged
        ),
        (0, 0, 13)
    );
    assert_eq!(
        (r2.cards.inserted, r2.cards.updated, r2.cards.unchanged),
        (0, 0, 11)
    );
    assert_eq!(e.store.counts().unwrap(), before);
}

#[test]
fn mislink_birthdate_or_sex_or_kana_is_refused_and_nothing_is_imported() {
    let mn = fixture::my_number(40);
    let ins = insurer();
    for (name, kana, sex, birth, column) in [
        (
            "山田　一郎",
            "ヤマダ　イチロウ",
            "1",
            "19700102",
            "birthdate",
        ),
        ("山田　一郎", "ヤマダ　イチロウ", "2", "19700101", "sex"),
        ("山田　一郎", "ヤマダ　ジロウ", "1", "19700101", "name_kana"),
    ] {
        let e = env();
        let cards = file(
            CARD_HEADER,
            &[card(
                &mn,
                "M1",
                "山田　一郎",
                "ヤマダ　イチロウ",
                "1",
                "19700101",
            )],
        );
        let good = row(
            &fixture::my_number(41),
            "川口　明",
            "カワグチ　アキラ",
            "1",
            "19600101",
            &ins,
            "1",
            "20200401",
            "",
        );
        let bad = row(&mn, name, kana, sex, birth, &ins, "2", "20200401", "");
        let r = e.run(Some(&file(QUAL_HEADER, &[good, bad])), Some(&cards));
        assert!(!r.committed, "{column}");
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        let err = &r.errors[0];
        assert_eq!(err.rule, "mislink");
        assert_eq!(err.column, column);
        assert_eq!(err.line, 3, "header is line 1");
        assert!(err.to_string().starts_with("q.csv:3: column "), "{err}");
        assert_eq!(e.store.counts().unwrap().persons, 0, "all or nothing");
    }
}

#[test]
fn kana_written_differently_but_equal_after_normalisation_is_accepted() {
    let e = env();
    let mn = fixture::my_number(42);
    let cards = file(
        CARD_HEADER,
        &[card(
            &mn,
            "M2",
            "山田　一郎",
            "ヤマダ　イチロウ",
            "1",
            "19700101",
        )],
    );
    let q = row(
        &mn,
        "山田 一郎",
        "ﾔﾏﾀﾞ ｲﾁﾛｳ",
        "1",
        "19700101",
        &insurer(),
        "1",
        "20200401",
        "",
    );
    let r = e.run(Some(&file(QUAL_HEADER, &[q])), Some(&cards));
    assert!(r.committed, "{:?}", r.errors);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn only_a_kanji_variant_is_accepted_with_a_warning() {
    let e = env();
    let mn = fixture::my_number(43);
    let cards = file(
        CARD_HEADER,
        &[card(
            &mn,
            "M3",
            "髙橋　一郎",
            "タカハシ　イチロウ",
            "1",
            "19700101",
        )],
    );
    let q = row(
        &mn,
        "高橋　一郎",
        "タカハシ　イチロウ",
        "1",
        "19700101",
        &insurer(),
        "1",
        "20200401",
        "",
    );
    let r = e.run(Some(&file(QUAL_HEADER, &[q])), Some(&cards));
    assert!(r.committed, "{:?}", r.errors);
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.warnings[0].rule, "kanji_variant");
    assert_eq!(r.warnings[0].column, "name");
    assert_eq!(r.warnings[0].line, 2);
}

#[test]
fn without_a_card_the_first_row_defines_the_person() {
    let e = env();
    let mn = fixture::my_number(44);
    let ins = insurer();
    let first = row(
        &mn,
        "森　花",
        "モリ　ハナ",
        "2",
        "19900101",
        &ins,
        "1",
        "20100401",
        "20200401",
    );
    let later_ok = row(
        &mn,
        "森　花",
        "モリ　ハナ",
        "2",
        "19900101",
        &ins,
        "1",
        "20200401",
        "",
    );
    let r = e.run(Some(&file(QUAL_HEADER, &[first.clone(), later_ok])), None);
    assert!(r.committed, "{:?}", r.errors);
    assert_eq!(r.persons_created, 1);
    let e = env();
    let later_bad = row(
        &mn,
        "森　花",
        "モリ　ハナ",
        "2",
        "19900102",
        &ins,
        "1",
        "20200401",
        "",
    );
    let r = e.run(Some(&file(QUAL_HEADER, &[first, later_bad])), None);
    assert!(!r.committed);
    assert_eq!(r.errors[0].rule, "mislink");
    assert_eq!(r.errors[0].line, 3);
}

#[test]
fn overlapping_qualifications_under_one_insurer_are_refused() {
    let e = env();
    let mn = fixture::my_number(45);
    let ins = insurer();
    let a = row(
        &mn,
        "森　花",
        "モリ　ハナ",
        "2",
        "19900101",
        &ins,
        "1",
        "20100401",
        "20200401",
    );
    let b = row(
        &mn,
        "森　花",
        "モリ　ハナ",
        "2",
        "19900101",
        &ins,
        "2",
        "20190401",
        "",
    );
    let r = e.run(Some(&file(QUAL_HEADER, &[a, b])), None);
    assert!(!r.committed);
    assert_eq!(r.errors[0].rule, "overlap");
    assert_eq!(r.errors[0].column, "qualification_date");
    assert_eq!(r.errors[0].line, 3);
}

#[test]
fn row_errors_name_file_line_and_column_and_all_are_reported() {
    let e = env();
    let ins = insurer();
    let mut bad_check = row(
        &fixture::my_number(46),
        "森　花",
        "モリ　ハナ",
        "2",
        "19900101",
        &ins,
        "1",
        "20100401",
        "",
    );
    bad_check = bad_check.replacen(
        &ins,
        &format!("{}{}", &ins[..7], (ins.as_bytes()[7] - b'0' + 1) % 10),
        1,
    );
    let bad_date = row(
        &fixture::my_number(47),
        "森　花",
        "モリ　ハナ",
        "2",
        "19900230",
        &ins,
        "1",
        "20100401",
        "",
    );
    let r = e.run(Some(&file(QUAL_HEADER, &[bad_check, bad_date])), None);
    assert!(!r.committed);
    let cols: Vec<(u64, &str)> = r
        .errors
        .iter()
        .map(|e| (e.line, e.column.as_str()))
        .collect();
    assert!(cols.contains(&(2, "insurer_number")), "{cols:?}");
    assert!(cols.contains(&(3, "birthdate")), "{cols:?}");
    assert_eq!(e.store.counts().unwrap().persons, 0);
}

#[test]
fn reimport_keeps_the_chip_counter_and_lock() {
    let e = env();
    let mn = fixture::my_number(48);
    let cards = file(
        CARD_HEADER,
        &[card(
            &mn,
            "M9",
            "山田　一郎",
            "ヤマダ　イチロウ",
            "1",
            "19700101",
        )],
    );
    assert!(e.run(None, Some(&cards)).committed);
    use onshi_store::ChipStore;
    for _ in 0..3 {
        e.cards.try_pin("M9", "not-the-hash", 3).unwrap();
    }
    assert!(e.run(None, Some(&cards)).committed);
    assert!(
        e.cards.chip("M9").unwrap().unwrap().locked,
        "re-import must not unlock a PIN"
    );
}

#[test]
fn a_card_serial_cannot_move_to_another_person() {
    let e = env();
    let a = card(
        &fixture::my_number(49),
        "M5",
        "山田　一郎",
        "ヤマダ　イチロウ",
        "1",
        "19700101",
    );
    assert!(e.run(None, Some(&file(CARD_HEADER, &[a]))).committed);
    let b = card(
        &fixture::my_number(50),
        "M5",
        "川口　明",
        "カワグチ　アキラ",
        "1",
        "19600101",
    );
    let r = e.run(None, Some(&file(CARD_HEADER, &[b])));
    assert!(!r.committed);
    assert_eq!(r.errors[0].column, "card_serial");
}

#[test]
fn a_later_import_is_held_against_persons_of_earlier_imports() {
    let e = env();
    let mn = fixture::my_number(51);
    let ins = insurer();
    let first = row(
        &mn,
        "森　花",
        "モリ　ハナ",
        "2",
        "19900101",
        &ins,
        "1",
        "20100401",
        "20200401",
    );
    assert!(e.run(Some(&file(QUAL_HEADER, &[first])), None).committed);
    // the registry is no longer empty: the second import looks the person up
    let bad = row(
        &mn,
        "森　花",
        "モリ　ハナ",
        "1",
        "19900101",
        &ins,
        "1",
        "20200401",
        "",
    );
    let r = e.run(Some(&file(QUAL_HEADER, &[bad])), None);
    assert!(!r.committed);
    assert_eq!(
        (r.errors[0].rule, r.errors[0].column.as_str()),
        ("mislink", "sex")
    );
    let overlapping = row(
        &mn,
        "森　花",
        "モリ　ハナ",
        "2",
        "19900101",
        &ins,
        "2",
        "20190401",
        "",
    );
    let r = e.run(Some(&file(QUAL_HEADER, &[overlapping])), None);
    assert_eq!(r.errors[0].rule, "overlap");
    let next = row(
        &mn,
        "森　花",
        "モリ　ハナ",
        "2",
        "19900101",
        &ins,
        "1",
        "20200401",
        "",
    );
    let r = e.run(Some(&file(QUAL_HEADER, &[next])), None);
    assert!(r.committed, "{:?}", r.errors);
    assert_eq!((r.persons_created, r.qualifications.inserted), (0, 1));
}

/// The cards file carries no post number; the qualification rows do, and the person (defined
/// by the card) gets it — so every answer can carry `PostNumber`. The card / 資格確認書 dates
/// reach the result as the OQS elements.
#[test]
fn post_number_and_card_dates_reach_the_result_of_a_card_holder() {
    let e = env();
    let fx = fixture::build();
    let r = e.run(Some(&fx.qualifications_csv), Some(&fx.cards_csv));
    assert!(r.committed, "{:?}", r.errors);
    let card = e.store.card("C0001").unwrap().expect("card of `valid`");
    let (p, h) = e
        .store
        .person_with_history(card.person_id)
        .unwrap()
        .unwrap();
    assert_eq!(p.person.post_number.as_deref(), Some("1000001"));
    let on = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let res = onshi_central::ResultOfQualificationConfirmation::build(
        &p,
        &h[0],
        on,
        onshi_domain::codes::LimitConsent::NotConsented,
    );
    assert_eq!(res.post_number.as_deref(), Some("1000001"));
    assert_eq!(res.insured_card_valid_date.as_deref(), Some("20150401"));
    assert_eq!(
        res.insured_certificate_issuance_date.as_deref(),
        Some("20150401")
    );
    assert_eq!(res.insured_card_expiration_date, None);
    let json = serde_json::to_value(&res).unwrap();
    assert_eq!(json["InsuredCardValidDate"], "20150401");
    assert_eq!(json["PostNumber"], "1000001");

    // 後期: a 資格確認書 with its end date
    let card = e.store.card("C0009").unwrap().expect("card of `koki`");
    let (p, h) = e
        .store
        .person_with_history(card.person_id)
        .unwrap()
        .unwrap();
    let res = onshi_central::ResultOfQualificationConfirmation::build(
        &p,
        &h[0],
        on,
        onshi_domain::codes::LimitConsent::NotConsented,
    );
    assert_eq!(res.insured_card_valid_date.as_deref(), Some("20260801"));
    assert_eq!(
        res.insured_card_expiration_date.as_deref(),
        Some("20270731")
    );
    assert_eq!(
        res.insured_certificate_issuance_date.as_deref(),
        Some("20260715")
    );

    // a re-import changes nothing, the post number included
    let r2 = e.run(Some(&fx.qualifications_csv), Some(&fx.cards_csv));
    assert_eq!(r2.qualifications.unchanged, 13);
    let card = e.store.card("C0001").unwrap().unwrap();
    assert_eq!(
        e.store
            .person(card.person_id)
            .unwrap()
            .unwrap()
            .person
            .post_number
            .as_deref(),
        Some("1000001")
    );
}

/// The details reach the result: 通称名 and its half-width kana, 性別2, the 高齢受給者証's issue
/// date, and — with the 限度額 consent only — the 限度額 certificate and the 特定疾病 list.
#[test]
fn details_reach_the_result_and_certificates_only_with_consent() {
    use onshi_central::ResultOfQualificationConfirmation as R;
    use onshi_domain::codes::LimitConsent;
    let e = env();
    let fx = fixture::build();
    assert!(
        e.run(Some(&fx.qualifications_csv), Some(&fx.cards_csv))
            .committed
    );
    let on = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let of = |serial: &str| {
        let card = e.store.card(serial).unwrap().unwrap();
        e.store
            .person_with_history(card.person_id)
            .unwrap()
            .unwrap()
    };
    let (p, h) = of("C0002"); // pinless
    let without = R::build(&p, &h[0], on, LimitConsent::NotConsented);
    assert_eq!(without.name_of_other.as_deref(), Some("鈴木　はな"));
    assert_eq!(without.name_of_other_kana.as_deref(), Some("ｽｽﾞｷ ﾊﾅ"));
    assert!(without.limit_application_certificate_related_info.is_none());
    assert!(without.specific_diseases_certificate_list.is_empty());
    let with = R::build(&p, &h[0], on, LimitConsent::Consented);
    let l = with
        .limit_application_certificate_related_info
        .as_ref()
        .unwrap();
    assert_eq!(
        l.limit_application_certificate_classification.as_deref(),
        Some("01")
    );
    assert_eq!(l.limit_application_certificate_classification_flag, "A04");
    assert_eq!(
        l.limit_application_certificate_valid_start_date.as_deref(),
        Some("20260401")
    );
    assert_eq!(
        l.limit_application_certificate_valid_end_date.as_deref(),
        Some("20270331")
    );
    assert_eq!(
        l.limit_application_certificate_date.as_deref(),
        Some("20260325")
    );
    let sd = &with.specific_diseases_certificate_list;
    assert_eq!(sd.len(), 1);
    assert_eq!(sd[0].specific_diseases_disease_category, "1");
    assert_eq!(sd[0].specific_diseases_valid_start_date, "20250401");
    assert_eq!(sd[0].specific_diseases_self_pay.as_deref(), Some("10000"));
    let json = serde_json::to_value(&with).unwrap();
    assert_eq!(
        json["SpecificDiseasesCertificateList"][0]["SpecificDiseasesDiseaseCategory"],
        "1"
    );

    let (p, h) = of("C0008"); // elderly
    let r = R::build(&p, &h[0], on, LimitConsent::NotConsented);
    let el = r.elderly_recipient_certificate_info.unwrap();
    assert_eq!(
        el.elderly_recipient_certificate_date.as_deref(),
        Some("20240620")
    );
    assert_eq!(el.elderly_recipient_contribution_ratio, "020");
    let (p, h) = of("C0010"); // locked: 性別2
    assert_eq!(
        R::build(&p, &h[0], on, LimitConsent::NotConsented)
            .sex2
            .as_deref(),
        Some("2")
    );
}

/// The qualification's registration date (R23) is imported and read back; a file of the
/// previous version (without the column) still imports, its qualifications with none; a bad
/// date is refused naming the column and the rule, and nothing is imported.
#[test]
fn registration_date_is_imported_files_without_it_still_import_and_bad_dates_are_refused() {
    use onshi_central::fixture::{QUAL_HEADER_CARD_DATES, QUAL_HEADER_DETAILS};
    let ins = insurer();
    let header_v4 = format!("{QUAL_HEADER}{QUAL_HEADER_CARD_DATES}{QUAL_HEADER_DETAILS}");
    let header = format!("{header_v4},registration_date");
    let base = |n: u8, number: &str| {
        row(
            &fixture::my_number(n),
            "森　花",
            "モリ　ハナ",
            "2",
            "19900101",
            &ins,
            number,
            "20260401",
            "",
        ) + ",20260410,20260401,,,,,,,,,,,"
    };
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y%m%d").unwrap();
    let registered = |e: &Env| {
        let q = e.store.qualifications(1).unwrap();
        assert_eq!(q.len(), 1);
        q[0].qualification.details.registered_on
    };

    // with the column: registered ten days after the card was issued
    let e = env();
    let r = e.run(
        Some(&file(&header, &[format!("{},20260420", base(61, "1"))])),
        None,
    );
    assert!(r.committed, "{:?}", r.errors);
    assert_eq!(registered(&e), Some(d("20260420")));
    assert_eq!(
        e.store
            .registered_after_issuance(
                &onshi_domain::numbers::InsurerNumber::parse(&ins).unwrap(),
                d("20260501")
            )
            .unwrap()
            .len(),
        1
    );
    // empty in a file with the column
    let e = env();
    let r = e.run(Some(&file(&header, &[format!("{},", base(61, "1"))])), None);
    assert!(r.committed, "{:?}", r.errors);
    assert_eq!(registered(&e), None);

    // a file of the previous version, without the column
    let e = env();
    let r = e.run(Some(&file(&header_v4, &[base(61, "1")])), None);
    assert!(r.committed, "{:?}", r.errors);
    assert_eq!(registered(&e), None);

    // a bad date: refused, naming the column and the rule
    for (bad, rule) in [("2026-04-20", "format"), ("20260431", "impossible_date")] {
        let e = env();
        let r = e.run(
            Some(&file(&header, &[format!("{},{bad}", base(62, "2"))])),
            None,
        );
        assert!(!r.committed, "{bad}");
        let got: Vec<(u64, &str, &str)> = r
            .errors
            .iter()
            .map(|e| (e.line, e.column.as_str(), e.rule))
            .collect();
        assert_eq!(got, [(2, "registration_date", rule)], "{bad}");
        assert!(
            r.errors[0].to_string().contains("registration_date"),
            "{}",
            r.errors[0]
        );
        assert_eq!(e.store.counts().unwrap().persons, 0);
    }
}
