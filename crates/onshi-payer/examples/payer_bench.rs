//! Benchmark of the payer: a month of claims for a large region through intake (UKE read,
//! validation, 振替/分割 review against the registry, identification, recording), the staff's
//! worklist, and settlement with 按分 — with, in the same run, the time to only read the same
//! files (the UKE reader alone, and the reader plus the payer's model) as the baseline.
//!
//! Run: `cargo run --release -p onshi-payer --example payer_bench -- [CLAIMS] [FACILITIES] [DIR]
//! [POSTGRES_URL]` (defaults 1,000,000 claims over 2,000 facilities, a temporary directory, the
//! payer's store on SQLite in DIR). With a `postgres://…` URL of an empty database the payer's
//! store is on that server instead (its form keys in DIR/form-keys); the CPU figures are then
//! the benchmark process's only, the server's own is not in them.
//!
//! The mix (per 1,000 claims of every facility): 900 valid as claimed, 40 lost → 振替, 10 分割, 5 lost with 公費
//! (06), 10 lost with unknown numbers identified by person facts, 20 不詳 with one candidate,
//! 5 不詳 with two candidates (worklist), 10 不詳 with none (按分 pool).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, NaiveDate};
use onshi_domain::codes::{CardClassification, FamilyClass};
use onshi_domain::numbers::{
    BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber, MyNumberHash, Sex,
};
use onshi_domain::qualification::{Person, Qualification};
use onshi_formats::uke::{ClaimReader, FileItem};
use onshi_payer::model::{PayerCode, YearMonth};
use onshi_payer::rules::{PayerCalendar, PayerSettings};
use onshi_payer::service::{PayerService, Submitted};
use onshi_payer::store::{Decision, FacilityRow, PayerStore, SqlitePayerStore};
use onshi_payer::store_pg::PostgresPayerStore;
use onshi_store::{ImportStore, SqliteStore};

/// files per intake call (one durable commit each)
const BATCH: usize = 25;

const KANA: [char; 44] = [
    'ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ', 'ソ', 'タ',
    'チ', 'ツ', 'テ', 'ト', 'ナ', 'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ', 'マ', 'ミ',
    'ム', 'メ', 'モ', 'ヤ', 'ユ', 'ヨ', 'ラ', 'リ', 'ル', 'レ', 'ロ', 'ワ',
];

fn kana(mut i: u64, prefix: char) -> String {
    let mut s = String::from(prefix);
    for _ in 0..5 {
        s.push(KANA[(i % 44) as usize]);
        i /= 44;
    }
    s
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("a valid date")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Valid,
    Furikae,
    Bunkatsu,
    PublicFunds,
    LostUnknownNumbers,
    FushoOne,
    FushoTwo,
    FushoNone,
}

