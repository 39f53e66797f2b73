//! Older payer databases open under the current schema: a database of schema 1 (claims' facts
//! as one JSON text, no settled-file marks, no public-fund parts) and one of schema 3 (facts
//! as JSON) are upgraded in place to schema 4 (facts in typed columns), every claim reading
//! back as it was written, and the upgraded database goes on working (intake, settlement with
//! the R27 scrub).
//!
//! The old databases are made here as the old stores made them: their own schema files
//! (`tests/fixtures/payer-schema-{1,3}.sql`, the schema.sql of those versions) and rows
//! written with the old statements, the facts serialised with serde as the old store did.

mod common;

use common::*;
use onshi_payer::model::{Claim, ClaimPart, ClaimedInsurer, PayerCode, PublicFund, YearMonth};
use onshi_payer::store::{ClaimStatus, PayerStore, PaymentRow, SCHEMA_VERSION, SqlitePayerStore};
use rusqlite::{Connection, params};

const SCHEMA_1: &str = include_str!("fixtures/payer-schema-1.sql");
const SCHEMA_3: &str = include_str!("fixtures/payer-schema-3.sql");

/// One stored claim of the old database: its facts, status and parts.
struct OldClaim {
    claim: Claim,
    status: &'static str,
    kubun: &'static str,
    parts: Vec<ClaimPart>,
}

fn part(c: &Claim, public_fund: bool) -> ClaimPart {
    ClaimPart {
        bill_to: onshi_payer::model::BillTo {
            insurer_number: match &c.numbers.insurer {
                ClaimedInsurer::Known(i) => i.clone(),
                _ => c.funds[0].payer_number.clone(),
            },
            symbol: c.numbers.symbol.clone(),
            number: c.numbers.number.clone(),
            branch: "00".into(),
        },
        days: c.service_days.clone(),
        points: c.points,
        copay_yen: c.copay_yen,
        share_percent: Some(30),
        public_fund,
    }
}

/// The claims of the old file: one valid as claimed, one 不詳 in the pool with 申立書 details
/// in its 摘要, one 公費単独 with its KO part (from schema 3 on), one without JD days nor 枝番.
fn old_claims(schema: u32) -> Vec<OldClaim> {
    let valid = claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3, 20]);
    let mut fusho = claim(2, "誰でもない", "202611", None, "777777777", &[8]);
    fusho
        .tekiyou
        .push("住所：東京都千代田区千代田１－１".into());
    fusho.tekiyou.push("電話：０３－９９９９－１２３４".into());
    let mut fund_only = claim(3, "鈴木花子", "202611", None, "", &[5]);
    let seiho = ins("1213601");
    fund_only.numbers.insurer = ClaimedInsurer::PublicFundOnly;
    fund_only.numbers.insurer_raw = seiho.to_string();
    fund_only.numbers.number = "1234566".into();
    fund_only.tekiyou.clear();
    fund_only.public_funds = 1;
    fund_only.funds = vec![PublicFund {
        payer_number: seiho,
        recipient_number: "1234566".into(),
        days: 1,
        points: 1234,
        copay_yen: 0,
    }];
    let mut no_days = claim(4, "佐藤一郎", "202611", Some(&a()), "1001", &[]);
    no_days.numbers.branch = None;
    no_days.actual_days = 2;
    let mut out = vec![
        OldClaim {
            parts: vec![part(&valid, false)],
            claim: valid,
            status: "assigned",
            kubun: "02",
        },
        OldClaim {
            claim: fusho,
            status: "pool",
            kubun: "03",
            parts: vec![],
        },
        OldClaim {
            parts: vec![part(&fund_only, true)],
            claim: fund_only,
            status: "assigned",
            kubun: "02",
        },
        OldClaim {
            parts: vec![part(&no_days, false)],
            claim: no_days,
            status: "assigned",
            kubun: "09",
        },
    ];
    if schema < 3 {
        out.remove(2);
    }
    out
}

