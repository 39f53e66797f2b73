//! `onshi`: the command line over the onshi crates. See README.md for the commands.

/// mimalloc rather than glibc's allocator: most of the hot path's allocations are made on one
/// thread and freed on another (a request's rows and strings across the server's workers, the
/// history writer and the signature checker), where glibc's arenas spent ~7 % of the CPU of a
/// confirmation in `_int_malloc`, `_int_free` and `malloc_consolidate` (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod assess_cmd;
mod bench;
mod claims_cmd;
mod db;
mod demo;
mod keys;
mod outage_cmd;
mod payer_cmd;
mod progress;
mod terminal_cmd;

use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use onshi_central::import::{self, Input};
use onshi_central::{Central, SystemClock};
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_store::{CentralStore, Facility, FacilityStore};

use crate::db::{Db, Opened};

#[derive(Parser)]
#[command(
    name = "onshi",
    version,
    about = "Open online qualification confirmation system (オンライン資格確認等システム)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start; the size does not matter
enum Cmd {
    /// Central + demo facilities on an embedded SQLite file with a synthetic population.
    Demo(demo::DemoArgs),
    /// Run the central OQS HTTP API on a database.
    Central(CentralArgs),
    /// Registry: bulk import and synthetic population.
    #[command(subcommand)]
    Registry(RegistryCmd),
    /// Facilities known to the central.
    #[command(subcommand)]
    Facility(FacilityCmd),
    /// Call-centre operators of the system-outage mode (R13).
    #[command(subcommand)]
    Operator(outage_cmd::OperatorCmd),
    /// Benchmarks that print their figures.
    Bench(bench::BenchArgs),
    /// The desk's decision engine: situation JSON on stdin, decision JSON on stdout.
    Assess(assess_cmd::AssessArgs),
    /// One facility's qualification-confirmation terminal (req/res/face folders), or its history.
    Terminal(onshi_terminal::cli::TerminalCmd),
    /// The emulated face-auth card reader of a running terminal.
    #[command(subcommand)]
    Reader(terminal_cmd::ReaderCmd),
    /// The reception desk's staff accounts of a terminal (log in at /desk/).
    #[command(subcommand)]
    Staff(terminal_cmd::StaffCmd),
    /// The facility's claims: visit contents, month check and close, UKE files, settlement.
    #[command(subcommand)]
    Claims(claims_cmd::ClaimsCmd),
    /// The payer (審査支払機関): claim intake, 振替, identification, 按分, settlement.
    #[command(subcommand)]
    Payer(payer_cmd::PayerCmd),
    /// Print the central API's OpenAPI document, or with --desk the desk's (generated from
    /// their types; the checked-in docs/api/openapi.json and docs/api/desk-openapi.json are
    /// this output).
    Openapi(OpenapiArgs),
}

#[derive(Args)]
struct OpenapiArgs {
    /// the desk's JSON routes (/desk/api/…, the visit's JSON reads) instead of the central's
    #[arg(long)]
    desk: bool,
}

