//! The storage conformance suite: every backend must pass it. Each check takes a fresh,
//! empty store from the backend's factory: SQLite (a new file) and PostgreSQL (a new database
//! on the test server, dropped afterwards; without a server the PostgreSQL tests fail).

use chrono::NaiveDate;
use onshi_domain::card::CertStatus;
use onshi_domain::codes::{LimitCertificateClassification, SpecificDisease};
use onshi_domain::codes::{ReasonOfLoss, ReferenceClassification};
use onshi_domain::numbers::{InsurerNumber, MedicalInstitutionCode, MyNumber, MyNumberHasher, Sex};
use onshi_domain::qualification::{
    CardDates, LimitCertificate, Person, QualificationDetails, SpecificDiseaseCertificate,
};
use onshi_store::*;

#[path = "support/qualification.rs"]
mod qualification;
use qualification::qual;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn person() -> Person {
    Person {
        name: "田中　太郎".into(),
        name_kana: "タナカ　タロウ".into(),
        sex: Sex::Male,
        birthdate: d("1980-04-02"),
        post_number: Some("1000001".into()),
        address: Some("東京都千代田区千代田1-1".into()),
    }
}

fn hash(i: u8) -> onshi_domain::numbers::MyNumberHash {
    let h = MyNumberHasher::new(b"conformance-key-123").unwrap();
    h.hash(&MyNumber::from_first11(&[i % 10; 11]).unwrap())
}

fn entry(fac: &str, date: &str, outcome: &str) -> ConfirmationEntry {
    ConfirmationEntry {
        id: 0,
        facility: fac.into(),
        processed_at: "2026-11-25T10:00:00.000+09:00".into(),
        confirmation_date: d(date),
        reference_classification: ReferenceClassification::Card,
        identity_method: None,
        staff_id: None,
        card_serial: Some("C1".into()),
        person_id: Some(1),
        birthdate: Some(d("1980-04-02")),
        kana_key: Some("タナカタロウ".into()),
        outcome: outcome.into(),
        result: serde_json::value::to_raw_value(&serde_json::json!({"ok": true})).unwrap(),
    }
}

fn suite(make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>)) {
    import_is_all_or_nothing(make);
    upserts_report_what_changed(make);
    history_appends_in_batches_and_filters(make);
    trust_keys_and_readers(make);
    facilities_by_token(make);
    medical_information_consents_and_views(make);
    r2_consents_commit_with_their_confirmations(make);
    initial_load_defers_its_indexes_all_or_nothing(make);
    initial_load_cards_in_random_order(make);
    initial_load_keeps_each_my_number_to_one_person(make);
    initial_load_refuses_rows_of_a_person_it_does_not_hold(make);
    r23_registrations_after_the_issuance_as_of_a_date(make);
}

/// R23: the insurer's qualifications registered in the OQS after their card / 資格確認書 was
/// issued, as of a date: not one registered before or on the issue day, nor one without a
/// registration date, nor another insurer's, nor one lost by then, nor one whose card was not
/// yet issued.
fn r23_registrations_after_the_issuance_as_of_a_date(
    make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>),
) {
    let (s, _keep) = make();
    let mut tx = s.begin_import().unwrap();
    let with = |number: &str, issued: &str, registered: Option<&str>| {
        let mut q = qual(number, "2026-04-01", None);
        q.card_dates.issued_on = Some(d(issued));
        q.details.registered_on = registered.map(d);
        q
    };
    let late = with("11", "2026-04-05", Some("2026-04-20"));
    let cases = [
        late.clone(),
        with("12", "2026-04-05", Some("2026-04-02")),
        with("13", "2026-04-05", Some("2026-04-05")),
        with("14", "2026-04-05", None),
        // issued after the as-of date
        with("15", "2026-06-05", Some("2026-06-20")),
        // lost on the as-of date
        {
            let mut q = with("16", "2026-04-05", Some("2026-04-20"));
            q.disqualification_date = Some(d("2026-05-01"));
            q.reason_of_loss = Some(ReasonOfLoss::OtherInsurance);
            q
        },
        {
            let mut q = with("17", "2026-04-05", Some("2026-04-20"));
            q.insurer_number = InsurerNumber::from_body("0613101").unwrap();
            q
        },
    ];
    for (i, q) in cases.iter().enumerate() {
        let id = tx
            .insert_person(&hash_n(900 + i as u32), &person())
            .unwrap();
        tx.upsert_qualification(id, "田中　太郎", q).unwrap();
    }
    tx.commit().unwrap();
    let found = s
        .registered_after_issuance(&late.insurer_number, d("2026-05-01"))
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].qualification, late);
    assert_eq!(
        found[0].qualification.details.registered_on,
        Some(d("2026-04-20"))
    );
    let before_lost = s
        .registered_after_issuance(&late.insurer_number, d("2026-04-30"))
        .unwrap();
    assert_eq!(
        before_lost.len(),
        2,
        "the one lost on 05-01 still a member on 04-30"
    );
    let other = s
        .registered_after_issuance(
            &InsurerNumber::from_body("0613101").unwrap(),
            d("2026-05-01"),
        )
        .unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].qualification.number.as_str(), "17");
}

/// The keyed hash of the `n`th synthetic My Number.
fn hash_n(n: u32) -> onshi_domain::numbers::MyNumberHash {
    let h = MyNumberHasher::new(b"conformance-key-123").unwrap();
    let mut digits = [0u8; 11];
    let mut v = n;
    for d in digits.iter_mut().rev() {
        *d = (v % 10) as u8;
        v /= 10;
    }
    h.hash(&MyNumber::from_first11(&digits).unwrap())
}

/// An initial load (the bulk path: `COPY` on PostgreSQL, secondary indexes deferred) sees what
/// it wrote, leaves nothing when dropped — indexes and constraints as before — and, committed,
/// is what row-by-row writes would have made, with its keys built and enforced again.
fn initial_load_defers_its_indexes_all_or_nothing(
    make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>),
) {
    let (s, _keep) = make();
    let indexes = s.registry_indexes().unwrap();
    assert!(
        indexes.iter().any(|i| i.contains("kana")),
        "the search indexes are there: {indexes:?}"
    );
    // more rows than one batch of the bulk path, so that rows are sent on the way
    const N: u32 = 12_000;
    let load = |commit: bool| {
        let mut tx = s.begin_import().unwrap();
        assert!(tx.registry_is_empty().unwrap());
        tx.start_initial_load().unwrap();
        tx.upsert_insurer(&InsurerNumber::from_body("0113001").unwrap(), "協会")
            .unwrap();
        let mut ids = Vec::new();
        for n in 0..N {
            let mut p = person();
            p.post_number = None;
            p.name_kana = format!("タナカ　{n}");
            let id = tx.insert_new_person(&hash_n(n), &p).unwrap();
            tx.insert_new_card(
                &CardCert {
                    serial: format!("S{:08}", (n * 7919) % N),
                    person_id: id,
                    cert_expiry: d("2030-01-01"),
                    status: CertStatus::Active,
                },
                &format!("key{n}"),
            )
            .unwrap();
            ids.push(id);
        }
        let all: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(all.len(), ids.len(), "distinct ids");
        // where the load may hold fewer persons than it has, the first were sent already and
        // the last are still waiting: both read back
        for &id in [ids[0], ids[ids.len() - 1]].iter() {
            let got = tx.person_by_id(id).unwrap().unwrap();
            assert_eq!(got.id, id);
            assert_eq!(got.person.post_number, None);
        }
        for (i, &id) in ids.iter().enumerate() {
            tx.update_post_number(id, &format!("{:07}", i)).unwrap();
            tx.insert_new_qualification(
                id,
                "田中　太郎",
                &qual(&format!("{i}"), "2020-04-01", None),
            )
            .unwrap();
        }
        let first = tx.person_by_id(ids[0]).unwrap().unwrap();
        assert_eq!(first.person.post_number.as_deref(), Some("0000000"));
        // a person replaced after it was sent keeps the replacement
        let mut renamed = first.person.clone();
        renamed.name = "田中　太朗".into();
        tx.update_person(ids[0], &renamed).unwrap();
        if commit {
            tx.commit().unwrap();
        }
        ids
    };
    load(false);
    assert_eq!(
        s.counts().unwrap().persons,
        0,
        "a dropped load leaves nothing"
    );
    assert_eq!(s.registry_indexes().unwrap(), indexes, "and every index");
    let ids = load(true);
    assert_eq!(s.registry_indexes().unwrap(), indexes, "built again");
    let c = s.counts().unwrap();
    assert_eq!(
        (c.persons, c.qualifications, c.cards),
        (u64::from(N), u64::from(N), u64::from(N))
    );
    let (p, h) = s.person_with_history(ids[0]).unwrap().unwrap();
    assert_eq!(p.person.name, "田中　太朗");
    assert_eq!(p.person.post_number.as_deref(), Some("0000000"));
    assert_eq!(h.len(), 1);
    // every post number set after the person row was written, wherever it was then
    for i in [1, N as usize / 2] {
        let (p, _) = s.person_with_history(ids[i]).unwrap().unwrap();
        assert_eq!(
            p.person.post_number.as_deref(),
            Some(format!("{i:07}").as_str())
        );
    }
    let last = ids[ids.len() - 1];
    let (p, _) = s.person_with_history(last).unwrap().unwrap();
    assert_eq!(
        p.person.post_number.as_deref(),
        Some(format!("{:07}", N - 1).as_str())
    );
    let card = s.card(&format!("S{:08}", 7919 % N)).unwrap().unwrap();
    assert_eq!(card.person_id, ids[1]);
    assert_eq!(
        s.card_public_key(&card.serial).unwrap().as_deref(),
        Some("key1")
    );
    let by_num = s
        .qualifications_by_number(&InsurerNumber::from_body("0113001").unwrap(), "42")
        .unwrap();
    assert_eq!(by_num.len(), 1);
    // the keys hold again, and a later import continues after the loaded ids
    let mut tx = s.begin_import().unwrap();
    assert!(!tx.registry_is_empty().unwrap());
    assert!(
        tx.start_initial_load().is_err(),
        "not into a registry with persons"
    );
    drop(tx);
    let mut tx = s.begin_import().unwrap();
    assert_eq!(tx.insert_person(&hash_n(0), &person()).unwrap(), ids[0]);
    let fresh = tx.insert_person(&hash_n(N), &person()).unwrap();
    assert!(
        ids.iter().all(|&i| i < fresh),
        "ids continue after the load"
    );
    tx.commit().unwrap();
}

