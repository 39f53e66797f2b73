//! R21 振替/分割 and R22 identification of single claims, against a real SQLite registry.

mod common;

use common::*;
use onshi_payer::model::KakuninKubun;
use onshi_payer::store::ClaimStatus;

#[test]
fn r21_valid_claim_is_unchanged() {
    let w = world();
    let r = w
        .service
        .process_claim(&claim(
            1,
            "佐藤一郎",
            "202611",
            Some(&a()),
            "1001",
            &[3, 10],
        ))
        .unwrap();
    assert_eq!(
        (r.kubun, r.status),
        (KakuninKubun::Unchanged, ClaimStatus::Assigned)
    );
    assert_eq!(r.parts.len(), 1);
    assert_eq!(r.parts[0].bill_to.insurer_number, a());
    assert_eq!(r.parts[0].amount_yen(), 12340 - 3700);
}

#[test]
fn r21_lost_claim_is_transferred_to_the_one_newer_insurer() {
    let w = world();
    let r = w
        .service
        .process_claim(&claim(
            1,
            "鈴木花子",
            "202611",
            Some(&a()),
            "2001",
            &[5, 12],
        ))
        .unwrap();
    assert_eq!(r.kubun, KakuninKubun::Furikae);
    assert_eq!(r.parts.len(), 1);
    assert_eq!(r.parts[0].bill_to.insurer_number, b());
    assert_eq!(r.parts[0].bill_to.number, "3001");
    assert_eq!(r.parts[0].days, vec![5, 12]);
    assert!(!r.identified);
}

#[test]
fn r21_qualification_changed_within_the_month_is_split_by_service_days() {
    let w = world();
    let r = w
        .service
        .process_claim(&claim(
            1,
            "高橋三郎",
            "202611",
            Some(&a()),
            "4001",
            &[3, 10, 20],
        ))
        .unwrap();
    assert_eq!(r.kubun, KakuninKubun::Bunkatsu);
    let got: Vec<(String, Vec<u32>, u64, u64)> = r
        .parts
        .iter()
        .map(|p| {
            (
                p.bill_to.insurer_number.to_string(),
                p.days.clone(),
                p.points,
                p.copay_yen,
            )
        })
        .collect();
    // 1234 points over 2 + 1 days: 822.67 → 823 (largest remainder) and 411; copay 3700 → 2467 + 1233
    assert_eq!(
        got,
        vec![
            (a().to_string(), vec![3, 10], 823, 2467),
            (c().to_string(), vec![20], 411, 1233)
        ]
    );
}

#[test]
fn r21_claim_with_public_funds_is_not_reassigned() {
    let w = world();
    let mut cl = claim(1, "田中四郎", "202611", Some(&a()), "5001", &[5]);
    cl.public_funds = 1;
    let r = w.service.process_claim(&cl).unwrap();
    assert_eq!(r.kubun, KakuninKubun::LostBilledAsClaimed);
    assert_eq!(r.parts[0].bill_to.insurer_number, a());
    // the same claim without 公費 is transferred
    cl.public_funds = 0;
    let r = w.service.process_claim(&cl).unwrap();
    assert_eq!(
        (r.kubun, r.parts[0].bill_to.insurer_number.clone()),
        (KakuninKubun::Furikae, b())
    );
}

#[test]
fn r21_from_the_2022_02_claims_a_valid_claim_is_never_reassigned() {
    let w = world();
    let before = w
        .service
        .process_claim(&claim(1, "伊藤五郎", "202201", Some(&a()), "6001", &[10]))
        .unwrap();
    assert_eq!(
        (before.kubun, before.parts[0].bill_to.insurer_number.clone()),
        (KakuninKubun::Furikae, b())
    );
    let from = w
        .service
        .process_claim(&claim(2, "伊藤五郎", "202202", Some(&a()), "6001", &[10]))
        .unwrap();
    assert_eq!(
        (from.kubun, from.parts[0].bill_to.insurer_number.clone()),
        (KakuninKubun::Unchanged, a())
    );
}

