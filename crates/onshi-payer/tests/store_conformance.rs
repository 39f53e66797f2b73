//! The payer store's conformance suite: every test runs on SQLite (a fresh file) and on
//! PostgreSQL (a fresh database `onshi_test_…` on `ONSHI_TEST_PG` or the local server, dropped
//! after). Without a PostgreSQL server the PostgreSQL half fails; it does not skip.

use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use onshi_domain::numbers::{InsurerNumber, Sex};
use onshi_payer::apportion::Share;
use onshi_payer::identify::{Evidence, TekiyouFacts};
use onshi_payer::model::{
    BillTo, Claim, ClaimPart, ClaimedInsurer, ClaimedNumbers, KakuninKubun, PayerCode, PublicFund,
    YearMonth,
};
use onshi_payer::store::{
    ClaimStatus, Decision, FacilityRow, NewSubmission, PayerStore, PayerStoreError, PaymentRow,
    PoolShareRow, Principal, Recorded, ReviewedClaim, Role, SettlementWrite, SqlitePayerStore,
};
use onshi_payer::store_pg::PostgresPayerStore;
use onshi_store::postgres::TestDatabase;

// ---------------------------------------------------------------------------------------------
// the backends

struct Backend {
    store: Arc<dyn PayerStore>,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqlitePayerStore::open(dir.path().join("payer.sqlite")).unwrap());
    Backend {
        store,
        _dir: Some(dir),
        _db: None,
    }
}

fn postgres() -> Backend {
    let db = TestDatabase::create().expect("a PostgreSQL server for the payer store's tests");
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(PostgresPayerStore::open(db.url(), &form_keys(&dir)).unwrap());
    assert_eq!(store.schema_version().unwrap(), 2);
    Backend {
        store,
        _dir: Some(dir),
        _db: Some(db),
    }
}

/// The folder of a PostgreSQL store's form keys, in `dir`.
fn form_keys(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("form-keys")
}

/// Each test once per backend: `sqlite::name` and `postgres::name`.
macro_rules! conformance {
    ($($t:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $t() { let b = super::sqlite(); super::$t(&*b.store); })*
        }
        mod postgres {
            $(#[test] fn $t() { let b = super::postgres(); super::$t(&*b.store); })*
        }
    };
}

conformance!(
    principals_are_found_by_their_token_hash_and_a_hash_is_taken_once,
    facilities_are_upserted_per_payer,
    a_file_round_trips_with_every_kind_of_claim_exactly,
    the_same_file_is_one_submission_also_within_one_batch,
    the_same_file_sent_from_several_threads_at_once_is_one_submission,
    a_file_whose_claims_collide_is_refused_whole_and_its_batch_with_it,
    submissions_list_newest_first_per_payer_and_facility,
    a_payer_never_reaches_the_other_payers_rows,
    claims_and_facilities_of_a_month_in_order,
    the_worklist_is_decided_once_to_a_person_or_to_the_pool,
    payments_are_summed_per_insurer_in_order_without_public_funds,
    settlement_settles_apportions_records_and_scrubs_in_one_transaction,
    a_settlement_batch_is_all_or_nothing,
    the_insurers_view_lists_its_claims_and_shares_in_order,
    a_file_of_many_claims_is_stored_whole_in_file_order,
);

// ---------------------------------------------------------------------------------------------
// data

const FAC: &str = "1310000017";
const FAC2: &str = "1310000025";

fn ins(body: &str) -> InsurerNumber {
    InsurerNumber::from_body(body).unwrap()
}
fn a() -> InsurerNumber {
    ins("0613456")
}
fn b() -> InsurerNumber {
    ins("0113001")
}
fn ym(s: &str) -> YearMonth {
    YearMonth::parse(s).unwrap()
}
fn sha(s: &str) -> String {
    onshi_payer::service::file_sha256(s.as_bytes())
}

fn submission(payer: PayerCode, facility: &str, month: &str, file: &str) -> NewSubmission {
    NewSubmission {
        payer,
        facility: facility.into(),
        billing_month: ym(month),
        file_sha256: sha(file),
        file_name: format!("{file}.UKE"),
        received_at: "2026-12-10T09:00:00Z".into(),
        source: "api".into(),
    }
}

fn part(insurer: &InsurerNumber, number: &str, days: &[u32], points: u64) -> ClaimPart {
    ClaimPart {
        bill_to: BillTo {
            insurer_number: insurer.clone(),
            symbol: "10".into(),
            number: number.into(),
            branch: "00".into(),
        },
        days: days.to_vec(),
        points,
        copay_yen: 1000,
        share_percent: None,
        public_fund: false,
    }
}

fn base_claim(no: u32, insurer: ClaimedInsurer) -> Claim {
    Claim {
        receipt_number: no,
        line: 2 + 5 * no,
        receipt_kind: "1112".into(),
        service_month: ym("202611"),
        name: "佐藤一郎".into(),
        kana_name: "サトウイチロウ".into(),
        sex: Sex::Male,
        birthdate: NaiveDate::from_ymd_opt(1970, 4, 1).unwrap(),
        numbers: ClaimedNumbers {
            insurer_raw: match &insurer {
                ClaimedInsurer::Known(i) => i.claim_form(),
                ClaimedInsurer::Fusho => "77777777".into(),
                ClaimedInsurer::PublicFundOnly => String::new(),
            },
            insurer,
            symbol: "10".into(),
            number: format!("{}", 1000 + no),
            branch: Some("00".into()),
        },
        service_days: vec![3, 20],
        actual_days: 2,
        points: 1234,
        copay_yen: 3700,
        public_funds: 0,
        funds: Vec::new(),
        tekiyou: Vec::new(),
    }
}

/// A claim billed as claimed to A.
fn assigned(no: u32) -> ReviewedClaim {
    let claim = base_claim(no, ClaimedInsurer::Known(a()));
    ReviewedClaim {
        parts: vec![part(&a(), &claim.numbers.number, &[3, 20], claim.points)],
        claim,
        status: ClaimStatus::Assigned,
        kubun: KakuninKubun::Unchanged,
        identified: false,
        person_id: Some(7),
        reason: "有効な資格".into(),
        evidence: None,
        worklist: None,
    }
}