/// The uniqueness of the My Number's keyed hash holds through an initial load, which may build
/// its index only at commit: a person given twice fails the load (nothing written), lookups by
/// hash wait for the commit, and after it the hash finds its one person.
fn initial_load_keeps_each_my_number_to_one_person(
    make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>),
) {
    let (s, _keep) = make();
    let twice = || -> Result<()> {
        let mut tx = s.begin_import()?;
        tx.start_initial_load()?;
        for n in 0..300 {
            tx.insert_new_person(&hash_n(n), &person())?;
        }
        tx.insert_new_person(&hash_n(17), &person())?;
        tx.commit()
    };
    assert!(twice().is_err(), "a My Number given twice fails the load");
    assert_eq!(s.counts().unwrap().persons, 0, "and leaves nothing");
    let mut tx = s.begin_import().unwrap();
    tx.start_initial_load().unwrap();
    let mut ids = Vec::new();
    for n in 0..300 {
        ids.push(tx.insert_new_person(&hash_n(n), &person()).unwrap());
    }
    // the caller knows whom it loaded: no lookup by hash before the index is built
    assert!(tx.person_by_hash(&hash_n(42)).is_err());
    assert!(tx.insert_person(&hash_n(7), &person()).is_err());
    tx.commit().unwrap();
    assert_eq!(s.counts().unwrap().persons, 300);
    let mut tx = s.begin_import().unwrap();
    assert_eq!(
        tx.person_by_hash(&hash_n(42)).unwrap().map(|p| p.id),
        Some(ids[42])
    );
    assert_eq!(tx.insert_person(&hash_n(7), &person()).unwrap(), ids[7]);
    assert!(
        tx.insert_new_person(&hash_n(5), &person()).is_err(),
        "enforced after the load"
    );
}

/// A qualification or a card of an initial load whose person does not exist fails the load
/// (at its insert or when its commit is prepared or done: a backend may check the references
/// as a whole), leaving the registry empty; after a load the references are enforced row by
/// row again.
fn initial_load_refuses_rows_of_a_person_it_does_not_hold(
    make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>),
) {
    let (s, _keep) = make();
    let card = |serial: &str, person_id: PersonId| CardCert {
        serial: serial.into(),
        person_id,
        cert_expiry: d("2031-04-01"),
        status: CertStatus::Active,
    };
    let key = format!("{:064x}", 7);
    let load = |bad_qualification: bool| -> Result<PersonId> {
        let mut tx = s.begin_import()?;
        tx.start_initial_load()?;
        let mut last = 0;
        for n in 0..200 {
            last = tx.insert_new_person(&hash_n(n), &person())?;
            tx.insert_new_qualification(
                last,
                "田中　太郎",
                &qual(&format!("{n}"), "2026-04-01", None),
            )?;
        }
        if bad_qualification {
            tx.insert_new_qualification(
                last + 1_000,
                "田中　太郎",
                &qual("9999", "2026-04-01", None),
            )?;
        } else {
            tx.insert_new_card(&card("C0000000001", last + 1_000), &key)?;
        }
        tx.commit()?;
        Ok(last)
    };
    for bad_qualification in [true, false] {
        assert!(
            load(bad_qualification).is_err(),
            "a row of a person not in the registry fails the load (qualification: {bad_qualification})"
        );
        let c = s.counts().unwrap();
        assert_eq!(
            (c.persons, c.qualifications, c.cards),
            (0, 0, 0),
            "and leaves nothing"
        );
    }
    // a good load, then an import that is not one: its bad row fails at once
    let mut tx = s.begin_import().unwrap();
    tx.start_initial_load().unwrap();
    let id = tx.insert_new_person(&hash_n(1), &person()).unwrap();
    // the commit's work first, then the commit (as the import does)
    tx.prepare_commit().unwrap();
    tx.commit().unwrap();
    let mut tx = s.begin_import().unwrap();
    assert!(!tx.registry_is_empty().unwrap());
    assert!(
        tx.upsert_qualification(id + 1_000, "田中　太郎", &qual("77", "2026-04-01", None))
            .is_err(),
        "the references are enforced again after a load (qualification)"
    );
    drop(tx);
    let mut tx = s.begin_import().unwrap();
    assert!(
        tx.upsert_card(&card("C0000000002", id + 1_000)).is_err(),
        "the references are enforced again after a load (card)"
    );
}

/// The cards of an initial load come in random serial order, with real (hex) keys: the
/// backend may hold them and write them sorted, but the load sees each card it was given, a
/// serial given twice fails the load (nothing written), and the committed cards are found by
/// serial with their person and key.
fn initial_load_cards_in_random_order(make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>)) {
    let (s, _keep) = make();
    const N: u32 = 5_000;
    let serial = |n: u32| format!("C{:012}", (u64::from(n) * 7_919 + 13) % 1_000_000_007);
    let key = |n: u32| format!("{:064x}", u64::from(n) * 0x9E37_79B9 + 1);
    let load = |duplicate: bool| -> Result<Vec<PersonId>> {
        let mut tx = s.begin_import()?;
        tx.start_initial_load()?;
        let mut ids = Vec::new();
        for n in 0..N {
            let id = tx.insert_new_person(&hash_n(n), &person())?;
            tx.insert_new_card(
                &CardCert {
                    serial: serial(n),
                    person_id: id,
                    cert_expiry: d("2031-03-31"),
                    status: if n % 7 == 0 {
                        CertStatus::Revoked
                    } else {
                        CertStatus::Active
                    },
                },
                &key(n),
            )?;
            ids.push(id);
        }
        if duplicate {
            // the last card takes the serial of the first, for another person
            tx.insert_new_card(
                &CardCert {
                    serial: serial(0),
                    person_id: ids[N as usize - 1],
                    cert_expiry: d("2031-03-31"),
                    status: CertStatus::Active,
                },
                &key(N),
            )?;
        }
        tx.commit()?;
        Ok(ids)
    };
    assert!(load(true).is_err(), "a serial given twice fails the load");
    let c = s.counts().unwrap();
    assert_eq!((c.persons, c.cards), (0, 0), "and nothing is written");
    assert_eq!(s.card_public_key(&serial(0)).unwrap(), None);

    let ids = load(false).unwrap();
    assert_eq!(s.counts().unwrap().cards, u64::from(N));
    for n in (0..N).step_by(97).chain([N - 1]) {
        let card = s.card(&serial(n)).unwrap().unwrap();
        assert_eq!(card.person_id, ids[n as usize], "card {n}");
        assert_eq!(card.cert_expiry, d("2031-03-31"));
        let status = if n % 7 == 0 {
            CertStatus::Revoked
        } else {
            CertStatus::Active
        };
        assert_eq!(card.status, status);
        assert_eq!(
            s.card_public_key(&serial(n)).unwrap(),
            Some(key(n)),
            "key of card {n}"
        );
    }
}