#[test]
fn r21_unknown_numbers_are_unconfirmable_and_go_on_to_identification() {
    let w = world();
    // numbers unknown to the registry, person facts of 鈴木花子: identification finds her
    let r = w
        .service
        .process_claim(&claim(1, "鈴木花子", "202611", Some(&a()), "9999", &[5]))
        .unwrap();
    assert!(r.identified);
    assert_eq!(r.parts[0].bill_to.insurer_number, b());
    assert!(r.reason.contains("R22"), "{}", r.reason);
    // nobody at all: the pool
    let r = w
        .service
        .process_claim(&claim(2, "誰でもない", "202611", Some(&a()), "9999", &[5]))
        .unwrap();
    assert_eq!(
        (r.kubun, r.status),
        (KakuninKubun::Unconfirmable, ClaimStatus::Pool)
    );
}

#[test]
fn r22_fusho_claim_with_one_candidate_is_assigned_with_evidence() {
    let w = world();
    let r = w
        .service
        .process_claim(&claim(1, "山本花子", "202611", None, "777777777", &[7]))
        .unwrap();
    assert_eq!(r.status, ClaimStatus::Assigned);
    assert_eq!(r.kubun, KakuninKubun::Furikae);
    let e = r.evidence.unwrap();
    assert_eq!(e.parts[0].bill_to.insurer_number, b());
    assert!(e.matched.contains(&"kana_name".to_string()));
    assert!(e.matched.contains(&"qualification_covers_days".to_string()));
}

#[test]
fn r22_fusho_claim_with_several_candidates_goes_to_the_worklist() {
    let w = world();
    let r = w
        .service
        .process_claim(&claim(1, "渡辺太郎", "202611", None, "777777777", &[7]))
        .unwrap();
    assert_eq!(r.status, ClaimStatus::Worklist);
    assert!(r.parts.is_empty());
    assert_eq!(r.worklist.as_ref().unwrap().0.len(), 2);
}

#[test]
fn r22_tekiyou_address_narrows_several_candidates_to_one() {
    let w = world();
    let mut cl = claim(1, "渡辺太郎", "202611", None, "777777777", &[7]);
    cl.tekiyou.push("住所：沖縄県那覇市８－８".into());
    let r = w.service.process_claim(&cl).unwrap();
    assert_eq!(r.status, ClaimStatus::Assigned);
    let e = r.evidence.unwrap();
    assert!(
        e.matched.contains(&"address".to_string()),
        "{:?}",
        e.matched
    );
    assert_eq!(e.parts[0].bill_to.insurer_number, c());
}

#[test]
fn r22_fusho_claim_without_candidate_goes_to_the_pool() {
    let w = world();
    let r = w
        .service
        .process_claim(&claim(1, "誰でもない", "202611", None, "777777777", &[7]))
        .unwrap();
    assert_eq!(r.status, ClaimStatus::Pool);
    // and a candidate whose qualification does not cover the day is no candidate
    let r = w
        .service
        .process_claim(&claim(2, "山本花子", "201701", None, "777777777", &[7]))
        .unwrap();
    assert_eq!(r.status, ClaimStatus::Pool);
}

