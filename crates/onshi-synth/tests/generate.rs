//! The synthetic population read back through `onshi_formats::registry_csv`: determinism, zero
//! import errors, case shares, ages, families, and the facts each case promises.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use onshi_domain::card::{CertCheck, CertStatus, check_certificate};
use onshi_domain::codes::{FamilyClass, ReasonOfLoss};
use onshi_domain::cost_share;
use onshi_domain::kana;
use onshi_domain::qualification::{Outcome, Qualification, evaluate_by_card};
use onshi_formats::registry_csv::{
    CardRecord, CardStatusCode, QualificationRecord, read_cards, read_qualifications,
};
use onshi_synth::{SynthCase, SynthConfig, SynthError, SynthSummary, generate, generate_with_keys};

fn reference() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).expect("date")
}

fn cfg(persons: u64, seed: u64) -> SynthConfig {
    SynthConfig {
        persons,
        seed,
        reference_date: reference(),
    }
}

fn files(cfg: &SynthConfig) -> (Vec<u8>, Vec<u8>, SynthSummary) {
    let (mut q, mut c) = (Vec::new(), Vec::new());
    let summary = generate(cfg, &mut q, &mut c, &mut |_| {}).expect("generate");
    (q, c, summary)
}

struct Population {
    quals: Vec<QualificationRecord>,
    cards: Vec<CardRecord>,
    summary: SynthSummary,
}

fn population(persons: u64, seed: u64) -> Population {
    let (q, c, summary) = files(&cfg(persons, seed));
    let quals: Vec<QualificationRecord> = read_qualifications("q.csv", &q[..])
        .expect("header")
        .map(|r| r.unwrap_or_else(|e| panic!("qualification row refused: {e:?}")))
        .collect();
    let cards: Vec<CardRecord> = read_cards("c.csv", &c[..])
        .expect("header")
        .map(|r| r.unwrap_or_else(|e| panic!("card row refused: {e:?}")))
        .collect();
    Population {
        quals,
        cards,
        summary,
    }
}