/// SQLite holds the cards of an initial load until its first qualification or its commit; the
/// load still sees them (a lookup or an upsert of a card writes the held ones first).
#[test]
fn sqlite_initial_load_sees_the_cards_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("c.sqlite")).unwrap();
    let serial = |n: u32| format!("C{n:012}");
    let key = |n: u32| format!("{:064x}", n + 1);
    let mut tx = s.begin_import().unwrap();
    tx.start_initial_load().unwrap();
    let id = tx.insert_new_person(&hash_n(1), &person()).unwrap();
    let cert = CardCert {
        serial: serial(1),
        person_id: id,
        cert_expiry: d("2031-03-31"),
        status: CertStatus::Active,
    };
    tx.insert_new_card(&cert, &key(1)).unwrap();
    assert_eq!(
        tx.card_by_serial(&serial(1)).unwrap(),
        Some(cert.clone()),
        "the load sees its cards"
    );
    assert_eq!(tx.upsert_card(&cert).unwrap(), UpsertOutcome::Unchanged);
    tx.commit().unwrap();
    assert_eq!(s.card_public_key(&serial(1)).unwrap(), Some(key(1)));
}

/// SQLite checks an initial load's rows when its commit is prepared
/// ([`ImportTx::prepare_commit`]): a row written after that is refused at the commit, with
/// nothing written; prepared and then committed, the load is there.
#[test]
fn sqlite_initial_load_refuses_a_row_written_after_its_commit_was_prepared() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("c.sqlite")).unwrap();
    let cert = |person_id| CardCert {
        serial: "C000000000001".into(),
        person_id,
        cert_expiry: d("2031-03-31"),
        status: CertStatus::Active,
    };
    let key = format!("{:064x}", 9);
    for late_card in [false, true] {
        let mut tx = s.begin_import().unwrap();
        tx.start_initial_load().unwrap();
        let id = tx.insert_new_person(&hash_n(1), &person()).unwrap();
        tx.prepare_commit().unwrap();
        if late_card {
            // held, not written, until the commit: refused all the same
            tx.insert_new_card(&cert(id), &key).unwrap();
        } else {
            tx.insert_new_person(&hash_n(2), &person()).unwrap();
        }
        assert!(tx.commit().is_err(), "a late row (card: {late_card})");
        assert_eq!(s.counts().unwrap().persons, 0, "nothing written");
    }
    let mut tx = s.begin_import().unwrap();
    tx.start_initial_load().unwrap();
    let id = tx.insert_new_person(&hash_n(1), &person()).unwrap();
    tx.insert_new_card(&cert(id), &key).unwrap();
    tx.prepare_commit().unwrap();
    tx.prepare_commit().unwrap();
    tx.commit().unwrap();
    assert_eq!(s.counts().unwrap().cards, 1);
    assert_eq!(s.card_public_key("C000000000001").unwrap(), Some(key));
}

fn medical_information_consents_and_views(
    make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>),
) {
    use onshi_domain::medinfo::*;
    let (s, _keep) = make();
    let mut tx = s.begin_import().unwrap();
    let pid = tx.insert_new_person(&hash(1), &person()).unwrap();
    let other = tx.insert_new_person(&hash(2), &person()).unwrap();
    tx.commit().unwrap();
    let drug = |on: &str, name: &str| DrugRecord {
        source: DrugSource::Dispensing,
        dispensed_on: d(on),
        prescribed_on: Some(d(on)),
        dispenser_code: "1341234567".into(),
        dispenser_name: "おんし薬局".into(),
        prescriber_code: Some("1311234567".into()),
        prescriber_name: Some("おんし内科".into()),
        in_out: "2".into(),
        drug_code: "620004109".into(),
        drug_name: name.into(),
        ingredient: None,
        quantity: "3".into(),
        unit: "錠".into(),
        usage: Some("1日3回毎食後".into()),
        special_instruction: None,
        times: Some("7".into()),
        id_class: "1".into(),
    };
    let recs = MedicalRecords {
        drugs: vec![
            drug("2026-10-02", "ロキソプロフェン"),
            drug("2026-06-01", "古い薬"),
        ],
        diagnoses: vec![DiagnosisRecord {
            treated_on: d("2026-10-02"),
            facility_code: "1311234567".into(),
            facility_name: "おんし内科".into(),
            code: "150000110".into(),
            name: "虫垂切除術".into(),
            id_class: "50".into(),
            quantity: None,
            times: Some("1".into()),
            unit: None,
            operation: true,
        }],
        checkups: vec![CheckupItem {
            checked_on: d("2026-05-10"),
            item_code: "9N001000000000001".into(),
            item_name: "身長".into(),
            data_type: "PQ".into(),
            value: "170.2".into(),
            unit: Some("cm".into()),
            oid: None,
            value_name: None,
        }],
    };
    s.add_medical_records(&[(pid, recs.clone())]).unwrap();
    let all = s.medical_records(pid, None, None).unwrap();
    assert_eq!(all.drugs.len(), 2);
    assert_eq!(all.drugs[0].drug_name, "古い薬", "oldest first");
    assert_eq!(all.diagnoses, recs.diagnoses);
    assert_eq!(all.checkups, recs.checkups);
    let recent = s
        .medical_records(pid, Some(d("2026-09-01")), Some(d("2026-10-31")))
        .unwrap();
    assert_eq!(recent.drugs.len(), 1);
    assert!(recent.checkups.is_empty());
    assert!(s.medical_records(other, None, None).unwrap().is_empty());

    let at = d("2026-11-25").and_hms_opt(9, 30, 10).unwrap();
    assert_eq!(
        s.latest_consent(pid, "1311234567", MedicalInfoKind::Drug)
            .unwrap(),
        None
    );
    let old = ConsentGrant::given(pid, "1311234567", MedicalInfoKind::Drug, at - CONSENT_LASTS);
    let new = ConsentGrant::given(pid, "1311234567", MedicalInfoKind::Drug, at);
    s.record_consents(&[new.clone(), old]).unwrap();
    assert_eq!(
        s.latest_consent(pid, "1311234567", MedicalInfoKind::Drug)
            .unwrap(),
        Some(new)
    );
    assert_eq!(
        s.latest_consent(pid, "1319999999", MedicalInfoKind::Drug)
            .unwrap(),
        None,
        "a consent is given to one facility"
    );
    assert_eq!(
        s.latest_consent(pid, "1311234567", MedicalInfoKind::Checkup)
            .unwrap(),
        None
    );

    let view = |fac: &str, p: i64, granted: bool| MedicalView {
        id: 0,
        at,
        facility: fac.into(),
        person_id: p,
        kind: MedicalInfoKind::Drug,
        channel: "YZKsiquc01/2".into(),
        granted,
    };
    let a = s.record_view(&view("1311234567", pid, true)).unwrap();
    let b = s.record_view(&view("1341234567", pid, false)).unwrap();
    s.record_view(&view("1311234567", other, true)).unwrap();
    assert!(b > a);
    let mine = s.medical_views(ViewsOf::Person(pid), 10).unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].id, b, "newest first");
    assert_eq!(mine[0].facility, "1341234567");
    assert!(!mine[0].granted);
    assert_eq!(mine[1].at, at);
    let clinic = s
        .medical_views(ViewsOf::Facility("1311234567"), 10)
        .unwrap();
    assert_eq!(clinic.len(), 2);
    assert!(clinic.iter().all(|v| v.facility == "1311234567"));
}

/// R2: the consents given at the reader are written in the same commit as the history
/// entries of the confirmations that carried them.
fn r2_consents_commit_with_their_confirmations(
    make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>),
) {
    use onshi_domain::medinfo::*;
    let (s, _keep) = make();
    let at = NaiveDate::from_ymd_opt(2026, 11, 25)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let grants = [
        ConsentGrant::given(1, "1311234567", MedicalInfoKind::Drug, at),
        ConsentGrant::given(1, "1311234567", MedicalInfoKind::Checkup, at),
        ConsentGrant::given(2, "1311234567", MedicalInfoKind::Drug, at),
    ];
    let ids = s
        .append_confirmations_with_consents(
            &[
                entry("1311234567", "2026-11-25", "1"),
                entry("1311234567", "2026-11-25", "1"),
            ],
            &grants,
        )
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);
    let listed = s
        .list_confirmations("1311234567", &HistoryFilter::default())
        .unwrap();
    assert_eq!(listed.len(), 2);
    for g in &grants {
        let found = s
            .latest_consent(g.person_id, &g.facility, g.kind)
            .unwrap()
            .unwrap_or_else(|| panic!("consent {g:?} not kept"));
        assert_eq!(found.given_at, at);
        assert_eq!(found.available_until, g.available_until);
    }
    assert!(
        s.latest_consent(2, "1311234567", MedicalInfoKind::Checkup)
            .unwrap()
            .is_none()
    );
    // without consents the plain append still works
    assert_eq!(
        s.append_confirmations(&[entry("1311234567", "2026-11-25", "1")])
            .unwrap()
            .len(),
        1
    );
}

