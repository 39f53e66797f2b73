//! Intake (all-or-nothing, duplicates), the worklist, settlement with 按分 (R22) and the R27
//! purge, through the payer service over a real SQLite registry, the payer's own store on
//! SQLite and on PostgreSQL.

#[macro_use]
mod common;

use common::*;
use onshi_payer::intake::{FileHeader, ParsedFile};
use onshi_payer::model::{PayerCode, YearMonth};
use onshi_payer::service::{ServiceError, Submitted};
use onshi_payer::store::{ClaimStatus, PaymentRow};

on_both!(
    r22_refused_file_leaves_nothing_behind_and_names_every_reason,
    r20_fusho_claim_before_2023_09_is_refused,
    same_file_twice_is_one_submission,
    r22_settlement_waits_for_the_worklist_then_apportions_the_pool_exactly_and_r27_purges,
    one_payer_never_sees_the_other_payers_files,
);

fn file(claims: Vec<onshi_payer::model::Claim>) -> ParsedFile {
    ParsedFile {
        header: FileHeader {
            line: 1,
            payer: PayerCode::Kikin,
            facility: FACILITY.into(),
            facility_name: "オンシ診療所".into(),
            billing_month: YearMonth::parse("202612").unwrap(),
        },
        claims,
    }
}

fn sub<'a>(bytes: &'a [u8]) -> Submitted<'a> {
    Submitted {
        payer: PayerCode::Kikin,
        facility: FACILITY,
        file_name: "RECEIPTC.UKE",
        bytes,
        source: "api",
        at: "2026-12-10T00:00:00Z",
    }
}

fn past(w: &World) {
    let rows: Vec<PaymentRow> = [(a(), 600_000u64), (b(), 300_000), (c(), 100_000)]
        .into_iter()
        .map(|(i, amount)| PaymentRow {
            payer: PayerCode::Kikin,
            insurer_number: i.to_string(),
            facility: FACILITY.into(),
            service_month: YearMonth::parse("202606").unwrap(),
            source: "synthetic".into(),
            amount_yen: amount,
            claims: 10,
        })
        .collect();
    w.store.add_payments(&rows).unwrap();
}

fn r22_refused_file_leaves_nothing_behind_and_names_every_reason(w: World) {
    let mut bad = claim(2, "鈴木花子", "202701", Some(&a()), "2001", &[5]);
    bad.actual_days = 3;
    let f = file(vec![
        claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3]),
        bad,
    ]);
    let err = w.service.intake_parsed(&sub(b"file-1"), Ok(f)).unwrap_err();
    let ServiceError::Refused(reasons) = err else {
        panic!("{err}")
    };
    let fields: Vec<&str> = reasons.iter().filter_map(|r| r.field.as_deref()).collect();
    assert!(fields.contains(&"診療年月"), "{reasons:?}");
    assert!(fields.contains(&"診療実日数"), "{reasons:?}");
    assert!(reasons.iter().all(|r| r.line == 3));
    assert!(
        w.store
            .list_submissions(PayerCode::Kikin, None)
            .unwrap()
            .is_empty()
    );
}

fn r20_fusho_claim_before_2023_09_is_refused(w: World) {
    let f = file(vec![claim(
        1,
        "山本花子",
        "202308",
        None,
        "777777777",
        &[3],
    )]);
    let ServiceError::Refused(r) = w.service.intake_parsed(&sub(b"f"), Ok(f)).unwrap_err() else {
        panic!()
    };
    assert_eq!(r[0].rule, "R20");
}

fn same_file_twice_is_one_submission(w: World) {
    let f = file(vec![claim(
        1,
        "佐藤一郎",
        "202611",
        Some(&a()),
        "1001",
        &[3],
    )]);
    let one = w
        .service
        .intake_parsed(&sub(b"same bytes"), Ok(f.clone()))
        .unwrap();
    let two = w.service.intake_parsed(&sub(b"same bytes"), Ok(f)).unwrap();
    assert!(!one.duplicate && two.duplicate);
    assert_eq!(one.submission.id, two.submission.id);
    assert_eq!(
        w.store
            .list_submissions(PayerCode::Kikin, None)
            .unwrap()
            .len(),
        1
    );
}

