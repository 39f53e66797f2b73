//! A hot standby under the central, with clusters of the test's own: a PostgreSQL primary and a
//! streaming standby made with the machine's server binaries (initdb, pg_basebackup -R,
//! pg_ctl) in temporary folders on free loopback ports. The real `onshi central` reads the
//! registry from the standby (`--db-replica`) and writes to the primary; the standby is
//! stopped mid-load; the central goes on from the primary and no acknowledged confirmation is
//! lost or doubled.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, the server binaries run as
//! the `postgres` system user (made by Debian's PostgreSQL packages, which scripts/test
//! installs) through `runuser`; as any other user they run as that user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

use support::{card_confirmation, central, make_registry, start_server};
const DB: &str = "onshi";
const USER: &str = "onshi";

/// The machine's PostgreSQL server binaries: `ONSHI_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` holding initdb.
fn pg_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ONSHI_PG_BIN") {
        return PathBuf::from(p);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("the PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin; scripts/test installs them)")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, b)| b)
        .expect("initdb under /usr/lib/postgresql/<version>/bin")
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Uid and gid of a system user.
fn ids_of(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, user]).output().expect("id");
        assert!(
            out.status.success(),
            "the tests run as root, and PostgreSQL does not: it needs the `{user}` system user \
             (made by the postgresql package)"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A primary and its standby, stopped and removed on drop (also when the test fails).
struct Clusters {
    bin: PathBuf,
    as_postgres: bool,
    root: Option<tempfile::TempDir>,
    primary: PathBuf,
    standby: PathBuf,
    primary_port: u16,
    standby_port: u16,
}

impl Clusters {
    fn root(&self) -> &Path {
        self.root.as_ref().expect("the clusters' folder").path()
    }

    /// A server binary, as the `postgres` user when the test runs as root.
    fn server_cmd(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.current_dir(self.root());
        c
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .server_cmd(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        let log = dir.with_extension("log");
        self.server_cmd("pg_ctl")
            .arg("-D")
            .arg(dir)
            .arg("-l")
            .arg(log)
            .args(args)
            .output()
            .expect("pg_ctl")
    }

    fn start(&self, dir: &Path) {
        let out = self.pg_ctl(dir, &["-w", "-t", "60", "start"]);
        let log = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
        assert!(
            out.status.success(),
            "pg_ctl start {}: {}\n{log}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl stop -m immediate`: the server's processes end at once, no shutdown checkpoint.
    fn stop_immediate(&self, dir: &Path) -> bool {
        self.pg_ctl(dir, &["-w", "-t", "30", "-m", "immediate", "stop"])
            .status
            .success()
    }

    /// initdb a primary (wal_level replica, replication over 127.0.0.1 with trust), start it,
    /// pg_basebackup -R a standby from it, start that, and wait until it streams.
    fn make() -> Clusters {
        let bin = pg_bin();
        let as_postgres = is_root();
        let root = tempfile::Builder::new()
            .prefix("onshi-standby-")
            .tempdir()
            .unwrap();
        if as_postgres {
            let (uid, gid) = ids_of("postgres");
            std::os::unix::fs::chown(root.path(), Some(uid), Some(gid)).unwrap();
        }
        let c = Clusters {
            bin,
            as_postgres,
            primary: root.path().join("primary"),
            standby: root.path().join("standby"),
            root: Some(root),
            primary_port: free_port(),
            standby_port: free_port(),
        };
        let primary = c.primary.to_str().unwrap().to_string();
        c.run(
            "initdb",
            &[
                "-D",
                &primary,
                "-U",
                USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        append(
            &c.primary.join("postgresql.conf"),
            &format!(
                "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = ''\n\
                 wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n",
                c.primary_port
            ),
        );
        append(
            &c.primary.join("pg_hba.conf"),
            "\nhost replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n",
        );
        c.start(&c.primary.clone());
        let standby = c.standby.to_str().unwrap().to_string();
        let port = c.primary_port.to_string();
        c.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                USER,
                "-D",
                &standby,
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        append(
            &c.standby.join("postgresql.conf"),
            &format!("\nport = {}\n", c.standby_port),
        );
        c.start(&c.standby.clone());
        let deadline = Instant::now() + Duration::from_secs(60);
        while psql(
            c.primary_port,
            "postgres",
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        ) != "1"
        {
            assert!(Instant::now() < deadline, "the standby does not stream");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            psql(c.standby_port, "postgres", "SELECT pg_is_in_recovery()"),
            "t"
        );
        c
    }

    fn url(port: u16) -> String {
        format!("postgres://{USER}@127.0.0.1:{port}/{DB}")
    }

    /// Waits until the standby has replayed everything the primary has written so far.
    fn wait_for_replay(&self) {
        let lsn = psql(self.primary_port, "postgres", "SELECT pg_current_wal_lsn()");
        let deadline = Instant::now() + Duration::from_secs(30);
        let q = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        while psql(self.standby_port, "postgres", &q) != "t" {
            assert!(Instant::now() < deadline, "the standby does not replay");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Clusters {
    fn drop(&mut self) {
        if self.root.is_none() {
            return;
        }
        let (standby, primary) = (self.standby.clone(), self.primary.clone());
        for dir in [standby, primary] {
            if dir.join("postmaster.pid").exists() {
                self.stop_immediate(&dir);
            }
        }
        if let Some(root) = self.root.take()
            && let Err(e) = root.close()
        {
            eprintln!("could not remove the clusters' folder: {e}");
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// One statement through the machine's `psql`, its unaligned output trimmed.
fn psql(port: u16, db: &str, sql: &str) -> String {
    let out = Command::new(pg_bin().join("psql"))
        .args([
            "-X",
            "-A",
            "-t",
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            USER,
            "-d",
            db,
        ])
        .args(["-p", &port.to_string(), "-c", sql])
        .output()
        .expect("psql");
    if !out.status.success() {
        return format!("error: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[derive(Default)]
struct Tally {
    acked: Mutex<Vec<i64>>,
    attempts: AtomicU64,
    failures: AtomicU64,
    after_stop: AtomicU64,
    failure_texts: Mutex<Vec<String>>,
}

/// Registry reads on the standby, writes on the primary; the standby stopped mid-load; the
/// central answers on from the primary, and every confirmation it answered 200 is in the
/// primary's history exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_central_reads_from_a_hot_standby_and_goes_on_from_the_primary_when_it_stops() {
    let test_start = Instant::now();
    let clusters = tokio::task::spawn_blocking(Clusters::make).await.unwrap();
    assert_eq!(
        psql(
            clusters.primary_port,
            "postgres",
            &format!("CREATE DATABASE {DB}")
        ),
        ""
    );
    let primary = Clusters::url(clusters.primary_port);
    let standby = Clusters::url(clusters.standby_port);
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("central.keys.json");
    let keys_s = keys.to_str().unwrap().to_string();
    let (token, reader) = make_registry(
        work.path(),
        &primary,
        Some(&keys_s),
        &keys.with_extension("cards.sqlite"),
    );
    clusters.wait_for_replay();
    assert_eq!(
        psql(clusters.standby_port, DB, "SELECT count(*) > 0 FROM card"),
        "t",
        "the registry is on the standby"
    );
    let reader = Arc::new(reader);

    let log_path = work.path().join("central.log");
    let (server, base) = start_server(
        central(&[
            "--db",
            &primary,
            "--db-replica",
            &standby,
            "--keys",
            &keys_s,
            "--plain-http",
        ])
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log_path).unwrap()),
    );
    let commits = |port: u16| -> i64 {
        psql(
            port,
            "postgres",
            &format!("SELECT xact_commit FROM pg_stat_database WHERE datname = '{DB}'"),
        )
        .parse()
        .unwrap_or(-1)
    };
    let standby_commits_before = commits(clusters.standby_port);
    assert!(standby_commits_before >= 0);

    // several tasks confirm cards and numbers until told to stop, each at most one request per
    // 10 ms (at most 400/s in all, whatever the speed of the central, so that the load is still
    // going when the standby stops) and at most 12,000 requests in all
    const MAX_REQUESTS: u64 = 12_000;
    const PACE: Duration = Duration::from_millis(10);
    let tally = Arc::new(Tally::default());
    let stopped = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let kumiai = onshi_central::fixture::build().kumiai.to_string();
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let (http, base, token, reader) =
            (http.clone(), base.clone(), token.clone(), reader.clone());
        let (tally, stopped, done, kumiai) =
            (tally.clone(), stopped.clone(), done.clone(), kumiai.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while !done.load(Ordering::Acquire)
                && tally.attempts.fetch_add(1, Ordering::AcqRel) < MAX_REQUESTS
            {
                i += 1;
                let paced = tokio::time::sleep(PACE);
                let after = stopped.load(Ordering::Acquire);
                let answer = if i % 3 == 0 {
                    http.post(format!("{base}/v1/confirmations/numbers"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({
                            "confirmation_date": "2026-11-25", "staff_id": "S01",
                            "query": {"insurer_number": kumiai, "symbol": "77",
                                      "number": "3001", "birthdate": "1985-11-11"}}))
                        .send()
                        .await
                } else {
                    card_confirmation(
                        &http,
                        &base,
                        &token,
                        &reader,
                        ["C0001", "C0002"][(i % 2) as usize],
                    )
                    .await
                };
                let (status, v) = match answer {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        (s, r.json::<serde_json::Value>().await.unwrap_or_default())
                    }
                    Err(e) => (0, serde_json::json!({"transport": e.to_string()})),
                };
                match (status, v["confirmation_id"].as_i64()) {
                    (200, Some(id)) => {
                        tally.acked.lock().unwrap().push(id);
                        if after {
                            tally.after_stop.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        tally.failures.fetch_add(1, Ordering::Relaxed);
                        tally
                            .failure_texts
                            .lock()
                            .unwrap()
                            .push(format!("{status} {v}"));
                    }
                }
                paced.await;
            }
        }));
    }
    let acked = || tally.acked.lock().unwrap().len() as u64;
    let wait_until = |n: u64, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        let what = what.to_string();
        let tally = tally.clone();
        async move {
            while (tally.acked.lock().unwrap().len() as u64) < n {
                assert!(
                    Instant::now() < deadline,
                    "{what}: only {} answers",
                    tally.acked.lock().unwrap().len()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_until(100, "before the stop").await;
    // proof that the standby served the reads: the central's replica pool is connected there,
    // and the standby committed read transactions in the registry's database
    let replica_sessions = psql(
        clusters.standby_port,
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'onshi-replica'",
    );
    let primary_replica_sessions = psql(
        clusters.primary_port,
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'onshi-replica'",
    );
    let before_stop = acked();
    // the cumulative statistics are flushed within seconds: wait for them
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut standby_commits = commits(clusters.standby_port) - standby_commits_before;
    while standby_commits < before_stop as i64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        standby_commits = commits(clusters.standby_port) - standby_commits_before;
    }
    let acked_at_stop = acked();
    let stop_at = Instant::now();
    stopped.store(true, Ordering::Release);
    assert!(
        clusters.stop_immediate(&clusters.standby),
        "pg_ctl stop -m immediate"
    );
    let stop_took = stop_at.elapsed();
    // wait for 200 answers to requests *sent* after the stop: those in flight at the stop
    // count as sent before it, however long they take
    let deadline = Instant::now() + Duration::from_secs(60);
    while tally.after_stop.load(Ordering::Relaxed) < 200 {
        assert!(
            Instant::now() < deadline,
            "after the stop: only {} answers to requests sent after it",
            tally.after_stop.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.store(true, Ordering::Release);
    for t in tasks {
        t.await.unwrap();
    }
    drop(server);

    let acked: Vec<i64> = tally.acked.lock().unwrap().clone();
    let failures = tally.failures.load(Ordering::Relaxed);
    let after_stop = tally.after_stop.load(Ordering::Relaxed);
    let ids = acked
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let recorded_once = psql(
        clusters.primary_port,
        DB,
        &format!(
            "SELECT count(*) FROM (SELECT id FROM confirmation WHERE id IN ({ids}) \
             GROUP BY id HAVING count(*) = 1) x"
        ),
    );
    let total: u64 = psql(
        clusters.primary_port,
        DB,
        "SELECT count(*) FROM confirmation",
    )
    .parse()
    .unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let warned = log.matches("the PostgreSQL replica failed").count();
    eprintln!(
        "standby: {} answers 200 before the stop ({before_stop} when the standby's sessions were \
         counted), {after_stop} after it ({} in all, {failures} not 200); the standby committed \
         {standby_commits} read transactions in {DB}, had {replica_sessions} sessions of the \
         central's replica pool (the primary {primary_replica_sessions}); pg_ctl stop -m immediate \
         took {} ms; {} confirmations on the primary, each acknowledged one once: {recorded_once}; \
         the replica's failure logged {warned} time(s); {:.1} s in all",
        acked_at_stop,
        acked.len(),
        stop_took.as_millis(),
        total,
        test_start.elapsed().as_secs_f64()
    );
    assert_eq!(
        failures,
        0,
        "every request answered: {:?}",
        tally
            .failure_texts
            .lock()
            .unwrap()
            .iter()
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(
        replica_sessions.parse::<u64>().unwrap_or(0) > 0,
        "the central's replica pool is connected to the standby: {replica_sessions}"
    );
    assert_eq!(primary_replica_sessions, "0", "and not to the primary");
    assert!(
        standby_commits >= before_stop as i64,
        "the standby served the reads of the {before_stop} confirmations: {standby_commits} \
         transactions"
    );
    assert!(
        after_stop >= 200,
        "answers went on after the stop: {after_stop}"
    );
    assert_eq!(
        recorded_once,
        acked.len().to_string(),
        "every acknowledged confirmation is on the primary exactly once"
    );
    assert_eq!(total, acked.len() as u64, "and nothing else was recorded");
    assert_eq!(warned, 1, "the replica's failure is logged once:\n{log}");
    drop(clusters);
}