/// A consent that cannot be written takes its batch of confirmations with it: neither is
/// kept, and the error reaches the caller (who then does not acknowledge them). `refuse`
/// makes every insert into `med_consent` fail (fault injection).
fn r2_a_failed_consent_keeps_no_confirmation(s: &dyn Store, refuse: &dyn Fn()) {
    use onshi_domain::medinfo::*;
    let at = NaiveDate::from_ymd_opt(2026, 11, 25)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    s.append_confirmations(&[entry("1311234567", "2026-11-24", "1")])
        .unwrap();
    refuse();
    let err = s.append_confirmations_with_consents(
        &[
            entry("1311234567", "2026-11-25", "1"),
            entry("1311234567", "2026-11-25", "2"),
        ],
        &[ConsentGrant::given(
            1,
            "1311234567",
            MedicalInfoKind::Drug,
            at,
        )],
    );
    assert!(err.is_err(), "the refused consent must fail the batch");
    let listed = s
        .list_confirmations("1311234567", &HistoryFilter::default())
        .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|e| e.confirmation_date)
            .collect::<Vec<_>>(),
        vec![d("2026-11-24")],
        "only the confirmation committed before is kept"
    );
    assert!(
        s.latest_consent(1, "1311234567", MedicalInfoKind::Drug)
            .unwrap()
            .is_none()
    );
    // the store goes on: confirmations without consents are still written
    s.append_confirmations(&[entry("1311234567", "2026-11-26", "1")])
        .unwrap();
}

#[test]
fn sqlite_r2_a_consent_that_cannot_be_written_keeps_no_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("s.sqlite")).unwrap();
    let history = s.history_file().to_path_buf();
    r2_a_failed_consent_keeps_no_confirmation(&s, &|| {
        rusqlite::Connection::open(&history)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER refuse_consent BEFORE INSERT ON med_consent \
                 BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
            )
            .unwrap();
    });
}

#[test]
fn postgres_r2_a_consent_that_cannot_be_written_keeps_no_confirmation() {
    let db = onshi_store::postgres::TestDatabase::create().unwrap();
    let s = PostgresStore::open(db.url()).unwrap();
    let url = db.url().to_string();
    r2_a_failed_consent_keeps_no_confirmation(&s, &|| {
        pg_exec(
            &url,
            "CREATE FUNCTION refuse_consent() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'disk full'; END $$; \
             CREATE TRIGGER refuse_consent BEFORE INSERT ON med_consent \
             FOR EACH ROW EXECUTE FUNCTION refuse_consent();",
        );
    });
}

fn import_is_all_or_nothing(make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>)) {
    let (s, _keep) = make();
    {
        let mut tx = s.begin_import().unwrap();
        let id = tx.insert_person(&hash(1), &person()).unwrap();
        tx.upsert_qualification(id, "田中　太郎", &qual("1", "2020-04-01", None))
            .unwrap();
        // dropped without commit
    }
    assert_eq!(
        s.counts().unwrap().persons,
        0,
        "an uncommitted import leaves nothing"
    );
    let mut tx = s.begin_import().unwrap();
    let id = tx.insert_person(&hash(1), &person()).unwrap();
    tx.upsert_insurer(&InsurerNumber::from_body("0113001").unwrap(), "協会")
        .unwrap();
    tx.upsert_qualification(
        id,
        "田中　太郎",
        &qual("1", "2020-04-01", Some("2026-10-01")),
    )
    .unwrap();
    tx.upsert_card(&CardCert {
        serial: "C1".into(),
        person_id: id,
        cert_expiry: d("2030-01-01"),
        status: CertStatus::Active,
    })
    .unwrap();
    tx.commit().unwrap();
    let c = s.counts().unwrap();
    assert_eq!(
        (c.persons, c.qualifications, c.cards, c.insurers),
        (1, 1, 1, 1)
    );
    let card = s.card("C1").unwrap().unwrap();
    let (p, h) = s.person_with_history(card.person_id).unwrap().unwrap();
    assert_eq!(p.person, person());
    assert_eq!(
        h[0].qualification,
        qual("1", "2020-04-01", Some("2026-10-01"))
    );
    let by_num = s
        .qualifications_by_number(&InsurerNumber::from_body("0113001").unwrap(), "1")
        .unwrap();
    assert_eq!(by_num.len(), 1);
}

fn upserts_report_what_changed(make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>)) {
    let (s, _keep) = make();
    let mut tx = s.begin_import().unwrap();
    let id = tx.insert_person(&hash(2), &person()).unwrap();
    assert_eq!(
        tx.insert_person(&hash(2), &person()).unwrap(),
        id,
        "same hash, same person"
    );
    let q = qual("2", "2020-04-01", None);
    assert_eq!(
        tx.upsert_qualification(id, "n", &q).unwrap(),
        UpsertOutcome::Inserted
    );
    assert_eq!(
        tx.upsert_qualification(id, "n", &q).unwrap(),
        UpsertOutcome::Unchanged
    );
    let lost = qual("2", "2020-04-01", Some("2026-10-01"));
    assert_eq!(
        tx.upsert_qualification(id, "n", &lost).unwrap(),
        UpsertOutcome::Updated
    );
    // a new 資格確認書 (other dates) is a change
    let mut reissued = lost.clone();
    reissued.card_dates.valid_to = Some(d("2030-12-01"));
    assert_eq!(
        tx.upsert_qualification(id, "n", &reissued).unwrap(),
        UpsertOutcome::Updated
    );
    // the details round-trip too
    reissued.details = QualificationDetails {
        name_of_other: Some("田村　太郎".into()),
        name_of_other_kana: Some("タムラ　タロウ".into()),
        sex2: Some(Sex::Female),
        elderly_certificate_date: Some(d("2026-07-20")),
        limit_certificate: LimitCertificate {
            classification: Some(LimitCertificateClassification::LimitAndReduction),
            issued_on: Some(d("2026-03-25")),
            valid_from: Some(d("2026-04-01")),
            valid_to: Some(d("2027-03-31")),
            long_term_date: Some(d("2026-09-01")),
        },
        specific_diseases: vec![SpecificDiseaseCertificate {
            category: SpecificDisease::Dialysis,
            issued_on: None,
            valid_from: d("2025-04-01"),
            valid_to: None,
            self_pay: Some(10000),
        }],
        in_school: true,
        registered_on: Some(d("2026-04-03")),
    };
    assert_eq!(
        tx.upsert_qualification(id, "n", &reissued).unwrap(),
        UpsertOutcome::Updated
    );
    tx.update_post_number(id, "1600022").unwrap();
    tx.commit().unwrap();
    let h = s.qualifications(id).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].qualification, reissued);
    assert_eq!(
        s.person(id).unwrap().unwrap().person.post_number.as_deref(),
        Some("1600022")
    );
}

fn history_appends_in_batches_and_filters(
    make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>),
) {
    let (s, _keep) = make();
    let ids = s
        .append_confirmations(&[
            entry("1311234567", "2026-11-20", "1"),
            entry("1311234567", "2026-11-25", "2"),
            entry("1341234567", "2026-11-25", "1"),
        ])
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] < ids[1] && ids[1] < ids[2]);
    let all = s
        .list_confirmations("1311234567", &HistoryFilter::default())
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, ids[1], "newest first");
    let f = HistoryFilter {
        from: Some(d("2026-11-21")),
        ..Default::default()
    };
    assert_eq!(s.list_confirmations("1311234567", &f).unwrap().len(), 1);
    let f = HistoryFilter {
        outcome: Some("1".into()),
        ..Default::default()
    };
    assert_eq!(s.list_confirmations("1341234567", &f).unwrap().len(), 1);
    let f = HistoryFilter {
        kana_key: Some("タナカタロウ".into()),
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(s.list_confirmations("1311234567", &f).unwrap().len(), 1);
    let f = HistoryFilter {
        before_id: Some(ids[1]),
        ..Default::default()
    };
    assert_eq!(
        s.list_confirmations("1311234567", &f).unwrap()[0].id,
        ids[0]
    );
}

fn trust_keys_and_readers(make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>)) {
    let (s, _keep) = make();
    let mut tx = s.begin_import().unwrap();
    tx.set_card_key("C9", "aa").unwrap();
    tx.set_card_key("C9", "bb").unwrap();
    tx.commit().unwrap();
    assert_eq!(s.card_public_key("C9").unwrap().as_deref(), Some("bb"));
    assert_eq!(s.card_public_key("C0").unwrap(), None);
    let r = ReaderRecord {
        id: "R1".into(),
        facility: "1311234567".into(),
        public_key: "k1".into(),
        revoked: false,
    };
    s.register_reader(&r).unwrap();
    assert_eq!(s.reader("R1").unwrap(), Some(r.clone()));
    assert!(
        !s.revoke_reader("R1", Some("1319999999")).unwrap(),
        "another facility cannot revoke it"
    );
    assert!(s.revoke_reader("R1", Some("1311234567")).unwrap());
    assert!(s.reader("R1").unwrap().unwrap().revoked);
    assert!(!s.revoke_reader("R1", None).unwrap(), "already revoked");
    s.register_reader(&r).unwrap();
    assert!(!s.reader("R1").unwrap().unwrap().revoked, "re-registered");
    s.record_refusal("1311234567", Some("R1"), Some("C9"), "assertion_replayed")
        .unwrap();
    let got = s.refusals(10).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].reason, "assertion_replayed");
}