#[test]
fn claimed_holders_of_many_numbers_answer_as_one_by_one_in_the_same_order() {
    use onshi_domain::numbers::{MyNumberHash, Sex};
    use onshi_domain::qualification::Person;
    use onshi_payer::registry::PayerRegistry;
    use onshi_store::ImportStore;

    let w = world();
    // two persons holding the same numbers, one of them twice (qualified again later)
    {
        let mut tx = w.registry.begin_import().unwrap();
        for (i, name) in ["共有一郎", "共有二郎"].into_iter().enumerate() {
            let id = tx
                .insert_new_person(
                    &MyNumberHash::from_stored(format!("shared-{i}")),
                    &Person {
                        name: name.into(),
                        name_kana: "キョウユウ".into(),
                        sex: Sex::Male,
                        birthdate: d("1980-01-01"),
                        post_number: None,
                        address: None,
                    },
                )
                .unwrap();
            tx.insert_new_qualification(
                id,
                name,
                &qual(&a(), "2222", "2015-01-01", Some("2020-01-01"), None),
            )
            .unwrap();
            if i == 0 {
                tx.insert_new_qualification(
                    id,
                    name,
                    &qual(&a(), "2222", "2021-01-01", None, None),
                )
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let (a, b) = (a(), b());
    let keys: Vec<(&onshi_domain::numbers::InsurerNumber, &str)> = vec![
        (&a, "1001"),
        (&a, "2222"),
        (&a, "0000"),
        (&b, "1001"),
        // width-folded as the registry keys numbers
        (&a, "１００１"),
        (&a, "2222"),
    ];
    let many = w.registry.claimed_holders_many(&keys).unwrap();
    let one_by_one: Vec<_> = keys
        .iter()
        .map(|(i, n)| w.registry.claimed_holders(i, n).unwrap())
        .collect();
    assert_eq!(many, one_by_one);
    // and they are what the registry holds
    assert_eq!(many[0].len(), 1);
    assert_eq!(many[0][0].person.name, "佐藤一郎");
    assert_eq!(
        many[1]
            .iter()
            .map(|h| (h.person.name.as_str(), h.qualifications.len()))
            .collect::<Vec<_>>(),
        vec![("共有一郎", 2), ("共有二郎", 1)]
    );
    assert!(many[2].is_empty() && many[3].is_empty());
    assert_eq!(many[4], many[0]);
}

#[test]
fn the_renrakusho_csv_written_from_the_claims_is_the_csv_of_its_document() {
    use onshi_payer::model::{PayerCode, YearMonth};
    use onshi_payer::service::{renrakusho_csv_of, renrakusho_csv_of_claims, renrakusho_doc};
    use onshi_payer::store::SubmissionRow;

    let w = world();
    let mut lost_with_fund = claim(4, "田中四郎", "202611", Some(&a()), "5001", &[5]);
    lost_with_fund.public_funds = 1;
    // a name with the characters the CSV cannot carry
    let mut odd = claim(7, "鈴木花子", "202611", Some(&a()), "2001", &[5]);
    odd.name = "鈴木,\"花子\"\r\n".into();
    let claims = [
        claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3, 10]),
        claim(2, "鈴木花子", "202611", Some(&a()), "2001", &[5, 12]),
        claim(3, "高橋三郎", "202611", Some(&a()), "4001", &[3, 10, 20]),
        lost_with_fund,
        claim(5, "渡辺太郎", "202611", None, "777777777", &[7]),
        claim(6, "誰でもない", "202611", None, "777777777", &[7]),
        odd,
        claim(8, "佐藤一郎", "202611", Some(&a()), "1001", &[]),
    ];
    let reviewed: Vec<_> = claims
        .iter()
        .map(|c| w.service.process_claim(c).unwrap())
        .collect();
    // every kind of line: a change, a split, 06, the worklist and the pool (no parts)
    let kubuns: Vec<&str> = reviewed.iter().map(|r| r.kubun.code()).collect();
    for k in ["04", "05", "06", "03"] {
        assert!(kubuns.contains(&k), "{kubuns:?}");
    }
    let sub = SubmissionRow {
        id: 1,
        payer: PayerCode::Kikin,
        facility: FACILITY.into(),
        billing_month: YearMonth::parse("202612").unwrap(),
        file_sha256: "aa".into(),
        file_name: "RECEIPTC.UKE".into(),
        received_at: "2026-12-10T00:00:00Z".into(),
        source: "api".into(),
        claims: reviewed.len() as u64,
        total_points: 0,
    };
    let direct = renrakusho_csv_of_claims(&reviewed);
    assert_eq!(direct, renrakusho_csv_of(&renrakusho_doc(&sub, &reviewed)));
    assert!(direct.contains("鈴木  花子   ,"), "{direct}");
    assert_eq!(direct.matches("\r\n").count(), direct.lines().count());
}
