//! `onshi bench`: drives card confirmations over HTTP on 127.0.0.1 with concurrency against
//! a registry of a given size, and — in the same run, against the same server — the trivial
//! `/healthz` endpoint as the baseline. Prints confirmations per second, p50/p99 latency, the
//! ratio, the disk's fsync latency measured in the same run, and one verdict line per target
//! (SPEC "What the project must reach"). Traffic goes to loopback only and every loop is
//! bounded in time and count.
//!
//! Honesty rules the code keeps:
//! - every request's card is drawn uniformly from the whole registry: a random person index
//!   over the whole population, its card serial computed from the index
//!   ([`onshi_synth::card_serial`]), looked up in the store, and kept only if the card is
//!   active and unexpired (persons without a card, and inactive cards, are drawn again);
//! - each request is a fresh signed assertion over its own nonce, signed before the load (a
//!   nonce is single use): no request is ever sent twice. The set is sized from the duration
//!   (`--signed-requests`, default 30,000 per second of confirmation load); a measurement that
//!   uses it all up ends there and says so;
//! - an answer counts as throughput only if it is `200` and carries no `error` (a refused
//!   confirmation is a `200` with an error class): the others are counted apart, and the run
//!   exits non-zero above 0.1 %.
//!
//! The load generator is a minimal keep-alive HTTP/1.1 client on raw sockets, so that the
//! client's own cost stays small and the same for both endpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use onshi_domain::card::CertStatus;
use onshi_store::CentralStore;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::db::{Db, Opened};

#[derive(Args)]
pub struct BenchArgs {
    /// registry sizes to measure, comma separated (e.g. 10000,1000000)
    #[arg(long, default_value = "10000", value_delimiter = ',')]
    persons: Vec<u64>,
    /// the database: absent = SQLite files under --data; a `postgres://…` URL = one database
    /// per size and seed on that server (`onshi_bench_p<N>_s<seed>`, made with CREATE
    /// DATABASE through the URL's server on first use, kept for later runs)
    #[arg(long)]
    db: Option<String>,
    /// concurrent connections
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// seconds per warm measurement (the /healthz baseline, then the confirmations)
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// seconds of confirmations measured right after the store is opened and the server
    /// started ("cold"), reported apart
    #[arg(long, default_value_t = 3.0)]
    cold_seconds: f64,
    /// the cold measurement also printed in consecutive slices of this many seconds (when it
    /// is longer than one), to show how a start settles; 0 = not sliced
    #[arg(long, default_value_t = 10.0)]
    cold_slice_seconds: f64,
    /// signed card assertions made before the load (each nonce is single use: never
    /// replayed; a measurement that uses them all up ends early and says so). Default: 30,000
    /// per second of confirmation load (cold + warm)
    #[arg(long)]
    signed_requests: Option<usize>,
    /// the share of confirmations (percent) whose patient consents at the reader to the
    /// drug and checkup information (R2): each such confirmation also records two consents
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    consent_percent: u8,
    /// the share of confirmations (percent) identified by PIN instead of the face: each such
    /// assertion carries the chip's signature over the central's challenge, as the chip gives
    /// it once the PIN is accepted (the PIN step is the reader's and not measured), and the
    /// central checks it under the card's registered key. Cards without a PIN stay on the
    /// face
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pin_percent: u8,
    /// write + fdatasync samples of the disk, in --data
    #[arg(long, default_value_t = 300)]
    fsync_samples: usize,
    /// folder for the benchmark registries (reused between runs) and the fsync probe
    #[arg(long, default_value = "data/bench")]
    data: PathBuf,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// worker threads of the server runtime
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// SQLite: reader connections whose map of the registry is warmed before the server
    /// starts, as `onshi central` does (`--warm-readers`); 0 = none, a cold start
    #[arg(long, default_value_t = crate::WARM_READERS)]
    warm_readers: usize,
    /// SQLite: before the serving store opens the registry (after the cards are drawn), drop
    /// the registry file and the history file from the OS cache, as a restart of the machine
    /// would, so that the cold measurement is that of a start after a reboot: every page not
    /// yet read comes from the disk. Needs no privilege; the line printed says how much the
    /// cache still held
    #[arg(long)]
    drop_os_cache: bool,
    /// seconds of outage searches (R14, `POST /v1/outage/search`) per concurrency, after the
    /// confirmations: first one connection, then --concurrency; 0 = none
    #[arg(long, default_value_t = 5.0)]
    outage_seconds: f64,
    /// instead of the benchmark: sign requests for wrk (scripts/wrk-confirm.lua) against a
    /// running `onshi central` at this address (http://127.0.0.1:PORT); its nonces are asked
    /// of that server. Needs --central-db; takes the first of --persons, --seed and
    /// --signed-requests
    #[arg(long, requires = "central_db")]
    sign_for: Option<String>,
    /// with --sign-for: the database that central serves (an SQLite file or a postgres://
    /// URL): the wrk clinic and its reader are registered in it
    #[arg(long)]
    central_db: Option<Db>,
    /// with --sign-for: the file of signed requests (one JSON body a line; the clinic's token
    /// goes to stdout only)
    #[arg(long, default_value = "data/bench/wrk-requests.txt")]
    out: PathBuf,
}

/// Above this share of error answers the run fails.
const MAX_ERROR_SHARE: f64 = 0.001;

