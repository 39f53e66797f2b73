//! Conformance checks of the outage-mode storage (R13, R14): every backend of
//! [`onshi_store::outage::OutageStore`] must pass them. Each check runs on SQLite (a new file)
//! and on PostgreSQL (a new database on the test server, dropped afterwards; without a server
//! the PostgreSQL runs fail).

use chrono::NaiveDate;
use onshi_domain::kana;
use onshi_domain::numbers::{MedicalInstitutionCode, MyNumber, MyNumberHasher, Sex};
use onshi_domain::qualification::Person;
use onshi_store::outage::*;
use onshi_store::*;

#[path = "support/qualification.rs"]
mod qualification;

const AT: &str = "2026-11-25T10:00:00.000+09:00";
const CLINIC: &str = "1311234567";

fn on_sqlite(check: fn(&dyn CentralStore)) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("o.sqlite")).unwrap();
    check(&s);
}

fn on_postgres(check: fn(&dyn CentralStore)) {
    let db = onshi_store::postgres::TestDatabase::create().unwrap();
    let s = PostgresStore::open(db.url()).unwrap();
    check(&s);
    drop(s);
    drop(db);
}

/// One `#[test]` per backend for each check.
macro_rules! on_both {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $check() {
                super::on_sqlite(super::$check);
            })*
        }
        mod postgres {
            $(#[test]
            fn $check() {
                super::on_postgres(super::$check);
            })*
        }
    };
}

fn code(c: &str) -> MedicalInstitutionCode {
    MedicalInstitutionCode::parse(c).unwrap()
}

fn with_facility(s: &dyn CentralStore) {
    s.upsert_facility(
        &Facility {
            code: code(CLINIC),
            name: "おんしクリニック".into(),
        },
        "hash-clinic",
    )
    .unwrap();
}

fn new_request() -> NewRequest {
    NewRequest {
        facility: code(CLINIC),
        facility_name: "おんしクリニック".into(),
        contact_person: "山本".into(),
        reason: "停電".into(),
        at: AT.into(),
        by: "facility:1311234567".into(),
    }
}

fn r13_steps_follow_the_transition_table_and_are_logged(s: &dyn CentralStore) {
    with_facility(s);
    let r = s.create_request(&new_request()).unwrap();
    assert_eq!(r.state, OutageState::Requested);
    // only one open request per facility
    assert!(matches!(
        s.create_request(&new_request()),
        Err(StoreError::Conflict(_))
    ));
    // out of order
    let enable = Step::Enable {
        until: "2026-11-26T00:00:00.000+09:00".into(),
    };
    assert!(matches!(
        s.apply_step(r.id, &enable, AT, "operator:a"),
        Err(StoreError::Conflict(_))
    ));
    let steps = [
        Step::Verify {
            phone: "0312345678".into(),
        },
        Step::IssueForm {
            email: "c@example.jp".into(),
        },
        enable,
        Step::Close,
        Step::Report {
            report: serde_json::json!({"title": "システム障害時機能の利用報告"}),
        },
    ];
    for st in &steps {
        let after = s.apply_step(r.id, st, AT, "operator:a").unwrap();
        assert_eq!(after.state, st.target());
    }
    let r = s.request(r.id).unwrap().unwrap();
    assert_eq!(r.callback_phone.as_deref(), Some("0312345678"));
    assert_eq!(r.form_email.as_deref(), Some("c@example.jp"));
    assert_eq!(
        r.window_until.as_deref(),
        Some("2026-11-26T00:00:00.000+09:00")
    );
    assert!(r.closed_at.is_some() && r.reported_at.is_some());
    let actions: Vec<String> = s
        .events(r.id)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "request",
            "verify",
            "issue_form",
            "enable",
            "close",
            "report"
        ]
    );
    // a reported request is no longer open: a new one may be filed
    assert!(s.create_request(&new_request()).is_ok());
}

