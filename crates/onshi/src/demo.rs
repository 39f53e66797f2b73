//! `onshi demo`: the central on an embedded SQLite file under a data folder, filled with a
//! synthetic population on first start, with a demo clinic and a demo pharmacy registered,
//! printing the URLs, the facilities' tokens and cards to try.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use onshi_central::{Clock, SystemClock};
use onshi_store::{RegistryRead, SqliteStore};
use serde::{Deserialize, Serialize};

#[derive(Args)]
pub struct DemoArgs {
    /// data folder (database, keys, synthetic files)
    #[arg(long, default_value = "data/demo")]
    data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
    /// the OQS Web API of cloud receipt software (auth + search)
    #[arg(long, default_value = "127.0.0.1:8471")]
    web_api_listen: SocketAddr,
    /// size of the synthetic population made on first start
    #[arg(long, default_value_t = 10_000)]
    persons: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// start over: delete the data folder first
    #[arg(long)]
    fresh: bool,
    /// prepare the data and print what would be served, then exit
    #[arg(long)]
    no_serve: bool,
    /// serve the central over plain HTTP instead of TLS (loopback only)
    #[arg(long)]
    plain_http: bool,
}

#[derive(Serialize, Deserialize)]
struct DemoFacility {
    code: String,
    name: String,
    token: String,
}

const CLINIC: (&str, &str) = ("1311234567", "おんし内科クリニック（デモ）");
const PHARMACY: (&str, &str) = ("1341234567", "おんし薬局（デモ）");

pub fn run(a: DemoArgs) -> Result<()> {
    if a.fresh && a.data.exists() {
        std::fs::remove_dir_all(&a.data)
            .with_context(|| format!("removing {}", a.data.display()))?;
    }
    std::fs::create_dir_all(&a.data)?;
    let db = a.data.join("central.sqlite");
    let synth_dir = a.data.join("synth");
    let summary_path = synth_dir.join("summary.json");
    let store = Arc::new(SqliteStore::open(&db)?);
    if store.counts()?.persons == 0 {
        eprintln!(
            "first start: making a synthetic population of {} persons …",
            a.persons
        );
        let today = SystemClock.today();
        let summary = crate::synth(&synth_dir, a.persons, a.seed, today)?;
        std::fs::write(&summary_path, serde_json::to_vec_pretty(&summary)?)?;
        let report = crate::do_import(
            &crate::db::Db::Sqlite(db.clone()),
            Some(synth_dir.join("qualifications.csv")),
            Some(synth_dir.join("cards.csv")),
            None,
        )?;
        if !report.committed {
            for e in report.errors.iter().take(20) {
                eprintln!("{e}");
            }
            anyhow::bail!("the synthetic population did not import");
        }
        eprintln!(
            "imported {} persons ({} warnings)",
            report.persons_created,
            report.warnings.len()
        );
    }
    let fac_path = a.data.join("facilities.json");
    let facilities: Vec<DemoFacility> = if fac_path.exists() {
        serde_json::from_slice(&std::fs::read(&fac_path)?)?
    } else {
        let mut v = Vec::new();
        for (code, name) in [CLINIC, PHARMACY] {
            let token = crate::add_facility(&*store, code, name)?;
            v.push(DemoFacility {
                code: code.into(),
                name: name.into(),
                token,
            });
        }
        std::fs::write(&fac_path, serde_json::to_vec_pretty(&v)?)?;
        v
    };
    crate::keys::load_or_create(&crate::keys::default_path(&db), &db)?;
    let cards = Arc::new(crate::open_cards(&crate::keys::cards_path(&db))?);
    let examples: serde_json::Value = std::fs::read(&summary_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);

    // TLS by default: a local CA made on first start (plain HTTP only by --plain-http)
    let tls = if a.plain_http {
        let plain = onshi_tls::ListenTls {
            plain_http: true,
            ..Default::default()
        };
        plain.choose(a.listen)?;
        plain.choose(a.web_api_listen)?;
        None
    } else {
        let files =
            onshi_tls::ensure_local_ca_with_clients(&a.data.join("tls"), &[CLINIC.0, PHARMACY.0])?;
        Some((
            onshi_tls::ServerTls::from_files(&files.cert, &files.key)?,
            files,
        ))
    };

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("binding {}", a.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        print_banner(scheme, addr, &db, &facilities, &examples, store.counts()?);
        if let Some((_, files)) = &tls {
            println!("TLS: the central's certificate is signed by the demo's local CA");
            println!("  {}", files.ca.display());
            println!(
                "  trust it: curl --cacert {} {scheme}://{addr}/healthz",
                files.ca.display()
            );
            println!(
                "  (browsers: import it as a certificate authority; terminals: onshi terminal --central-ca {})",
                files.ca.display()
            );
            let tls_dir = files.ca.parent().unwrap_or(std::path::Path::new("."));
            for (code, _) in [CLINIC, PHARMACY] {
                let (cert, key) = onshi_tls::client_files(tls_dir, code);
                println!(
                    "  client certificate of {code} (Web API): --cert {} --key {}",
                    cert.display(),
                    key.display()
                );
            }
        }
        if a.no_serve {
            return Ok(());
        }
        let state = crate::app_state(store, cards);
        // the Web API: TLS asking for a facility's client certificate of the same local CA
        let web_tls = match &tls {
            Some((_, f)) => Some(onshi_tls::ServerTls::from_files_requiring_clients(
                &f.cert, &f.key, &f.ca,
            )?),
            None => None,
        };
        crate::serve_web_api(a.web_api_listen, state.clone(), web_tls).await?;
        // the terminals' API and desks: TLS with the same local CA's certificate (127.0.0.1)
        let terminal_tls = tls.as_ref().map(|(t, f)| (t, f.ca.as_path()));
        crate::terminal_cmd::start_demo_terminals(
            &a.data,
            &state,
            &[CLINIC.0, PHARMACY.0],
            terminal_tls,
        )
        .await?;
        match tls {
            Some((tls, _)) => {
                onshi_web::serve_tls(listener, state, tls, crate::shutdown_signal()).await?
            }
            None => onshi_web::serve(listener, state, crate::shutdown_signal()).await?,
        }
        Ok(())
    })
}