/// A 不詳 claim with 申立書 details in its 摘要, for the pool.
fn pooled(no: u32) -> ReviewedClaim {
    let mut claim = base_claim(no, ClaimedInsurer::Fusho);
    claim.numbers.symbol = String::new();
    claim.numbers.branch = None;
    claim.service_days = Vec::new();
    claim.tekiyou = vec!["不詳".into(), "住所：秘密県秘密市一丁目".into()];
    ReviewedClaim {
        claim,
        status: ClaimStatus::Pool,
        kubun: KakuninKubun::Unconfirmable,
        identified: false,
        person_id: None,
        reason: "候補者なし: 按分へ".into(),
        parts: Vec::new(),
        evidence: None,
        worklist: None,
    }
}

fn evidence(person: i64, insurer: &InsurerNumber) -> Evidence {
    Evidence {
        person_id: person,
        matched: vec!["kana_name".into(), "birthdate".into(), "sex".into()],
        parts: vec![part(insurer, "8001", &[9], 1234)],
        registered_name: "渡辺太郎".into(),
        registered_address: Some("北海道札幌市7-7".into()),
        registered_employer: None,
    }
}

/// A 不詳 claim with two candidates, for staff.
fn worklisted(no: u32) -> ReviewedClaim {
    let mut r = pooled(no);
    r.status = ClaimStatus::Worklist;
    r.reason = "候補者が複数".into();
    r.claim.tekiyou = vec!["不詳".into(), "事業所名：札幌建設".into()];
    r.worklist = Some((
        vec![evidence(11, &a()), evidence(12, &b())],
        TekiyouFacts {
            fusho: true,
            address: None,
            employer: Some("札幌建設".into()),
            phone: None,
            other: vec![],
        },
    ));
    r
}

/// A claim identified (R22) with evidence, split over two insurers (分割).
fn identified_split(no: u32) -> ReviewedClaim {
    let mut claim = base_claim(no, ClaimedInsurer::Known(a()));
    claim.numbers.branch = None;
    let mut p1 = part(&a(), "4001", &[3], 600);
    p1.share_percent = Some(30);
    let p2 = part(&b(), "4002", &[20], 634);
    ReviewedClaim {
        claim,
        status: ClaimStatus::Assigned,
        kubun: KakuninKubun::Bunkatsu,
        identified: true,
        person_id: Some(9),
        reason: "分割".into(),
        parts: vec![p1.clone(), p2.clone()],
        evidence: Some(Evidence {
            parts: vec![p1, p2],
            ..evidence(9, &a())
        }),
        worklist: None,
    }
}

/// 公費単独: no insurer, one fund, billed to the fund.
fn public_fund_only(no: u32) -> ReviewedClaim {
    let mut claim = base_claim(no, ClaimedInsurer::PublicFundOnly);
    let fund = InsurerNumber::parse("12136016").unwrap();
    claim.public_funds = 1;
    claim.funds = vec![PublicFund {
        payer_number: fund.clone(),
        recipient_number: "1234566".into(),
        days: 2,
        points: 1234,
        copay_yen: 0,
    }];
    let mut p = part(&fund, "1234566", &[3, 20], 1234);
    p.public_fund = true;
    p.bill_to.symbol = String::new();
    p.copay_yen = 0;
    ReviewedClaim {
        parts: vec![p],
        claim,
        status: ClaimStatus::Assigned,
        kubun: KakuninKubun::Unchanged,
        identified: false,
        person_id: None,
        reason: "公費単独".into(),
        evidence: None,
        worklist: None,
    }
}

fn new_of(r: Recorded) -> onshi_payer::store::SubmissionRow {
    match r {
        Recorded::New(s) => s,
        Recorded::Duplicate(s) => panic!("recorded before: {s:?}"),
    }
}