fn r22_settlement_waits_for_the_worklist_then_apportions_the_pool_exactly_and_r27_purges(w: World) {
    past(&w);
    let mut pooled1 = claim(3, "誰でもない", "202611", None, "777777777", &[7]);
    pooled1.tekiyou.push("住所：秘密県秘密市一丁目".into());
    // a value of this run only, to look for in the PostgreSQL server's own files
    let marker = format!("電話{:016x}", getrandom::u64().unwrap());
    pooled1.tekiyou.push(format!("連絡先：{marker}"));
    pooled1.points = 1001; // 10,010 − 3,700 = 6,310 yen
    let mut pooled2 = claim(4, "誰でもない", "202611", None, "777777777", &[8]);
    pooled2.points = 500; // 5,000 − 3,700 = 1,300 yen
    let f = file(vec![
        claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3]),
        claim(2, "鈴木花子", "202611", Some(&a()), "2001", &[5, 12]),
        pooled1,
        pooled2,
        claim(5, "渡辺太郎", "202611", None, "777777777", &[9]),
    ]);
    let out = w.service.intake_parsed(&sub(b"month file"), Ok(f)).unwrap();
    assert_eq!(out.by_status.get("pool"), Some(&2));
    assert_eq!(out.by_status.get("worklist"), Some(&1));
    let m = YearMonth::parse("202612").unwrap();
    let at = "2026-12-20T00:00:00Z";
    let needle = "秘密県".as_bytes();
    let holds = |p: &std::path::Path| {
        let b = std::fs::read(p).unwrap_or_default();
        b.windows(needle.len()).any(|w| w == needle)
    };
    let in_store = |w: &World| {
        w.store
            .claims_of_month(PayerCode::Kikin, FACILITY, m)
            .unwrap()
            .iter()
            .any(|c| {
                c.reviewed
                    .claim
                    .tekiyou
                    .iter()
                    .any(|t| t.contains("秘密県"))
            })
    };
    // before settlement the 申立書 details are in the database (file or its WAL)
    assert!(in_store(&w));
    if let Some(db) = &w.payer_file {
        assert!(holds(db) || holds(&db.with_extension("sqlite-wal")));
    }
    // on PostgreSQL they are sealed under the file's key, outside the database: no row holds
    // them and the server's WAL never saw them, while a value stored in clear is found there
    let sealed = pg_rows(&w).map(|rows| {
        assert!(
            !rows.contains("秘密県") && !rows.contains(&marker),
            "{rows}"
        );
        let control = format!("対照{:016x}", getrandom::u64().unwrap());
        w.store
            .upsert_facility(&onshi_payer::store::FacilityRow {
                payer: PayerCode::Kokuhoren,
                code: "1310000025".into(),
                name: control.clone(),
                hook_url: None,
            })
            .unwrap();
        assert!(pg_wal_holds(&w, &control), "the WAL search finds nothing");
        assert!(
            !pg_wal_holds(&w, &marker),
            "a 申立書 detail reached the server"
        );
        assert_eq!(form_key_files(&w), 1);
        let url = w._db.as_ref().unwrap().url();
        let rows = onshi_store::postgres::simple_query(
            url,
            "SELECT c.id::text, encode(c.tekiyou_sealed, 'hex'), s.form_key \
             FROM claim c JOIN submission s ON s.payer = c.payer AND s.id = c.submission_id \
             WHERE c.tekiyou_sealed IS NOT NULL",
        )
        .unwrap();
        // every claim with comments is sealed, each opens with the file's key (another
        // process's view of the folder), one of them holds the marker
        let keys =
            onshi_payer::form_keys::FormKeys::open(&w._dir.path().join("form-keys")).unwrap();
        let opened: Vec<(i64, Vec<u8>, String, String)> = rows
            .iter()
            .map(|r| {
                let (id, bytes, key) = (
                    r[0].clone().unwrap().parse::<i64>().unwrap(),
                    hex::decode(r[1].clone().unwrap()).unwrap(),
                    r[2].clone().unwrap(),
                );
                let plain = keys
                    .open_sealed(&key, &onshi_payer::store_pg::tekiyou_aad("1", id), &bytes)
                    .unwrap();
                (id, bytes, key, String::from_utf8_lossy(&plain).into_owned())
            })
            .collect();
        let with = opened.iter().filter(|o| o.3.contains(&marker)).count();
        assert_eq!(with, 1, "{opened:?}");
        let (id, bytes, key, _) = opened.into_iter().find(|o| o.3.contains(&marker)).unwrap();
        (id, bytes, key)
    });

    // R22: a person decides before the month is settled
    let err = w
        .service
        .settle_facility(PayerCode::Kikin, FACILITY, m, at)
        .unwrap_err();
    assert!(err.to_string().contains("worklist"), "{err}");
    let item = &w.store.worklist(PayerCode::Kikin, true).unwrap()[0];
    let chosen = item.candidates[1].person_id;
    w.service
        .decide(
            PayerCode::Kikin,
            item.claim.id,
            Some(chosen),
            "審査担当A",
            at,
        )
        .unwrap();
    assert!(w.store.worklist(PayerCode::Kikin, true).unwrap().is_empty());

    let sts = w
        .service
        .settle_facility(PayerCode::Kikin, FACILITY, m, at)
        .unwrap();
    assert_eq!(sts.len(), 1, "one statement per submitted file");
    let st = &sts[0];
    assert_eq!(st["format"], "onshi-settlement/1");
    assert_eq!(st["payer"], "1");
    assert_eq!(st["billing_month"], "202612");
    // pool 6,310 + 1,300 = 7,610 yen over payments 600,000 / 300,000 / 100,000:
    // quotas 4,566 / 2,283 / 761 exactly (no leftover yen)
    let shares = st["apportionment"][0]["shares"].as_array().unwrap();
    let got: Vec<(String, u64)> = shares
        .iter()
        .map(|s| {
            (
                s["insurer_number"].as_str().unwrap().to_string(),
                s["share_yen"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (b().to_string(), 2283),
            (a().to_string(), 4566),
            (c().to_string(), 761)
        ]
    );
    assert_eq!(st["apportionment"][0]["pool_yen"], 7610);
    let claims = st["claims"].as_array().unwrap();
    let transferred = claims.iter().find(|c| c["receipt_number"] == 2).unwrap();
    assert_eq!(
        (
            transferred["kakunin_kubun"].as_str(),
            transferred["status"].as_str()
        ),
        (Some("04"), Some("settled"))
    );
    assert_eq!(transferred["insurer_number"], b().to_string());
    assert_eq!(transferred["amount_yen"], 8640);
    // the stored claims read as settled too: billed ones settled, pooled ones through 按分
    let stored = w
        .store
        .claims_of_month(PayerCode::Kikin, FACILITY, m)
        .unwrap();
    assert!(!stored.is_empty());
    for c in &stored {
        assert!(
            matches!(
                c.reviewed.status,
                ClaimStatus::Settled | ClaimStatus::Apportioned
            ),
            "claim {} is {:?} after settlement",
            c.reviewed.claim.receipt_number,
            c.reviewed.status
        );
    }
    // a month settled is not settled twice
    assert!(
        w.service
            .settle_facility(PayerCode::Kikin, FACILITY, m, at)
            .is_err()
    );
    // the shares joined the payment record
    let weights = w
        .store
        .payments_to(
            PayerCode::Kikin,
            FACILITY,
            YearMonth::parse("202611").unwrap(),
            YearMonth::parse("202611").unwrap(),
        )
        .unwrap();
    let decided = claims.iter().find(|c| c["receipt_number"] == 5).unwrap();
    let extra = if decided["insurer_number"] == c().to_string() {
        8640
    } else {
        0
    };
    assert!(
        weights
            .iter()
            .any(|w| w.insurer_number == c() && w.paid_yen == 761 + extra),
        "{weights:?}"
    );
    // R27: the 申立書 details are gone from the claims, and from the payer's SQLite file byte
    // for byte
    assert!(!in_store(&w));
    if let Some(db) = &w.payer_file {
        assert!(!holds(db));
        assert!(!holds(&db.with_extension("sqlite-wal")));
    }
    // on PostgreSQL the key is gone: the sealed value read before (as an old row version, the
    // WAL or a backup still holds it) no longer opens, from a folder opened afresh
    if let Some((id, bytes, key)) = sealed {
        let rows = pg_rows(&w).unwrap();
        assert!(!rows.contains("秘密県") && !rows.contains(&marker));
        assert_eq!(form_key_files(&w), 0, "the settled file's key is deleted");
        let keys =
            onshi_payer::form_keys::FormKeys::open(&w._dir.path().join("form-keys")).unwrap();
        assert!(matches!(
            keys.open_sealed(&key, &onshi_payer::store_pg::tekiyou_aad("1", id), &bytes),
            Err(onshi_payer::store::PayerStoreError::Keys(_))
        ));
    }
    // settling again is refused, nothing doubled
    assert!(
        w.service
            .settle_facility(PayerCode::Kikin, FACILITY, m, at)
            .is_err()
    );
    // the statement file for the facility's folder
    let sha = onshi_payer::service::file_sha256(b"month file");
    assert_eq!(st["file_sha256"], sha);
    let f = w
        ._dir
        .path()
        .join("out")
        .join(FACILITY)
        .join(format!("settlement-1-202612-{}.json", &sha[..12]));
    assert!(f.exists());
    // pooled claims are paid through 按分: settled, no single insurer
    let pooled = claims.iter().find(|c| c["receipt_number"] == 3).unwrap();
    assert_eq!(
        (pooled["status"].as_str(), pooled["settled_by"].as_str()),
        (Some("settled"), Some("apportionment"))
    );
    assert!(pooled["insurer_number"].is_null());
}

fn one_payer_never_sees_the_other_payers_files(w: World) {
    let f = file(vec![claim(
        1,
        "佐藤一郎",
        "202611",
        Some(&a()),
        "1001",
        &[3],
    )]);
    let out = w.service.intake_parsed(&sub(b"x"), Ok(f)).unwrap();
    assert!(
        w.store
            .submission(PayerCode::Kokuhoren, out.submission.id)
            .unwrap()
            .is_none()
    );
    assert!(
        w.store
            .claims_of_submission(PayerCode::Kokuhoren, out.submission.id)
            .unwrap()
            .is_empty()
    );
    assert!(
        w.store
            .list_submissions(PayerCode::Kokuhoren, None)
            .unwrap()
            .is_empty()
    );
}