#[test]
fn with_keys_the_same_rows_each_with_its_serials_key() {
    // a stand-in for the card world's derivation: any function of the serial will do here
    let key = |serial: &str| {
        let mut k = [0u8; 32];
        for (i, b) in serial.bytes().enumerate() {
            k[i % 32] ^= b.wrapping_mul(31).wrapping_add(i as u8);
        }
        k
    };
    // more persons than one batch of keys holds, so batches and the last part are both seen
    let c = cfg(25_000, 3);
    let (q, plain, _) = files(&c);
    let (mut q2, mut keyed) = (Vec::new(), Vec::new());
    let summary = generate_with_keys(&c, &mut q2, &mut keyed, &key, &mut |_| {}).expect("generate");
    assert_eq!(q, q2, "the qualifications are the same");
    let plain: Vec<CardRecord> = read_cards("c.csv", &plain[..])
        .expect("header")
        .map(|r| r.expect("row"))
        .collect();
    let keyed: Vec<CardRecord> = read_cards("c.csv", &keyed[..])
        .expect("header")
        .map(|r| r.expect("row"))
        .collect();
    assert!(plain.len() > 8192 * 2, "{} cards", plain.len());
    assert_eq!(plain.len() as u64, summary.card_rows);
    assert_eq!(plain.len(), keyed.len());
    for (p, k) in plain.iter().zip(&keyed) {
        assert_eq!(p.cert_public_key, None);
        assert_eq!(
            k.cert_public_key,
            Some(key(&k.card_serial)),
            "line {}",
            k.line
        );
        let mut k = k.clone();
        k.cert_public_key = None;
        assert_eq!(*p, k, "the same row otherwise");
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = files(&cfg(3000, 7));
    let b = files(&cfg(3000, 7));
    assert!(
        a.0 == b.0 && a.1 == b.1,
        "same seed must give identical files"
    );
    assert_eq!(a.2, b.2);
    let c = files(&cfg(3000, 8));
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
}

#[test]
fn output_imports_with_zero_errors_and_counts_match() {
    let p = population(4000, 1);
    assert_eq!(p.summary.persons, 4000);
    assert_eq!(p.quals.len() as u64, p.summary.qualification_rows);
    assert_eq!(p.cards.len() as u64, p.summary.card_rows);
    let total: u64 = p.summary.cases.values().sum();
    assert_eq!(total, 4000);
    assert_eq!(p.summary.cases.len(), SynthCase::ALL.len());
    // every person is in the files: with rows, a card, or both
    let mut people: HashSet<String> = p
        .quals
        .iter()
        .map(|r| r.my_number.expose_digits())
        .collect();
    people.extend(p.cards.iter().map(|c| c.my_number.expose_digits()));
    assert_eq!(people.len(), 4000);
}

#[test]
fn zero_persons_gives_headers_only() {
    let (q, c, s) = files(&cfg(0, 1));
    assert_eq!(
        read_qualifications("q.csv", &q[..])
            .expect("header")
            .count(),
        0
    );
    assert_eq!(read_cards("c.csv", &c[..]).expect("header").count(), 0);
    assert_eq!(s.persons, 0);
}

#[test]
fn a_bad_configuration_is_refused() {
    let mut c = cfg(10, 1);
    c.persons = onshi_synth::MAX_PERSONS + 1;
    assert!(matches!(
        generate(&c, Vec::new(), Vec::new(), &mut |_| {}),
        Err(SynthError::Config(_))
    ));
    let mut c = cfg(10, 1);
    c.reference_date = NaiveDate::from_ymd_opt(2000, 1, 1).expect("date");
    assert!(generate(&c, Vec::new(), Vec::new(), &mut |_| {}).is_err());
}

#[test]
fn progress_is_reported_up_to_the_total() {
    let mut seen = Vec::new();
    generate(
        &cfg(70_000, 3),
        std::io::sink(),
        std::io::sink(),
        &mut |n| seen.push(n),
    )
    .expect("generate");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(
        seen.first().is_some_and(|&n| (65_536..65_546).contains(&n)),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&70_000));
}

#[test]
fn case_shares_are_within_tolerance() {
    let (_, _, s) = files(&cfg(60_000, 11));
    for case in SynthCase::ALL {
        let share = s.count(case) as f64 / s.persons as f64;
        let target = case.target_share();
        // the unit cases are kept on target by a quota; the card cases are drawn: allow 4 σ
        let sigma = (target * (1.0 - target) / s.persons as f64).sqrt();
        assert!(
            (share - target).abs() <= 4.0 * sigma + 0.0005,
            "{}: {share:.4} vs target {target:.4}",
            case.id()
        );
    }
}

#[test]
fn a_newborn_and_a_centenarian_exist_in_ten_thousand() {
    let p = population(10_000, 5);
    let r = reference();
    let ages: Vec<u32> = p
        .quals
        .iter()
        .map(|q| cost_share::age_on(q.person.birthdate, r).unwrap_or(0))
        .collect();
    assert!(ages.contains(&0), "no newborn");
    assert!(ages.iter().any(|&a| a >= 100), "no one 100+");
    assert!(p.summary.newborns > 0 && p.summary.centenarians > 0);
    // newborns' qualification may start on the day of birth
    assert!(
        p.quals
            .iter()
            .any(|q| q.qualification.qualification_date == q.person.birthdate)
    );
}

