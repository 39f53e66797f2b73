//! The 申立書's rules (R24, R25): what is asked, refused and reminded.

use super::*;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

fn base() -> FormInput {
    FormInput {
        has_valid_insurance: "on".into(),
        insurance_type: "shaho".into(),
        employer: "おんし商事".into(),
        name: "佐藤　健".into(),
        name_kana: "サトウ　ケン".into(),
        era: "showa".into(),
        birth_year: "60".into(),
        birth_month: "11".into(),
        birth_day: "11".into(),
        sex: "1".into(),
        address: "東京都千代田区1-1".into(),
        phone: "03-1234-5678".into(),
        ..FormInput::default()
    }
}

#[test]
fn r25_wareki_birth_date_is_read_with_the_era_of_the_form() {
    let c = base().check(day(), None).unwrap();
    assert_eq!(
        c.form.birth_date.unwrap().to_date(),
        NaiveDate::from_ymd_opt(1985, 11, 11).unwrap()
    );
    assert!(c.reminders.is_empty(), "{:?}", c.reminders);
}

#[test]
fn r25_impossible_era_date_names_the_field_in_japanese() {
    let mut f = base();
    f.era = "heisei".into();
    f.birth_year = "31".into();
    f.birth_month = "5".into();
    f.birth_day = "1".into();
    let e = f.check(day(), None).unwrap_err();
    assert_eq!(e[0].field, "生年月日");
    assert!(e[0].text().contains("平成"), "{}", e[0].text());
    let mut f = base();
    f.birth_day = "".into();
    assert_eq!(f.check(day(), None).unwrap_err()[0].field, "生年月日");
    let mut f = base();
    f.birth_year = "abc".into();
    assert_eq!(f.check(day(), None).unwrap_err()[0].field, "生年月日（年）");
}

#[test]
fn r24_employer_with_koki_is_refused_and_missing_for_shaho_is_a_reminder() {
    let mut f = base();
    f.insurance_type = "koki".into();
    let e = f.check(day(), None).unwrap_err();
    assert!(e.iter().any(|m| m.field == "事業所名"), "{e:?}");
    let mut f = base();
    f.employer.clear();
    let c = f.check(day(), None).unwrap();
    assert!(c.reminders.iter().any(|m| m.field == "事業所名"));
    for t in ["shaho", "kokuho", "other", "unknown"] {
        f.insurance_type = t.into();
        assert!(
            f.check(day(), None)
                .unwrap()
                .reminders
                .iter()
                .any(|m| m.field == "事業所名"),
            "{t}"
        );
    }
}

#[test]
fn r24_share_is_asked_of_70_and_over_and_koki_only() {
    let mut f = base();
    f.share = "20".into();
    let e = f.check(day(), None).unwrap_err();
    assert_eq!(e[0].field, "一部負担金の割合");
    f.era = "showa".into();
    f.birth_year = "29".into(); // 1954: 72 years old
    f.birth_month = "6".into();
    f.birth_day = "10".into();
    let c = f.check(day(), None).unwrap();
    assert_eq!(c.form.declared_share_percent, Some(20));
    f.share.clear();
    assert!(
        f.check(day(), None)
            .unwrap()
            .reminders
            .iter()
            .any(|m| m.field == "一部負担金の割合")
    );
    let mut f = base();
    f.insurance_type = "koki".into();
    f.employer.clear();
    f.share = "10".into();
    assert_eq!(
        f.check(day(), None).unwrap().form.declared_share_percent,
        Some(10)
    );
}

#[test]
fn r25_signer_relation_only_when_someone_else_signs() {
    let mut f = base();
    f.signer_relation = "母".into();
    assert_eq!(f.check(day(), None).unwrap_err()[0].field, "患者との関係");
    f.signed_by_other = "on".into();
    assert_eq!(
        f.check(day(), None)
            .unwrap()
            .form
            .signer_relation
            .as_deref(),
        Some("母")
    );
    f.signer_relation.clear();
    assert_eq!(f.check(day(), None).unwrap_err()[0].field, "患者との関係");
}

#[test]
fn r25_phone_kana_and_sex_are_checked() {
    let mut f = base();
    f.phone = "12345".into();
    assert_eq!(f.check(day(), None).unwrap_err()[0].field, "連絡先電話番号");
    let mut f = base();
    f.name_kana = "Sato".into();
    assert_eq!(f.check(day(), None).unwrap_err()[0].field, "フリガナ");
    let mut f = base();
    f.sex = "3".into();
    assert_eq!(f.check(day(), None).unwrap_err()[0].field, "性別");
}

#[test]
fn r25_form_round_trips_through_its_inputs() {
    let c = base().check(day(), None).unwrap();
    let again = FormInput::from_form(&c.form).check(day(), None).unwrap();
    assert_eq!(c.form, again.form);
}

#[test]
fn r10_prefill_writes_the_known_birth_date_in_wareki() {
    let f = FormInput::prefilled(
        Some("鈴木　花子"),
        NaiveDate::from_ymd_opt(1992, 7, 15),
        day(),
    );
    assert_eq!((f.era.as_str(), f.birth_year.as_str()), ("heisei", "4"));
    assert_eq!(f.signed_on, "2026-11-25");
}

#[test]
fn parsers_never_panic_on_odd_input() {
    for s in ["", "元", "９９", "-1", "4294967296", "\u{0}", "令和", "😀"] {
        let f = FormInput {
            era: "reiwa".into(),
            birth_year: s.into(),
            birth_month: s.into(),
            birth_day: s.into(),
            share: s.into(),
            sex: s.into(),
            phone: s.into(),
            signed_on: s.into(),
            insurance_type: s.into(),
            ..FormInput::default()
        };
        let _ = f.check(day(), None);
    }
}
