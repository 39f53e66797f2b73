//! `onshi payer …`: the payer (審査支払機関) service — its HTTP API and screens, folder
//! intake, principals and facilities, a synthetic payment past, settlement. See docs/payer.md.
//!
//! `--db` is the payer's own database: an SQLite file, or a `postgres://…` URL. Its signing
//! key file sits beside an SQLite file (`<db>.signing-key.json`); a PostgreSQL database has no
//! "beside", so there `--signing-key` names the file (never kept in the database).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use onshi_payer::api::{PayerApp, new_token, now, router, token_hash};
use onshi_payer::model::{PayerCode, YearMonth};
use onshi_payer::rules::{PayerCalendar, PayerSettings};
use onshi_payer::service::{PayerService, ServiceError, Submitted};
use onshi_payer::signing::Hooks;
use onshi_payer::store::{FacilityRow, PayerStore, Principal, Role, SqlitePayerStore};
use onshi_payer::store_pg::PostgresPayerStore;
use onshi_store::SqliteStore;

#[derive(Subcommand)]
pub enum PayerCmd {
    /// Run the payer's HTTP API and screens (and the folder intake with --inbox).
    Serve(ServeArgs),
    /// Issue a token for payer staff, a facility or an insurer; prints it once.
    Principal(PrincipalArgs),
    /// Register a facility with a payer (with its settlement hook URL).
    Facility(FacilityArgs),
    /// Take one UKE file as the named facility (the folder and API intake, from the shell).
    Submit(SubmitArgs),
    /// Write a synthetic payment past (what insurers paid facilities) for 按分.
    SynthPast(SynthPastArgs),
    /// Settle a billing month: claims billed, pools apportioned, statements written.
    Settle(SettleArgs),
    /// Print the payer's public key (ed25519, hex) that facilities register to take its signed
    /// statements; makes the key file (beside an SQLite database, or --signing-key) on first
    /// use.
    Key(KeyArgs),
}

#[derive(Args)]
pub struct Db {
    /// the payer's own database: an SQLite file, or a PostgreSQL URL
    /// (`postgres://user@host:5432/payer`)
    #[arg(long, default_value = "payer.sqlite")]
    db: crate::db::Db,
    /// with a PostgreSQL database: the folder of the keys its files' 申立書 details are
    /// sealed under (made owner only if new; every payer command on that database needs the
    /// same folder). A key is deleted when its month is settled (R27). An SQLite file deletes
    /// the details in place and takes no keys.
    #[arg(long)]
    form_keys: Option<PathBuf>,
}

/// Opens the payer's own database: an SQLite file or a PostgreSQL URL, the latter with the
/// folder of its form keys.
pub(crate) fn open_store(
    db: &crate::db::Db,
    form_keys: Option<&std::path::Path>,
) -> Result<Arc<dyn PayerStore>> {
    Ok(match (db, form_keys) {
        (crate::db::Db::Sqlite(p), None) => Arc::new(SqlitePayerStore::open(p)?),
        (crate::db::Db::Sqlite(_), Some(_)) => bail!(
            "--form-keys: only a PostgreSQL database seals the 申立書 details under keys; an \
             SQLite file deletes them in place (leave --form-keys out)"
        ),
        (crate::db::Db::Postgres(u), Some(dir)) => Arc::new(
            PostgresPayerStore::open(u, dir)
                .with_context(|| format!("opening {}", db.display()))?,
        ),
        (crate::db::Db::Postgres(_), None) => bail!(
            "--form-keys: a PostgreSQL database needs the folder of the keys that seal its \
             files' 申立書 details (e.g. --form-keys /var/lib/onshi/payer-form-keys): they \
             are kept outside the database so that deleting a key at settlement deletes the \
             details everywhere the database copied them (R27)"
        ),
    })
}

impl Db {
    fn open(&self) -> Result<Arc<dyn PayerStore>> {
        open_store(&self.db, self.form_keys.as_deref())
    }

    /// The payer's signing key file: `--signing-key`, or `<db>.signing-key.json` beside an
    /// SQLite file; a PostgreSQL database needs it named.
    fn key_path(&self, given: Option<&PathBuf>) -> Result<PathBuf> {
        match (given, &self.db) {
            (Some(p), _) => Ok(p.clone()),
            (None, crate::db::Db::Sqlite(p)) => Ok(crate::keys::payer_key_path(p)),
            (None, crate::db::Db::Postgres(_)) => bail!(
                "--signing-key: a PostgreSQL database needs the payer's signing key file named \
                 (e.g. --signing-key /etc/onshi/payer.signing-key.json); it is made there on \
                 first use and never kept in the database"
            ),
        }
    }
}