#[test]
fn every_familys_dependents_share_insurer_symbol_and_number_with_the_honnin() {
    let p = population(8000, 2);
    type Key = (String, String, String, Option<NaiveDate>);
    let key = |q: &Qualification| -> Key {
        (
            q.insurer_number.as_str().to_string(),
            q.symbol.as_str().to_string(),
            q.number.as_str().to_string(),
            q.disqualification_date,
        )
    };
    let mut honnin: HashMap<Key, &QualificationRecord> = HashMap::new();
    for r in &p.quals {
        if r.qualification.family_class == FamilyClass::Insured {
            assert_eq!(r.qualification.branch.as_str(), "00");
            assert_eq!(r.qualification.insured_name, r.person.name);
            let prev = honnin.insert(key(&r.qualification), r);
            assert!(prev.is_none(), "two 本人 under one number");
        }
    }
    let mut dependents = 0;
    for r in &p.quals {
        if r.qualification.family_class == FamilyClass::Dependent {
            dependents += 1;
            let h = honnin
                .get(&key(&r.qualification))
                .unwrap_or_else(|| panic!("dependent without a 本人: {:?}", r.qualification));
            assert_eq!(r.qualification.insured_name, h.person.name);
            assert_ne!(r.qualification.branch.as_str(), "00");
            assert_eq!(r.person.address, h.person.address);
            assert_eq!(
                r.qualification.qualification_date,
                h.qualification.qualification_date.max(r.person.birthdate)
            );
        }
    }
    assert!(dependents > 1000, "{dependents}");
}

#[test]
fn numbers_are_unique_per_person() {
    let p = population(8000, 4);
    // (insurer, symbol, number, branch) designates one person
    let mut owner: HashMap<(String, String, String, String), String> = HashMap::new();
    for r in &p.quals {
        let q = &r.qualification;
        let k = (
            q.insurer_number.as_str().to_string(),
            q.symbol.as_str().to_string(),
            q.number.as_str().to_string(),
            q.branch.as_str().to_string(),
        );
        let who = r.my_number.expose_digits();
        let prev = owner.insert(k.clone(), who.clone());
        assert!(prev.is_none_or(|p| p == who), "{k:?} shared by two persons");
    }
    let serials: HashSet<&str> = p.cards.iter().map(|c| c.card_serial.as_str()).collect();
    assert_eq!(serials.len(), p.cards.len());
    let holders: HashSet<String> = p
        .cards
        .iter()
        .map(|c| c.my_number.expose_digits())
        .collect();
    assert_eq!(holders.len(), p.cards.len());
}

#[test]
fn card_holder_facts_equal_the_qualification_rows_except_the_kanji_variants() {
    let p = population(20_000, 6);
    let cards: HashMap<String, &CardRecord> = p
        .cards
        .iter()
        .map(|c| (c.my_number.expose_digits(), c))
        .collect();
    let mut variants = HashSet::new();
    for r in &p.quals {
        let Some(c) = cards.get(&r.my_number.expose_digits()) else {
            continue;
        };
        assert_eq!(c.birthdate, r.person.birthdate);
        assert_eq!(c.sex, r.person.sex);
        assert_eq!(c.name_kana, r.person.name_kana);
        assert_eq!(
            kana::kana_key(&c.name_kana),
            kana::kana_key(&r.person.name_kana)
        );
        assert_eq!(c.address, r.person.address);
        if c.name != r.person.name {
            assert_ne!(kana::name_key(&c.name), kana::name_key(&r.person.name));
            assert!(
                ["髙", "﨑", "邊", "齋"]
                    .iter()
                    .any(|v| r.person.name.contains(v)),
                "{} vs {}",
                c.name,
                r.person.name
            );
            variants.insert(r.my_number.expose_digits());
        }
    }
    assert_eq!(
        variants.len() as u64,
        p.summary.count(SynthCase::KanjiVariant)
    );
    assert!(!variants.is_empty());
}

#[test]
fn names_are_kana_and_written_with_a_full_width_space() {
    let p = population(2000, 9);
    for r in &p.quals {
        assert!(kana::is_kana_name(&r.person.name_kana));
        assert_eq!(r.person.name.matches('　').count(), 1, "{}", r.person.name);
        assert_eq!(r.person.name_kana.matches('　').count(), 1);
        assert_eq!(r.person.post_number.as_ref().map(String::len), Some(7));
        assert!(!r.qualification.insurer_name.is_empty());
    }
}