struct Figures {
    /// answers that count: 200 without an error
    ok: u64,
    /// non-200 answers, by status
    http_errors: BTreeMap<u16, u64>,
    /// 200 answers carrying an error, by class
    refused: BTreeMap<String, u64>,
    secs: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    /// CPU time (user + system) this process spent, server and client together
    cpu_secs: f64,
    /// page faults this process took (minor: a page mapped from the OS cache; major: read
    /// from the disk), server and client together
    faults: Faults,
    /// CPU time the whole machine spent busy (every process: a database server's too), and
    /// the share of the machine's CPU time that was busy, from /proc/stat
    machine_cpu_secs: f64,
    machine_busy: f64,
    /// the pre-signed requests ran out before the time was up
    used_up: bool,
    /// the load cut into consecutive slices, when asked for
    slices: Vec<Slice>,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }
    /// CPU microseconds per counted answer: stable on a busy machine, where wall-clock rates
    /// are not.
    fn cpu_us(&self) -> f64 {
        self.cpu_secs * 1e6 / self.ok.max(1) as f64
    }
    /// The machine's busy CPU microseconds per counted answer (every process on it).
    fn machine_cpu_us(&self) -> f64 {
        self.machine_cpu_secs * 1e6 / self.ok.max(1) as f64
    }
    /// Minor page faults per counted answer.
    fn minor_faults_per_answer(&self) -> f64 {
        self.faults.minor as f64 / self.ok.max(1) as f64
    }
    fn errors(&self) -> u64 {
        self.http_errors.values().sum::<u64>() + self.refused.values().sum::<u64>()
    }
    fn answers(&self) -> u64 {
        self.ok + self.errors()
    }
    fn describe_errors(&self) -> String {
        if self.errors() == 0 {
            return "errors 0".into();
        }
        let mut parts: Vec<String> = self
            .http_errors
            .iter()
            .map(|(s, n)| format!("HTTP {s}×{n}"))
            .collect();
        parts.extend(self.refused.iter().map(|(c, n)| format!("{c}×{n}")));
        format!("errors {} ({})", self.errors(), parts.join(", "))
    }
    fn line(&self, what: &str) -> String {
        format!(
            "{what}: {:>8.0} /s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  cpu {:>6.1} µs/answer (machine {:.1} µs, {:.0} % busy)  page faults {:.2}/answer ({} major)  {} answers in {:.1} s, {}{}",
            self.rate(),
            self.p50_us as f64 / 1e3,
            self.p99_us as f64 / 1e3,
            self.max_us as f64 / 1e3,
            self.cpu_us(),
            self.machine_cpu_us(),
            self.machine_busy * 100.0,
            self.minor_faults_per_answer(),
            self.faults.major,
            self.ok,
            self.secs,
            self.describe_errors(),
            if self.used_up {
                " (the pre-signed requests ran out: ended early)"
            } else {
                ""
            }
        )
    }
}

fn describe_cache_drop(d: &onshi_store::sqlite::OsCacheDrop) -> String {
    format!(
        "{} dropped from the OS cache: {:.2} of {:.2} GB held before, {:.3} GB after",
        d.file.display(),
        d.before as f64 / 1e9,
        d.len as f64 / 1e9,
        d.after as f64 / 1e9
    )
}

/// The system's clock ticks per second (the unit of /proc's CPU times).
fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// A field of /proc/self/stat by its number in proc(5) (the command, field 2, is skipped
/// whole: it is parenthesised and may hold blanks); 0 when it cannot be read.
fn self_stat_field(stat: &str, field: usize) -> u64 {
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(field - 3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn self_stat() -> String {
    std::fs::read_to_string("/proc/self/stat").unwrap_or_default()
}

/// This process's CPU time so far (user + system: fields 14 and 15 of /proc/self/stat).
fn process_cpu_secs() -> f64 {
    let stat = self_stat();
    (self_stat_field(&stat, 14) + self_stat_field(&stat, 15)) as f64 / clock_ticks_per_sec()
}

/// How many maps of the registry file the process holds after `what` (one per reader that
/// read through its map).
fn print_maps(n: u64, what: &str, s: &onshi_store::SqliteStore) {
    println!(
        "persons={n}: maps of the registry file after the {what}: {}",
        s.registry_maps()
    );
}

/// Page faults of this process so far.
#[derive(Clone, Copy, Default)]
struct Faults {
    minor: u64,
    major: u64,
}

impl std::ops::Sub for Faults {
    type Output = Faults;
    fn sub(self, o: Faults) -> Faults {
        Faults {
            minor: self.minor.saturating_sub(o.minor),
            major: self.major.saturating_sub(o.major),
        }
    }
}

/// This process's page faults so far (minflt and majflt: fields 10 and 12 of /proc/self/stat).
fn process_faults() -> Faults {
    let stat = self_stat();
    Faults {
        minor: self_stat_field(&stat, 10),
        major: self_stat_field(&stat, 12),
    }
}

/// The whole machine's CPU time so far from the first line of /proc/stat, in seconds summed
/// over its CPUs: (busy, all). Busy is every state but idle and iowait; steal (time a
/// hypervisor gave to others) counts as busy, since it was not this machine's to use.
fn machine_cpu_secs() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0.0, 0.0);
    };
    let Some(line) = stat.lines().next().filter(|l| l.starts_with("cpu ")) else {
        return (0.0, 0.0);
    };
    // user nice system idle iowait irq softirq steal (guest times are inside user and nice)
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let all: f64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    let t = clock_ticks_per_sec();
    ((all - idle) / t, all / t)
}

/// The machine's 1-minute load average, for the record.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

struct Fsync {
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

/// The disk's durable-write latency where the benchmark keeps its data: a 4 KiB block written
/// in place (cycling over 1 MiB, as a WAL is rewritten after a checkpoint) and `fdatasync`ed,
/// `samples` times.
fn fsync_probe(dir: &Path, samples: usize) -> Result<Fsync> {
    use std::os::unix::fs::FileExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(".fsync-probe");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.set_len(1 << 20)?;
    f.sync_all()?;
    let block = [0x5au8; 4096];
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples.max(1) {
        let t = Instant::now();
        f.write_all_at(&block, (i % 256) as u64 * 4096)?;
        f.sync_data()?;
        lat.push(t.elapsed().as_micros() as u64);
    }
    drop(f);
    std::fs::remove_file(&path).ok();
    lat.sort_unstable();
    Ok(Fsync {
        p50_us: percentile(&lat, 0.50),
        p99_us: percentile(&lat, 0.99),
        max_us: *lat.last().unwrap_or(&0),
    })
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        0
    } else {
        sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
    }
}

struct Row {
    persons: u64,
    fsync: Fsync,
    cold: Figures,
    health: Figures,
    confirm: Figures,
    /// outage searches over HTTP: one connection, then --concurrency
    outage: Option<(Figures, Figures)>,
}