#[derive(Args)]
struct CentralArgs {
    /// SQLite database file, or a PostgreSQL URL (`postgres://user@host:5432/onshi`)
    #[arg(long)]
    db: Db,
    /// a streaming replica (hot standby) of the PostgreSQL --db: the registry reads of the
    /// confirmations and the outage search go to it, every write and the reads that must see
    /// them to --db; a failing replica is read around (docs/scale.md)
    #[arg(long, value_name = "POSTGRES_URL")]
    db_replica: Option<String>,
    /// a replica read without an answer within this many milliseconds is done on the primary
    #[arg(long, default_value_t = 2000, requires = "db_replica")]
    db_replica_timeout_ms: u64,
    /// seconds a failed replica is left aside before it is tried again
    #[arg(long, default_value_t = 5, requires = "db_replica")]
    db_replica_retry_s: u64,
    /// address to listen on
    #[arg(long, default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
    /// secret key file (default: <db>.keys.json beside an SQLite file; required with PostgreSQL)
    #[arg(long)]
    keys: Option<PathBuf>,
    /// also serve the OQS Web API of cloud receipt software (auth + search) on this address
    #[arg(long)]
    web_api_listen: Option<SocketAddr>,
    /// the CA (PEM) whose client certificates the Web API accepts (one per facility, subject
    /// alternative name `<医療機関コード>.facility.onshi`); required with TLS and
    /// --web-api-listen
    #[arg(long)]
    web_api_client_ca: Option<PathBuf>,
    /// the CA (PEM) of the facilities' TLS client certificates: with it, every facility call
    /// to the API must also present the facility's certificate (terminals: --client-cert)
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// SQLite: before listening, fill the page tables of this many reader connections' maps
    /// of the registry (and read into the OS cache what it lacks), so the first confirmations
    /// after a start do not each fault pages in; 0 = start at once, cold
    #[arg(long, default_value_t = WARM_READERS)]
    warm_readers: usize,
    #[command(flatten)]
    tls: onshi_tls::ListenTls,
}