#[test]
fn each_case_has_the_facts_it_promises() {
    let p = population(30_000, 12);
    let r = reference();
    let mut history: HashMap<String, Vec<Qualification>> = HashMap::new();
    for q in &p.quals {
        history
            .entry(q.my_number.expose_digits())
            .or_default()
            .push(q.qualification.clone());
    }
    let serial_case: HashMap<&str, SynthCase> = p
        .summary
        .examples
        .iter()
        .filter_map(|e| e.card_serial.as_deref().map(|s| (s, e.case)))
        .collect();
    let mut checked = HashSet::new();
    for c in &p.cards {
        let h = history
            .get(&c.my_number.expose_digits())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let outcome = evaluate_by_card(h, r);
        let cert = check_certificate(
            match c.status {
                CardStatusCode::Revoked => CertStatus::Revoked,
                CardStatusCode::ChipBroken => CertStatus::ChipBroken,
                _ => CertStatus::Active,
            },
            c.cert_expiry,
            r,
        );
        if c.status == CardStatusCode::PinLocked {
            assert!(c.pin.is_some());
        }
        let Some(&case) = serial_case.get(c.card_serial.as_str()) else {
            continue;
        };
        checked.insert(case);
        match case {
            SynthCase::Regular | SynthCase::KanjiVariant => {
                assert!(matches!(outcome, Outcome::Valid(_)), "{case:?} {outcome:?}");
                assert_eq!(cert, CertCheck::Ok);
                assert!(c.pin.is_some());
            }
            SynthCase::PinLess => {
                assert!(c.pin.is_none());
                assert_eq!(cert, CertCheck::Ok);
            }
            SynthCase::CertExpiredInGrace => {
                assert!(matches!(cert, CertCheck::InGrace { .. }), "{cert:?}")
            }
            SynthCase::CertExpiredPastGrace => {
                assert!(matches!(cert, CertCheck::PastGrace { .. }), "{cert:?}")
            }
            SynthCase::PinLocked => assert_eq!(c.status, CardStatusCode::PinLocked),
            SynthCase::Revoked => assert_eq!(cert, CertCheck::Revoked),
            SynthCase::ChipBroken => assert_eq!(cert, CertCheck::ChipBroken),
            SynthCase::JobChangerUnregistered => {
                assert_eq!(h.len(), 1);
                let lost = &h[0];
                assert_eq!(lost.reason_of_loss, Some(ReasonOfLoss::OtherInsurance));
                let d = lost.disqualification_date.expect("lost");
                assert!(d <= r && (r - d).num_days() <= 45, "{d}");
                assert!(matches!(outcome, Outcome::Invalid(_)), "{outcome:?}");
            }
            SynthCase::NoQualification => {
                assert!(h.is_empty());
                assert_eq!(outcome, Outcome::NotFound);
            }
            SynthCase::NoCard => unreachable!("no card has no serial"),
        }
    }
    assert_eq!(checked.len(), SynthCase::ALL.len() - 1, "{checked:?}");
    for case in SynthCase::ALL {
        let n = p.summary.examples.iter().filter(|e| e.case == case).count();
        assert!((1..=10).contains(&n), "{case:?}: {n} examples");
    }
    for e in &p.summary.examples {
        assert_eq!(e.card_serial.is_none(), e.case == SynthCase::NoCard);
        assert_eq!(
            e.insurer_number.is_none(),
            e.case == SynthCase::NoQualification
        );
    }
}

