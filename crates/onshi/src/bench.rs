//! `onshi bench`: drives card confirmations over HTTP on 127.0.0.1 with concurrency against
//! a registry of a given size, and — in the same run, against the same server — the trivial
//! `/healthz` endpoint as the baseline. Prints confirmations per second, p50/p99 latency and
//! the ratio. Traffic goes to loopback only and every loop is bounded in time.
//!
//! The load generator is a minimal keep-alive HTTP/1.1 client on raw sockets, so that the
//! client's own cost stays small and the same for both endpoints.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use onshi_store::{RegistryRead, SqliteStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Args)]
pub struct BenchArgs {
    /// registry sizes to measure, comma separated (e.g. 10000,1000000)
    #[arg(long, default_value = "10000", value_delimiter = ',')]
    persons: Vec<u64>,
    /// concurrent connections
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// signed card assertions made before the measurement (each nonce is single-use: a
    /// measurement sending more than this counts the replays as errors)
    #[arg(long, default_value_t = 100_000)]
    signed_requests: usize,
    /// seconds per measurement
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// folder for the benchmark registries (reused between runs)
    #[arg(long, default_value = "data/bench")]
    data: PathBuf,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// worker threads of the server runtime
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

struct Figures {
    requests: u64,
    errors: u64,
    secs: f64,
    p50_us: u64,
    p99_us: u64,
    /// CPU time (user + system) this process spent, server and client together
    cpu_secs: f64,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.secs
    }
    /// CPU microseconds per request: stable on a busy machine, where wall-clock rates are not.
    fn cpu_us(&self) -> f64 {
        self.cpu_secs * 1e6 / self.requests.max(1) as f64
    }
}

/// This process's CPU time so far (user + system), from /proc/self/stat.
fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // fields after the parenthesised command: state is field 3, utime 14, stime 15
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

pub fn run(a: BenchArgs) -> Result<()> {
    let mut rows = Vec::new();
    for &n in &a.persons {
        let db = prepare(&a, n)?;
        let (health, confirm) = measure(&a, &db)?;
        println!(
            "persons={n:>9} healthz: {:>9.0} req/s p50 {:>5} µs p99 {:>6} µs cpu {:>5.1} µs/req | card confirm (face): {:>9.0} /s p50 {:>5} µs p99 {:>6} µs cpu {:>5.1} µs/req errors {} | ratio {:.2} (by cpu {:.2})",
            health.rate(),
            health.p50_us,
            health.p99_us,
            health.cpu_us(),
            confirm.rate(),
            confirm.p50_us,
            confirm.p99_us,
            confirm.cpu_us(),
            confirm.errors,
            confirm.rate() / health.rate(),
            health.cpu_us() / confirm.cpu_us()
        );
        rows.push((n, health, confirm));
    }
    if rows.len() > 1 {
        let first = &rows[0];
        for r in &rows[1..] {
            println!(
                "scale: confirm rate at {} persons / at {} persons = {:.2}",
                r.0,
                first.0,
                r.2.rate() / first.2.rate()
            );
        }
    }
    Ok(())
}

/// Makes (or reuses) a registry of `n` persons and returns its database path.
fn prepare(a: &BenchArgs, n: u64) -> Result<PathBuf> {
    let dir = a.data.join(format!("p{n}-s{}", a.seed));
    let db = dir.join("central.sqlite");
    if db.exists() && SqliteStore::open(&db)?.counts()?.persons > 0 {
        return Ok(db);
    }
    std::fs::create_dir_all(&dir)?;
    let synth_dir = dir.join("synth");
    let t = Instant::now();
    let today = onshi_central::Clock::today(&onshi_central::SystemClock);
    crate::synth(&synth_dir, n, a.seed, today)?;
    eprintln!("synth {n}: {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let report = crate::do_import(
        &crate::db::Db::Sqlite(db.clone()),
        Some(synth_dir.join("qualifications.csv")),
        Some(synth_dir.join("cards.csv")),
        None,
    )?;
    if !report.committed {
        bail!(
            "benchmark registry did not import: {:?}",
            report.errors.first()
        );
    }
    eprintln!(
        "import {n}: {:.1} s ({} rows)",
        t.elapsed().as_secs_f64(),
        report.rows_read
    );
    std::fs::remove_dir_all(&synth_dir).ok();
    Ok(db)
}

