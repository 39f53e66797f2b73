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
    }
}

/// Starts one in-process terminal per facility under `data/terminals/<code>/` and prints
/// their exchange folders.
pub async fn start_demo_terminals(
    data: &Path,
    state: &onshi_web::AppState,
    facilities: &[&str],
) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    let _ = onshi_terminal::api::EXTRA_ROUTES.set(onshi_desk::routes);
    println!("terminals (receipt computers write to req/, read res/ and face/):");
    for code in facilities {
        let facility = MedicalInstitutionCode::parse(code).map_err(|e| anyhow::anyhow!("{e}"))?;
        let dir = data.join("terminals").join(code);
        let cfg = onshi_terminal::Config::new(facility.clone(), &dir);
        let mut client = InProcessCentral::new(
            state.central.clone(),
            state.chips.clone(),
            onshi_card::PinHasher::clone(&state.pins),
            facility,
        );
        if let Some(outage) = state.outage_service() {
            // the desk's 事後確認 worklist searches in the outage mode through it
            client = client.with_outage(outage.clone());
        }
        let client = Arc::new(client);
        let t = onshi_terminal::Terminal::open(cfg, client, Arc::new(onshi_central::SystemClock))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        println!(
            "  {code}  {}  (api http://{addr}; try: onshi reader place --exchange {} --card <serial> --face ok)",
            dir.display(),
            dir.display()
        );
        println!("         reception desk (受付画面): http://{addr}/desk/");
        println!("         claims (請求):            http://{addr}/desk/claims");
        tokio::spawn(onshi_terminal::api::serve(
            t.clone(),
            listener,
            std::future::pending(),
        ));
        tokio::spawn(async move {
            if let Err(e) = t.run(std::future::pending()).await {
                tracing::error!(error = %e, "demo terminal stopped");
            }
        });
        dirs.push(dir);
    }
    Ok(dirs)
}