#[derive(Args)]
pub struct KeyArgs {
    #[command(flatten)]
    db: Db,
    /// the payer's signing key file (default: <db>.signing-key.json beside an SQLite file;
    /// required with PostgreSQL)
    #[arg(long)]
    signing_key: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServiceArgs {
    #[command(flatten)]
    db: Db,
    /// the central's registry database, an SQLite file or a `postgres://…` URL (read only
    /// through the payer's role)
    #[arg(long)]
    registry: PathBuf,
    /// folder for statements and 資格確認結果連絡書 files, per facility
    #[arg(long)]
    out: Option<PathBuf>,
    /// CA certificates (PEM) to trust when calling facilities' settlement hooks over TLS
    #[arg(long)]
    hook_ca: Option<PathBuf>,
    /// the payer's signing key file (default: <db>.signing-key.json beside an SQLite file;
    /// required with PostgreSQL to serve or settle)
    #[arg(long)]
    signing_key: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    svc: ServiceArgs,
    #[arg(long, default_value = "127.0.0.1:8490")]
    listen: SocketAddr,
    #[command(flatten)]
    tls: onshi_tls::ListenTls,
    /// intake folder: INBOX/<payer>/<医療機関コード>/*.UKE, scanned every 2 seconds
    #[arg(long)]
    inbox: Option<PathBuf>,
}

#[derive(Args)]
pub struct PrincipalArgs {
    #[command(flatten)]
    db: Db,
    /// staff, facility or insurer
    #[arg(long)]
    role: String,
    /// 1 支払基金 or 2 国保連
    #[arg(long)]
    payer: String,
    /// staff name, 医療機関コード or 保険者番号
    #[arg(long)]
    subject: String,
}

#[derive(Args)]
pub struct FacilityArgs {
    #[command(flatten)]
    db: Db,
    #[arg(long)]
    payer: String,
    /// 10-digit 医療機関コード
    #[arg(long)]
    code: String,
    #[arg(long)]
    name: String,
    /// the facility's settlement hook (POST of each statement)
    #[arg(long)]
    hook: Option<String>,
}

#[derive(Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    svc: ServiceArgs,
    #[arg(long)]
    payer: String,
    #[arg(long)]
    facility: String,
    #[arg(long)]
    file: PathBuf,
}