fn facilities_by_token(make: &dyn Fn() -> (Box<dyn Store>, Box<dyn std::any::Any>)) {
    let (s, _keep) = make();
    let f = Facility {
        code: MedicalInstitutionCode::parse("1311234567").unwrap(),
        name: "clinic".into(),
    };
    s.upsert_facility(&f, "th").unwrap();
    assert_eq!(s.facility_by_token_hash("th").unwrap(), Some(f.clone()));
    assert_eq!(s.facility_by_token_hash("other").unwrap(), None);
    s.upsert_facility(&f, "th2").unwrap();
    assert_eq!(s.facility_by_token_hash("th").unwrap(), None, "re-keyed");
    assert!(s.revoke_facility_token(&f.code).unwrap());
    assert_eq!(s.facility_by_token_hash("th2").unwrap(), None, "revoked");
    let other = MedicalInstitutionCode::parse("1319999999").unwrap();
    assert!(!s.revoke_facility_token(&other).unwrap());
}

#[test]
fn sqlite_backend_conforms() {
    suite(&|| {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path().join("s.sqlite")).unwrap();
        (
            Box::new(s) as Box<dyn Store>,
            Box::new(dir) as Box<dyn std::any::Any>,
        )
    });
}

#[test]
fn postgres_backend_conforms() {
    suite(&|| {
        let db = onshi_store::postgres::TestDatabase::create().unwrap();
        let s = PostgresStore::open(db.url()).unwrap();
        (
            Box::new(s) as Box<dyn Store>,
            Box::new(db) as Box<dyn std::any::Any>,
        )
    });
}

/// An initial load larger than the persons PostgreSQL may hold in memory (16 M by default,
/// here 5,000 of 12,000): persons are sent on the way, read back from the server, given post
/// numbers and replaced after they were sent — the same outcome as when they are all held.
#[test]
fn postgres_initial_load_beyond_the_persons_it_may_hold() {
    let make = || {
        let db = onshi_store::postgres::TestDatabase::create().unwrap();
        let s = PostgresStore::open(db.url())
            .unwrap()
            .with_initial_load_hold(5_000);
        (
            Box::new(s) as Box<dyn Store>,
            Box::new(db) as Box<dyn std::any::Any>,
        )
    };
    initial_load_defers_its_indexes_all_or_nothing(&make);
    initial_load_cards_in_random_order(&make);
}

/// The same on SQLite, which holds an initial load's persons until its commit is prepared (16 M
/// by default, here 5,000 of 12,000): the persons held are written on the way, read back from
/// the file, given post numbers and replaced after they were written — the same outcome as
/// when they are all held.
#[test]
fn sqlite_initial_load_beyond_the_persons_it_may_hold() {
    let make = || sqlite_store_set(|s| s.with_initial_load_hold(5_000));
    initial_load_defers_its_indexes_all_or_nothing(&make);
    initial_load_cards_in_random_order(&make);
    initial_load_refuses_rows_of_a_person_it_does_not_hold(&make);
}

/// A fresh SQLite store in a folder of its own, set up by `set`, for the shared suites.
fn sqlite_store_set(
    set: impl Fn(SqliteStore) -> SqliteStore,
) -> (Box<dyn Store>, Box<dyn std::any::Any>) {
    let dir = tempfile::tempdir().unwrap();
    let s = set(SqliteStore::open(dir.path().join("s.sqlite")).unwrap());
    (
        Box::new(s) as Box<dyn Store>,
        Box::new(dir) as Box<dyn std::any::Any>,
    )
}

/// An SQLite initial load whose index sorts are cut into many runs (the least SQLite takes,
/// 10 pages a run, so that the 12,000 persons' hashes make about twenty runs, sorted and
/// merged by helper threads) builds the same indexes: the loads above give the same outcome,
/// a My Number given twice still fails the load, the file passes SQLite's integrity check
/// (each index holds exactly its table's rows) and every person is found by the hash of their
/// My Number.
#[test]
fn sqlite_initial_load_with_its_index_sorts_in_many_runs() {
    let make = || sqlite_store_set(|s| s.with_index_sort_runs(40));
    initial_load_defers_its_indexes_all_or_nothing(&make);
    initial_load_keeps_each_my_number_to_one_person(&make);
    initial_load_cards_in_random_order(&make);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let s = SqliteStore::open(&path).unwrap().with_index_sort_runs(40);
    const N: u32 = 12_000;
    let load = |twice: Option<u32>| -> Result<Vec<PersonId>> {
        let mut tx = s.begin_import()?;
        tx.start_initial_load()?;
        let mut ids = Vec::new();
        for n in 0..N {
            let mut p = person();
            p.name_kana = format!("タナカ　{}", (n * 7919) % N);
            ids.push(tx.insert_new_person(&hash_n(n), &p)?);
        }
        if let Some(n) = twice {
            tx.insert_new_person(&hash_n(n), &person())?;
        }
        tx.commit()?;
        Ok(ids)
    };
    assert!(load(Some(N / 3)).is_err(), "a My Number given twice fails");
    assert_eq!(s.counts().unwrap().persons, 0, "and leaves nothing");
    let ids = load(None).unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let check: Vec<String> = c
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(check, ["ok"]);
    let mut tx = s.begin_import().unwrap();
    for n in 0..N {
        assert_eq!(
            tx.person_by_hash(&hash_n(n)).unwrap().map(|p| p.id),
            Some(ids[n as usize]),
            "person {n} by the hash of their My Number"
        );
    }
}

/// A registry file of the current schema in `dir` with one person (`hash(n)`) holding one
/// qualification (number `n`) from `from`, for the upgrade tests to strip back.
fn file_with_one_qualification(dir: &tempfile::TempDir, n: u8, from: &str) -> std::path::PathBuf {
    let path = dir.path().join(format!("old-{n}.sqlite"));
    let s = SqliteStore::open(&path).unwrap();
    let mut tx = s.begin_import().unwrap();
    let id = tx.insert_person(&hash(n), &person()).unwrap();
    tx.upsert_qualification(id, "田中　太郎", &qual(&n.to_string(), from, None))
        .unwrap();
    tx.commit().unwrap();
    path
}

/// A registry file made before the card / 資格確認書 dates existed opens unchanged: the
/// columns are added, old rows read with no dates, new rows keep theirs.
#[test]
fn sqlite_registry_of_an_earlier_version_gains_the_card_date_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with_one_qualification(&dir, 3, "2020-04-01");
    {
        // what an earlier version's file looks like: no card date columns
        let c = rusqlite::Connection::open(&path).unwrap();
        for col in [
            "card_issued_on",
            "card_valid_from",
            "card_valid_to",
            "name_of_other",
            "name_of_other_kana",
            "sex2",
            "elderly_issued_on",
            "limit_certificate",
            "limit_issued_on",
            "limit_valid_from",
            "limit_valid_to",
            "limit_long_term_date",
            "specific_diseases",
        ] {
            c.execute_batch(&format!("ALTER TABLE qualification DROP COLUMN {col}"))
                .unwrap();
        }
    }
    let s = SqliteStore::open(&path).unwrap();
    let h = s.qualifications(1).unwrap();
    assert_eq!(h[0].qualification.card_dates, CardDates::default());
    let mut tx = s.begin_import().unwrap();
    let q = qual("3", "2020-04-01", None);
    assert_eq!(
        tx.upsert_qualification(1, "田中　太郎", &q).unwrap(),
        UpsertOutcome::Updated
    );
    tx.commit().unwrap();
    assert_eq!(s.qualifications(1).unwrap()[0].qualification, q);
}