fn print_banner(
    scheme: &str,
    addr: SocketAddr,
    db: &std::path::Path,
    facilities: &[DemoFacility],
    examples: &serde_json::Value,
    counts: onshi_store::RegistryCounts,
) {
    let base = format!("{scheme}://{addr}");
    println!("onshi demo — central OQS on {}", db.display());
    println!(
        "  registry: {} persons, {} qualifications, {} cards, {} insurers",
        counts.persons, counts.qualifications, counts.cards, counts.insurers
    );
    println!("  API:      {base}/v1  (OpenAPI: {base}/v1/openapi.json, health: {base}/healthz)");
    println!("  portal:   {base}/portal  (patient portal view: card + PIN, R9)");
    println!("facilities (Authorization: Bearer <token>):");
    for f in facilities {
        println!("  {} {}  token {}", f.code, f.name, f.token);
    }
    println!("cards to try (place them on a demo terminal's certified reader, below):");
    if let Some(list) = examples.get("examples").and_then(|v| v.as_array()) {
        let mut shown = std::collections::HashSet::new();
        for e in list {
            let case = e
                .get("case")
                .and_then(|c| c.as_str())
                .unwrap_or_default()
                .to_string();
            if !shown.insert(case.clone()) {
                continue;
            }
            let serial = e
                .get("card_serial")
                .and_then(|v| v.as_str())
                .unwrap_or("(no card)");
            let pin = match (
                e.get("card_serial").and_then(|v| v.as_str()),
                e.get("pin").and_then(|v| v.as_str()),
            ) {
                (None, _) => "-",
                (Some(_), Some(p)) => p,
                (Some(_), None) => "(none)",
            };
            let name = e.get("name").and_then(|v| v.as_str()).unwrap_or("");
            println!("  {case:<28} card {serial:<14} PIN {pin:<10} {name}");
        }
    }
    if let Some(f) = facilities.first() {
        println!("try:");
        println!(
            "  onshi reader place --exchange <terminal folder below> --card <serial> --pin <PIN>"
        );
        println!(
            "  curl -s -H 'Authorization: Bearer {}' '{base}/v1/confirmations?limit=5'",
            f.token
        );
    }
}