#[derive(Args)]
pub struct SynthPastArgs {
    #[command(flatten)]
    db: Db,
    #[arg(long)]
    payer: String,
    /// facilities, comma-separated 医療機関コード
    #[arg(long)]
    facilities: String,
    /// insurers, comma-separated 保険者番号
    #[arg(long)]
    insurers: String,
    /// first and last month (YYYYMM)
    #[arg(long)]
    from: String,
    #[arg(long)]
    to: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
pub struct SettleArgs {
    #[command(flatten)]
    svc: ServiceArgs,
    #[arg(long)]
    payer: String,
    /// billing month YYYYMM
    #[arg(long)]
    month: String,
}

fn payer_of(s: &str) -> Result<PayerCode> {
    PayerCode::parse(s)
        .with_context(|| format!("--payer must be 1 (支払基金) or 2 (国保連), got {s:?}"))
}

fn month_of(s: &str) -> Result<YearMonth> {
    YearMonth::parse(s).with_context(|| format!("expected a month YYYYMM, got {s:?}"))
}

fn service(a: &ServiceArgs) -> Result<PayerService> {
    let registry: Arc<dyn onshi_payer::registry::PayerRegistry> = match a.registry.to_str() {
        Some(url) if onshi_store::postgres::is_url(url) => {
            Arc::new(onshi_store::PostgresStore::open(url).with_context(|| {
                format!(
                    "opening the registry {}",
                    crate::db::Db::parse(url).display()
                )
            })?)
        }
        _ => {
            if !a.registry.exists() {
                bail!("registry {} does not exist", a.registry.display());
            }
            Arc::new(SqliteStore::open(&a.registry)?)
        }
    };
    let store = a.db.open()?;
    Ok(PayerService {
        store,
        registry,
        calendar: PayerCalendar::default(),
        settings: PayerSettings::default(),
        out_dir: a.out.clone(),
    })
}

/// What facilities' settlement hooks are called with: a client trusting `--hook-ca`, and the
/// payer's signing key from its key file (made on first start).
fn hooks(a: &ServiceArgs) -> Result<Hooks> {
    let pem = match &a.hook_ca {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("--hook-ca {}", p.display()))?),
        None => None,
    };
    let client = onshi_payer::service::hook_client(pem.as_deref())
        .map_err(|e| anyhow::anyhow!("--hook-ca: {e}"))?;
    let key = a.db.key_path(a.signing_key.as_ref())?;
    Ok(Hooks::new(client, crate::keys::payer_key(&key)?))
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn run(cmd: PayerCmd) -> Result<ExitCode> {
    match cmd {
        PayerCmd::Serve(a) => serve(a)?,
        PayerCmd::Principal(a) => {
            let role = Role::parse(&a.role).with_context(|| {
                format!(
                    "--role must be staff, facility or insurer, got {:?}",
                    a.role
                )
            })?;
            let store = a.db.open()?;
            let token = new_token().map_err(|e| anyhow::anyhow!("random: {e}"))?;
            let p = Principal {
                role,
                payer: payer_of(&a.payer)?,
                subject: a.subject,
            };
            store.add_principal(&token_hash(&token), &p, &now())?;
            // the token is shown once; only its hash is stored
            println!("{token}");
        }
        PayerCmd::Facility(a) => {
            let store = a.db.open()?;
            if a.code.len() != 10 || !a.code.bytes().all(|b| b.is_ascii_digit()) {
                bail!(
                    "--code must be the 10-digit 医療機関コード, got {:?}",
                    a.code
                );
            }
            store.upsert_facility(&FacilityRow {
                payer: payer_of(&a.payer)?,
                code: a.code,
                name: a.name,
                hook_url: a.hook,
            })?;
        }
        PayerCmd::Submit(a) => {
            let svc = service(&a.svc)?;
            let bytes = std::fs::read(&a.file).with_context(|| a.file.display().to_string())?;
            let name = a
                .file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("RECEIPTC.UKE");
            match svc.intake_uke(&Submitted {
                payer: payer_of(&a.payer)?,
                facility: &a.facility,
                file_name: name,
                bytes: &bytes,
                source: "folder",
                at: &now(),
            }) {
                Ok(o) => print_json(&o)?,
                Err(ServiceError::Refused(r)) => {
                    print_json(&serde_json::json!({ "accepted": false, "reasons": r }))?;
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        PayerCmd::SynthPast(a) => {
            let store = a.db.open()?;
            let split = |s: &str| -> Vec<String> {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            };
            let rows = onshi_payer::synth::past_payments(
                payer_of(&a.payer)?,
                &split(&a.facilities),
                &split(&a.insurers),
                month_of(&a.from)?,
                month_of(&a.to)?,
                a.seed,
            );
            store.add_payments(&rows)?;
            println!("{} payment rows written", rows.len());
        }
        PayerCmd::Key(a) => {
            let key = crate::keys::payer_key(&a.db.key_path(a.signing_key.as_ref())?)?;
            println!("{}", key.public_key_hex());
        }
        PayerCmd::Settle(a) => {
            let svc = service(&a.svc)?;
            let client = hooks(&a.svc)?;
            let (payer, month) = (payer_of(&a.payer)?, month_of(&a.month)?);
            // as the API and the 支払確定 screen: settled, then each facility's hook called
            let out = tokio::runtime::Runtime::new()?.block_on(svc.settle_month_and_notify(
                &client,
                payer,
                month,
                &now(),
            ))?;
            print_json(&out)?;
            if !out.refused.is_empty() {
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(a: ServeArgs) -> Result<()> {
    let tls = a.tls.choose(a.listen)?;
    let svc = service(&a.svc)?;
    let client = hooks(&a.svc)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("binding {}", a.listen))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!(
            "payer listening on {scheme}://{}/payer/login",
            listener.local_addr()?
        );
        start(
            svc,
            client,
            listener,
            tls,
            a.inbox.clone(),
            crate::shutdown_signal(),
        )?
        .await
        .context("the payer's server task")??;
        Ok(())
    })
}

/// Starts the payer's HTTP API and screens on `listener`, and the folder intake when `inbox`
/// is given (INBOX/<payer>/<医療機関コード>/*.UKE, scanned every 2 seconds); settlements call
/// facilities' hooks with `hooks` (signed with the payer's key). Runs on the current tokio
/// runtime; the returned task ends after `shutdown` (its requests finished) or on a server
/// error.
pub fn start(
    svc: PayerService,
    hooks: Hooks,
    listener: tokio::net::TcpListener,
    tls: Option<onshi_tls::ServerTls>,
    inbox: Option<PathBuf>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    if let Some(inbox) = inbox {
        std::fs::create_dir_all(&inbox)?;
        let svc = svc.clone();
        tokio::spawn(async move {
            loop {
                let (s, i) = (svc.clone(), inbox.clone());
                match tokio::task::spawn_blocking(move || {
                    onshi_payer::folder::scan_once(&s, &i, &now())
                })
                .await
                {
                    Ok(Ok(r)) => {
                        for f in r {
                            tracing::info!(file = %f.file.display(), accepted = f.accepted, "folder intake");
                        }
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "folder intake"),
                    Err(e) => tracing::error!(error = %e, "folder intake task"),
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    }
    let app = PayerApp::new(svc).with_hooks(hooks);
    Ok(tokio::spawn(async move {
        onshi_tls::serve_either(listener, router(app), tls, shutdown).await
    }))
}