pub fn run(a: BenchArgs) -> Result<std::process::ExitCode> {
    if a.persons.is_empty() {
        bail!("--persons: give at least one registry size");
    }
    if a.drop_os_cache && a.db.is_some() {
        bail!(
            "--drop-os-cache: the registry's pages are the PostgreSQL server's to keep (its \
             shared buffers and the OS cache under them); the option is for SQLite files"
        );
    }
    if let (Some(url), Some(db)) = (&a.sign_for, &a.central_db) {
        sign_for_wrk(&a, url, db)?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let backend = match &a.db {
        Some(u) => Db::Postgres(u.clone()).display(),
        None => format!("SQLite under {}", a.data.display()),
    };
    println!(
        "onshi bench: {backend}; {} connections, {} server threads, cold {} s, warm {} s; load average {} at the start; clock ticks {}/s",
        a.concurrency,
        a.server_threads,
        a.cold_seconds,
        a.seconds,
        load_average(),
        clock_ticks_per_sec()
    );
    let mut rows = Vec::new();
    for &n in &a.persons {
        let prepared = prepare(&a, n)?;
        let fsync = fsync_probe(&a.data, a.fsync_samples)?;
        println!(
            "persons={n}: fsync (4 KiB write + fdatasync in {}, {} samples): p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            a.data.display(),
            a.fsync_samples,
            fsync.p50_us as f64 / 1e3,
            fsync.p99_us as f64 / 1e3,
            fsync.max_us as f64 / 1e3
        );
        let Measured {
            cold,
            health,
            confirm,
            outage,
        } = measure(&a, &prepared, n)?;
        println!("persons={n}: {}", cold.line("card confirm, cold"));
        for s in &cold.slices {
            println!("persons={n}:   cold {}", s.line());
        }
        println!("persons={n}: {}", health.line("/healthz          "));
        println!("persons={n}: {}", confirm.line("card confirm, warm"));
        if let Some((one, many)) = &outage {
            println!("persons={n}: {}", one.line("outage search, 1 connection"));
            println!(
                "persons={n}: {}",
                many.line(&format!("outage search, {} connections", a.concurrency))
            );
        }
        println!(
            "persons={n}: ratio confirm / healthz {:.2} (by cpu {:.2}, by the machine's cpu {:.2}); load average {}",
            confirm.rate() / health.rate(),
            health.cpu_us() / confirm.cpu_us(),
            health.machine_cpu_us() / confirm.machine_cpu_us(),
            load_average()
        );
        rows.push(Row {
            persons: n,
            fsync,
            cold,
            health,
            confirm,
            outage,
        });
    }
    Ok(verdicts(&a, &rows))
}

/// One line per target; the exit status fails only on error answers (the targets not met
/// are reported, not hidden behind a failure).
fn verdicts(a: &BenchArgs, rows: &[Row]) -> std::process::ExitCode {
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return std::process::ExitCode::FAILURE;
    };
    let at = |r: &Row| format!("at {} persons", r.persons);
    if last.persons < 10_000_000 {
        println!(
            "verdict: (the targets are stated at 10,000,000 persons; the largest size measured here is {})",
            last.persons
        );
    }
    let ratio = last.confirm.rate() / last.health.rate();
    println!(
        "verdict: confirmations ≥ 0.5× the trivial endpoint: {} ({}: {:.0}/s vs /healthz {:.0}/s, ratio {ratio:.2})",
        mark(ratio >= 0.5),
        at(last),
        last.confirm.rate(),
        last.health.rate()
    );
    let bound_us = |r: &Row| (3 * r.fsync.p99_us).max(5_000);
    for (what, f) in [("warm", &last.confirm), ("cold", &last.cold)] {
        let secs = if what == "cold" {
            format!(
                ", the first {} s after start{}",
                a.cold_seconds,
                if a.drop_os_cache {
                    " with the files dropped from the OS cache, as after a reboot"
                } else {
                    " (the OS cache as the machine had it)"
                }
            )
        } else {
            String::new()
        };
        println!(
            "verdict: p99 ≤ max(5 ms, 3× fsync p99), {what}: {} ({}{secs}, {} connections: p99 {:.2} ms; fsync p99 {:.2} ms → bound {:.2} ms)",
            mark(f.ok > 0 && f.p99_us <= bound_us(last)),
            at(last),
            a.concurrency,
            f.p99_us as f64 / 1e3,
            last.fsync.p99_us as f64 / 1e3,
            bound_us(last) as f64 / 1e3
        );
    }
    // The load is a closed loop: every connection waits for its answer before it sends the
    // next, so the mean latency is the connections divided by the rate (Little's law). A
    // p99 within the bound needs at least that rate; printed so that the p99 target is read
    // together with the throughput it implies.
    let needed = a.concurrency as f64 / (bound_us(last) as f64 / 1e6);
    println!(
        "verdict: (closed loop: mean latency = {} connections / rate, so a p99 within {:.2} ms needs more than {needed:.0} confirmations/s; warm {:.0}/s {}, mean {:.2} ms)",
        a.concurrency,
        bound_us(last) as f64 / 1e3,
        last.confirm.rate(),
        at(last),
        a.concurrency as f64 / last.confirm.rate().max(1e-9) * 1e3
    );
    if rows.len() > 1 {
        let scale = last.confirm.rate() / first.confirm.rate();
        println!(
            "verdict: rate at the largest size ≥ 0.9× rate at the smallest: {} ({:.0}/s at {} persons vs {:.0}/s at {} persons: {scale:.2})",
            mark(scale >= 0.9),
            last.confirm.rate(),
            last.persons,
            first.confirm.rate(),
            first.persons
        );
    } else {
        println!(
            "verdict: rate at the largest size ≥ 0.9× rate at the smallest: not measured (one size)"
        );
    }
    match &last.outage {
        Some((one, many)) => {
            for (conns, f) in [(1, one), (a.concurrency, many)] {
                println!(
                    "verdict: outage search through HTTP p99 ≤ 5 ms, {conns} connection{}: {} ({}: p99 {:.2} ms, {:.0} searches/s, each with its audit line committed)",
                    if conns == 1 { "" } else { "s" },
                    mark(f.ok > 0 && f.p99_us <= 5_000),
                    at(last),
                    f.p99_us as f64 / 1e3,
                    f.rate()
                );
            }
        }
        None => println!("verdict: outage search through HTTP p99 ≤ 5 ms: not measured"),
    }
    let (errors, answers) = rows
        .iter()
        .flat_map(|r| {
            [&r.cold, &r.confirm]
                .into_iter()
                .chain(r.outage.iter().flat_map(|(x, y)| [x, y]))
        })
        .fold((0, 0), |(e, n), f| (e + f.errors(), n + f.answers()));
    let share = errors as f64 / answers.max(1) as f64;
    let ok = share <= MAX_ERROR_SHARE;
    println!(
        "verdict: error answers ≤ 0.1 %: {} ({errors} of {answers} confirmation and search answers, {:.3} %)",
        mark(ok),
        share * 100.0
    );
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// A benchmark registry of `n` persons, made once and reused.
struct Prepared {
    db: Db,
    keys: PathBuf,
}

/// Makes (or reuses) a registry of `n` persons.
fn prepare(a: &BenchArgs, n: u64) -> Result<Prepared> {
    let dir = a.data.join(format!("p{n}-s{}", a.seed));
    let (db, keys) = match &a.db {
        None => {
            let db = dir.join("central.sqlite");
            let keys = crate::keys::default_path(&db);
            (Db::Sqlite(db), keys)
        }
        Some(url) => {
            if !onshi_store::postgres::is_url(url) {
                bail!(
                    "--db: a postgres://… URL (without it the benchmark uses SQLite files under --data)"
                );
            }
            let name = format!("onshi_bench_p{n}_s{}", a.seed);
            ensure_pg_database(url, &name)?;
            let keys = a
                .data
                .join(format!("pg-p{n}-s{}", a.seed))
                .join("central.keys.json");
            (Db::Postgres(url_with_database(url, &name)), keys)
        }
    };
    std::fs::create_dir_all(keys.parent().unwrap_or(Path::new(".")))?;
    let persons = db.open()?.counts()?.persons;
    if persons > 0 {
        return Ok(Prepared { db, keys });
    }
    std::fs::create_dir_all(&dir)?;
    let synth_dir = dir.join("synth");
    let t = Instant::now();
    let today = onshi_central::Clock::today(&onshi_central::SystemClock);
    // The cards file brings each certificate's public key, as an issuer's would: derived
    // here, on the issuer's side, from the card world's secret, and timed with the synth.
    crate::synth(&synth_dir, n, a.seed, today, Some(&db.cards_path(&keys)))?;
    eprintln!(
        "synth {n} (with the certificates' keys): {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let report = crate::do_import(
        &db,
        Some(synth_dir.join("qualifications.csv")),
        Some(synth_dir.join("cards.csv")),
        Some(keys.clone()),
    )?;
    if !report.committed {
        bail!(
            "benchmark registry did not import: {:?}",
            report.errors.first()
        );
    }
    eprintln!(
        "import {n} into {}: {:.1} s ({} rows)",
        db.display(),
        t.elapsed().as_secs_f64(),
        report.rows_read
    );
    std::fs::remove_dir_all(&synth_dir).ok();
    Ok(Prepared { db, keys })
}

/// `url` with its database name replaced by `name` (the query string kept).
fn url_with_database(url: &str, name: &str) -> String {
    let auth = url.find("://").map(|i| i + 3).unwrap_or(0);
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let base = match head[auth..].find('/') {
        Some(slash) => &head[..auth + slash],
        None => head,
    };
    format!("{base}/{name}{query}")
}

/// Creates the database `name` on the server of `url` unless it exists.
fn ensure_pg_database(url: &str, name: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("connecting to {}", Db::Postgres(url.into()).display()))?;
        let driver = tokio::spawn(conn);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if !exists {
            // the name is made here from numbers only: safe to splice
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .with_context(|| format!("CREATE DATABASE {name}"))?;
            eprintln!("created database {name}");
        }
        drop(client);
        let _ = driver.await;
        anyhow::Ok(())
    })
}