#[derive(Subcommand)]
enum RegistryCmd {
    /// Import the insurers' CSV files: all rows or nothing.
    Import {
        /// SQLite database file or PostgreSQL URL
        #[arg(long)]
        db: Db,
        #[arg(long)]
        qualifications: Option<PathBuf>,
        #[arg(long)]
        cards: Option<PathBuf>,
        #[arg(long)]
        keys: Option<PathBuf>,
    },
    /// Write a synthetic population as the two import CSV files.
    Synth {
        #[arg(long)]
        persons: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// the "today" the population is designed around (YYYYMMDD)
        #[arg(long)]
        reference_date: Option<String>,
        /// the registry the files are for (SQLite file or PostgreSQL URL): each card's
        /// certificate public key is written into cards.csv, derived from the secret of that
        /// registry's card emulation (made if new), so that the import need not derive it
        #[arg(long)]
        db: Option<Db>,
        /// the registry's key file (required with a PostgreSQL --db; the card emulation's
        /// file is beside it)
        #[arg(long, requires = "db")]
        keys: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum FacilityCmd {
    /// Register (or re-key) a facility; prints its new API token once.
    Add {
        /// SQLite database file or PostgreSQL URL
        #[arg(long)]
        db: Db,
        /// 10-digit 医療機関コード
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
    },
    /// Remove a facility's API token: it stops working at once (re-key with `add`).
    Revoke {
        /// SQLite database file or PostgreSQL URL
        #[arg(long)]
        db: Db,
        /// 10-digit 医療機関コード
        #[arg(long)]
        code: String,
    },
    /// Register a facility's call-back phone number (system-outage mode, R13).
    Phone(outage_cmd::PhoneArgs),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    match cli.cmd {
        Cmd::Demo(a) => demo::run(a)?,
        Cmd::Central(a) => run_central(a)?,
        Cmd::Registry(RegistryCmd::Import {
            db,
            qualifications,
            cards,
            keys,
        }) => return registry_import(&db, qualifications, cards, keys),
        Cmd::Registry(RegistryCmd::Synth {
            persons,
            seed,
            out,
            reference_date,
            db,
            keys,
        }) => {
            let date = match reference_date {
                Some(s) => onshi_domain::wareki::parse_yyyymmdd(&s)
                    .map_err(|e| anyhow::anyhow!("--reference-date: {e}"))?,
                None => onshi_central::Clock::today(&SystemClock),
            };
            let card_world = db
                .map(|db| db.keys_path(keys).map(|k| db.cards_path(&k)))
                .transpose()?;
            let summary = synth(&out, persons, seed, date, card_world.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        Cmd::Facility(FacilityCmd::Add { db, code, name }) => {
            let store = db.open()?;
            let token = add_facility(&*store, &code, &name)?;
            println!("{token}");
        }
        Cmd::Facility(FacilityCmd::Revoke { db, code }) => {
            let code =
                MedicalInstitutionCode::parse(&code).map_err(|e| anyhow::anyhow!("--code: {e}"))?;
            let store = db.open()?;
            if !store.revoke_facility_token(&code)? {
                bail!("facility {} is not registered", code.as_str());
            }
            println!("token of facility {} removed", code.as_str());
        }
        Cmd::Facility(FacilityCmd::Phone(a)) => outage_cmd::run_phone(a)?,
        Cmd::Operator(c) => outage_cmd::run_operator(c)?,
        Cmd::Bench(a) => return bench::run(a),
        Cmd::Assess(a) => return assess_cmd::run(a),
        Cmd::Terminal(t) => return terminal_cmd::run_terminal(t),
        Cmd::Reader(r) => return terminal_cmd::run_reader(r),
        Cmd::Staff(c) => return terminal_cmd::run_staff(c),
        Cmd::Claims(c) => return claims_cmd::run(c),
        Cmd::Payer(c) => return payer_cmd::run(c),
        Cmd::Openapi(a) if a.desk => print!("{}", onshi_desk::openapi::document()),
        Cmd::Openapi(_) => print!("{}", onshi_web::openapi::document()),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Registers a facility with a fresh random token and returns the token.
pub(crate) fn add_facility(store: &dyn FacilityStore, code: &str, name: &str) -> Result<String> {
    let code = MedicalInstitutionCode::parse(code).map_err(|e| anyhow::anyhow!("--code: {e}"))?;
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    let token = format!("onshi_{}", hex::encode(b));
    store.upsert_facility(
        &Facility {
            code,
            name: name.to_string(),
        },
        &onshi_web::token_hash(&token),
    )?;
    Ok(token)
}

/// Writes a synthetic population into `out`; with `card_world` (the card emulation's file of
/// the registry the files are for, made if new), each card's certificate key is written too.
pub(crate) fn synth(
    out: &Path,
    persons: u64,
    seed: u64,
    reference_date: chrono::NaiveDate,
    card_world: Option<&Path>,
) -> Result<serde_json::Value> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let qpath = out.join("qualifications.csv");
    let cpath = out.join("cards.csv");
    let q = std::io::BufWriter::new(File::create(&qpath)?);
    let c = std::io::BufWriter::new(File::create(&cpath)?);
    let cfg = onshi_synth::SynthConfig {
        persons,
        seed,
        reference_date,
    };
    let mut bar = progress::Progress::new("synth", Some(persons));
    let summary = match card_world {
        Some(path) => {
            // the card emulation's file (made if new): the keys come from its secret
            let world = open_cards(path)?;
            let secrets = world.secrets();
            let keys = |serial: &str| secrets.public_key(serial);
            onshi_synth::generate_with_keys(&cfg, q, c, &keys, &mut |n| bar.set(n))
        }
        None => onshi_synth::generate(&cfg, q, c, &mut |n| bar.set(n)),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.finish();
    eprintln!("wrote {} and {}", qpath.display(), cpath.display());
    Ok(summary_json(&summary))
}

/// The synthetic population's summary as JSON (counts per case and the examples to try).
fn summary_json(s: &onshi_synth::SynthSummary) -> serde_json::Value {
    let cases: serde_json::Map<String, serde_json::Value> = s
        .cases
        .iter()
        .map(|(c, n)| (c.id().to_string(), (*n).into()))
        .collect();
    let examples: Vec<serde_json::Value> = s
        .examples
        .iter()
        .map(|e| {
            serde_json::json!({
                "case": e.case.id(),
                "expectation": e.case.expectation(),
                "card_serial": e.card_serial,
                "pin": e.pin,
                "name": e.name,
                "name_kana": e.name_kana,
                "birthdate": e.birthdate,
                "insurer_number": e.insurer_number,
                "symbol": e.symbol,
                "number": e.number,
                "branch": e.branch,
            })
        })
        .collect();
    serde_json::json!({
        "persons": s.persons,
        "qualification_rows": s.qualification_rows,
        "card_rows": s.card_rows,
        "families": s.families,
        "persons_with_history": s.persons_with_history,
        "newborns": s.newborns,
        "centenarians": s.centenarians,
        "cases": cases,
        "examples": examples,
    })
}

fn open_input(p: Option<PathBuf>) -> Result<Option<Input<BufReader<File>>>> {
    p.map(|p| {
        let f = File::open(&p).with_context(|| format!("opening {}", p.display()))?;
        Ok(Input {
            name: p.display().to_string(),
            reader: BufReader::with_capacity(1 << 20, f),
        })
    })
    .transpose()
}

pub(crate) fn do_import(
    db: &Db,
    qualifications: Option<PathBuf>,
    cards: Option<PathBuf>,
    keys: Option<PathBuf>,
) -> Result<import::ImportReport> {
    if qualifications.is_none() && cards.is_none() {
        bail!("give --qualifications and/or --cards");
    }
    import_into(&*db.open()?, db, qualifications, cards, keys)
}

/// As [`do_import`], into a store the caller holds open (`onshi demo`'s): an initial load can
/// then have the registry file to itself (no second store's readers open on it) and leave the
/// WAL for the load (docs/performance.md, "An initial load without the WAL").
pub(crate) fn import_into(
    store: &dyn onshi_store::ImportStore,
    db: &Db,
    qualifications: Option<PathBuf>,
    cards: Option<PathBuf>,
    keys: Option<PathBuf>,
) -> Result<import::ImportReport> {
    let keys_path = db.keys_path(keys)?;
    let keys = db.load_keys(&keys_path)?;
    let q = open_input(qualifications)?;
    let c = open_input(cards)?;
    let mut bar = progress::Progress::new("import", None);
    let cards_world = open_cards(&db.cards_path(&keys_path))?;
    let report = import::import(store, &keys.my_number, &cards_world, q, c, &mut |n| {
        bar.set(n)
    })?;
    bar.finish();
    Ok(report)
}

fn registry_import(
    db: &Db,
    qualifications: Option<PathBuf>,
    cards: Option<PathBuf>,
    keys: Option<PathBuf>,
) -> Result<std::process::ExitCode> {
    let report = do_import(db, qualifications, cards, keys)?;
    for w in &report.warnings {
        eprintln!("{w}");
    }
    for e in &report.errors {
        eprintln!("{e}");
    }
    if report.errors_total > report.errors.len() as u64 {
        eprintln!(
            "… and {} more errors",
            report.errors_total - report.errors.len() as u64
        );
    }
    let q = report.qualifications;
    let c = report.cards;
    if report.committed {
        println!(
            "imported: {} rows read; persons created {}; qualifications inserted {} updated {} unchanged {}; cards inserted {} updated {} unchanged {}; {} warnings",
            report.rows_read,
            report.persons_created,
            q.inserted,
            q.updated,
            q.unchanged,
            c.inserted,
            c.updated,
            c.unchanged,
            report.warnings.len()
        );
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        println!(
            "nothing imported: {} errors in {} rows read (the files are imported whole or not at all)",
            report.errors_total, report.rows_read
        );
        Ok(std::process::ExitCode::from(2))
    }
}

/// Opens the card emulation's file (with its own key file beside it).
pub(crate) fn open_cards(path: &Path) -> Result<onshi_card::CardStore> {
    onshi_card::CardStore::open_with_key_file(path)
        .with_context(|| format!("opening the card emulation {}", path.display()))
}

/// Reader connections of an SQLite registry warmed at start (`--warm-readers`): the
/// confirmations read on the server's workers and the threads that take over from them while
/// they read, a few at a time (the bench finds 3 maps of the registry after its
/// confirmations). Each warmed reader's page tables cost 2 MB per GB of registry (8 bytes per
/// 4 KiB page). The outage searches' readers (up to
/// [`onshi_web::outage::searches_at_once`]) are not warmed: their page faults are a small
/// part of a search's (see docs/performance.md).
pub(crate) const WARM_READERS: usize = 4;

/// One line on what warming the registry's map did.
pub(crate) fn describe_warming(w: &onshi_store::sqlite::MapWarming) -> String {
    let mut s = format!(
        "registry map warmed for {} readers ({:.1} GB) in {:.1} s",
        w.maps,
        w.bytes as f64 / 1e9,
        w.secs
    );
    if let Some(e) = &w.failed {
        s.push_str(&format!(" (stopped: {e}; the rest fault in as read)"));
    }
    s
}

/// Builds the application state over a store (SQLite or PostgreSQL) and the card emulation
/// (the latter for the patient portal's login only).
pub(crate) fn app_state<S: CentralStore + 'static>(
    store: Arc<S>,
    cards: Arc<onshi_card::CardStore>,
) -> onshi_web::AppState {
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    onshi_web::AppState::new(central, store.clone(), cards).with_outage_store(store)
}

fn run_central(a: CentralArgs) -> Result<()> {
    let keys_path = a.db.keys_path(a.keys.clone())?;
    a.db.load_keys(&keys_path)?;
    let cards = Arc::new(open_cards(&a.db.cards_path(&keys_path))?);
    let tls = a
        .tls
        .choose_with_optional_clients(a.listen, a.client_ca.as_deref())?;
    let web_tls = match a.web_api_listen {
        Some(at) => Some(a.tls.choose_requiring_clients(
            at,
            a.web_api_client_ca.as_deref(),
            "--web-api-client-ca",
        )?),
        None => None,
    };
    let opened = match &a.db_replica {
        None => a.db.open_typed()?,
        Some(replica) => a.db.open_with_replica(
            replica,
            onshi_store::postgres::ReplicaPolicy {
                timeout: std::time::Duration::from_millis(a.db_replica_timeout_ms),
                retry_after: std::time::Duration::from_secs(a.db_replica_retry_s),
            },
        )?,
    };
    let state = match opened {
        Opened::Sqlite(s) => {
            if a.warm_readers > 0 {
                eprintln!("{}", describe_warming(&s.warm_map(a.warm_readers)?));
            }
            app_state(s, cards)
        }
        Opened::Postgres(s) => app_state(s, cards),
    };
    let state = if a.client_ca.is_some() {
        state.with_client_certificates()
    } else {
        state
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("binding {}", a.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!(
            "central listening on {scheme}://{addr}  (OpenAPI: {scheme}://{addr}/v1/openapi.json)"
        );
        if let (Some(web), Some(web_tls)) = (a.web_api_listen, web_tls) {
            serve_web_api(web, state.clone(), web_tls).await?;
        }
        match tls {
            Some(tls) => onshi_web::serve_tls(listener, state, tls, shutdown_signal()).await?,
            None => onshi_web::serve(listener, state, shutdown_signal()).await?,
        }
        Ok(())
    })
}

/// The OQS Web API (docs/api/web-api.md) on a listener of its own, in the background: over
/// TLS asking for the facilities' client certificates when `tls` is given, else plain HTTP
/// (loopback, checked by the caller).
pub(crate) async fn serve_web_api(
    at: SocketAddr,
    state: onshi_web::AppState,
    tls: Option<onshi_tls::ServerTls>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .with_context(|| format!("binding {at} (Web API)"))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "  Web API:  {scheme}://{addr}{}  and  …{}{}",
        onshi_web::oqs_api::AUTH_PATH,
        onshi_web::oqs_api::SEARCH_PATH,
        if tls.is_some() {
            "  (a facility's client certificate required)"
        } else {
            ""
        }
    );
    let app = match tls {
        Some(_) => onshi_web::oqs_api::router_requiring_client_certificates(state),
        None => onshi_web::oqs_api::router(state),
    };
    tokio::spawn(async move {
        if let Err(e) = onshi_tls::serve_either(listener, app, tls, std::future::pending()).await {
            tracing::error!(error = %e, "web api listener");
        }
    });
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
