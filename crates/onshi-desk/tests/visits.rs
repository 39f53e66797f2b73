//! Visits in the desk's own SQLite file: the situation and every step kept, reopened later
//! (R20), and the 申立書 purged completely once the claim is settled (R27).

use chrono::NaiveDate;
use onshi_desk::VisitStore;
use onshi_domain::codes::QualificationValidity;
use onshi_domain::desk::{
    Attempt, CardAtDesk, ClaimBasis, InsuranceType, Moushitatesho, OnlineResult, PinAttempt,
    Presented, QualificationSeen, Situation, assess, parse_situation,
};
use onshi_domain::numbers::{InsuredNumber, InsuredSymbol, InsurerNumber};

const ADDRESS: &str = "東京都千代田区霞が関9-9-9 申立書テスト";
const PHONE: &str = "090-9876-5432";

/// 資格情報なし with a 申立書: a 不詳 claim whose 摘要 carries the form's address (R20).
fn fushou_situation() -> Situation {
    let mut s = parse_situation(r#"{"service_date":"2026-11-25","facility":"clinic"}"#).unwrap();
    s.my_number_card = Presented::Shown(CardAtDesk {
        pin_set: true,
        form: Default::default(),
        face: Attempt::Succeeded,
        pin: PinAttempt::NotTried,
        visual: Attempt::NotTried,
        visual_staff_id: None,
        phone_auth: Attempt::NotTried,
    });
    s.online = Some(OnlineResult {
        validity: QualificationValidity::NotFound,
        qualification: None,
    });
    s.birth_date = NaiveDate::from_ymd_opt(2000, 1, 1);
    s.shikaku_kakuninsho = Presented::Absent;
    s.insurance_card = Presented::Absent;
    s.moushitatesho = Presented::Shown(Moushitatesho {
        insurance_type: Some(InsuranceType::Shaho),
        employer: Some("おんし工業株式会社".into()),
        name: Some("高橋　美咲".into()),
        address: Some(ADDRESS.into()),
        phone: Some(PHONE.into()),
        ..Moushitatesho::default()
    });
    s
}

fn file_contains(path: &std::path::Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let n = needle.as_bytes();
    bytes.windows(n.len()).any(|w| w == n)
}

#[test]
fn r20_visit_keeps_situation_and_steps_and_is_reopened_with_numbers_brought_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = VisitStore::open(&dir.path().join("desk.sqlite")).unwrap();
    let s = fushou_situation();
    let d = assess(&s).unwrap();
    assert!(d.settled);
    let id = store.create(&s, Some("S01"), &d).unwrap();
    store.charge(id, Some("S01"), &d).unwrap();
    let v = store.get(id).unwrap();
    assert_eq!(
        v.situation, s,
        "the situation comes back whole, the 申立書 included"
    );
    assert_eq!(v.claim.as_ref().unwrap().basis, ClaimBasis::Unknown);
    assert!(
        v.claim
            .as_ref()
            .unwrap()
            .tekiyou
            .as_deref()
            .unwrap()
            .contains(ADDRESS)
    );
    assert_eq!(v.steps.len(), 2);
    assert_eq!(v.steps[0].staff.as_deref(), Some("S01"));

    // later: the patient phones with the numbers (R20) — the clerk reopens the visit
    let mut later = v.situation.clone();
    later.reported_numbers = Some(QualificationSeen {
        insurer_number: InsurerNumber::from_body("0113001").unwrap(),
        insurer_name: None,
        symbol: InsuredSymbol::parse("1001").unwrap(),
        number: InsuredNumber::parse("2004").unwrap(),
        branch: None,
        share_percent: None,
    });
    let d2 = assess(&later).unwrap();
    store
        .update(
            id,
            &later,
            Some("S02"),
            "患者から番号を聞き取り（事後）",
            &d2,
        )
        .unwrap();
    store.update_claim(id, &d2).unwrap();
    let v = store.get(id).unwrap();
    assert_ne!(v.claim.as_ref().unwrap().basis, ClaimBasis::Unknown);
    assert_eq!(v.steps.last().unwrap().staff.as_deref(), Some("S02"));
}

#[test]
fn r27_purge_deletes_the_moushitatesho_completely() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("desk.sqlite");
    let store = VisitStore::open(&path).unwrap();
    let s = fushou_situation();
    let d = assess(&s).unwrap();
    let id = store.create(&s, Some("S01"), &d).unwrap();
    store
        .update(id, &s, Some("S01"), "申立書を受け付け", &d)
        .unwrap();
    store.charge(id, Some("S01"), &d).unwrap();
    assert!(file_contains(&path, ADDRESS), "stored before the purge");

    assert!(onshi_desk::purge(&store, id).unwrap());
    let v = store.get(id).unwrap();
    assert!(v.form_purged_at.is_some());
    let form = v.situation.moushitatesho.shown().unwrap();
    assert_eq!(
        form,
        &Moushitatesho::default(),
        "only the fact that a form was given is left"
    );
    assert!(v.claim.as_ref().unwrap().tekiyou.is_none());
    assert_eq!(v.claim.as_ref().unwrap().basis, ClaimBasis::Unknown);
    drop(store);
    for needle in [ADDRESS, PHONE, "おんし工業株式会社", "高橋　美咲"] {
        assert!(
            !file_contains(&path, needle),
            "{needle} still in the file after the purge"
        );
        let wal = dir.path().join("desk.sqlite-wal");
        assert!(!wal.exists() || !file_contains(&wal, needle));
    }
    // purging twice is harmless
    let store = VisitStore::open(&path).unwrap();
    assert!(!onshi_desk::purge(&store, id).unwrap());
}

#[test]
fn r27_purge_of_an_unknown_visit_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = VisitStore::open(&dir.path().join("desk.sqlite")).unwrap();
    assert!(onshi_desk::purge(&store, 42).is_err());
}