/// `want` card serials drawn uniformly (with replacement) from the whole registry of `n`
/// persons: a random person index, its card serial, kept if the store holds that card
/// active and unexpired. Read through a store of its own, closed before the measurement.
fn draw_cards(db: &Db, n: u64, seed: u64, want: usize) -> Result<Vec<String>> {
    let store = db.open()?;
    let today = onshi_central::Clock::today(&onshi_central::SystemClock);
    let threads = 2usize;
    let t = Instant::now();
    let drawn = std::thread::scope(|sc| -> Result<Vec<(Vec<String>, u64)>> {
        let mut hs = Vec::new();
        for k in 0..threads {
            let store = &store;
            let quota = want / threads + usize::from(k < want % threads);
            hs.push(sc.spawn(move || -> Result<(Vec<String>, u64)> {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                let mut rng = rand::rngs::SmallRng::seed_from_u64(u64::from_le_bytes(b));
                let mut v = Vec::with_capacity(quota);
                let mut tries = 0u64;
                while v.len() < quota {
                    tries += 1;
                    if tries > 100 * quota as u64 + 10_000 {
                        bail!(
                            "only {} usable cards in {tries} draws: is this registry made with --seed {seed}?",
                            v.len()
                        );
                    }
                    let serial = onshi_synth::card_serial(seed, rng.random_range(0..n));
                    if let Some(c) = store.card(&serial)?
                        && c.status == CertStatus::Active
                        && c.cert_expiry >= today
                    {
                        v.push(serial);
                    }
                }
                Ok((v, tries))
            }));
        }
        hs.into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a drawing thread panicked"))?
            })
            .collect()
    })?;
    let tries: u64 = drawn.iter().map(|(_, t)| t).sum();
    let serials: Vec<String> = drawn.into_iter().flat_map(|(v, _)| v).collect();
    eprintln!(
        "drew {} cards from {n} persons in {tries} draws ({:.0} % usable) in {:.1} s",
        serials.len(),
        serials.len() as f64 * 100.0 / tries.max(1) as f64,
        t.elapsed().as_secs_f64()
    );
    Ok(serials)
}

/// The application state as `onshi central` builds it, with nonces that outlive the
/// pre-signing.
fn state_over(opened: Opened, cards: Arc<onshi_card::CardStore>) -> onshi_web::AppState {
    let mut state = match opened {
        Opened::Sqlite(s) => crate::app_state(s, cards),
        Opened::Postgres(s) => crate::app_state(s, cards),
    };
    state.central = state
        .central
        .clone()
        .with_nonce_ttl(Duration::from_secs(3600));
    state
}

struct Measured {
    cold: Figures,
    health: Figures,
    confirm: Figures,
    outage: Option<(Figures, Figures)>,
}

