//! `onshi terminal …`, `onshi terminal history …` and `onshi reader place …`: thin wrappers
//! over `onshi_terminal::cli`; and the demo's terminals, which reach the central in-process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::Subcommand;
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_terminal::cli::{self, PlaceArgs, TerminalCmd, TerminalSub};
use onshi_terminal::client::InProcessCentral;

/// `onshi reader …`: the emulated face-auth card reader of a running terminal.
#[derive(Subcommand)]
pub enum ReaderCmd {
    /// Place a card: face (ok|fail|auto), PIN, or 目視確認 by a staff member; consents.
    /// Exits non-zero when the card was not confirmed.
    Place(PlaceArgs),
    /// Register a certified reader's device key at the central for a facility (the public
    /// key a terminal prints at start).
    Register {
        /// the central's database (SQLite file or PostgreSQL URL)
        #[arg(long)]
        db: crate::db::Db,
        /// 10-digit 医療機関コード
        #[arg(long)]
        facility: String,
        #[arg(long)]
        id: String,
        /// ed25519 public key, 64 hex digits
        #[arg(long)]
        public_key: String,
    },
    /// Revoke a certified reader: its assertions are refused from now on.
    Revoke {
        /// the central's database (SQLite file or PostgreSQL URL)
        #[arg(long)]
        db: crate::db::Db,
        #[arg(long)]
        id: String,
    },
}

pub fn run_terminal(t: TerminalCmd) -> Result<ExitCode> {
    match t.sub {
        Some(TerminalSub::History(h)) => cli::history(&h)?,
        None => {
            let _ = onshi_terminal::api::EXTRA_ROUTES.set(onshi_desk::routes);
            cli::run_terminal(&t.run)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_reader(r: ReaderCmd) -> Result<ExitCode> {
    match r {
        ReaderCmd::Place(p) => cli::reader_place(&p),
        ReaderCmd::Register {
            db,
            facility,
            id,
            public_key,
        } => {
            let central = match db.open_typed()? {
                crate::db::Opened::Sqlite(s) => central_over(s),
                crate::db::Opened::Postgres(s) => central_over(s),
            };
            onshi_web::register_reader(
                &central,
                &onshi_web::RegisterReader {
                    facility: facility.clone(),
                    id: id.clone(),
                    public_key,
                },
            )
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field.unwrap_or_default(), e.message))?;
            println!("reader {id} registered for facility {facility}");
            Ok(ExitCode::SUCCESS)
        }
        ReaderCmd::Revoke { db, id } => {
            let store = db.open()?;
            if store.revoke_reader(&id, None)? {
                println!("reader {id} revoked");
                Ok(ExitCode::SUCCESS)
            } else {
                anyhow::bail!("no active reader {id}")
            }
        }
    }
}

fn central_over<S: onshi_store::CentralStore + 'static>(
    store: std::sync::Arc<S>,
) -> onshi_central::Central {
    onshi_central::Central::new(
        store.clone(),
        store,
        std::sync::Arc::new(onshi_central::SystemClock),
    )
}

/// Starts one in-process terminal per facility under `data/terminals/<code>/` and prints
/// their exchange folders; their API and desk are served over `tls` when given (`ca` is the
/// CA file to trust, printed in the hints). Each desk takes the settlement statements signed
/// by `payer_keys` (registered in its claim settings). Returns each terminal's exchange folder
/// and the base URL of its API and desk.
pub async fn start_demo_terminals(
    data: &Path,
    state: &onshi_web::AppState,
    facilities: &[&str],
    tls: Option<(&onshi_tls::ServerTls, &Path)>,
    payer_keys: &[onshi_desk::claims::signature::PayerPublicKey],
) -> Result<Vec<(PathBuf, String)>> {
    let mut dirs = Vec::new();
    let _ = onshi_terminal::api::EXTRA_ROUTES.set(onshi_desk::routes);
    println!("terminals (receipt computers write to req/, read res/ and face/):");
    for code in facilities {
        let facility = MedicalInstitutionCode::parse(code).map_err(|e| anyhow::anyhow!("{e}"))?;
        let dir = data.join("terminals").join(code);
        let mut cfg = onshi_terminal::Config::new(facility.clone(), &dir);
        cfg.api_tls = tls.is_some();
        let mut client =
            InProcessCentral::new(state.central.clone(), state.cards.clone(), facility);
        if let Some(outage) = state.outage_service() {
            // the desk's 事後確認 worklist searches in the outage mode through it
            client = client.with_outage(outage.clone());
        }
        let client = Arc::new(client);
        let t = onshi_terminal::Terminal::open(cfg, client, Arc::new(onshi_central::SystemClock))?;
        register_payer_keys(&t.exchange().data, payer_keys)?;
        let password = demo_staff_password(data)?;
        staff_store(&dir, None)?.set(DEMO_STAFF.0, DEMO_STAFF.1, &password)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (scheme, ca_hint) = match tls {
            Some((_, ca)) => ("https", format!(" --terminal-ca {}", ca.display())),
            None => ("http", String::new()),
        };
        println!(
            "  {code}  {}  (api {scheme}://{addr}; try: onshi reader place --exchange {}{ca_hint} --card <serial> --face ok)",
            dir.display(),
            dir.display()
        );
        println!(
            "         reception desk (受付画面): {scheme}://{addr}/desk/  (log in as staff {} with password {password})",
            DEMO_STAFF.0
        );
        println!("         claims (請求):            {scheme}://{addr}/desk/claims");
        tokio::spawn(onshi_terminal::api::serve(
            t.clone(),
            listener,
            tls.map(|(t, _)| t.clone()),
            std::future::pending(),
        ));
        tokio::spawn(async move {
            if let Err(e) = t.run(std::future::pending()).await {
                tracing::error!(error = %e, "demo terminal stopped");
            }
        });
        dirs.push((dir, format!("{scheme}://{addr}")));
    }
    Ok(dirs)
}