/// An initial load into a file the store has alone is written through a rollback journal,
/// not the WAL (the journal beside the file, no WAL, during the load), and the file is back in
/// WAL mode after a rollback and after a commit; with the file open elsewhere the load stays
/// in WAL mode and commits all the same.
#[test]
fn sqlite_initial_load_leaves_the_wal_when_alone_and_returns_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rj.sqlite");
    let journal = dir.path().join("rj.sqlite-journal");
    let wal = dir.path().join("rj.sqlite-wal");
    let mode = || -> String {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    };
    let s = SqliteStore::open(&path).unwrap();
    // a reader used before the load is in the pool: the load closes it
    assert_eq!(s.counts().unwrap().persons, 0);
    let load = |commit: bool, alone: bool| {
        let mut tx = s.begin_import().unwrap();
        tx.start_initial_load().unwrap();
        for n in 0..2_000 {
            tx.insert_new_person(&hash_n(n), &person()).unwrap();
        }
        assert_eq!(journal.exists(), alone, "a rollback journal while alone");
        assert_eq!(wal.exists(), !alone, "the WAL only when not alone");
        if commit {
            tx.commit().unwrap();
        }
    };
    load(false, true);
    assert!(!journal.exists());
    assert_eq!(mode(), "wal", "back in WAL mode after a rollback");
    assert_eq!(s.counts().unwrap().persons, 0);
    load(true, true);
    assert_eq!(mode(), "wal", "back in WAL mode after the commit");
    assert_eq!(s.counts().unwrap().persons, 2_000);
    let mut tx = s.begin_import().unwrap();
    assert!(tx.person_by_hash(&hash_n(1_999)).unwrap().is_some());
    drop(tx);
    // a second store over a copy with another connection open: the load stays in WAL mode
    let other = dir.path().join("other.sqlite");
    let s2 = SqliteStore::open(&other).unwrap();
    let held = rusqlite::Connection::open(&other).unwrap();
    held.query_row("SELECT count(*) FROM person", [], |r| r.get::<_, i64>(0))
        .unwrap();
    let mut tx = s2.begin_import().unwrap();
    tx.start_initial_load().unwrap();
    tx.insert_new_person(&hash_n(1), &person()).unwrap();
    assert!(!dir.path().join("other.sqlite-journal").exists());
    tx.commit().unwrap();
    assert_eq!(s2.counts().unwrap().persons, 1);
    let m: String = held
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(m, "wal");
}

/// A registry file of schema 5 (the My Number hash unique by its column's constraint) is
/// upgraded to schema 6 when opened: the person table rebuilt with the named unique index,
/// every row, id and reference kept, and a second person with the same hash still refused.
#[test]
fn sqlite_registry_of_schema_5_gets_the_named_hash_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with_one_qualification(&dir, 6, "2025-04-01");
    let card = CardCert {
        serial: "C6".into(),
        person_id: 1,
        cert_expiry: d("2030-01-01"),
        status: CertStatus::Active,
    };
    {
        let s = SqliteStore::open(&path).unwrap();
        let mut tx = s.begin_import().unwrap();
        let other = tx.insert_person(&hash(7), &person()).unwrap();
        assert_eq!(other, 2);
        tx.upsert_card(&card).unwrap();
        tx.commit().unwrap();
    }
    {
        // what a schema-5 file looks like: the table as schema 1 made it
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = OFF; BEGIN; \
             CREATE TABLE person_v5 (id INTEGER PRIMARY KEY, \
               my_number_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, \
               name_kana TEXT NOT NULL, name_key TEXT NOT NULL, kana_key TEXT NOT NULL, \
               sex TEXT NOT NULL, birthdate TEXT NOT NULL, post_number TEXT, address TEXT); \
             INSERT INTO person_v5 SELECT * FROM person; DROP TABLE person; \
             ALTER TABLE person_v5 RENAME TO person; \
             CREATE INDEX person_by_kana_birth ON person (kana_key, birthdate); \
             CREATE INDEX outage_person_by_name_birth ON person (name_key, birthdate); \
             DELETE FROM onshi_schema_history WHERE version = 6; COMMIT;",
        )
        .unwrap();
        assert_eq!(onshi_store::sqlite::schema_version(&c).unwrap(), 5);
        let autoindex: bool = c
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'sqlite_autoindex_person_1')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(autoindex, "schema 5 keeps the hash unique by the column");
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), 6);
    let indexes = s.registry_indexes().unwrap();
    assert!(
        indexes.contains(&"person_by_my_number".to_string()),
        "{indexes:?}"
    );
    assert!(
        indexes.contains(&"person_by_kana_birth".to_string()),
        "{indexes:?}"
    );
    assert!(
        indexes.contains(&"outage_person_by_name_birth".to_string()),
        "{indexes:?}"
    );
    assert!(
        !indexes.contains(&"sqlite_autoindex_person_1".to_string()),
        "{indexes:?}"
    );
    // the rows, their ids and what refers to them
    assert_eq!(s.counts().unwrap().persons, 2);
    assert_eq!(s.qualifications(1).unwrap().len(), 1);
    let mut tx = s.begin_import().unwrap();
    assert_eq!(tx.person_by_hash(&hash(6)).unwrap().unwrap().id, 1);
    assert_eq!(tx.person_by_hash(&hash(7)).unwrap().unwrap().id, 2);
    assert_eq!(tx.card_by_serial("C6").unwrap(), Some(card));
    // the upsert by hash finds the person; a second person with the hash is refused
    assert_eq!(tx.insert_person(&hash(6), &person()).unwrap(), 1);
    assert!(tx.insert_new_person(&hash(7), &person()).is_err());
    drop(tx);
    drop(s);
    // the foreign keys are on again and hold
    let c = rusqlite::Connection::open(&path).unwrap();
    let broken: i64 = c
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(broken, 0);
    let s = SqliteStore::open(&path).unwrap();
    let mut tx = s.begin_import().unwrap();
    let orphan = CardCert {
        serial: "C9".into(),
        person_id: 99,
        ..tx.card_by_serial("C6").unwrap().unwrap()
    };
    assert!(
        tx.upsert_card(&orphan).is_err(),
        "a card of no person is refused after the migration"
    );
}

/// A registry file of schema 4 (before the registration date, R23) is upgraded to schema 5 when
/// opened: its rows read with no registration date, and a new import gives them one.
#[test]
fn sqlite_registry_of_schema_4_gains_the_registration_date() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with_one_qualification(&dir, 5, "2026-04-01");
    {
        // what a schema-4 file looks like
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "ALTER TABLE qualification DROP COLUMN registered_on; \
             DELETE FROM onshi_schema_history WHERE version >= 5;",
        )
        .unwrap();
        assert_eq!(onshi_store::sqlite::schema_version(&c).unwrap(), 4);
    }
    let s = SqliteStore::open(&path).unwrap();
    let latest = onshi_store::sqlite::migrations::REGISTRY.last().unwrap().0;
    assert_eq!(s.schema_version().unwrap(), latest);
    let h = s.qualifications(1).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].qualification.details.registered_on, None);
    let mut q = h[0].qualification.clone();
    q.details.registered_on = Some(d("2026-04-20"));
    let mut tx = s.begin_import().unwrap();
    assert_eq!(
        tx.upsert_qualification(1, "田中　太郎", &q).unwrap(),
        UpsertOutcome::Updated
    );
    tx.commit().unwrap();
    assert_eq!(s.qualifications(1).unwrap()[0].qualification, q);
    assert_eq!(
        s.registered_after_issuance(&q.insurer_number, d("2026-05-01"))
            .unwrap()
            .len(),
        1,
        "issued 2026-04-10, registered 2026-04-20"
    );
}

/// A PostgreSQL database of schema 4 (before the registration date, R23) is upgraded to schema
/// 5 when opened: its rows read with no registration date, and a new import gives them one.
#[test]
fn postgres_database_of_schema_4_gains_the_registration_date() {
    let db = onshi_store::postgres::TestDatabase::create().unwrap();
    {
        let old = PostgresStore::open_at(db.url(), Some(4)).unwrap();
        assert_eq!(old.schema_version().unwrap(), 4);
    }
    let insurer = qual("6", "2026-04-01", None).insurer_number;
    pg_exec(
        db.url(),
        &format!(
            "INSERT INTO person (id, my_number_hash, name, name_kana, name_key, kana_key, sex, \
         birthdate) VALUES (1, 'h1', '田中　太郎', 'タナカ　タロウ', 'k', 'k', '1', '1980-04-02'); \
         INSERT INTO qualification (person_id, registered_name, insurer_number, insurer_name, \
         card_classification, symbol, number, number_key, branch, family_class, insured_name, \
         employer, qualification_date, contribution_ratio, card_issued_on, card_valid_from) \
         VALUES (1, '田中　太郎', '{}', '全国健康保険協会東京支部', '01', '1001', '6', '6', '00', \
         '1', '田中　太郎', 'おんし工業', '2026-04-01', 30, '2026-04-10', '2026-04-01');",
            insurer.as_str()
        ),
    );
    let s = PostgresStore::open(db.url()).unwrap();
    assert_eq!(
        s.schema_version().unwrap(),
        onshi_store::postgres::migrations::latest()
    );
    let h = s.qualifications(1).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].qualification.details.registered_on, None);
    let mut q = h[0].qualification.clone();
    q.details.registered_on = Some(d("2026-04-20"));
    let mut tx = s.begin_import().unwrap();
    assert_eq!(
        tx.upsert_qualification(1, "田中　太郎", &q).unwrap(),
        UpsertOutcome::Updated
    );
    tx.commit().unwrap();
    assert_eq!(s.qualifications(1).unwrap()[0].qualification, q);
    assert_eq!(
        s.registered_after_issuance(&insurer, d("2026-05-01"))
            .unwrap()
            .len(),
        1
    );
}