#[test]
fn ages_get_the_right_insurer_and_share() {
    let p = population(20_000, 13);
    let r = reference();
    let mut with_history = HashSet::new();
    for q in &p.quals {
        let b = q.person.birthdate;
        let qual = &q.qualification;
        if qual.disqualification_date.is_some() {
            with_history.insert(q.my_number.expose_digits());
            continue;
        }
        let koki = qual.insurer_number.houbetsu() == Some("39");
        match cost_share::age_bracket(b, r) {
            Some(cost_share::AgeBracket::Koki75) => {
                assert!(koki);
                assert!(matches!(qual.contribution_ratio, Some(10 | 20 | 30)));
            }
            Some(cost_share::AgeBracket::Elderly70To74) => {
                assert!(!koki);
                let e = qual.elderly.as_ref().expect("高齢受給者");
                assert!(matches!(e.ratio, 20 | 30));
                assert!(e.valid_from <= r && e.valid_to.is_some_and(|t| r <= t));
                assert!(e.valid_to.is_some_and(|t| t < cost_share::koki_start(b)));
            }
            Some(cost_share::AgeBracket::Preschool) => {
                assert!(qual.preschool);
                assert_eq!(qual.contribution_ratio, Some(20));
            }
            _ => {
                assert!(!koki && !qual.preschool && qual.elderly.is_none());
                assert_eq!(qual.contribution_ratio, Some(30));
            }
        }
    }
    // a share of people have an older, lost qualification followed by the current one
    assert!(p.summary.persons_with_history > 1000);
    let kinds: HashSet<String> = p
        .quals
        .iter()
        .map(|q| format!("{:?}", q.qualification.insurer_number.kind()))
        .collect();
    // 協会けんぽ, 組合健保, 共済, 後期高齢者, 国保
    assert_eq!(kinds.len(), 5, "{kinds:?}");
}

/// Every qualification carries the card / 資格確認書 dates receipt software needs
/// (`InsuredCardValidDate`); the 資格確認書 holders (no My Number card, and all 後期 since
/// 2025-08-01) have an end date; nobody holds an insurance card issued after 2024-12-02.
#[test]
fn card_dates_follow_the_dated_facts() {
    let p = population(20_000, 17);
    let r = reference();
    let no_new_cards = NaiveDate::from_ymd_opt(2024, 12, 2).expect("date");
    let holders: HashSet<String> = p
        .cards
        .iter()
        .map(|c| c.my_number.expose_digits())
        .collect();
    let (mut current, mut with_end) = (0u64, 0u64);
    for q in &p.quals {
        let qual = &q.qualification;
        let c = qual.card_dates;
        let from = c.valid_from.expect("every row has InsuredCardValidDate");
        let issued = c.issued_on.expect("every row has an issue date");
        assert!(
            issued >= qual.qualification_date,
            "issued before the qualification"
        );
        assert!(from >= qual.qualification_date);
        if let Some(to) = c.valid_to {
            assert!(from <= to);
            // a 資格確認書: issued under the new rules
            assert!(from >= no_new_cards || qual.insurer_number.houbetsu() == Some("39"));
        }
        if qual.disqualification_date.is_some() {
            continue;
        }
        current += 1;
        let koki = qual.insurer_number.houbetsu() == Some("39");
        let holder = holders.contains(&q.my_number.expose_digits());
        if koki || !holder {
            let to = c.valid_to.expect("資格確認書 with an end date");
            assert!(
                from <= r && r <= to,
                "the 資格確認書 valid on the reference date"
            );
            with_end += 1;
        } else {
            assert_eq!(
                c.valid_to, None,
                "insurance card or お知らせ: no end printed"
            );
        }
    }
    let share = with_end as f64 / current as f64;
    eprintln!("資格確認書 holders: {with_end} of {current} current qualifications ({share:.3})");
    assert!((0.25..0.45).contains(&share), "share {share}");
}

