//! Generates a population to files, then parses them back, timing both.
//!
//! ```text
//! cargo run --release -p onshi-synth --example registry_bench -- 1000000 /tmp/onshi-bench
//! ```
//!
//! Prints persons/s for generation, rows/s for parsing each file, the case counts and the age
//! distribution of the qualification rows' current holders.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::time::Instant;

use chrono::{Datelike, NaiveDate};
use onshi_formats::registry_csv::{read_cards, read_qualifications};
use onshi_synth::{SynthCase, SynthConfig, generate};

/// CPU time of this thread in seconds (Linux `schedstat`), so that rates do not depend on
/// what else the machine is doing; wall time where it is not available.
fn cpu_seconds(wall: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .map_or_else(|| wall.elapsed().as_secs_f64(), |ns| ns as f64 / 1e9)
}

/// Runs `f`, returning its result, wall seconds and CPU seconds.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let t = Instant::now();
    let c = cpu_seconds(t);
    let r = f();
    (r, t.elapsed().as_secs_f64(), cpu_seconds(t) - c)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let persons: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/onshi-bench".into()));
    std::fs::create_dir_all(&dir)?;
    let reference_date = NaiveDate::from_ymd_opt(2026, 11, 25).ok_or("date")?;
    let cfg = SynthConfig {
        persons,
        seed: 42,
        reference_date,
    };
    let qpath = dir.join("qualifications.csv");
    let cpath = dir.join("cards.csv");

    let (summary, wall, cpu) = timed(|| {
        generate(
            &cfg,
            BufWriter::new(File::create(&qpath)?),
            BufWriter::new(File::create(&cpath)?),
            &mut |_| {},
        )
        .map_err(Box::<dyn std::error::Error>::from)
    });
    let summary = summary?;
    println!(
        "generate: {persons} persons, {} qualification rows, {} cards in {wall:.2} s wall, {cpu:.2} s CPU = {:.0} persons/s (CPU)",
        summary.qualification_rows,
        summary.card_rows,
        persons as f64 / cpu
    );

    let t = Instant::now();
    let c0 = cpu_seconds(t);
    let mut ok = 0u64;
    let mut bad = 0u64;
    let mut ages = [0u64; 21];
    for r in read_qualifications("qualifications.csv", BufReader::new(File::open(&qpath)?))? {
        match r {
            Ok(rec) => {
                ok += 1;
                if rec.qualification.disqualification_date.is_none() {
                    let b = rec.person.birthdate;
                    let age = reference_date.year()
                        - b.year()
                        - i32::from(
                            (reference_date.month(), reference_date.day()) < (b.month(), b.day()),
                        );
                    ages[(age.max(0) as usize / 5).min(20)] += 1;
                }
            }
            Err(e) => {
                bad += 1;
                if bad <= 5 {
                    eprintln!("{:?}", e);
                }
            }
        }
    }
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds(t) - c0);
    println!(
        "parse qualifications: {ok} ok, {bad} refused in {wall:.2} s wall, {cpu:.2} s CPU = {:.0} rows/s (CPU)",
        (ok + bad) as f64 / cpu
    );

    let t = Instant::now();
    let c0 = cpu_seconds(t);
    let (mut ok, mut bad) = (0u64, 0u64);
    for r in read_cards("cards.csv", BufReader::new(File::open(&cpath)?))? {
        if r.is_ok() { ok += 1 } else { bad += 1 }
    }
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds(t) - c0);
    println!(
        "parse cards: {ok} ok, {bad} refused in {wall:.2} s wall, {cpu:.2} s CPU = {:.0} rows/s (CPU)",
        (ok + bad) as f64 / cpu
    );

    println!("cases (share of persons, target):");
    for c in SynthCase::ALL {
        println!(
            "  {:<26} {:>9} {:>7.3}% {:>7.3}%",
            c.id(),
            summary.count(c),
            summary.count(c) as f64 * 100.0 / persons as f64,
            c.target_share() * 100.0
        );
    }
    println!(
        "families {}, with history {}, newborns {}, 100+ {}",
        summary.families, summary.persons_with_history, summary.newborns, summary.centenarians
    );
    let total: u64 = ages.iter().sum();
    println!("ages of current qualifications (5-year bands, %):");
    for (i, n) in ages.iter().enumerate() {
        println!(
            "  {:>3}+ {:>6.2}",
            i * 5,
            *n as f64 * 100.0 / total.max(1) as f64
        );
    }
    Ok(())
}