/// The text columns that a key or an index of the PostgreSQL schema compares, as
/// `table.column`: the ones schema 6 puts in byte order.
const PG_KEY_TEXT_COLUMNS: &[&str] = &[
    "insurer.insurer_number",
    "person.my_number_hash",
    "person.name_key",
    "person.kana_key",
    "qualification.insurer_number",
    "qualification.number_key",
    "card.serial",
    "card_key.serial",
    "reader.id",
    "reader.public_key",
    "facility.code",
    "facility.token_hash",
    "confirmation.facility",
    "outage_facility_contact.facility",
    "outage_operator.name",
    "outage_operator.token_hash",
    "outage_request.facility",
    "outage_request.state",
    "outage_event.facility",
    "outage_audit.facility",
    "med_consent.facility",
    "med_consent.kind",
    "med_view.facility",
];

/// The collation of each column of [`PG_KEY_TEXT_COLUMNS`] (NULL: the database's own).
fn pg_key_collations(url: &str) -> Vec<(String, Option<String>)> {
    let rows = onshi_store::postgres::simple_query(
        url,
        "SELECT table_name || '.' || column_name, collation_name \
         FROM information_schema.columns WHERE table_schema = 'public'",
    )
    .unwrap();
    PG_KEY_TEXT_COLUMNS
        .iter()
        .map(|col| {
            let row = rows
                .iter()
                .find(|r| r[0].as_deref() == Some(col))
                .unwrap_or_else(|| panic!("no column {col}"));
            (col.to_string(), row[1].clone())
        })
        .collect()
}

/// A PostgreSQL database of schema 5 has every text column its keys and indexes compare put
/// in byte order (`COLLATE "C"`) when opened: the rows it held are found again by hash, card
/// serial and insurer number after the indexes on them were built again, and every key and
/// index is valid. Every other column keeps the database's collation.
#[test]
fn postgres_database_of_schema_5_has_its_keys_put_in_byte_order() {
    let db = onshi_store::postgres::TestDatabase::create().unwrap();
    {
        let old = PostgresStore::open_at(db.url(), Some(5)).unwrap();
        assert_eq!(old.schema_version().unwrap(), 5);
    }
    for (col, collation) in pg_key_collations(db.url()) {
        assert_eq!(collation, None, "{col} at schema 5");
    }
    let q = qual("7", "2026-04-01", None);
    pg_exec(
        db.url(),
        &format!(
            "INSERT INTO person (id, my_number_hash, name, name_kana, name_key, kana_key, sex, \
         birthdate) VALUES (1, 'h1', '田中　太郎', 'タナカ　タロウ', 'タナカタロウ', 'タナカタロウ', \
         '1', '1980-04-02'); \
         INSERT INTO qualification (person_id, registered_name, insurer_number, insurer_name, \
         card_classification, symbol, number, number_key, branch, family_class, insured_name, \
         employer, qualification_date, contribution_ratio) VALUES (1, '田中　太郎', '{}', \
         '全国健康保険協会東京支部', '01', '1001', '7', '7', '00', '1', '田中　太郎', \
         'おんし工業', '2026-04-01', 30); \
         INSERT INTO card (serial, person_id, cert_expiry, status) \
         VALUES ('C0000007', 1, '2031-04-01', 'active');",
            q.insurer_number.as_str()
        ),
    );
    let s = PostgresStore::open(db.url()).unwrap();
    assert_eq!(s.schema_version().unwrap(), 6);
    for (col, collation) in pg_key_collations(db.url()) {
        assert_eq!(collation.as_deref(), Some("C"), "{col} at schema 6");
    }
    let others = onshi_store::postgres::simple_query(
        db.url(),
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name IN ('person', 'qualification') \
         AND column_name IN ('name', 'name_kana', 'address', 'insurer_name', 'symbol') \
         AND collation_name IS NULL",
    )
    .unwrap();
    assert_eq!(
        others[0][0].as_deref(),
        Some("5"),
        "other columns untouched"
    );
    // every index on the registry valid and ready after being built again
    let invalid = onshi_store::postgres::simple_query(
        db.url(),
        "SELECT count(*) FROM pg_index WHERE NOT indisvalid OR NOT indisready",
    )
    .unwrap();
    assert_eq!(invalid[0][0].as_deref(), Some("0"));
    // the rows are found by the changed columns
    assert_eq!(s.card("C0000007").unwrap().unwrap().person_id, 1);
    {
        let mut tx = s.begin_import().unwrap();
        let h = onshi_domain::numbers::MyNumberHash::from_stored("h1".into());
        assert_eq!(tx.person_by_hash(&h).unwrap().unwrap().id, 1);
    }
    let by_number = s.qualifications_by_number(&q.insurer_number, "7").unwrap();
    assert_eq!(by_number.len(), 1);
    // a hash given twice is still refused by the unique key built again
    let dup = onshi_store::postgres::simple_query(
        db.url(),
        "INSERT INTO person (my_number_hash, name, name_kana, name_key, kana_key, sex, \
         birthdate) VALUES ('h1', 'x', 'x', 'x', 'x', '1', '1980-04-02')",
    );
    assert!(
        dup.is_err(),
        "the unique My Number hash holds in byte order"
    );
}

/// Runs SQL on a PostgreSQL database from a test.
fn pg_exec(url: &str, sql: &str) {
    onshi_store::postgres::simple_query(url, sql).unwrap();
}

/// A PostgreSQL database made by schema 1 (before the card / 資格確認書 dates) is upgraded by
/// the versioned migrations when opened: its rows read with no dates, new rows keep theirs.
#[test]
fn postgres_database_of_schema_1_is_migrated_to_the_latest() {
    let db = onshi_store::postgres::TestDatabase::create().unwrap();
    {
        let old = PostgresStore::open_at(db.url(), Some(1)).unwrap();
        assert_eq!(old.schema_version().unwrap(), 1);
    }
    // rows written by a schema-1 central (its columns only)
    let insurer = qual("3", "2020-04-01", None).insurer_number;
    pg_exec(
        db.url(),
        &format!(
            "INSERT INTO person (id, my_number_hash, name, name_kana, name_key, kana_key, sex, \
         birthdate) VALUES (1, 'h1', '田中　太郎', 'タナカ　タロウ', 'k', 'k', '1', '1980-04-02'); \
         INSERT INTO qualification (person_id, registered_name, insurer_number, insurer_name, \
         card_classification, symbol, number, number_key, branch, family_class, insured_name, \
         employer, qualification_date, contribution_ratio) VALUES (1, '田中　太郎', '{}', \
         '全国健康保険協会東京支部', '01', '1001', '3', '3', '00', '1', '田中　太郎', \
         'おんし工業', '2020-04-01', 30);",
            insurer.as_str()
        ),
    );
    let s = PostgresStore::open(db.url()).unwrap();
    assert_eq!(
        s.schema_version().unwrap(),
        onshi_store::postgres::migrations::latest()
    );
    let h = s.qualifications(1).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].qualification.card_dates, CardDates::default());
    let mut tx = s.begin_import().unwrap();
    let mut q = h[0].qualification.clone();
    q.card_dates = qual("3", "2020-04-01", None).card_dates;
    assert_eq!(
        tx.upsert_qualification(1, "田中　太郎", &q).unwrap(),
        UpsertOutcome::Updated
    );
    tx.commit().unwrap();
    assert_eq!(s.qualifications(1).unwrap()[0].qualification, q);
    // opening again applies nothing more
    drop(s);
    let s = PostgresStore::open(db.url()).unwrap();
    assert_eq!(
        s.schema_version().unwrap(),
        onshi_store::postgres::migrations::latest()
    );
}

/// The history is partitioned by month, the coming months' partitions made ahead at open, and
/// a confirmation lands in its month's partition.
#[test]
fn postgres_history_is_partitioned_by_month_ahead_of_time() {
    let db = onshi_store::postgres::TestDatabase::create().unwrap();
    let s = PostgresStore::open(db.url()).unwrap();
    let parts = s.history_partitions().unwrap();
    assert!(
        parts.contains(&"confirmation_default".to_string()),
        "{parts:?}"
    );
    let monthly = parts
        .iter()
        .filter(|p| p.len() == "confirmation_2026_12".len());
    assert!(
        monthly.count() >= 12,
        "a year of months made ahead: {parts:?}"
    );
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    let today = d("1970-01-01") + chrono::Days::new(days);
    let this_month = format!("confirmation_{}", today.format("%Y_%m"));
    assert!(parts.contains(&this_month), "{parts:?}");
    let mut e = entry("1311234567", "2026-11-20", "1");
    e.confirmation_date = today;
    s.append_confirmations(&[e]).unwrap();
    let (url, table) = (db.url().to_string(), this_month.clone());
    let n: i64 = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get(0)
        })
    })
    .join()
    .unwrap();
    assert_eq!(n, 1, "the row is in {this_month}");
}