/// The details come in realistic shares and import cleanly: 通称名 about 0.3 %, 限度額適用認定証
/// for a minority, 特定疾病 (mostly 人工透析) a few per thousand, the 高齢受給者証 always with its
/// issue date.
#[test]
fn details_come_in_realistic_shares() {
    let p = population(20_000, 19);
    let current: Vec<&QualificationRecord> = p
        .quals
        .iter()
        .filter(|q| q.qualification.disqualification_date.is_none())
        .collect();
    let n = current.len() as f64;
    let share = |f: &dyn Fn(&QualificationRecord) -> bool| {
        current.iter().filter(|q| f(q)).count() as f64 / n
    };
    let other = share(&|q| q.qualification.details.name_of_other.is_some());
    let limit = share(&|q| {
        q.qualification
            .details
            .limit_certificate
            .classification
            .is_some()
    });
    let disease = share(&|q| !q.qualification.details.specific_diseases.is_empty());
    eprintln!("通称名 {other:.4}, 限度額認定証 {limit:.4}, 特定疾病 {disease:.4}");
    assert!((0.001..0.006).contains(&other), "{other}");
    assert!((0.005..0.08).contains(&limit), "{limit}");
    assert!((0.001..0.01).contains(&disease), "{disease}");
    for q in &current {
        let d = &q.qualification.details;
        assert_eq!(
            d.elderly_certificate_date.is_some(),
            q.qualification.elderly.is_some()
        );
        assert!(d.name_of_other.is_some() == d.name_of_other_kana.is_some());
    }
}

#[test]
fn card_serial_names_every_generated_card_from_its_person_index() {
    let persons = 2000;
    let p = population(persons, 7);
    let drawable: HashSet<String> = (0..persons)
        .map(|i| onshi_synth::card_serial(7, i))
        .collect();
    assert_eq!(drawable.len() as u64, persons, "a bijection of the index");
    for c in &p.cards {
        assert!(
            drawable.contains(c.card_serial.as_str()),
            "card {} is not card_serial(7, i) for any person index",
            c.card_serial
        );
    }
    assert!(p.cards.len() as u64 > persons / 2);
}

/// R23: a few percent of the current qualifications were registered in the OQS after their
/// card / 資格確認書 was issued, each after a job change (the person's earlier qualification
/// ended the day it began), never after the reference date; qualifications begun before the
/// OQS registrations (2021-03-01) carry no registration date, the later ones all do.
#[test]
fn r23_a_few_percent_registered_after_their_card_was_issued_all_after_a_job_change() {
    let p = population(20_000, 23);
    let r = reference();
    let oqs = NaiveDate::from_ymd_opt(2021, 3, 1).expect("date");
    let ended: HashSet<(String, NaiveDate)> = p
        .quals
        .iter()
        .filter_map(|q| {
            q.qualification
                .disqualification_date
                .map(|d| (q.my_number.expose_digits(), d))
        })
        .collect();
    let (mut current, mut late) = (0u64, 0u64);
    for q in &p.quals {
        let qual = &q.qualification;
        let registered = qual.details.registered_on;
        assert_eq!(
            registered.is_some(),
            qual.qualification_date >= oqs,
            "registration date given exactly from the OQS registrations on"
        );
        if let Some(reg) = registered {
            assert!(reg <= r, "registered after the reference date");
        }
        if qual.disqualification_date.is_some() {
            continue;
        }
        current += 1;
        let issued = qual.card_dates.issued_on.expect("issue date");
        if registered.is_some_and(|reg| reg > issued) {
            late += 1;
            assert!(
                ended.contains(&(q.my_number.expose_digits(), qual.qualification_date)),
                "a late registration follows a job change"
            );
        }
    }
    let share = late as f64 / current as f64;
    eprintln!(
        "registered after the issuance: {late} of {current} current qualifications ({share:.4})"
    );
    assert!((0.01..0.06).contains(&share), "share {share}");
    // deterministic by seed
    let again = population(20_000, 23);
    let dates = |p: &Population| -> Vec<Option<NaiveDate>> {
        p.quals
            .iter()
            .map(|q| q.qualification.details.registered_on)
            .collect()
    };
    assert_eq!(dates(&p), dates(&again));
}