/// Adds `keys` to the claim settings of the desk whose terminal data folder is `data` (before
/// the desk opens them).
fn register_payer_keys(
    data: &Path,
    keys: &[onshi_desk::claims::signature::PayerPublicKey],
) -> Result<()> {
    let store = onshi_desk::claims::ClaimStore::open(&data.join(onshi_desk::claims::CLAIMS_FILE))?;
    let mut s = store.settings()?;
    for k in keys {
        if !s.payer_keys.contains(k) {
            s.payer_keys.push(k.clone());
        }
    }
    store.set_settings(&s)?;
    Ok(())
}

/// `onshi staff …`: the reception desk's staff accounts of one terminal (an administrator's
/// command; the password is read from standard input, never from the command line).
#[derive(Subcommand)]
pub enum StaffCmd {
    /// Add a staff account, or set its name and password (first line of stdin, 8+ characters).
    Add {
        /// the terminal's exchange folder
        #[arg(long)]
        exchange: PathBuf,
        /// the terminal's data folder, if it was started with `--data`
        #[arg(long)]
        data: Option<PathBuf>,
        /// the staff id written on every step of a visit (1–32 characters, no spaces)
        #[arg(long)]
        id: String,
        /// the name shown at the desk
        #[arg(long)]
        name: String,
    },
    /// List the staff accounts (ids and names; never a password).
    List {
        #[arg(long)]
        exchange: PathBuf,
        /// the terminal's data folder, if it was started with `--data`
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

fn staff_store(exchange: &Path, data: Option<&Path>) -> Result<onshi_desk::staff::StaffStore> {
    let ex = onshi_terminal::exchange::Exchange::with_data_opt(exchange, data);
    std::fs::create_dir_all(&ex.data)?;
    Ok(onshi_desk::staff::StaffStore::open(
        &ex.data.join(onshi_desk::staff::STAFF_FILE),
    )?)
}

pub fn run_staff(c: StaffCmd) -> Result<ExitCode> {
    match c {
        StaffCmd::Add {
            exchange,
            data,
            id,
            name,
        } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            staff_store(&exchange, data.as_deref())?.set(&id, &name, password)?;
            println!("staff {id} ({name}) can log in at the desk");
        }
        StaffCmd::List { exchange, data } => {
            for s in staff_store(&exchange, data.as_deref())?.list()? {
                println!("{}\t{}", s.staff_id, s.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo's staff account at each demo desk.
pub const DEMO_STAFF: (&str, &str) = ("S01", "受付 デモ");

/// A demo password for the demo desks: random, kept in `<data>/demo-staff-password` (mode
/// 0600) so that it stays the same across restarts, and printed by `onshi demo`.
pub fn demo_staff_password(data: &Path) -> Result<String> {
    let path = data.join("demo-staff-password");
    if let Ok(p) = std::fs::read_to_string(&path)
        && p.trim().len() >= 8
    {
        return Ok(p.trim().to_string());
    }
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let p = format!("demo-{}", hex::encode(b));
    std::fs::create_dir_all(data)?;
    std::fs::write(&path, &p)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(p)
}