/// Writes an old database at `path` of `schema` (1 or 3) with one submission of
/// [`old_claims`], as the store of that version wrote it; returns the submission's id.
fn write_old_database(path: &std::path::Path, schema: u32) -> i64 {
    let c = Connection::open(path).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.execute_batch(if schema == 1 { SCHEMA_1 } else { SCHEMA_3 })
        .unwrap();
    c.execute(
        "INSERT INTO facility (payer, code, name) VALUES ('1', ?1, 'オンシ診療所')",
        [FACILITY],
    )
    .unwrap();
    let claims = old_claims(schema);
    let points: u64 = claims.iter().map(|c| c.claim.points).sum();
    c.execute(
        "INSERT INTO submission (payer, facility, billing_month, file_sha256, file_name, \
         received_at, source, claims, total_points) \
         VALUES ('1', ?1, '202612', 'aa11', 'RECEIPTC.UKE', '2026-12-10T00:00:00Z', 'api', ?2, ?3)",
        params![FACILITY, claims.len() as i64, points as i64],
    )
    .unwrap();
    let sub = c.last_insert_rowid();
    for oc in &claims {
        let cl = &oc.claim;
        let mut facts = serde_json::to_value(cl).unwrap();
        if schema == 1 {
            // the facts of schema 1 had no KO parts
            facts.as_object_mut().unwrap().remove("funds");
        }
        c.execute(
            "INSERT INTO claim (submission_id, payer, facility, billing_month, \
             service_month, receipt_number, claimed_insurer, fusho, status, \
             kakunin_kubun, identified, person_id, reason, points, copay_yen, \
             amount_yen, facts, evidence) VALUES (?1, '1', ?2, '202612', ?3, ?4, ?5, ?6, ?7, \
             ?8, 0, NULL, '請求の資格は診療日に有効（振替しない）', ?9, ?10, ?11, ?12, NULL)",
            params![
                sub,
                FACILITY,
                cl.service_month.to_string(),
                cl.receipt_number,
                cl.numbers.insurer_raw,
                cl.is_fusho(),
                oc.status,
                oc.kubun,
                cl.points as i64,
                cl.copay_yen as i64,
                cl.amount_yen() as i64,
                serde_json::to_string(&facts).unwrap(),
            ],
        )
        .unwrap();
        let id = c.last_insert_rowid();
        for (i, p) in oc.parts.iter().enumerate() {
            let days = serde_json::to_string(&p.days).unwrap();
            let (ins, amount) = (p.bill_to.insurer_number.as_str(), p.amount_yen() as i64);
            if schema == 1 {
                c.execute(
                    "INSERT INTO claim_part (claim_id, part_no, insurer_number, symbol, number, \
                     branch, days, points, copay_yen, amount_yen, share_percent) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        id,
                        i as i64 + 1,
                        ins,
                        p.bill_to.symbol,
                        p.bill_to.number,
                        p.bill_to.branch,
                        days,
                        p.points as i64,
                        p.copay_yen as i64,
                        amount,
                        p.share_percent.map(i64::from)
                    ],
                )
                .unwrap();
            } else {
                c.execute(
                    "INSERT INTO claim_part (claim_id, part_no, insurer_number, symbol, number, \
                     branch, days, points, copay_yen, amount_yen, share_percent, public_fund) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        id,
                        i as i64 + 1,
                        ins,
                        p.bill_to.symbol,
                        p.bill_to.number,
                        p.bill_to.branch,
                        days,
                        p.points as i64,
                        p.copay_yen as i64,
                        amount,
                        p.share_percent.map(i64::from),
                        p.public_fund
                    ],
                )
                .unwrap();
            }
        }
    }
    sub
}

