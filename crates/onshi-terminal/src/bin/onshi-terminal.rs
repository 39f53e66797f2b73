//! `onshi-terminal`: the terminal alone (the same as `onshi terminal` / `onshi reader place`),
//! for deployments and tests that need only the terminal.

use clap::{Parser, Subcommand};
use onshi_terminal::cli;

#[derive(Parser)]
#[command(
    name = "onshi-terminal",
    about = "onshi qualification-confirmation terminal (資格確認端末)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start; the size does not matter
enum Cmd {
    /// Run the terminal (or `terminal history`).
    Terminal(cli::TerminalCmd),
    /// The emulated face-auth card reader.
    #[command(subcommand)]
    Reader(ReaderCmd),
}

#[derive(Subcommand)]
enum ReaderCmd {
    /// Place a card on the reader of a running terminal.
    Place(cli::PlaceArgs),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber_init();
    let r = match Cli::parse().cmd {
        Cmd::Terminal(t) => match t.sub {
            Some(cli::TerminalSub::History(h)) => {
                cli::history(&h).map(|_| std::process::ExitCode::SUCCESS)
            }
            None => cli::run_terminal(&t.run).map(|_| std::process::ExitCode::SUCCESS),
        },
        Cmd::Reader(ReaderCmd::Place(p)) => cli::reader_place(&p),
    };
    match r {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}