fn measure(a: &BenchArgs, p: &Prepared, n: u64) -> Result<Measured> {
    let want = a
        .signed_requests
        .unwrap_or(((a.seconds + a.cold_seconds) * 30_000.0).ceil() as usize)
        .max(1);
    let serials = draw_cards(&p.db, n, a.seed, want)?;
    // as after a reboot: the files on the disk only, before the serving store opens them (the
    // drawing's store is closed; the line says what the cache still held)
    if let (true, Db::Sqlite(path)) = (a.drop_os_cache, &p.db) {
        for d in onshi_store::sqlite::drop_os_cache(path)? {
            eprintln!("persons={n}: {}", describe_cache_drop(&d));
        }
    }
    // the serving store opened fresh: the "cold" measurement starts with its first requests
    p.db.load_keys(&p.keys)?;
    let opened = p.db.open_typed()?;
    let store: Arc<dyn CentralStore> = opened.shared();
    let token = crate::add_facility(&*store, "1319999999", "ベンチマーク診療所")?;
    let cards = Arc::new(crate::open_cards(&p.db.cards_path(&p.keys))?);
    let facility = onshi_domain::numbers::MedicalInstitutionCode::parse("1319999999")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sqlite = match &opened {
        Opened::Sqlite(s) => Some(s.clone()),
        Opened::Postgres(_) => None,
    };
    let state = state_over(opened, cards.clone());
    // a certified reader of the bench clinic; each request is its signed assertion over a
    // nonce issued beforehand
    let key = onshi_card::ReaderKey::generate("bench-reader")?;
    state
        .central
        .register_reader(&facility, &key.id, &key.public_key_hex())?;
    let reader = onshi_card::CertifiedReader::new(key, cards);

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.server_threads)
        .enable_all()
        .build()?;
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;

    let t = Instant::now();
    let date = onshi_central::Clock::today(&onshi_central::SystemClock);
    let nonces = serials
        .iter()
        .map(|_| Ok(state.central.issue_nonce(&facility)?.nonce))
        .collect::<Result<Vec<String>>>()?;
    let head = format!(
        "POST /v1/confirmations/card HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: "
    );
    let chips = onshi_card::Reader::new(reader.cards(), reader.cards().secrets());
    let by_pin = AtomicUsize::new(0);
    let sign = |range: std::ops::Range<usize>| -> Result<Vec<Vec<u8>>> {
        range
            .map(|i| {
                // spread evenly over the set: request i consents when i mod 100 falls in the share
                let given = (i % 100) < usize::from(a.consent_percent);
                let consents = onshi_domain::medinfo::MedicalConsents {
                    drug: given,
                    checkup: given,
                    ..Default::default()
                };
                // spread evenly too, offset from the consents' share
                let by_pin_here = ((i + 50) % 100) < usize::from(a.pin_percent)
                    && chips.has_pin(&serials[i])? == Some(true);
                let assertion = if by_pin_here {
                    let challenge = onshi_card::assertion::card_challenge(
                        facility.as_str(),
                        &nonces[i],
                        &serials[i],
                    );
                    let mut assertion = onshi_card::CardAssertion {
                        reader_id: reader.id().to_string(),
                        nonce: nonces[i].clone(),
                        card_serial: serials[i].clone(),
                        confirmation_date: date,
                        limit_consent: false,
                        medical_consent: consents,
                        identity: onshi_domain::card::IdentityOutcome::Verified {
                            method: onshi_domain::codes::IdentityMethod::Pin,
                            staff_id: None,
                        },
                        card_signature: Some(
                            reader
                                .cards()
                                .secrets()
                                .chip_signature(&serials[i], &challenge),
                        ),
                        reader_signature: None,
                    };
                    reader.sign_assertion(facility.as_str(), &mut assertion);
                    by_pin.fetch_add(1, Ordering::Relaxed);
                    assertion
                } else {
                    reader.assert_with_consents(
                        facility.as_str(),
                        &nonces[i],
                        &serials[i],
                        date,
                        false,
                        consents,
                        &onshi_card::IdentityAttempt::Face { matched: true },
                    )?
                };
                let body = serde_json::to_string(&assertion)?;
                Ok(format!("{head}{}\r\n\r\n{body}", body.len()).into_bytes())
            })
            .collect()
    };
    let half = serials.len() / 2;
    let (x, y) = std::thread::scope(|sc| {
        let h = sc.spawn(|| sign(0..half));
        let y = sign(half..serials.len());
        (h.join(), y)
    });
    let mut confirm_reqs = x.map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
    confirm_reqs.extend(y?);
    eprintln!(
        "signed {} assertions ({} by PIN) in {:.1} s",
        confirm_reqs.len(),
        by_pin.load(Ordering::Relaxed),
        t.elapsed().as_secs_f64()
    );
    let confirm = Requests::Once {
        reqs: Arc::new(confirm_reqs),
        next: Arc::new(AtomicUsize::new(0)),
    };
    let health = Requests::Repeat(Arc::new(
        format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes(),
    ));

    if let Some(s) = &sqlite
        && a.warm_readers > 0
    {
        eprintln!(
            "persons={n}: {}",
            crate::describe_warming(&s.warm_map(a.warm_readers)?)
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = state.clone();
    server_rt.spawn(async move {
        let _ = onshi_web::serve(listener, served, async {
            let _ = stop_rx.await;
        })
        .await;
    });
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.1));
    let cold_slice = (a.cold_slice_seconds > 0.0).then(|| secs(a.cold_slice_seconds));
    let cold = client_rt.block_on(load(
        addr,
        a.concurrency,
        secs(a.cold_seconds),
        &confirm,
        cold_slice,
    ))?;
    let health = client_rt.block_on(load(addr, a.concurrency, secs(a.seconds), &health, None))?;
    let warm = client_rt.block_on(load(addr, a.concurrency, secs(a.seconds), &confirm, None))?;
    println!(
        "persons={n}: reader signatures (cold + warm): {}",
        state.central.signature_stats()
    );
    if let Some(s) = &sqlite {
        print_maps(n, "confirmations", s);
    }
    let outage = if a.outage_seconds > 0.0 {
        // enough that neither concurrency runs out: 20,000 per second of search load (each
        // concurrency starts from the first; a search can be sent again, but is not here)
        let want = ((a.outage_seconds * 20_000.0) as usize).max(1_000);
        let reqs = outage_requests(&*store, &state, &facility, n, &addr, &token, want)?;
        let reqs = Arc::new(reqs);
        let mut figures = Vec::new();
        let groups = || state.outage_service().map(|s| s.audit_groups());
        for conns in [1, a.concurrency] {
            let once = Requests::Once {
                reqs: reqs.clone(),
                next: Arc::new(AtomicUsize::new(0)),
            };
            let before = groups();
            figures.push(client_rt.block_on(load(
                addr,
                conns,
                secs(a.outage_seconds),
                &once,
                None,
            ))?);
            if let (Some((l0, g0)), Some((l1, g1))) = (before, groups()) {
                println!(
                    "persons={n}: outage audit, {conns} connection(s): {} lines committed in {} groups (mean {:.1} per group)",
                    l1 - l0,
                    g1 - g0,
                    (l1 - l0) as f64 / (g1 - g0).max(1) as f64
                );
            }
        }
        close_outage(&*store, &facility)?;
        if let Some(s) = &sqlite {
            print_maps(n, "outage searches", s);
        }
        let many = figures.pop();
        figures.pop().zip(many)
    } else {
        None
    };
    let _ = stop_tx.send(());
    server_rt.shutdown_timeout(Duration::from_secs(5));
    Ok(Measured {
        cold,
        health,
        confirm: warm,
        outage,
    })
}