fn user_version(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn has_claim_column(path: &std::path::Path, name: &str) -> bool {
    Connection::open(path)
        .unwrap()
        .prepare("SELECT 1 FROM pragma_table_info('claim') WHERE name = ?1")
        .unwrap()
        .exists([name])
        .unwrap()
}

/// Upgrades an old database of `schema` and checks every claim reads back as written, then
/// that the upgraded database settles (R27 scrub included) and takes a new file.
fn upgrade_and_use(schema: u32) {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payer.sqlite");
    let sub = write_old_database(&path, schema);
    assert_eq!(user_version(&path), i64::from(schema));
    assert!(has_claim_column(&path, "facts"));

    let store = std::sync::Arc::new(SqlitePayerStore::open(&path).unwrap());
    assert_eq!(user_version(&path), i64::from(SCHEMA_VERSION));
    assert!(
        !has_claim_column(&path, "facts"),
        "the facts JSON column is dropped once moved into the typed columns"
    );
    let expected = old_claims(schema);
    let stored = store.claims_of_submission(PayerCode::Kikin, sub).unwrap();
    assert_eq!(stored.len(), expected.len());
    for (s, e) in stored.iter().zip(&expected) {
        assert_eq!(
            s.reviewed.claim, e.claim,
            "claim {}",
            e.claim.receipt_number
        );
        assert_eq!(s.reviewed.status.code(), e.status);
        assert_eq!(s.reviewed.kubun.code(), e.kubun);
        assert_eq!(
            s.reviewed.parts, e.parts,
            "claim {}",
            e.claim.receipt_number
        );
    }
    // opening again changes nothing
    drop(store);
    let store = std::sync::Arc::new(SqlitePayerStore::open(&path).unwrap());
    let again = store.claims_of_submission(PayerCode::Kikin, sub).unwrap();
    assert_eq!(again, stored);

    // the upgraded database settles: the pool shared, the 申立書 details scrubbed (R27)
    store
        .add_payments(&[PaymentRow {
            payer: PayerCode::Kikin,
            insurer_number: a().to_string(),
            facility: FACILITY.into(),
            service_month: YearMonth::parse("202606").unwrap(),
            source: "synthetic".into(),
            amount_yen: 100_000,
            claims: 10,
        }])
        .unwrap();
    let svc = onshi_payer::service::PayerService {
        store: store.clone(),
        registry: w.registry.clone(),
        calendar: w.service.calendar.clone(),
        settings: w.service.settings.clone(),
        out_dir: None,
    };
    let month = YearMonth::parse("202612").unwrap();
    let statements = svc
        .settle_facility(PayerCode::Kikin, FACILITY, month, "2027-01-20T00:00:00Z")
        .unwrap();
    assert_eq!(statements.len(), 1);
    let settled = store.claims_of_submission(PayerCode::Kikin, sub).unwrap();
    let by_no = |n: u32| {
        settled
            .iter()
            .find(|c| c.reviewed.claim.receipt_number == n)
            .unwrap()
    };
    assert_eq!(by_no(1).reviewed.status, ClaimStatus::Settled);
    assert_eq!(by_no(2).reviewed.status, ClaimStatus::Apportioned);
    assert_eq!(by_no(2).reviewed.claim.tekiyou, vec!["不詳".to_string()]);
    let mut rest = by_no(2).reviewed.claim.clone();
    rest.tekiyou = expected[1].claim.tekiyou.clone();
    assert_eq!(
        rest, expected[1].claim,
        "only the 摘要 is scrubbed, the other facts stay"
    );
    if schema >= 3 {
        assert_eq!(by_no(3).reviewed.status, ClaimStatus::Settled);
        assert_eq!(by_no(3).reviewed.claim.funds, expected[2].claim.funds);
    }
    assert_eq!(by_no(4).reviewed.status, ClaimStatus::Settled);

    // and takes a new file
    let bytes = uke_bytes(
        "1",
        FACILITY,
        "202701",
        &[claim(1, "佐藤一郎", "202612", Some(&a()), "1001", &[3])],
    );
    let out = svc
        .intake_uke(&onshi_payer::service::Submitted {
            payer: PayerCode::Kikin,
            facility: FACILITY,
            file_name: "RECEIPTC.UKE",
            bytes: &bytes,
            source: "api",
            at: "2027-01-10T00:00:00Z",
        })
        .unwrap();
    let fresh = store
        .claims_of_submission(PayerCode::Kikin, out.submission.id)
        .unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].reviewed.claim.name, "佐藤一郎");
    assert_eq!(fresh[0].reviewed.status, ClaimStatus::Assigned);
}

#[test]
fn a_schema_3_database_is_upgraded_with_every_claim_as_it_was() {
    upgrade_and_use(3);
}

#[test]
fn a_schema_1_database_is_upgraded_with_every_claim_as_it_was() {
    upgrade_and_use(1);
}