fn sample_serials(db: &std::path::Path, max: usize) -> Result<Vec<String>> {
    let c = rusqlite::Connection::open(db)?;
    let mut st =
        c.prepare("SELECT serial FROM card WHERE status = 'active' ORDER BY random() LIMIT ?1")?;
    let v = st
        .query_map([max as i64], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    if v.is_empty() {
        bail!("no active cards in {}", db.display());
    }
    Ok(v)
}

fn measure(a: &BenchArgs, db: &std::path::Path) -> Result<(Figures, Figures)> {
    let serials = sample_serials(db, 20_000)?;
    let store = Arc::new(SqliteStore::open(db)?);
    crate::keys::load_or_create(&crate::keys::default_path(db), db)?;
    let token = crate::add_facility(&*store, "1319999999", "ベンチマーク診療所")?;
    let cards = Arc::new(crate::open_cards(&crate::keys::cards_path(db))?);
    let facility = onshi_domain::numbers::MedicalInstitutionCode::parse("1319999999")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = onshi_web::AppState::new(
        onshi_central::Central::new(
            store.clone(),
            store.clone(),
            Arc::new(onshi_central::SystemClock),
        )
        .with_nonce_ttl(Duration::from_secs(3600)),
        store.clone(),
        cards.clone(),
    );
    // a certified reader of the bench clinic; each request is its signed assertion over a
    // nonce issued beforehand (a nonce is single-use, so each body is sent once)
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
    let dur = Duration::from_secs_f64(a.seconds);
    let health_req: Arc<Vec<Vec<u8>>> = Arc::new(vec![
        format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes(),
    ]);
    let date = onshi_central::Clock::today(&onshi_central::SystemClock);
    let make_reqs = |n: usize| -> Result<Arc<Vec<Vec<u8>>>> {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let s = &serials[i % serials.len()];
            let nonce = state.central.issue_nonce(&facility)?.nonce;
            let a = reader.assert(
                facility.as_str(),
                &nonce,
                s,
                date,
                false,
                &onshi_card::IdentityAttempt::Face { matched: true },
            )?;
            let body = serde_json::to_string(&a)?;
            v.push(
                format!(
                    "POST /v1/confirmations/card HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes(),
            );
        }
        Ok(Arc::new(v))
    };
    let warm_reqs = make_reqs(2_000)?;
    let confirm_reqs = make_reqs(a.signed_requests)?;
    // warm-up, then the two measurements
    client_rt.block_on(load(
        addr,
        a.concurrency,
        Duration::from_millis(500),
        warm_reqs,
    ))?;
    let health = client_rt.block_on(load(addr, a.concurrency, dur, health_req))?;
    let confirm = client_rt.block_on(load(addr, a.concurrency, dur, confirm_reqs))?;
    let _ = stop_tx.send(());
    server_rt.shutdown_timeout(Duration::from_secs(5));
    Ok((health, confirm))
}

async fn load(
    addr: std::net::SocketAddr,
    concurrency: usize,
    dur: Duration,
    reqs: Arc<Vec<Vec<u8>>>,
) -> Result<Figures> {
    let start = Instant::now();
    let cpu0 = process_cpu_secs();
    let deadline = start + dur;
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let reqs = reqs.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let mut lat = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            let mut k = i;
            while Instant::now() < deadline {
                let req = &reqs[k % reqs.len()];
                k += concurrency;
                let t = Instant::now();
                s.write_all(req).await?;
                let status = read_response(&mut s, &mut buf).await?;
                lat.push(t.elapsed().as_micros() as u64);
                if status != 200 {
                    errors += 1;
                }
            }
            anyhow::Ok((lat, errors))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.context("load task")??;
        all.extend(l);
        errors += e;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = process_cpu_secs() - cpu0;
    all.sort_unstable();
    let pct = |p: f64| -> u64 {
        if all.is_empty() {
            0
        } else {
            all[((all.len() as f64 * p) as usize).min(all.len() - 1)]
        }
    };
    Ok(Figures {
        requests: all.len() as u64,
        errors,
        secs,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_secs,
    })
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns the status code.
async fn read_response(s: &mut TcpStream, buf: &mut [u8]) -> Result<u16> {
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
            return Ok(status);
        }
        if filled == buf.len() {
            bail!("response head too large");
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}