fn r13_enabled_request_and_listing_per_facility(s: &dyn CentralStore) {
    with_facility(s);
    assert!(s.enabled_request(CLINIC).unwrap().is_none());
    let r = s.create_request(&new_request()).unwrap();
    for st in [
        Step::Verify {
            phone: "0312345678".into(),
        },
        Step::IssueForm {
            email: "c@example.jp".into(),
        },
        Step::Enable {
            until: "2026-11-26T00:00:00.000+09:00".into(),
        },
    ] {
        s.apply_step(r.id, &st, AT, "operator:a").unwrap();
    }
    assert_eq!(s.enabled_request(CLINIC).unwrap().unwrap().id, r.id);
    assert!(s.enabled_request("1341234567").unwrap().is_none());
    let mine = s
        .list_requests(&RequestFilter {
            facility: Some(CLINIC.into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(mine.len(), 1);
    let other = s
        .list_requests(&RequestFilter {
            facility: Some("1341234567".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(other.is_empty());
}

fn r13_contact_only_for_registered_facilities_and_operators_by_token(s: &dyn CentralStore) {
    assert!(matches!(
        s.set_facility_contact(&code(CLINIC), "0312345678", None, AT),
        Err(StoreError::Conflict(_))
    ));
    with_facility(s);
    s.set_facility_contact(&code(CLINIC), "0312345678", Some("c@example.jp"), AT)
        .unwrap();
    let c = s.facility_contact(CLINIC).unwrap().unwrap();
    assert_eq!(c.phone, "0312345678");
    assert_eq!(c.registered_name, "おんしクリニック");
    let o = s.upsert_operator("佐々木", "h1", AT).unwrap();
    assert_eq!(s.operator_by_token_hash("h1").unwrap(), Some(o.clone()));
    // re-keying keeps the operator and retires the old token
    let o2 = s.upsert_operator("佐々木", "h2", AT).unwrap();
    assert_eq!(o.id, o2.id);
    assert!(s.operator_by_token_hash("h1").unwrap().is_none());
}

fn r14_audit_is_append_only_per_facility_and_keeps_candidates_in_order(s: &dyn CentralStore) {
    let entry = |fac: &str, kind: AuditKind, ids: Vec<PersonId>| AuditEntry {
        id: 0,
        facility: fac.into(),
        request_id: Some(1),
        at: AT.into(),
        staff_id: Some("受付01".into()),
        kind,
        criteria: serde_json::json!({"name_kana": "タナカ タロウ"}),
        hits: Some(ids.len() as u32),
        hit_person_ids: ids,
        search_id: None,
        chosen_person_id: None,
        outcome: "hits".into(),
        message: None,
    };
    let a = s
        .append_audit(&entry(CLINIC, AuditKind::Search, vec![42, 7]))
        .unwrap();
    let b = s
        .append_audit(&entry("1341234567", AuditKind::Refused, vec![]))
        .unwrap();
    assert!(b > a);
    let got = s.audit_entry(a).unwrap().unwrap();
    assert_eq!(got.hit_person_ids, vec![42, 7]);
    assert_eq!(got.staff_id.as_deref(), Some("受付01"));
    let mine = s
        .list_audit(&AuditFilter {
            facility: Some(CLINIC.into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(mine.len(), 1);
    let all = s.list_audit(&AuditFilter::default()).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, b, "newest first");
    let refused = s
        .list_audit(&AuditFilter {
            kind: Some(AuditKind::Refused),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(refused.len(), 1);
    // a group of lines in one commit: ids in order, each line as given, after the others
    // (no candidates, one, several; with and without a staff id and a message)
    let group: Vec<AuditEntry> = (0..5)
        .map(|k| {
            let hits = (0..k).map(|j| 100 * (k + 1) + j).collect();
            let mut e = entry(CLINIC, AuditKind::Search, hits);
            if k % 2 == 1 {
                e.staff_id = None;
                e.message = Some(format!("行 {k}: 候補 \"{k}\" 件"));
                e.hits = None;
            }
            e
        })
        .collect();
    let ids = s.append_audits(&group).unwrap();
    assert_eq!(ids.len(), 5);
    assert!(ids[0] > b && ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for (k, id) in ids.iter().enumerate() {
        let got = s.audit_entry(*id).unwrap().unwrap();
        let want = &group[k];
        assert_eq!(got.hit_person_ids, want.hit_person_ids, "line {k}");
        assert_eq!(got.hit_person_ids.len(), k, "line {k}");
        assert_eq!(got.staff_id, want.staff_id, "line {k}");
        assert_eq!(got.message, want.message, "line {k}");
        assert_eq!(got.hits, want.hits, "line {k}");
        assert_eq!(got.criteria, want.criteria, "line {k}");
        assert_eq!(got.facility, want.facility, "line {k}");
    }
    assert!(s.append_audits(&[]).unwrap().is_empty());
    assert_eq!(s.list_audit(&AuditFilter::default()).unwrap().len(), 7);
}

fn r14_person_lookup_is_exact_on_the_keys_birth_date_and_sex(s: &dyn CentralStore) {
    let hasher = MyNumberHasher::new(b"conformance-key-123").unwrap();
    let d = |x: &str| NaiveDate::parse_from_str(x, "%Y-%m-%d").unwrap();
    let person = |name: &str, kana: &str, sex: Sex, birth: &str| Person {
        name: name.into(),
        name_kana: kana.into(),
        sex,
        birthdate: d(birth),
        post_number: None,
        address: Some("東京都千代田区千代田1-1".into()),
    };
    let mut tx = s.begin_import().unwrap();
    let mut ids = Vec::new();
    for (i, p) in [
        person("田中　太郎", "タナカ　タロウ", Sex::Male, "1980-04-02"),
        person("田中　太郎", "タナカ　タロウ", Sex::Male, "1980-04-03"),
        person("田中　太郎", "タナカ　タロウ", Sex::Female, "1980-04-02"),
        person("田仲　太郎", "タナカ　タロウ", Sex::Male, "1980-04-02"),
    ]
    .iter()
    .enumerate()
    {
        let h = hasher.hash(&MyNumber::from_first11(&[(i as u8) + 1; 11]).unwrap());
        ids.push(tx.insert_person(&h, p).unwrap());
    }
    tx.commit().unwrap();
    let q = |kana_key: Option<&str>, name_key: Option<&str>| PersonQuery {
        birthdate: d("1980-04-02"),
        sex: Sex::Male,
        kana_key: kana_key.map(kana::kana_key),
        name_key: name_key.map(kana::name_key),
        limit: 10,
    };
    assert_eq!(
        s.search_person_ids(&q(Some("ﾀﾅｶ ﾀﾛｳ"), None)).unwrap(),
        vec![ids[0], ids[3]]
    );
    assert_eq!(
        s.search_person_ids(&q(None, Some("田中 太郎"))).unwrap(),
        vec![ids[0]]
    );
    assert_eq!(
        s.search_person_ids(&q(Some("たなか たろう"), Some("田仲太郎")))
            .unwrap(),
        vec![ids[3]]
    );
    assert!(
        s.search_person_ids(&q(Some("タナカ"), None))
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        s.search_person_ids(&q(None, None)),
        Err(StoreError::Conflict(_))
    ));
}

/// What the search shows of each match, read as the central reads it without the one-snapshot
/// call: the ids, then each person with their history.
fn ids_then_histories(s: &dyn CentralStore, q: &PersonQuery) -> Vec<PersonWithHistory> {
    s.search_person_ids(q)
        .unwrap()
        .into_iter()
        .map(|id| s.person_with_history(id).unwrap().unwrap())
        .collect()
}

fn r14_persons_with_history_are_the_ids_with_each_full_history(s: &dyn CentralStore) {
    use qualification::qual;
    let hasher = MyNumberHasher::new(b"conformance-key-123").unwrap();
    let d = |x: &str| NaiveDate::parse_from_str(x, "%Y-%m-%d").unwrap();
    let person = |name: &str| Person {
        name: name.into(),
        name_kana: "タナカ　タロウ".into(),
        sex: Sex::Male,
        birthdate: d("1980-04-02"),
        post_number: Some("1000001".into()),
        address: Some("東京都千代田区千代田1-1".into()),
    };
    let mut tx = s.begin_import().unwrap();
    tx.upsert_insurer(
        &onshi_domain::numbers::InsurerNumber::from_body("0113001").unwrap(),
        "全国健康保険協会東京支部",
    )
    .unwrap();
    let mut ids = Vec::new();
    // three histories: two qualifications given out of date order, none, one
    for (i, quals) in [
        vec![
            qual("2", "2024-04-01", None),
            qual("1", "2010-04-01", Some("2024-04-01")),
        ],
        vec![],
        vec![qual("3", "2019-10-01", None)],
    ]
    .iter()
    .enumerate()
    {
        let h = hasher.hash(&MyNumber::from_first11(&[(i as u8) + 1; 11]).unwrap());
        let id = tx.insert_person(&h, &person("田中　太郎")).unwrap();
        for q in quals {
            tx.upsert_qualification(id, "田中　太郎", q).unwrap();
        }
        ids.push(id);
    }
    tx.commit().unwrap();
    let q = |kana_key: Option<&str>, name_key: Option<&str>, limit: u32| PersonQuery {
        birthdate: d("1980-04-02"),
        sex: Sex::Male,
        kana_key: kana_key.map(kana::kana_key),
        name_key: name_key.map(kana::name_key),
        limit,
    };
    for query in [
        q(Some("タナカ タロウ"), None, 10),
        q(Some("タナカ タロウ"), Some("田中太郎"), 10),
        q(None, Some("田中 太郎"), 10),
        // the limit counts persons, not rows: the first person's two rows both come
        q(Some("タナカ タロウ"), None, 1),
        q(None, Some("田中太郎"), 2),
        q(Some("タナカ ハナコ"), None, 10),
    ] {
        let expected = ids_then_histories(s, &query);
        if let Some(found) = s.search_persons_with_history(&query) {
            assert_eq!(found.unwrap(), expected, "{query:?}");
        }
    }
    let all = ids_then_histories(s, &q(None, Some("田中太郎"), 10));
    assert_eq!(all.iter().map(|(p, _)| p.id).collect::<Vec<_>>(), ids);
    let dates = |h: &[QualificationRecord]| -> Vec<NaiveDate> {
        h.iter()
            .map(|r| r.qualification.qualification_date)
            .collect()
    };
    assert_eq!(dates(&all[0].1), vec![d("2010-04-01"), d("2024-04-01")]);
    assert!(all[1].1.is_empty());
    assert_eq!(all[0].0.person.post_number.as_deref(), Some("1000001"));
    if let Some(r) = s.search_persons_with_history(&q(None, None, 10)) {
        assert!(matches!(r, Err(StoreError::Conflict(_))));
    }
}

/// PostgreSQL answers the search and its histories in one statement (the check above then
/// compares it with the reads one by one); SQLite leaves it to the caller.
#[test]
fn postgres_answers_persons_with_history_in_one_call() {
    on_postgres(|s| {
        let q = PersonQuery {
            birthdate: NaiveDate::from_ymd_opt(1980, 4, 2).unwrap(),
            sex: Sex::Male,
            kana_key: Some(kana::kana_key("タナカ")),
            name_key: None,
            limit: 10,
        };
        assert_eq!(s.search_persons_with_history(&q).unwrap().unwrap(), vec![]);
    });
    on_sqlite(|s| {
        assert!(
            s.search_persons_with_history(&PersonQuery {
                birthdate: NaiveDate::from_ymd_opt(1980, 4, 2).unwrap(),
                sex: Sex::Male,
                kana_key: Some(kana::kana_key("タナカ")),
                name_key: None,
                limit: 10,
            })
            .is_none()
        );
    });
}

on_both!(
    r14_persons_with_history_are_the_ids_with_each_full_history,
    r13_steps_follow_the_transition_table_and_are_logged,
    r13_enabled_request_and_listing_per_facility,
    r13_contact_only_for_registered_facilities_and_operators_by_token,
    r14_audit_is_append_only_per_facility_and_keeps_candidates_in_order,
    r14_person_lookup_is_exact_on_the_keys_birth_date_and_sex,
);