/// A registry file made before the schema was versioned (no `onshi_schema_history`, no card
/// date columns) is brought to the latest version by the migrations when opened, its rows kept.
#[test]
fn sqlite_registry_made_before_versioning_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unversioned.sqlite");
    {
        let s = SqliteStore::open(&path).unwrap();
        let mut tx = s.begin_import().unwrap();
        let id = tx.insert_person(&hash(4), &person()).unwrap();
        tx.upsert_qualification(id, "田中　太郎", &qual("4", "2020-04-01", None))
            .unwrap();
        tx.commit().unwrap();
    }
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("DROP TABLE onshi_schema_history").unwrap();
        for col in [
            "card_issued_on",
            "card_valid_from",
            "card_valid_to",
            "registered_on",
        ] {
            c.execute_batch(&format!("ALTER TABLE qualification DROP COLUMN {col}"))
                .unwrap();
        }
        assert_eq!(onshi_store::sqlite::schema_version(&c).unwrap(), 0);
    }
    let s = SqliteStore::open(&path).unwrap();
    let latest = onshi_store::sqlite::migrations::REGISTRY.last().unwrap().0;
    assert_eq!(s.schema_version().unwrap(), latest);
    let h = s.qualifications(1).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].qualification.card_dates, CardDates::default());
    drop(s);
    // and opening it again changes nothing
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), latest);
    assert_eq!(s.counts().unwrap().persons, 1);
}

/// The registry and history files as a version before the history file's schema 2 left them:
/// the search audit and the medical-information consents and views in the registry file, the
/// history file at schema 1. Rows with ids 7 (audit), 3 (consent) and 5 (view).
fn files_with_logs_in_the_registry(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("logs.sqlite");
    drop(SqliteStore::open(&path).unwrap());
    let h = rusqlite::Connection::open(onshi_store::sqlite::history_path(&path)).unwrap();
    h.execute_batch(
        "DROP TABLE outage_audit; DROP TABLE med_consent; DROP TABLE med_view; \
         DELETE FROM onshi_schema_history WHERE version = 2;",
    )
    .unwrap();
    assert_eq!(onshi_store::sqlite::schema_version(&h).unwrap(), 1);
    let r = rusqlite::Connection::open(&path).unwrap();
    r.execute_batch(
        "CREATE TABLE outage_audit (id INTEGER PRIMARY KEY, facility TEXT NOT NULL, \
           request_id INTEGER, at TEXT NOT NULL, staff_id TEXT, kind TEXT NOT NULL, \
           criteria TEXT NOT NULL, hits INTEGER, hit_person_ids TEXT NOT NULL, \
           search_id INTEGER, chosen_person_id INTEGER, outcome TEXT NOT NULL, message TEXT); \
         CREATE TABLE med_consent (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL, \
           facility TEXT NOT NULL, kind TEXT NOT NULL, given_at TEXT NOT NULL, \
           available_until TEXT NOT NULL); \
         CREATE TABLE med_view (id INTEGER PRIMARY KEY, at TEXT NOT NULL, \
           facility TEXT NOT NULL, person_id INTEGER NOT NULL, kind TEXT NOT NULL, \
           channel TEXT NOT NULL, granted INTEGER NOT NULL); \
         INSERT INTO outage_audit VALUES (7, '1311234567', NULL, '2026-11-25T10:00:00.000+09:00', \
           'S01', 'search', '{\"kana\":\"タナカ\"}', 1, '[1]', NULL, 1, 'hits', '該当者が特定できました。'); \
         INSERT INTO med_consent VALUES (3, 1, '1311234567', 'drug', '2026-11-25T10:00:00', \
           '2026-11-26T10:00:00'); \
         INSERT INTO med_view VALUES (5, '2026-11-25T10:05:00', '1311234567', 1, 'drug', \
           'desk', 1);",
    )
    .unwrap();
    path
}

fn tables_of(path: &std::path::Path) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn count_in(path: &std::path::Path, table: &str) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// The logs written on the hot path (search audit, consents, views) live in the history file
/// since its schema 2: those of an older registry file are moved there at open — same ids,
/// readable through the store, gone from the registry file — and new ones follow them.
#[test]
fn sqlite_logs_of_an_older_registry_file_move_to_the_history_file() {
    use onshi_domain::medinfo::{ConsentGrant, MedicalInfoKind, MedicalView};
    use onshi_store::outage::{AuditFilter, AuditKind, OutageStore};
    let dir = tempfile::tempdir().unwrap();
    let path = files_with_logs_in_the_registry(&dir);
    let hist = onshi_store::sqlite::history_path(&path);
    let s = SqliteStore::open(&path).unwrap();
    for t in ["outage_audit", "med_consent", "med_view"] {
        assert!(
            !tables_of(&path).contains(&t.to_string()),
            "{t} left in the registry file"
        );
        assert_eq!(count_in(&hist, t), 1, "{t} in the history file");
    }
    let a = s
        .audit_entry(7)
        .unwrap()
        .expect("the old audit line by its id");
    assert_eq!(
        (a.kind, a.hits, a.staff_id.as_deref()),
        (AuditKind::Search, Some(1), Some("S01"))
    );
    let c = s
        .latest_consent(1, "1311234567", MedicalInfoKind::Drug)
        .unwrap()
        .expect("the old consent");
    assert_eq!(c.available_until.to_string(), "2026-11-26 10:00:00");
    let v = s.medical_views(ViewsOf::Person(1), 10).unwrap();
    assert_eq!((v.len(), v[0].id), (1, 5));

    // new lines come after the old ones, in the history file
    let mut next = a.clone();
    next.id = 0;
    next.staff_id = Some("S02".into());
    assert_eq!(s.append_audit(&next).unwrap(), 8);
    let given =
        chrono::NaiveDateTime::parse_from_str("2026-11-27 09:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
    s.record_consents(&[ConsentGrant::given(
        1,
        "1311234567",
        MedicalInfoKind::Drug,
        given,
    )])
    .unwrap();
    let view = MedicalView {
        id: 0,
        at: given,
        facility: "1311234567".into(),
        person_id: 1,
        kind: MedicalInfoKind::Drug,
        channel: "desk".into(),
        granted: true,
    };
    assert_eq!(s.record_view(&view).unwrap(), 6);
    let all = s.list_audit(&AuditFilter::default()).unwrap();
    assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), [8, 7]);
    drop(s);
    assert_eq!(count_in(&hist, "med_consent"), 2);
    assert!(!tables_of(&path).contains(&"outage_audit".to_string()));

    // opening again moves nothing and loses nothing
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.list_audit(&AuditFilter::default()).unwrap().len(), 2);
    assert_eq!(s.medical_views(ViewsOf::Person(1), 10).unwrap().len(), 2);
}

/// A move cut short after the copy (the rows already in the history file, the registry's
/// tables not yet dropped) is finished at the next open without doubling a row.
#[test]
fn sqlite_log_move_cut_short_after_the_copy_is_finished_without_doubling() {
    use onshi_store::outage::{AuditFilter, OutageStore};
    let dir = tempfile::tempdir().unwrap();
    let path = files_with_logs_in_the_registry(&dir);
    let hist = onshi_store::sqlite::history_path(&path);
    {
        // the copy of the first step done by hand, as if the process stopped before the drop
        let h = rusqlite::Connection::open(&hist).unwrap();
        h.execute_batch(&format!(
            "CREATE TABLE outage_audit (id INTEGER PRIMARY KEY, facility TEXT NOT NULL, \
               request_id INTEGER, at TEXT NOT NULL, staff_id TEXT, kind TEXT NOT NULL, \
               criteria TEXT NOT NULL, hits INTEGER, hit_person_ids TEXT NOT NULL, \
               search_id INTEGER, chosen_person_id INTEGER, outcome TEXT NOT NULL, message TEXT); \
             ATTACH DATABASE '{}' AS reg; \
             INSERT INTO outage_audit SELECT * FROM reg.outage_audit;",
            path.display()
        ))
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.list_audit(&AuditFilter::default()).unwrap().len(), 1);
    assert_eq!(count_in(&hist, "outage_audit"), 1);
    assert_eq!(count_in(&hist, "med_view"), 1);
    assert!(!tables_of(&path).contains(&"outage_audit".to_string()));
}