const STAMP: &str = "%Y-%m-%dT%H:%M:%S%.3f%:z";

/// Takes the bench clinic through the outage procedure up to `enabled` (R13), as the call
/// centre would, and returns HTTP requests of `POST /v1/outage/search` (R14) for persons drawn
/// uniformly from the whole registry, typed as staff type them (kana in full or half width or
/// hiragana, or without the space; with the address as far as the town, or the insurer's
/// name). Every
/// search is first run in-process without its audit (`lookup`) and must find its person.
#[allow(clippy::too_many_arguments)] // the bench's state, passed down explicitly
fn outage_requests(
    store: &dyn CentralStore,
    state: &onshi_web::AppState,
    facility: &onshi_domain::numbers::MedicalInstitutionCode,
    n: u64,
    addr: &std::net::SocketAddr,
    token: &str,
    want: usize,
) -> Result<Vec<Vec<u8>>> {
    use onshi_store::outage::{NewRequest, Step};
    let svc = state
        .outage_service()
        .context("the server has no outage mode")?;
    close_outage(store, facility)?;
    let now = onshi_central::Clock::now_jst(&onshi_central::SystemClock);
    let at = now.format(STAMP).to_string();
    store.set_facility_contact(facility, "0300000000", None, &at)?;
    let r = store.create_request(&NewRequest {
        facility: facility.clone(),
        facility_name: "ベンチマーク診療所".into(),
        contact_person: "bench".into(),
        reason: "benchmark of the outage search".into(),
        at: at.clone(),
        by: "operator:bench".into(),
    })?;
    for step in [
        Step::Verify {
            phone: "0300000000".into(),
        },
        Step::IssueForm {
            email: "bench@example.jp".into(),
        },
        Step::Enable {
            until: (now + chrono::Duration::hours(1)).format(STAMP).to_string(),
        },
    ] {
        store.apply_step(r.id, &step, &at, "operator:bench")?;
    }
    let today = now.date_naive().format("%Y-%m-%d").to_string();
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(u64::from_le_bytes(b));
    let t = Instant::now();
    let mut out = Vec::with_capacity(want);
    let mut tries = 0u64;
    while out.len() < want {
        tries += 1;
        if tries > 10 * want as u64 + 1_000 {
            bail!("only {} persons found in {tries} draws", out.len());
        }
        let id = rng.random_range(1..=n as i64);
        let Some(p) = store.person(id)? else {
            continue;
        };
        let kana = &p.person.name_kana;
        // Half-width katakana has no ヰ ヱ ヮ ヵ ヶ: typed in half width such a name becomes
        // another name under the exact-match key (ヱ ≠ エ), so it is typed in full width.
        let has_half_width = !kana.contains(['ヰ', 'ヱ', 'ヮ', 'ヵ', 'ヶ']);
        let typed = match rng.random_range(0..4u8) {
            0 => kana.clone(),
            1 if has_half_width => onshi_domain::kana::to_halfwidth_katakana(kana),
            1 => kana.clone(),
            2 => kana.replace('　', ""),
            _ => kana
                .chars()
                .map(|c| match c {
                    'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
                    c => c,
                })
                .collect(),
        };
        let by_address = rng.random_bool(0.5) && p.person.address.is_some();
        let insurer = if by_address {
            None
        } else {
            match store.qualifications(id)?.first() {
                Some(q) => Some(q.qualification.insurer_name.clone()),
                None => continue,
            }
        };
        let input = onshi_central::outage::SearchInput {
            staff_id: Some("bench".into()),
            birthdate: Some(p.person.birthdate.format("%Y-%m-%d").to_string()),
            sex: Some(p.person.sex.code().into()),
            confirmation_date: Some(today.clone()),
            name: None,
            name_kana: Some(typed),
            address: if by_address {
                // as far as the town, before the block numbers
                p.person
                    .address
                    .as_ref()
                    .map(|a| a.chars().take_while(|c| !c.is_numeric()).collect())
            } else {
                None
            },
            insurer_name: insurer,
        };
        if svc.lookup(&input)?.is_empty() {
            bail!("an outage search found nobody: {input:?}");
        }
        let body = serde_json::to_string(&input)?;
        out.push(
            format!(
                "POST /v1/outage/search HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        );
    }
    eprintln!(
        "drew {} outage searches from {n} persons in {tries} draws, each checked to find its person, in {:.1} s",
        out.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// Ends the bench clinic's outage window, if one is open, so that the next run starts anew.
fn close_outage(
    store: &dyn CentralStore,
    facility: &onshi_domain::numbers::MedicalInstitutionCode,
) -> Result<()> {
    if let Some(r) = store.enabled_request(facility.as_str())? {
        let at = onshi_central::Clock::now_jst(&onshi_central::SystemClock)
            .format(STAMP)
            .to_string();
        store.apply_step(
            r.id,
            &onshi_store::outage::Step::Close,
            &at,
            "operator:bench",
        )?;
    }
    Ok(())
}

/// Signs `--signed-requests` card confirmations for a running central at `url` (loopback
/// only): a clinic and a reader registered in its database `db`, cards drawn from the whole
/// registry, one nonce asked of the server per request. Written one JSON body a line for
/// scripts/wrk-confirm.lua; the nonces live for the server's nonce lifetime (two minutes), so
/// run wrk right after.
fn sign_for_wrk(a: &BenchArgs, url: &str, db: &Db) -> Result<()> {
    let addr: std::net::SocketAddr = url
        .strip_prefix("http://")
        .map(|r| r.trim_end_matches('/'))
        .and_then(|r| r.parse().ok())
        .filter(|s: &std::net::SocketAddr| s.ip().is_loopback())
        .context("--sign-for: http://127.0.0.1:PORT (loopback only)")?;
    let n = a.persons[0];
    let want = a.signed_requests.unwrap_or(150_000).max(1);
    let serials = draw_cards(db, n, a.seed, want)?;
    let store = db.open()?;
    let code = "1319999998";
    let token = crate::add_facility(&*store, code, "wrk ベンチマーク診療所")?;
    let facility = onshi_domain::numbers::MedicalInstitutionCode::parse(code)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let key = onshi_card::ReaderKey::generate(&format!("wrk-{}", hex::encode(b)))?;
    store.register_reader(&onshi_store::ReaderRecord {
        id: key.id.clone(),
        facility: code.to_string(),
        public_key: key.public_key_hex(),
        revoked: false,
    })?;
    let keys = match db {
        Db::Sqlite(p) => crate::keys::default_path(p),
        Db::Postgres(_) => bail!(
            "--central-db: signing for a PostgreSQL central needs its key file; use an SQLite registry"
        ),
    };
    let cards = Arc::new(crate::open_cards(&db.cards_path(&keys))?);
    let reader = onshi_card::CertifiedReader::new(key, cards);
    let t = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let nonces = rt.block_on(async {
        let mut s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let req = format!(
            "POST /v1/confirmations/card/nonce HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
        );
        let mut buf = vec![0u8; 64 * 1024];
        let mut v = Vec::with_capacity(want);
        for _ in 0..want {
            s.write_all(req.as_bytes()).await?;
            let (status, body) = read_response(&mut s, &mut buf).await?;
            if status != 200 {
                bail!("{url} answered {status} to a nonce request");
            }
            let g: serde_json::Value = serde_json::from_slice(&buf[body])?;
            v.push(
                g["nonce"]
                    .as_str()
                    .context("nonce answer without a nonce")?
                    .to_string(),
            );
        }
        anyhow::Ok(v)
    })?;
    let date = onshi_central::Clock::today(&onshi_central::SystemClock);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?,
    );
    for (nonce, serial) in nonces.iter().zip(&serials) {
        let x = reader.assert(
            facility.as_str(),
            nonce,
            serial,
            date,
            false,
            &onshi_card::IdentityAttempt::Face { matched: true },
        )?;
        serde_json::to_writer(&mut out, &x)?;
        std::io::Write::write_all(&mut out, b"\n")?;
    }
    std::io::Write::flush(&mut out)?;
    eprintln!(
        "signed {} requests for {url} in {:.1} s into {}; run wrk now (the nonces expire) with the clinic's token (on stdout) in ONSHI_TOKEN",
        nonces.len(),
        t.elapsed().as_secs_f64(),
        a.out.display(),
    );
    println!("{token}");
    Ok(())
}

/// What a load sends: one request over and over (`/healthz`), or each of a set once.
enum Requests {
    Repeat(Arc<Vec<u8>>),
    Once {
        reqs: Arc<Vec<Vec<u8>>>,
        next: Arc<AtomicUsize>,
    },
}

impl Requests {
    fn share(&self) -> Requests {
        match self {
            Requests::Repeat(r) => Requests::Repeat(r.clone()),
            Requests::Once { reqs, next } => Requests::Once {
                reqs: reqs.clone(),
                next: next.clone(),
            },
        }
    }
    /// The next request to send, `None` once a set is used up.
    fn next(&self) -> Option<&[u8]> {
        match self {
            Requests::Repeat(r) => Some(r.as_slice()),
            Requests::Once { reqs, next } => reqs
                .get(next.fetch_add(1, Ordering::Relaxed))
                .map(Vec::as_slice),
        }
    }
}

struct TaskFigures {
    /// each counted answer: when it came (ms after the load started) and its latency (µs)
    lat: Vec<(u32, u64)>,
    http_errors: BTreeMap<u16, u64>,
    refused: BTreeMap<String, u64>,
}

/// Sends `reqs` over `concurrency` connections for `dur`. With `slice`, the figures also hold
/// the rate and percentiles of each consecutive slice of that length (how a cold start
/// settles).
async fn load(
    addr: std::net::SocketAddr,
    concurrency: usize,
    dur: Duration,
    reqs: &Requests,
    slice: Option<Duration>,
) -> Result<Figures> {
    let start = Instant::now();
    let cpu0 = process_cpu_secs();
    let faults0 = process_faults();
    let machine0 = machine_cpu_secs();
    let deadline = start + dur;
    let used_up = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let reqs = reqs.share();
        let used_up = used_up.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let mut f = TaskFigures {
                lat: Vec::with_capacity(100_000),
                http_errors: BTreeMap::new(),
                refused: BTreeMap::new(),
            };
            let mut buf = vec![0u8; 64 * 1024];
            while Instant::now() < deadline {
                let Some(req) = reqs.next() else {
                    used_up.store(true, Ordering::Relaxed);
                    break;
                };
                let t = Instant::now();
                s.write_all(req).await?;
                let (status, body) = read_response(&mut s, &mut buf).await?;
                let us = t.elapsed().as_micros() as u64;
                let at = u32::try_from(start.elapsed().as_millis()).unwrap_or(u32::MAX);
                if status != 200 {
                    *f.http_errors.entry(status).or_default() += 1;
                } else if let Some(class) = error_class(&buf[body]) {
                    *f.refused.entry(class).or_default() += 1;
                } else {
                    f.lat.push((at, us));
                }
            }
            anyhow::Ok(f)
        }));
    }
    let mut all = Vec::new();
    let mut http_errors = BTreeMap::new();
    let mut refused = BTreeMap::new();
    for t in tasks {
        let f = t.await.context("load task")??;
        all.extend(f.lat);
        for (k, v) in f.http_errors {
            *http_errors.entry(k).or_default() += v;
        }
        for (k, v) in f.refused {
            *refused.entry(k).or_default() += v;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = process_cpu_secs() - cpu0;
    let faults = process_faults() - faults0;
    let machine1 = machine_cpu_secs();
    let machine_cpu_secs = machine1.0 - machine0.0;
    let machine_all = machine1.1 - machine0.1;
    let slices = match slice {
        Some(d) if !d.is_zero() && d < dur => slices_of(&all, d, dur.as_secs_f64(), secs),
        _ => Vec::new(),
    };
    let mut all: Vec<u64> = all.into_iter().map(|(_, us)| us).collect();
    all.sort_unstable();
    Ok(Figures {
        ok: all.len() as u64,
        http_errors,
        refused,
        secs,
        p50_us: percentile(&all, 0.50),
        p99_us: percentile(&all, 0.99),
        max_us: *all.last().unwrap_or(&0),
        cpu_secs,
        faults,
        machine_cpu_secs,
        machine_busy: if machine_all > 0.0 {
            machine_cpu_secs / machine_all
        } else {
            0.0
        },
        used_up: used_up.load(Ordering::Relaxed),
        slices,
    })
}

/// The answers `(ms after the start, latency µs)` cut into consecutive slices of `d` over the
/// load's planned length `planned` (seconds); the last slice ends at `secs`, when the load
/// ended (the answers that came after the planned end count in it).
fn slices_of(answers: &[(u32, u64)], d: Duration, planned: f64, secs: f64) -> Vec<Slice> {
    let ms = d.as_millis().max(1) as u64;
    let n = ((planned * 1000.0).round() as u64).div_ceil(ms).max(1) as usize;
    let mut by: Vec<Vec<u64>> = vec![Vec::new(); n];
    for &(at, us) in answers {
        by[(u64::from(at) / ms).min(n as u64 - 1) as usize].push(us);
    }
    by.into_iter()
        .enumerate()
        .map(|(i, mut lat)| {
            lat.sort_unstable();
            let from = (i as u64 * ms) as f64 / 1e3;
            let to = if i + 1 == n {
                secs.max(from)
            } else {
                ((i + 1) as u64 * ms) as f64 / 1e3
            };
            Slice {
                from,
                to,
                ok: lat.len() as u64,
                p50_us: percentile(&lat, 0.50),
                p99_us: percentile(&lat, 0.99),
                max_us: *lat.last().unwrap_or(&0),
            }
        })
        .collect()
}

/// A slice of a load's time ([`slices_of`]).
struct Slice {
    /// seconds after the load started
    from: f64,
    to: f64,
    ok: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

impl Slice {
    fn line(&self) -> String {
        format!(
            "{:>5.0}–{:<3.0} s: {:>8.0} /s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
            self.from,
            self.to,
            self.ok as f64 / (self.to - self.from).max(1e-3),
            self.p50_us as f64 / 1e3,
            self.p99_us as f64 / 1e3,
            self.max_us as f64 / 1e3
        )
    }
}

/// The error class of a refused confirmation (a 200 answer with `"error":{"class":…}`).
fn error_class(body: &[u8]) -> Option<String> {
    let at = find(body, b"\"error\":{")?;
    let rest = &body[at..];
    let class = find(rest, b"\"class\":\"").map(|c| &rest[c + 9..]);
    Some(match class {
        Some(c) => String::from_utf8_lossy(&c[..c.iter().position(|&b| b == b'"').unwrap_or(0)])
            .into_owned(),
        None => "error".into(),
    })
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns the status code and where
/// the body is in `buf`.
async fn read_response(s: &mut TcpStream, buf: &mut [u8]) -> Result<(u16, std::ops::Range<usize>)> {
    let mut filled = 0;
    loop {
        let n = s.read(&mut buf[filled..]).await?;
        if n == 0 {
            bail!("server closed the connection");
        }
        filled += n;
        if let Some(end) = find(&buf[..filled], b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).context("response head")?;
            let status: u16 = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .context("status line")?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .context("content-length")?;
            let total = end + 4 + len;
            if total > buf.len() {
                bail!("response larger than the buffer");
            }
            while filled < total {
                let n = s.read(&mut buf[filled..total]).await?;
                if n == 0 {
                    bail!("server closed the connection mid-body");
                }
                filled += n;
            }
            return Ok((status, end + 4..total));
        }
        if filled == buf.len() {
            bail!("response head too large");
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_is_cut_into_slices_by_when_each_answer_came() {
        // 25 s of answers: slow in the first 10 s, fast after; one answer after the deadline
        let mut answers = Vec::new();
        for i in 0..100u32 {
            answers.push((i * 100, 20_000 + u64::from(i)));
        }
        for i in 0..1000u32 {
            answers.push((10_000 + i * 15, 1_000));
        }
        answers.push((25_400, 3_000));
        let s = slices_of(&answers, Duration::from_secs(10), 25.0, 25.2);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].from, s[0].to, s[0].ok), (0.0, 10.0, 100));
        assert_eq!(s[0].p50_us, 20_050);
        assert_eq!(s[0].p99_us, 20_099);
        assert_eq!((s[1].from, s[1].to, s[1].ok), (10.0, 20.0, 667));
        assert_eq!(s[1].p99_us, 1_000);
        // the last slice ends with the load, and the late answer is counted in it
        assert_eq!((s[2].from, s[2].to, s[2].ok), (20.0, 25.2, 334));
        assert_eq!(s[2].max_us, 3_000);
        assert!(s[2].line().contains("p99   1.00 ms"), "{}", s[2].line());
        assert!(slices_of(&[], Duration::from_secs(10), 5.0, 5.0)[0].ok == 0);
        // a load planned for 20 s that ended a little late: two slices, the late answers in
        // the second
        let s = slices_of(&answers, Duration::from_secs(10), 20.0, 20.05);
        assert_eq!(s.len(), 2);
        assert_eq!((s[1].from, s[1].to, s[1].ok), (10.0, 20.05, 1001));
    }

    #[test]
    fn stat_fields_are_counted_after_a_command_with_blanks_and_parentheses() {
        // pid (comm) state ppid … minflt(10) cminflt majflt(12) … utime(14) stime(15)
        let stat = "42 (a (b) c) R 1 2 3 4 5 6 700 8 9 10 1100 1200 13 14";
        assert_eq!(self_stat_field(stat, 3), 0); // "R" is not a number
        assert_eq!(self_stat_field(stat, 4), 1);
        assert_eq!(self_stat_field(stat, 10), 700);
        assert_eq!(self_stat_field(stat, 12), 9);
        assert_eq!(self_stat_field(stat, 14), 1100);
        assert_eq!(self_stat_field(stat, 15), 1200);
        assert_eq!(self_stat_field(stat, 40), 0);
        assert_eq!(self_stat_field("", 14), 0);
        // the process's own figures are read at all
        assert!(process_faults().minor > 0);
    }

    #[test]
    fn url_with_database_replaces_only_the_name() {
        assert_eq!(
            url_with_database("postgres://root@127.0.0.1:5432/test", "onshi_bench_p1_s7"),
            "postgres://root@127.0.0.1:5432/onshi_bench_p1_s7"
        );
        assert_eq!(
            url_with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            url_with_database("postgresql://h:5432", "x"),
            "postgresql://h:5432/x"
        );
    }

    #[test]
    fn a_refused_confirmation_reads_as_its_error_class() {
        assert_eq!(
            error_class(
                br#"{"confirmation_id":1,"error":{"class":"assertion_replayed","message":"x"}}"#
            )
            .as_deref(),
            Some("assertion_replayed")
        );
        assert_eq!(error_class(br#"{"confirmation_id":1,"results":[]}"#), None);
    }
}