/// The kind of claim `i`, drawn by a multiplicative hash of `i` so that every facility (claim
/// `i` goes to facility `i % facilities`) gets the mix.
fn kind(i: u64) -> Kind {
    match (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 1000 {
        0..900 => Kind::Valid,
        900..940 => Kind::Furikae,
        940..950 => Kind::Bunkatsu,
        950..955 => Kind::PublicFunds,
        955..965 => Kind::LostUnknownNumbers,
        965..985 => Kind::FushoOne,
        985..990 => Kind::FushoTwo,
        _ => Kind::FushoNone,
    }
}

fn qual(
    ins: &InsurerNumber,
    number: u64,
    from: NaiveDate,
    until: Option<NaiveDate>,
) -> Qualification {
    Qualification {
        insurer_number: ins.clone(),
        insurer_name: "保険者".into(),
        card_classification: CardClassification::General,
        symbol: InsuredSymbol::parse("10").expect("symbol"),
        number: InsuredNumber::parse(&number.to_string()).expect("number"),
        branch: BranchNumber::parse("00").expect("branch"),
        family_class: FamilyClass::Insured,
        insured_name: "本人".into(),
        employer: Some(format!("事業所{}", number % 5000)),
        qualification_date: from,
        disqualification_date: until,
        reason_of_loss: None,
        contribution_ratio: None,
        elderly: None,
        limit_class: None,
        preschool: false,
        card_dates: Default::default(),
        details: Default::default(),
    }
}

/// CPU seconds used by this process so far (user + system, from /proc/self/stat), to read the
/// figures on a shared machine where wall time includes waiting for other work.
fn cpu_s() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = s.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // fields 14 and 15 of stat are the 12th and 13th after the command name
    (tick(11) + tick(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let nf: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2_000);
    let tmp = tempfile::tempdir()?;
    let dir: PathBuf = args
        .get(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let insurers: Vec<InsurerNumber> = (0..40)
        .map(|k| InsurerNumber::from_body(&format!("0613{k:03}")))
        .collect::<Result<_, _>>()?;
    let birth0 = d(1945, 1, 1);
    let person_of = |i: u64| Person {
        name: format!("患者{i}"),
        name_kana: kana(i, 'ア'),
        sex: if i.is_multiple_of(2) {
            Sex::Male
        } else {
            Sex::Female
        },
        birthdate: birth0 + Duration::days((i % 25_000) as i64),
        post_number: None,
        address: Some(format!("東京都千代田区{}丁目", i % 9000)),
    };

    // 1. the registry (setup, not timed in the figures)
    let t = Instant::now();
    let registry = Arc::new(SqliteStore::open(dir.join("central.sqlite"))?);
    {
        let mut tx = registry.begin_import()?;
        for ins in &insurers {
            tx.upsert_insurer(ins, "保険者")?;
        }
        for i in 0..n {
            let k = kind(i);
            if k == Kind::FushoNone {
                continue;
            }
            let a = &insurers[(i % 40) as usize];
            let b = &insurers[((i + 7) % 40) as usize];
            let quals = match k {
                Kind::Valid | Kind::FushoOne | Kind::FushoTwo => {
                    vec![qual(a, i, d(2015, 4, 1), None)]
                }
                Kind::Furikae | Kind::PublicFunds | Kind::LostUnknownNumbers => vec![
                    qual(a, i, d(2015, 4, 1), Some(d(2026, 10, 1))),
                    qual(b, n + i, d(2026, 10, 1), None),
                ],
                Kind::Bunkatsu => vec![
                    qual(a, i, d(2015, 4, 1), Some(d(2026, 11, 15))),
                    qual(b, n + i, d(2026, 11, 15), None),
                ],
                Kind::FushoNone => unreachable!(),
            };
            let h = MyNumberHash::from_stored(format!("bench-{i:012}"));
            let p = person_of(i);
            let id = tx.insert_new_person(&h, &p)?;
            for q in &quals {
                tx.insert_new_qualification(id, &p.name, q)?;
            }
            if k == Kind::FushoTwo {
                // a second person with the same kana, birth date and sex (another insurer)
                let h2 = MyNumberHash::from_stored(format!("bench-twin-{i:012}"));
                let mut p2 = person_of(i);
                p2.name = format!("別人{i}");
                let id2 = tx.insert_new_person(&h2, &p2)?;
                tx.insert_new_qualification(
                    id2,
                    &p2.name,
                    &qual(b, 2 * n + i, d(2015, 4, 1), None),
                )?;
            }
        }
        tx.commit()?;
    }
    let t_registry = t.elapsed();

    // 2. the month's files: one per facility (setup)
    let t = Instant::now();
    let facilities: Vec<String> = (0..nf).map(|f| format!("13{}{:07}", 1, f + 1)).collect();
    let mut files: Vec<Vec<u8>> = Vec::with_capacity(nf as usize);
    let mut total_bytes = 0usize;
    for (fi, fac) in facilities.iter().enumerate() {
        let mut text = format!(
            "IR,1,{},{},{},,ベンチ診療所,202612,00,0312345678\r\n",
            &fac[..2],
            &fac[2..3],
            &fac[3..]
        );
        let (mut parts, mut points_total) = (0u64, 0u64);
        let mut rn = 0;
        let mut i = fi as u64;
        while i < n {
            rn += 1;
            let k = kind(i);
            let p = person_of(i);
            let kana_name = if k == Kind::FushoNone {
                kana(i, 'ヲ')
            } else {
                p.name_kana.clone()
            };
            let points = 100 + (i * 37) % 2900;
            let copay = (points * 10 * 3 + 50) / 100 / 10 * 10;
            let day = (i % 14 + 1) as usize;
            let days: Vec<usize> = if k == Kind::Bunkatsu {
                vec![day, 20]
            } else {
                vec![day]
            };
            let mut re = vec![
                "RE".to_string(),
                rn.to_string(),
                "1112".into(),
                "202611".into(),
                p.name.clone(),
                p.sex.code().into(),
                p.birthdate.format("%Y%m%d").to_string(),
            ];
            re.extend(std::iter::repeat_n(String::new(), 29));
            re.push(kana_name);
            re.push(String::new());
            text.push_str(&re.join(","));
            text.push_str("\r\n");
            let a = &insurers[(i % 40) as usize];
            let (ins, kigou, number) = match k {
                Kind::FushoOne | Kind::FushoTwo | Kind::FushoNone => (
                    "77777777".to_string(),
                    String::new(),
                    "777777777".to_string(),
                ),
                Kind::LostUnknownNumbers => (a.claim_form(), "10".into(), format!("{}", 9 * n + i)),
                _ => (a.claim_form(), "10".into(), i.to_string()),
            };
            text.push_str(&format!(
                "HO,{ins},{kigou},{number},{},{points},,,,,,{copay},,,\r\n",
                days.len()
            ));
            parts += 1;
            points_total += points;
            if k == Kind::PublicFunds {
                text.push_str(&format!(
                    "KO,12136016,1234566,,{},{points},,,,,,\r\n",
                    days.len()
                ));
                parts += 1;
            }
            text.push_str("SN,1,01,,,,00,,\r\n");
            let jd: Vec<&str> = (1..=31)
                .map(|x| if days.contains(&x) { "1" } else { "" })
                .collect();
            text.push_str(&format!("JD,1,{}\r\n", jd.join(",")));
            if matches!(k, Kind::FushoOne | Kind::FushoTwo | Kind::FushoNone) {
                text.push_str("CO,01,1,810000001,不詳\r\n");
                text.push_str("CO,01,1,810000001,住所：東京都千代田区\r\n");
            }
            i += nf;
        }
        text.push_str(&format!("GO,{parts},{points_total},99\r\n"));
        let (bytes, _, bad) = encoding_rs::SHIFT_JIS.encode(&text);
        assert!(!bad);
        let mut v = bytes.into_owned();
        v.push(0x1A);
        total_bytes += v.len();
        files.push(v);
    }
    let t_files = t.elapsed();

    // 3. the payer: facilities, a synthetic past (setup)
    let t = Instant::now();
    let pg = args.get(4).filter(|u| onshi_store::postgres::is_url(u));
    let store: Arc<dyn PayerStore> = match pg {
        Some(url) => {
            println!(
                "the payer's store: PostgreSQL {}",
                onshi_store::postgres::redact(url)
            );
            Arc::new(PostgresPayerStore::open(url, &dir.join("form-keys"))?)
        }
        None => Arc::new(SqlitePayerStore::open(dir.join("payer.sqlite"))?),
    };
    for f in &facilities {
        store.upsert_facility(&FacilityRow {
            payer: PayerCode::Kikin,
            code: f.clone(),
            name: "ベンチ診療所".into(),
            hook_url: None,
        })?;
    }
    let ins_s: Vec<String> = insurers.iter().map(|i| i.to_string()).collect();
    let past = onshi_payer::synth::past_payments(
        PayerCode::Kikin,
        &facilities,
        &ins_s,
        YearMonth::parse("202511").ok_or("month")?,
        YearMonth::parse("202610").ok_or("month")?,
        1,
    );
    store.add_payments(&past)?;
    let t_past = t.elapsed();
    let svc = PayerService {
        store: store.clone(),
        registry: registry.clone(),
        calendar: PayerCalendar::default(),
        settings: PayerSettings::default(),
        out_dir: Some(dir.join("out")),
    };

    eprintln!("phase: baseline");
    // 4. baseline: only read the same files, in the same run (2 threads, as the intake)
    let threads = 2;
    let (t, c) = (Instant::now(), cpu_s());
    let read_claims: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                let files = &files;
                s.spawn(move || {
                    let mut c = 0u64;
                    for f in files.iter().skip(k).step_by(threads) {
                        for item in ClaimReader::new(&f[..]) {
                            if let Ok(FileItem::Claim(_)) = item {
                                c += 1;
                            }
                        }
                    }
                    c
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let (t_read, c_read) = (t.elapsed(), cpu_s() - c);
    let fusho = PayerSettings::default().fusho_insurer_numbers;
    let (t, c) = (Instant::now(), cpu_s());
    let model_claims: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                let (files, fusho) = (&files, &fusho);
                s.spawn(move || {
                    files
                        .iter()
                        .skip(k)
                        .step_by(threads)
                        .map(|f| {
                            onshi_payer::uke_intake::read_uke(f, fusho)
                                .map(|p| p.claims.len())
                                .unwrap_or(0)
                        })
                        .sum::<usize>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let (t_model, c_model) = (t.elapsed(), cpu_s() - c);

    eprintln!("phase: intake");
    // 5. intake: read, validate, review (R21), identify (R22), record — 2 threads
    let (t, c) = (Instant::now(), cpu_s());
    let at = "2026-12-10T00:00:00Z";
    let results: Vec<std::collections::BTreeMap<String, u64>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                let (files, facilities, svc) = (&files, &facilities, &svc);
                s.spawn(move || {
                    let mut out = Vec::new();
                    let mine: Vec<usize> = (k..files.len()).step_by(threads).collect();
                    // files arrive in batches (a folder scan, a bulk upload): one commit each
                    for chunk in mine.chunks(BATCH) {
                        let subs: Vec<Submitted<'_>> = chunk
                            .iter()
                            .map(|&i| Submitted {
                                payer: PayerCode::Kikin,
                                facility: &facilities[i],
                                file_name: "RECEIPTC.UKE",
                                bytes: &files[i],
                                source: "api",
                                at,
                            })
                            .collect();
                        match svc.intake_batch(&subs) {
                            Ok(rs) => {
                                for r in rs {
                                    match r {
                                        Ok(o) => out.push(o.by_status),
                                        Err(e) => eprintln!("intake: {e}"),
                                    }
                                }
                            }
                            Err(e) => eprintln!("intake batch: {e}"),
                        }
                    }
                    out
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let (t_intake, c_intake) = (t.elapsed(), cpu_s() - c);
    // R27 on PostgreSQL: what the intake sealed, counted before settlement writes it over
    let sealed = match pg {
        Some(url) => {
            let r = onshi_store::postgres::simple_query(
                url,
                "SELECT count(*) FILTER (WHERE tekiyou_sealed IS NOT NULL), count(*) FROM claim",
            )?;
            let keys = std::fs::read_dir(dir.join("form-keys"))?.count();
            Some(format!(
                "{} of {} claims with their 摘要 sealed, {keys} form keys (one per file with comments)",
                r[0][0].as_deref().unwrap_or("?"),
                r[0][1].as_deref().unwrap_or("?"),
            ))
        }
        None => None,
    };
    let mut by_status = std::collections::BTreeMap::new();
    for r in &results {
        for (k, v) in r {
            *by_status.entry(k.clone()).or_insert(0u64) += v;
        }
    }

    eprintln!("phase: worklist");
    // 6. the worklist: staff decide (here: the first candidate), not timed as machine work
    let t = Instant::now();
    let mut decided = 0;
    loop {
        let items = store.worklist(PayerCode::Kikin, true)?;
        if items.is_empty() {
            break;
        }
        for it in items {
            store.decide(
                PayerCode::Kikin,
                it.claim.id,
                &Decision::Assign(it.candidates[0].clone()),
                "bench",
                at,
            )?;
            decided += 1;
        }
    }
    let t_decide = t.elapsed();

    eprintln!("phase: settlement");
    // 7. settlement with 按分 (R22), statements, payment record, R27 scrub
    let (t, c) = (Instant::now(), cpu_s());
    let out = svc.settle_month(
        PayerCode::Kikin,
        YearMonth::parse("202612").ok_or("month")?,
        at,
    )?;
    let (t_settle, c_settle) = (t.elapsed(), cpu_s() - c);
    // check: every pool's shares sum exactly to the pool
    let mut pools = 0;
    let mut pooled_yen = 0u64;
    let mut exact = true;
    for st in &out.statements {
        for p in &st.apportionment {
            let pool = p["pool_yen"].as_u64().unwrap_or(0);
            let sum: u64 = p["shares"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["share_yen"].as_u64().unwrap_or(0))
                .sum();
            exact &= sum == pool;
            pools += 1;
            pooled_yen += pool;
        }
    }

    let secs = |d: std::time::Duration| d.as_secs_f64();
    println!(
        "payer benchmark: {n} claims in {nf} files ({:.1} MB of UKE), 2 threads, intake batches of {BATCH} files",
        total_bytes as f64 / 1e6
    );
    println!(
        "setup: registry {:.1} s, files {:.1} s, payment past {} rows {:.1} s",
        secs(t_registry),
        secs(t_files),
        past.len(),
        secs(t_past)
    );
    println!(
        "baseline, read only (UKE reader):        {:>7.2} s wall {:>7.2} s CPU  {:>8.0} claims/s  ({read_claims} claims)",
        secs(t_read),
        c_read,
        read_claims as f64 / secs(t_read)
    );
    println!(
        "baseline, read into the payer's model:   {:>7.2} s wall {:>7.2} s CPU  {:>8.0} claims/s  ({model_claims} claims)",
        secs(t_model),
        c_model,
        model_claims as f64 / secs(t_model)
    );
    println!(
        "intake (read, check, 振替, 特定, record): {:>7.2} s wall {:>7.2} s CPU  {:>8.0} claims/s  = {:.1}× the read-only wall time, {:.1}× its CPU",
        secs(t_intake),
        c_intake,
        n as f64 / secs(t_intake),
        secs(t_intake) / secs(t_read),
        c_intake / c_read.max(0.01)
    );
    println!("  by status: {by_status:?}");
    if let Some(sealed) = &sealed {
        println!("  R27 on PostgreSQL: {sealed}");
    }
    println!(
        "worklist: {decided} decided by staff in {:.2} s",
        secs(t_decide)
    );
    println!(
        "settlement (按分, statements, payments): {:>7.2} s wall {:>7.2} s CPU  ({} statements, {pools} pools, {pooled_yen} yen pooled, shares exact: {exact})",
        secs(t_settle),
        c_settle,
        out.statements.len()
    );
    println!(
        "intake + settlement: {:.2} s wall, {:.2} s CPU",
        secs(t_intake) + secs(t_settle),
        c_intake + c_settle
    );
    if pg.is_some() {
        let left = std::fs::read_dir(dir.join("form-keys"))?.count();
        println!("  R27 on PostgreSQL: {left} form keys left after the month's settlement");
    }
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at the end: {}", l.trim());
    }
    Ok(())
}