fn conflict<T: std::fmt::Debug>(r: onshi_payer::store::Result<T>) -> String {
    match r {
        Err(PayerStoreError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn share(insurer: &InsurerNumber, pool: u64, paid: u64, total: u64, yen: u64) -> Share {
    Share {
        insurer_number: insurer.clone(),
        pool_yen: pool,
        paid_yen: paid,
        total_paid_yen: total,
        floor_yen: yen,
        remainder: 0,
        extra_yen: 0,
        share_yen: yen,
    }
}

fn pay(insurer: &InsurerNumber, facility: &str, month: &str, source: &str, yen: u64) -> PaymentRow {
    PaymentRow {
        payer: PayerCode::Kikin,
        insurer_number: insurer.to_string(),
        facility: facility.into(),
        service_month: ym(month),
        source: source.into(),
        amount_yen: yen,
        claims: 1,
    }
}

// ---------------------------------------------------------------------------------------------
// the tests

fn principals_are_found_by_their_token_hash_and_a_hash_is_taken_once(s: &dyn PayerStore) {
    let p = Principal {
        role: Role::Facility,
        payer: PayerCode::Kokuhoren,
        subject: FAC.into(),
    };
    s.add_principal("h1", &p, "2026-12-01T00:00:00Z").unwrap();
    assert_eq!(s.principal_by_token_hash("h1").unwrap(), Some(p.clone()));
    assert_eq!(s.principal_by_token_hash("h2").unwrap(), None);
    let staff = Principal {
        role: Role::Staff,
        payer: PayerCode::Kikin,
        subject: "審査担当A".into(),
    };
    conflict(s.add_principal("h1", &staff, "2026-12-02T00:00:00Z"));
    assert_eq!(s.principal_by_token_hash("h1").unwrap(), Some(p));
}

fn facilities_are_upserted_per_payer(s: &dyn PayerStore) {
    let mut f = FacilityRow {
        payer: PayerCode::Kikin,
        code: FAC.into(),
        name: "オンシ診療所".into(),
        hook_url: None,
    };
    s.upsert_facility(&f).unwrap();
    assert_eq!(s.facility(PayerCode::Kikin, FAC).unwrap(), Some(f.clone()));
    assert_eq!(s.facility(PayerCode::Kokuhoren, FAC).unwrap(), None);
    f.name = "オンシ医院".into();
    f.hook_url = Some("https://clinic.example/hook".into());
    s.upsert_facility(&f).unwrap();
    assert_eq!(s.facility(PayerCode::Kikin, FAC).unwrap(), Some(f));
}

fn a_file_round_trips_with_every_kind_of_claim_exactly(s: &dyn PayerStore) {
    let sub = submission(PayerCode::Kikin, FAC, "202612", "f1");
    let claims = vec![
        assigned(1),
        pooled(2),
        worklisted(3),
        identified_split(4),
        public_fund_only(5),
    ];
    let row = new_of(s.record_submission(&sub, &claims).unwrap());
    assert_eq!(row.claims, 5);
    assert_eq!(row.total_points, 5 * 1234);
    assert_eq!(
        (
            row.payer,
            row.facility.as_str(),
            row.billing_month,
            row.file_sha256.as_str(),
            row.file_name.as_str(),
            row.received_at.as_str(),
            row.source.as_str()
        ),
        (
            PayerCode::Kikin,
            FAC,
            ym("202612"),
            sub.file_sha256.as_str(),
            "f1.UKE",
            "2026-12-10T09:00:00Z",
            "api"
        )
    );
    assert_eq!(
        s.submission(PayerCode::Kikin, row.id).unwrap(),
        Some(row.clone())
    );
    let stored = s.claims_of_submission(PayerCode::Kikin, row.id).unwrap();
    assert_eq!(stored.len(), 5);
    for (st, rc) in stored.iter().zip(&claims) {
        assert_eq!(&st.reviewed, rc, "claim {}", rc.claim.receipt_number);
        assert_eq!((st.submission_id, st.facility.as_str()), (row.id, FAC));
        assert_eq!(st.billing_month, ym("202612"));
        assert_eq!(s.claim(PayerCode::Kikin, st.id).unwrap().as_ref(), Some(st));
    }
    assert!(
        stored.windows(2).all(|w| w[0].id < w[1].id),
        "ids in file order"
    );
    // what settlement reads agrees with the claims
    let sc = s
        .settlement_claims(PayerCode::Kikin, FAC, ym("202612"))
        .unwrap();
    assert_eq!(sc.len(), 5);
    for (a, c) in sc.iter().zip(&stored) {
        assert_eq!(
            (a.id, a.submission_id, a.receipt_number, a.service_month),
            (
                c.id,
                c.submission_id,
                c.reviewed.claim.receipt_number,
                c.reviewed.claim.service_month
            )
        );
        assert_eq!(
            (a.status, a.kubun, a.identified),
            (c.reviewed.status, c.reviewed.kubun, c.reviewed.identified)
        );
        assert_eq!(
            (a.points, a.amount_yen),
            (c.reviewed.claim.points, c.reviewed.claim.amount_yen())
        );
        assert_eq!(a.parts, c.reviewed.parts);
        assert_eq!(a.tekiyou, c.reviewed.claim.tekiyou);
    }
    // a file without claims is a submission too
    let empty = new_of(
        s.record_submission(&submission(PayerCode::Kikin, FAC, "202612", "empty"), &[])
            .unwrap(),
    );
    assert_eq!((empty.claims, empty.total_points), (0, 0));
    assert!(
        s.claims_of_submission(PayerCode::Kikin, empty.id)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.claim(PayerCode::Kikin, 999_999).unwrap(), None);
}

fn the_same_file_is_one_submission_also_within_one_batch(s: &dyn PayerStore) {
    let one = submission(PayerCode::Kikin, FAC, "202612", "same");
    let first = new_of(s.record_submission(&one, &[assigned(1)]).unwrap());
    // the same bytes again, even under another name and facility: nothing written
    let mut again = one.clone();
    again.file_name = "renamed.UKE".into();
    again.facility = FAC2.into();
    match s
        .record_submission(&again, &[assigned(1), assigned(2)])
        .unwrap()
    {
        Recorded::Duplicate(d) => assert_eq!(d, first),
        other => panic!("{other:?}"),
    }
    // a batch with a new file twice: the second is a duplicate of the first
    let two = submission(PayerCode::Kikin, FAC, "202612", "two");
    let claims = [assigned(1)];
    let out = s
        .record_submissions(&[
            (&two, &claims[..]),
            (&two, &claims[..]),
            (&one, &claims[..]),
        ])
        .unwrap();
    assert_eq!(out.len(), 3);
    let Recorded::New(n) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(out[1], Recorded::Duplicate(n.clone()));
    assert_eq!(out[2], Recorded::Duplicate(first.clone()));
    // the same bytes at the other payer are that payer's own file
    let other = submission(PayerCode::Kokuhoren, FAC, "202612", "same");
    new_of(s.record_submission(&other, &[assigned(1)]).unwrap());
    assert_eq!(s.list_submissions(PayerCode::Kikin, None).unwrap().len(), 2);
    assert_eq!(
        s.claims_of_month(PayerCode::Kikin, FAC, ym("202612"))
            .unwrap()
            .len(),
        2
    );
}

fn the_same_file_sent_from_several_threads_at_once_is_one_submission(s: &dyn PayerStore) {
    let sub = submission(PayerCode::Kikin, FAC, "202612", "raced");
    let claims: Vec<ReviewedClaim> = (1..=200).map(assigned).collect();
    let start = std::sync::Barrier::new(4);
    let outcomes: Vec<Recorded> = std::thread::scope(|t| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                t.spawn(|| {
                    start.wait();
                    s.record_submission(&sub, &claims).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let new: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Recorded::New(r) => Some(r.clone()),
            Recorded::Duplicate(_) => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "{outcomes:?}");
    for o in &outcomes {
        if let Recorded::Duplicate(d) = o {
            assert_eq!(d, &new[0]);
        }
    }
    assert_eq!(s.list_submissions(PayerCode::Kikin, None).unwrap().len(), 1);
    assert_eq!(
        s.claims_of_month(PayerCode::Kikin, FAC, ym("202612"))
            .unwrap()
            .len(),
        200
    );
}

fn a_file_whose_claims_collide_is_refused_whole_and_its_batch_with_it(s: &dyn PayerStore) {
    let good = submission(PayerCode::Kikin, FAC, "202612", "good");
    let bad = submission(PayerCode::Kikin, FAC, "202612", "bad");
    let (ok, twice) = ([assigned(1)], [assigned(1), pooled(1)]);
    conflict(s.record_submissions(&[(&good, &ok[..]), (&bad, &twice[..])]));
    assert!(
        s.list_submissions(PayerCode::Kikin, None)
            .unwrap()
            .is_empty()
    );
    assert!(
        s.claims_of_month(PayerCode::Kikin, FAC, ym("202612"))
            .unwrap()
            .is_empty()
    );
    // nothing half-written stands in the way of the good file alone
    new_of(s.record_submission(&good, &ok).unwrap());
    new_of(s.record_submission(&bad, &[pooled(1)]).unwrap());
}

fn submissions_list_newest_first_per_payer_and_facility(s: &dyn PayerStore) {
    let mut ids = Vec::new();
    for (i, fac) in [FAC, FAC2, FAC, FAC2, FAC].iter().enumerate() {
        let sub = submission(PayerCode::Kikin, fac, "202612", &format!("l{i}"));
        ids.push((
            new_of(s.record_submission(&sub, &[assigned(1)]).unwrap()).id,
            *fac,
        ));
    }
    let all: Vec<i64> = s
        .list_submissions(PayerCode::Kikin, None)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let mut want: Vec<i64> = ids.iter().map(|(i, _)| *i).collect();
    want.reverse();
    assert_eq!(all, want);
    let of_fac: Vec<i64> = s
        .list_submissions(PayerCode::Kikin, Some(FAC2))
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let mut want: Vec<i64> = ids
        .iter()
        .filter(|(_, f)| *f == FAC2)
        .map(|(i, _)| *i)
        .collect();
    want.reverse();
    assert_eq!(of_fac, want);
    assert!(
        s.list_submissions(PayerCode::Kikin, Some("9999999999"))
            .unwrap()
            .is_empty()
    );
}

fn a_payer_never_reaches_the_other_payers_rows(s: &dyn PayerStore) {
    let sub = submission(PayerCode::Kikin, FAC, "202612", "mine");
    let row = new_of(
        s.record_submission(&sub, &[assigned(1), worklisted(2)])
            .unwrap(),
    );
    let k = PayerCode::Kokuhoren;
    assert_eq!(s.submission(k, row.id).unwrap(), None);
    assert!(s.list_submissions(k, None).unwrap().is_empty());
    assert!(s.claims_of_submission(k, row.id).unwrap().is_empty());
    let claims = s.claims_of_submission(PayerCode::Kikin, row.id).unwrap();
    assert_eq!(s.claim(k, claims[0].id).unwrap(), None);
    assert!(s.claims_of_month(k, FAC, ym("202612")).unwrap().is_empty());
    assert!(
        s.settlement_claims(k, FAC, ym("202612"))
            .unwrap()
            .is_empty()
    );
    assert!(s.facilities_of_month(k, ym("202612")).unwrap().is_empty());
    assert!(s.worklist(k, false).unwrap().is_empty());
    assert_eq!(s.worklist_item(k, claims[1].id).unwrap(), None);
    assert!(matches!(
        s.decide(k, claims[1].id, &Decision::NoneOfThem, "x", "t"),
        Err(PayerStoreError::NotFound(_))
    ));
    assert!(s.claims_for_insurer(k, a().as_str()).unwrap().is_empty());
    assert_eq!(
        s.claims_for_insurer(PayerCode::Kikin, a().as_str())
            .unwrap()
            .len(),
        1
    );
}

fn claims_and_facilities_of_a_month_in_order(s: &dyn PayerStore) {
    // files of two facilities and two months, facilities registered out of order
    for (file, fac, month) in [
        ("m1", FAC2, "202612"),
        ("m2", FAC, "202612"),
        ("m3", FAC, "202701"),
        ("m4", FAC, "202612"),
    ] {
        let sub = submission(PayerCode::Kikin, fac, month, file);
        new_of(
            s.record_submission(&sub, &[assigned(2), pooled(1)])
                .unwrap(),
        );
    }
    assert_eq!(
        s.facilities_of_month(PayerCode::Kikin, ym("202612"))
            .unwrap(),
        vec![FAC.to_string(), FAC2.to_string()]
    );
    assert_eq!(
        s.facilities_of_month(PayerCode::Kikin, ym("202701"))
            .unwrap(),
        vec![FAC.to_string()]
    );
    let month = s
        .claims_of_month(PayerCode::Kikin, FAC, ym("202612"))
        .unwrap();
    let nos: Vec<u32> = month
        .iter()
        .map(|c| c.reviewed.claim.receipt_number)
        .collect();
    assert_eq!(
        nos,
        vec![2, 1, 2, 1],
        "id order: file by file, claims as in the file"
    );
    assert!(month.windows(2).all(|w| w[0].id < w[1].id));
    assert!(
        month
            .iter()
            .all(|c| c.facility == FAC && c.billing_month == ym("202612"))
    );
}

fn the_worklist_is_decided_once_to_a_person_or_to_the_pool(s: &dyn PayerStore) {
    let sub = submission(PayerCode::Kikin, FAC, "202612", "wl");
    let row = new_of(
        s.record_submission(&sub, &[worklisted(1), assigned(2), worklisted(3)])
            .unwrap(),
    );
    let claims = s.claims_of_submission(PayerCode::Kikin, row.id).unwrap();
    let (w1, w3) = (claims[0].id, claims[2].id);
    let open = s.worklist(PayerCode::Kikin, true).unwrap();
    assert_eq!(
        open.iter().map(|i| i.claim.id).collect::<Vec<_>>(),
        vec![w1, w3]
    );
    let item = &open[0];
    assert_eq!(item.claim, claims[0]);
    let (cands, facts) = worklisted(1).worklist.unwrap();
    assert_eq!((&item.candidates, &item.facts), (&cands, &facts));
    assert_eq!(item.created_at, "2026-12-10T09:00:00Z");
    assert_eq!(
        (
            item.decided_at.as_deref(),
            item.decided_by.as_deref(),
            item.decision.as_deref()
        ),
        (None, None, None)
    );
    assert_eq!(
        s.worklist_item(PayerCode::Kikin, w1).unwrap().as_ref(),
        Some(item)
    );
    assert_eq!(
        s.worklist_item(PayerCode::Kikin, claims[1].id).unwrap(),
        None
    );

    // to the second candidate: billed to its parts, with its evidence
    let chosen = cands[1].clone();
    let c = s
        .decide(
            PayerCode::Kikin,
            w1,
            &Decision::Assign(chosen.clone()),
            "審査担当A",
            "2026-12-11T00:00:00Z",
        )
        .unwrap();
    assert_eq!(c.reviewed.status, ClaimStatus::Assigned);
    assert_eq!(c.reviewed.kubun, KakuninKubun::Furikae);
    assert!(c.reviewed.identified);
    assert_eq!(c.reviewed.person_id, Some(12));
    assert_eq!(c.reviewed.parts, chosen.parts);
    assert_eq!(c.reviewed.evidence.as_ref(), Some(&chosen));
    assert_eq!(c.reviewed.reason, "職員が候補者を特定（審査担当A）");
    assert_eq!(s.claim(PayerCode::Kikin, w1).unwrap(), Some(c));
    // decided once only
    conflict(s.decide(
        PayerCode::Kikin,
        w1,
        &Decision::NoneOfThem,
        "審査担当B",
        "t",
    ));
    assert!(matches!(
        s.decide(
            PayerCode::Kikin,
            claims[1].id,
            &Decision::NoneOfThem,
            "x",
            "t"
        ),
        Err(PayerStoreError::NotFound(_))
    ));
    // none of them: to the pool
    let p = s
        .decide(
            PayerCode::Kikin,
            w3,
            &Decision::NoneOfThem,
            "審査担当B",
            "2026-12-12T00:00:00Z",
        )
        .unwrap();
    assert_eq!(p.reviewed.status, ClaimStatus::Pool);
    assert!(p.reviewed.parts.is_empty());
    assert_eq!(
        p.reviewed.reason,
        "職員が該当者なしと判断（審査担当B）: 按分へ"
    );

    assert!(s.worklist(PayerCode::Kikin, true).unwrap().is_empty());
    let all = s.worklist(PayerCode::Kikin, false).unwrap();
    let got: Vec<_> = all
        .iter()
        .map(|i| {
            (
                i.claim.id,
                i.decided_at.as_deref(),
                i.decided_by.as_deref(),
                i.decision.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                w1,
                Some("2026-12-11T00:00:00Z"),
                Some("審査担当A"),
                Some("12")
            ),
            (
                w3,
                Some("2026-12-12T00:00:00Z"),
                Some("審査担当B"),
                Some("none")
            ),
        ]
    );
    // the chosen person's insurer sees the claim
    let for_b = s
        .claims_for_insurer(PayerCode::Kikin, b().as_str())
        .unwrap();
    assert_eq!(for_b.iter().map(|c| c.id).collect::<Vec<_>>(), vec![w1]);
}

fn payments_are_summed_per_insurer_in_order_without_public_funds(s: &dyn PayerStore) {
    let fund = InsurerNumber::parse("12136016").unwrap();
    s.add_payments(&[
        pay(&b(), FAC, "202606", "synthetic", 300),
        pay(&a(), FAC, "202606", "synthetic", 600),
        // the same key twice in one call: summed
        pay(&a(), FAC, "202606", "synthetic", 50),
        pay(&a(), FAC, "202607", "settled", 7),
        pay(&fund, FAC, "202606", "public_fund", 999),
        pay(&a(), FAC2, "202606", "synthetic", 5000),
        pay(&a(), FAC, "202612", "synthetic", 40_000),
    ])
    .unwrap();
    s.add_payments(&[pay(&b(), FAC, "202606", "synthetic", 1)])
        .unwrap();
    s.add_payments(&[]).unwrap();
    let w = s
        .payments_to(PayerCode::Kikin, FAC, ym("202601"), ym("202611"))
        .unwrap();
    let got: Vec<(String, u64)> = w
        .iter()
        .map(|w| (w.insurer_number.to_string(), w.paid_yen))
        .collect();
    // ordered by 保険者番号 as text: 01… before 06…
    assert_eq!(got, vec![(b().to_string(), 301), (a().to_string(), 657)]);
    assert!(
        s.payments_to(PayerCode::Kokuhoren, FAC, ym("202601"), ym("202611"))
            .unwrap()
            .is_empty()
    );
    let one_month = s
        .payments_to(PayerCode::Kikin, FAC, ym("202607"), ym("202607"))
        .unwrap();
    assert_eq!(one_month.len(), 1);
    assert_eq!(
        (one_month[0].insurer_number.clone(), one_month[0].paid_yen),
        (a(), 7)
    );
}

/// A facility's month: a billed claim, two pooled ones (one with 申立書 details), a worklist
/// item decided to the pool. Returns the claims' ids in file order.
fn month_to_settle(s: &dyn PayerStore, fac: &str, file: &str) -> Vec<i64> {
    let sub = submission(PayerCode::Kikin, fac, "202612", file);
    let row = new_of(
        s.record_submission(
            &sub,
            &[
                assigned(1),
                pooled(2),
                pooled(3),
                worklisted(4),
                identified_split(5),
            ],
        )
        .unwrap(),
    );
    let ids: Vec<i64> = s
        .claims_of_submission(PayerCode::Kikin, row.id)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    s.decide(
        PayerCode::Kikin,
        ids[3],
        &Decision::NoneOfThem,
        "審査担当A",
        "2026-12-15T00:00:00Z",
    )
    .unwrap();
    ids
}

fn settlement_write(fac: &str, ids: &[i64]) -> SettlementWrite {
    let inputs = serde_json::json!({ "reference": ["202606", "202611"], "receipts": [2, 3, 4] });
    SettlementWrite {
        payer: PayerCode::Kikin,
        facility: fac.into(),
        billing_month: ym("202612"),
        settled_at: "2026-12-20T00:00:00Z".into(),
        settled: vec![ids[0], ids[4]],
        apportioned: vec![ids[1], ids[3]],
        unapportioned: vec![ids[2]],
        shares: vec![
            PoolShareRow {
                payer: PayerCode::Kikin,
                facility: fac.into(),
                billing_month: ym("202612"),
                service_month: ym("202611"),
                share: share(&a(), 900, 600, 900, 600),
                inputs: inputs.clone(),
            },
            PoolShareRow {
                payer: PayerCode::Kikin,
                facility: fac.into(),
                billing_month: ym("202612"),
                service_month: ym("202611"),
                share: share(&b(), 900, 300, 900, 300),
                inputs: inputs.clone(),
            },
            PoolShareRow {
                payer: PayerCode::Kikin,
                facility: fac.into(),
                billing_month: ym("202612"),
                service_month: ym("202610"),
                share: share(&a(), 10, 1, 1, 10),
                inputs,
            },
        ],
        payments: vec![
            pay(&a(), fac, "202611", "settled", 8640),
            pay(&a(), fac, "202611", "settled", 600),
            pay(&b(), fac, "202611", "settled", 300),
        ],
        statement: serde_json::json!([{ "format": "onshi-settlement/1", "facility": fac }])
            .to_string(),
        scrubbed: vec![
            (ids[1], vec!["不詳".into()]),
            (ids[3], vec!["不詳".into()]),
            (ids[2], vec![]),
        ],
    }
}

fn settlement_settles_apportions_records_and_scrubs_in_one_transaction(s: &dyn PayerStore) {
    let ids = month_to_settle(s, FAC, "s1");
    let m = ym("202612");
    let w = settlement_write(FAC, &ids);
    // the count of claims to settle must match what was prepared
    let mut short = w.clone();
    short.settled.pop();
    let msg = conflict(s.settle(&short));
    assert!(msg.contains("changed meanwhile"), "{msg}");
    assert_eq!(s.statement(PayerCode::Kikin, FAC, m).unwrap(), None);

    s.settle(&w).unwrap();
    let claims = s.claims_of_month(PayerCode::Kikin, FAC, m).unwrap();
    let got: Vec<ClaimStatus> = claims.iter().map(|c| c.reviewed.status).collect();
    assert_eq!(
        got,
        vec![
            ClaimStatus::Settled,
            ClaimStatus::Apportioned,
            ClaimStatus::Unapportioned,
            ClaimStatus::Apportioned,
            ClaimStatus::Settled
        ]
    );
    let sc: Vec<ClaimStatus> = s
        .settlement_claims(PayerCode::Kikin, FAC, m)
        .unwrap()
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(sc, got);
    // R27: the 申立書 details are gone from the 摘要 and the worklist facts
    assert_eq!(claims[1].reviewed.claim.tekiyou, vec!["不詳".to_string()]);
    assert!(claims[2].reviewed.claim.tekiyou.is_empty());
    assert_eq!(claims[3].reviewed.claim.tekiyou, vec!["不詳".to_string()]);
    let item = s.worklist_item(PayerCode::Kikin, ids[3]).unwrap().unwrap();
    assert_eq!(item.facts, TekiyouFacts::default());
    assert_eq!(
        claims[3].reviewed.worklist.as_ref().map(|w| &w.1),
        Some(&TekiyouFacts::default())
    );
    // the statement, its hook status
    let st = s.statement(PayerCode::Kikin, FAC, m).unwrap().unwrap();
    assert_eq!(st[0]["facility"], FAC);
    s.set_hook_status(PayerCode::Kikin, FAC, m, "delivered")
        .unwrap();
    assert_eq!(s.statement(PayerCode::Kikin, FAC, m).unwrap(), Some(st));
    assert_eq!(s.statement(PayerCode::Kokuhoren, FAC, m).unwrap(), None);
    // the payments, summed
    let w11 = s
        .payments_to(PayerCode::Kikin, FAC, ym("202611"), ym("202611"))
        .unwrap();
    let got: Vec<(String, u64)> = w11
        .iter()
        .map(|w| (w.insurer_number.to_string(), w.paid_yen))
        .collect();
    assert_eq!(got, vec![(b().to_string(), 300), (a().to_string(), 9240)]);
    // settled once only, nothing doubled
    let msg = conflict(s.settle(&w));
    assert!(msg.contains("already settled"), "{msg}");
    assert_eq!(
        s.shares_for_insurer(PayerCode::Kikin, a().as_str())
            .unwrap()
            .len(),
        2
    );
    // a file of the month that comes after its settlement is not settled with it
    let late = submission(PayerCode::Kikin, FAC, "202612", "late");
    let late = new_of(s.record_submission(&late, &[assigned(9)]).unwrap());
    let c = s.claims_of_submission(PayerCode::Kikin, late.id).unwrap();
    assert_eq!(c[0].reviewed.status, ClaimStatus::Assigned);
}

fn a_settlement_batch_is_all_or_nothing(s: &dyn PayerStore) {
    let one = month_to_settle(s, FAC, "b1");
    let two = month_to_settle(s, FAC2, "b2");
    let m = ym("202612");
    let good = settlement_write(FAC, &one);
    let mut bad = settlement_write(FAC2, &two);
    bad.settled.clear();
    conflict(s.settle_all(&[good.clone(), bad]));
    // nothing of the first settlement stands
    assert_eq!(s.statement(PayerCode::Kikin, FAC, m).unwrap(), None);
    let c = s.claims_of_month(PayerCode::Kikin, FAC, m).unwrap();
    assert_eq!(c[0].reviewed.status, ClaimStatus::Assigned);
    assert_eq!(c[1].reviewed.status, ClaimStatus::Pool);
    assert_eq!(c[1].reviewed.claim.tekiyou, pooled(2).claim.tekiyou);
    assert!(
        s.shares_for_insurer(PayerCode::Kikin, a().as_str())
            .unwrap()
            .is_empty()
    );
    assert!(
        s.payments_to(PayerCode::Kikin, FAC, ym("202611"), ym("202611"))
            .unwrap()
            .is_empty()
    );
    // both together, right: both settled in one go
    s.settle_all(&[good, settlement_write(FAC2, &two)]).unwrap();
    assert!(s.statement(PayerCode::Kikin, FAC, m).unwrap().is_some());
    assert!(s.statement(PayerCode::Kikin, FAC2, m).unwrap().is_some());
    assert_eq!(
        s.claims_of_month(PayerCode::Kikin, FAC2, m).unwrap()[0]
            .reviewed
            .status,
        ClaimStatus::Settled
    );
}

fn the_insurers_view_lists_its_claims_and_shares_in_order(s: &dyn PayerStore) {
    let one = month_to_settle(s, FAC2, "v1");
    let two = month_to_settle(s, FAC, "v2");
    s.settle_all(&[settlement_write(FAC2, &one), settlement_write(FAC, &two)])
        .unwrap();
    // A: the billed claim and the 分割 claim of each file; B: the 分割 claims
    let for_a: Vec<i64> = s
        .claims_for_insurer(PayerCode::Kikin, a().as_str())
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(for_a, vec![one[0], one[4], two[0], two[4]]);
    let for_b = s
        .claims_for_insurer(PayerCode::Kikin, b().as_str())
        .unwrap();
    assert_eq!(
        for_b.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![one[4], two[4]]
    );
    assert_eq!(
        for_b[0].reviewed.parts.len(),
        2,
        "every part of the claim, not only B's"
    );
    // shares by billing month, facility, service month
    let shares = s
        .shares_for_insurer(PayerCode::Kikin, a().as_str())
        .unwrap();
    let got: Vec<(&str, String, String, u64)> = shares
        .iter()
        .map(|r| {
            (
                r.facility.as_str(),
                r.billing_month.to_string(),
                r.service_month.to_string(),
                r.share.share_yen,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (FAC, "202612".into(), "202610".into(), 10),
            (FAC, "202612".into(), "202611".into(), 600),
            (FAC2, "202612".into(), "202610".into(), 10),
            (FAC2, "202612".into(), "202611".into(), 600),
        ]
    );
    let first = &shares[0];
    assert_eq!(first.share, share(&a(), 10, 1, 1, 10));
    assert_eq!(first.inputs["receipts"], serde_json::json!([2, 3, 4]));
    assert_eq!(first.inputs["share"]["share_yen"], 10);
    assert!(
        s.shares_for_insurer(PayerCode::Kokuhoren, a().as_str())
            .unwrap()
            .is_empty()
    );
    assert!(
        s.claims_for_insurer(PayerCode::Kikin, "99999999")
            .unwrap()
            .is_empty()
    );
}

fn a_file_of_many_claims_is_stored_whole_in_file_order(s: &dyn PayerStore) {
    const N: u32 = 20_000;
    let claims: Vec<ReviewedClaim> = (1..=N)
        .map(|i| match i % 10 {
            0 => pooled(i),
            5 => worklisted(i),
            7 => identified_split(i),
            _ => assigned(i),
        })
        .collect();
    let sub = submission(PayerCode::Kikin, FAC, "202612", "big");
    let t = Instant::now();
    let row = new_of(s.record_submission(&sub, &claims).unwrap());
    let took = t.elapsed();
    eprintln!(
        "intake of a file of {N} claims: {:.0} ms ({:.0} claims/s)",
        took.as_secs_f64() * 1e3,
        f64::from(N) / took.as_secs_f64()
    );
    assert_eq!(row.claims, u64::from(N));
    let t = Instant::now();
    let stored = s.claims_of_submission(PayerCode::Kikin, row.id).unwrap();
    eprintln!(
        "reading them back: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(stored.len(), N as usize);
    for (st, rc) in stored.iter().zip(&claims) {
        assert_eq!(&st.reviewed, rc);
    }
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(
        s.worklist(PayerCode::Kikin, true).unwrap().len(),
        1000,
        "the first thousand"
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: opening again, and the central's database

#[test]
fn postgres_store_opened_again_keeps_its_rows_and_its_schema() {
    let db = TestDatabase::create().expect("a PostgreSQL server for the payer store's tests");
    let dir = tempfile::tempdir().unwrap();
    let sub = submission(PayerCode::Kikin, FAC, "202612", "kept");
    let id = {
        let s = PostgresPayerStore::open(db.url(), &form_keys(&dir)).unwrap();
        new_of(
            s.record_submission(&sub, &[assigned(1), worklisted(2)])
                .unwrap(),
        )
        .id
    };
    let s = PostgresPayerStore::open(db.url(), &form_keys(&dir)).unwrap();
    assert_eq!(s.schema_version().unwrap(), 2);
    let back = s.claims_of_submission(PayerCode::Kikin, id).unwrap();
    assert_eq!(back.len(), 2);
    // the sealed 摘要 opens in another process's store, from the key's file
    assert_eq!(back[0].reviewed.claim.tekiyou, assigned(1).claim.tekiyou);
    assert_eq!(back[1].reviewed.claim.tekiyou, worklisted(2).claim.tekiyou);
    assert!(matches!(
        s.record_submission(&sub, &[]).unwrap(),
        Recorded::Duplicate(_)
    ));
}

#[test]
fn postgres_store_refuses_the_centrals_database() {
    let db = TestDatabase::create().expect("a PostgreSQL server for the payer store's tests");
    drop(onshi_store::PostgresStore::open(db.url()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let err = PostgresPayerStore::open(db.url(), &form_keys(&dir))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("central's database"), "{err}");
}

/// A quoted SQL literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[test]
fn postgres_schema_1_database_is_upgraded_its_clear_details_read_then_scrubbed_at_settlement() {
    let db = TestDatabase::create().expect("a PostgreSQL server for the payer store's tests");
    let dir = tempfile::tempdir().unwrap();
    let m = ym("202612");
    let (ids, before) = {
        let s = PostgresPayerStore::open(db.url(), &form_keys(&dir)).unwrap();
        let ids = month_to_settle(&s, FAC, "old");
        (ids, s.claims_of_month(PayerCode::Kikin, FAC, m).unwrap())
    };
    // the database as schema 1 left it: the same rows with their details in clear, no form
    // keys, the columns of schema 2 not there (the schema 1 tables were made by its own
    // migration, recorded in the history with its checksum)
    let mut sql = String::new();
    for c in &before {
        let t: Vec<String> = c.reviewed.claim.tekiyou.iter().map(|t| lit(t)).collect();
        sql.push_str(&format!(
            "UPDATE claim SET tekiyou = ARRAY[{}]::text[], tekiyou_sealed = NULL WHERE id = {};\n",
            t.join(","),
            c.id
        ));
        if let Some((_, facts)) = &c.reviewed.worklist {
            sql.push_str(&format!(
                "UPDATE worklist SET facts = {}, facts_sealed = NULL WHERE claim_id = {};\n",
                lit(&serde_json::to_string(facts).unwrap()),
                c.id
            ));
        }
    }
    sql.push_str(
        "UPDATE submission SET form_key = NULL;
         ALTER TABLE worklist DROP CONSTRAINT worklist_check;
         ALTER TABLE worklist ALTER COLUMN facts SET NOT NULL;
         ALTER TABLE worklist DROP COLUMN facts_sealed;
         ALTER TABLE claim DROP COLUMN tekiyou_sealed;
         ALTER TABLE submission DROP COLUMN form_key;
         DELETE FROM onshi_payer_schema_history WHERE version = 2;",
    );
    onshi_store::postgres::simple_query(db.url(), &sql).unwrap();
    std::fs::remove_dir_all(form_keys(&dir)).unwrap();
    let rows = |q: &str| {
        onshi_store::postgres::simple_query(db.url(), q)
            .unwrap()
            .into_iter()
            .map(|r| r[0].clone().unwrap_or_default())
            .collect::<Vec<String>>()
            .join("\n")
    };
    assert!(rows("SELECT t::text FROM claim t").contains("秘密県"));

    // upgraded in place: every claim reads as it was, its worklist facts too
    let s = PostgresPayerStore::open(db.url(), &form_keys(&dir)).unwrap();
    assert_eq!(s.schema_version().unwrap(), 2);
    let after = s.claims_of_month(PayerCode::Kikin, FAC, m).unwrap();
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.reviewed.claim.tekiyou, b.reviewed.claim.tekiyou);
        assert_eq!(
            a.reviewed.worklist.as_ref().map(|w| &w.1),
            b.reviewed.worklist.as_ref().map(|w| &w.1)
        );
    }
    // a file taken after the upgrade is sealed
    let sub = submission(PayerCode::Kikin, FAC, "202701", "new");
    let row = new_of(s.record_submission(&sub, &[pooled(1)]).unwrap());
    let back = s.claims_of_submission(PayerCode::Kikin, row.id).unwrap();
    assert_eq!(back[0].reviewed.claim.tekiyou, pooled(1).claim.tekiyou);
    assert_eq!(std::fs::read_dir(form_keys(&dir)).unwrap().count(), 1);
    assert_eq!(
        rows(&format!(
            "SELECT count(*) FROM claim WHERE submission_id = {} AND tekiyou_sealed IS NOT NULL \
             AND tekiyou = '{{}}'",
            row.id
        )),
        "1"
    );
    // the old month settles and its clear details are scrubbed (R27); the new file's key stays
    s.settle(&settlement_write(FAC, &ids)).unwrap();
    let left = rows(&format!(
        "SELECT t::text FROM claim t WHERE submission_id <> {}",
        row.id
    ));
    assert!(
        !left.contains("秘密県") && !left.contains("札幌建設"),
        "{left}"
    );
    assert!(!rows("SELECT t::text FROM worklist t").contains("札幌建設"));
    assert_eq!(std::fs::read_dir(form_keys(&dir)).unwrap().count(), 1);
    assert_eq!(
        s.claims_of_submission(PayerCode::Kikin, row.id).unwrap()[0]
            .reviewed
            .claim
            .tekiyou,
        pooled(1).claim.tekiyou
    );
}

#[test]
fn postgres_store_takes_its_tables_statistics_as_the_claims_grow() {
    let db = TestDatabase::create().expect("a PostgreSQL server for the payer store's tests");
    let dir = tempfile::tempdir().unwrap();
    let s = PostgresPayerStore::open(db.url(), &form_keys(&dir)).unwrap();
    let reltuples = || -> f64 {
        onshi_store::postgres::simple_query(
            db.url(),
            "SELECT reltuples FROM pg_class WHERE relname = 'claim'",
        )
        .unwrap()[0][0]
            .as_deref()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(reltuples() < 0.0, "a new table has no statistics");
    // fewer claims than the first threshold: none taken yet
    let small: Vec<ReviewedClaim> = (1..=10).map(assigned).collect();
    new_of(
        s.record_submission(&submission(PayerCode::Kikin, FAC, "202612", "a"), &small)
            .unwrap(),
    );
    assert!(reltuples() < 0.0);
    // past it: taken in the same call, so that the server's plans for the foreign-key checks
    // of the next files are made on them
    let big: Vec<ReviewedClaim> = (1..=1200).map(assigned).collect();
    new_of(
        s.record_submission(&submission(PayerCode::Kikin, FAC, "202612", "b"), &big)
            .unwrap(),
    );
    assert_eq!(reltuples(), 1210.0);
    let plan = onshi_store::postgres::simple_query(
        db.url(),
        "EXPLAIN SELECT 1 FROM ONLY claim x WHERE payer = '1' AND id = 5 FOR KEY SHARE OF x",
    )
    .unwrap()
    .into_iter()
    .map(|r| r[0].clone().unwrap_or_default())
    .collect::<Vec<_>>()
    .join("\n");
    assert!(plan.contains("claim_pkey"), "{plan}");
    // the next doubling is not reached by a few more
    new_of(
        s.record_submission(&submission(PayerCode::Kikin, FAC, "202612", "c"), &small)
            .unwrap(),
    );
    assert_eq!(reltuples(), 1210.0);
    // a store opened on a database whose claims were never counted counts them at open
    let db2 = TestDatabase::create().expect("a PostgreSQL server for the payer store's tests");
    let dir2 = tempfile::tempdir().unwrap();
    {
        let s2 = PostgresPayerStore::open(db2.url(), &form_keys(&dir2)).unwrap();
        new_of(
            s2.record_submission(&submission(PayerCode::Kikin, FAC, "202612", "a"), &small)
                .unwrap(),
        );
    }
    let counted = |url: &str| {
        onshi_store::postgres::simple_query(
            url,
            "SELECT reltuples FROM pg_class WHERE relname = 'claim'",
        )
        .unwrap()[0][0]
            .clone()
            .unwrap()
    };
    assert_eq!(counted(db2.url()), "-1");
    drop(PostgresPayerStore::open(db2.url(), &form_keys(&dir2)).unwrap());
    assert_eq!(counted(db2.url()), "10");
}
