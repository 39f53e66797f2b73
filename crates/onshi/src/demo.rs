//! `onshi demo`: the central on an embedded SQLite file under a data folder (or, with `--db
//! postgres://…`, on a PostgreSQL database), filled with a synthetic population on first start, with a demo clinic and a demo pharmacy registered,
//! printing the URLs, the facilities' tokens and cards to try; and the payer (支払基金 and
//! 国保連 in one payer database over the same registry) on its own port, with the staff's,
//! the facilities' and some insurers' logins, so the demo's claims can be submitted and
//! settled. The payer keeps its own SQLite file under the data folder on either backend; it
//! reads the registry from the central's database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use onshi_central::{Clock, SystemClock};
use onshi_payer::api::{new_token, now, token_hash};
use onshi_payer::model::{PayerCode, YearMonth};
use onshi_payer::registry::PayerRegistry;
use onshi_payer::store::{FacilityRow, PayerStore, Principal, Role};
use onshi_store::{CentralStore, MedicalInfoStore, RegistryRead};

use crate::db::{Db, Opened};
use serde::{Deserialize, Serialize};

#[derive(Args)]
pub struct DemoArgs {
    /// data folder (database, keys, synthetic files)
    #[arg(long, default_value = "data/demo")]
    data: PathBuf,
    /// the central's database: a PostgreSQL URL (`postgres://user@host:5432/db`; an empty
    /// database, filled on first start, or one this data folder filled, whose keys are in the
    /// data folder); default: an embedded SQLite file in the data folder
    #[arg(long, value_name = "POSTGRES_URL")]
    db: Option<String>,
    /// the payer's own database: a PostgreSQL URL (`postgres://user@host:5432/payer`, not the
    /// central's database); default: an SQLite file under the data folder's `payer/`
    #[arg(long, value_name = "POSTGRES_URL")]
    payer_db: Option<String>,
    #[arg(long, default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
    /// the OQS Web API of cloud receipt software (auth + search)
    #[arg(long, default_value = "127.0.0.1:8471")]
    web_api_listen: SocketAddr,
    /// the payer's API and screens (支払基金 and 国保連)
    #[arg(long, default_value = "127.0.0.1:8490")]
    payer_listen: SocketAddr,
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

/// A login to the demo payer: who, at which payer, and the token (shown in the banner).
#[derive(Serialize, Deserialize)]
struct DemoPayerLogin {
    payer: String,
    role: String,
    subject: String,
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
    let (db, keys) = match &a.db {
        None => (Db::Sqlite(a.data.join("central.sqlite")), None),
        Some(url) if onshi_store::postgres::is_url(url) => (
            Db::Postgres(url.clone()),
            Some(a.data.join("central.keys.json")),
        ),
        Some(_) => anyhow::bail!(
            "--db: expected a postgres://… URL (without --db the demo keeps an SQLite file in \
             the data folder)"
        ),
    };
    let keys_path = db.keys_path(keys.clone())?;
    // refuses a database that holds data hashed with keys this folder does not have
    db.load_keys(&keys_path)?;
    match db.open_typed()? {
        Opened::Sqlite(s) => run_on(a, &db, keys, &keys_path, s),
        Opened::Postgres(s) => run_on(a, &db, keys, &keys_path, s),
    }
}

fn run_on<S: CentralStore + PayerRegistry + 'static>(
    a: DemoArgs,
    db: &Db,
    keys: Option<PathBuf>,
    keys_path: &std::path::Path,
    store: Arc<S>,
) -> Result<()> {
    let synth_dir = a.data.join("synth");
    let summary_path = synth_dir.join("summary.json");
    if store.counts()?.persons == 0 {
        eprintln!(
            "first start: making a synthetic population of {} persons …",
            a.persons
        );
        let today = SystemClock.today();
        // the cards file brings each certificate's key, as an issuer's would
        let cards = db.cards_path(keys_path);
        let summary = crate::synth(&synth_dir, a.persons, a.seed, today, Some(&cards))?;
        std::fs::write(&summary_path, serde_json::to_vec_pretty(&summary)?)?;
        let report = crate::import_into(
            &*store,
            db,
            Some(synth_dir.join("qualifications.csv")),
            Some(synth_dir.join("cards.csv")),
            keys,
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
        let n = fill_medical_info(&*store, a.seed, today)?;
        eprintln!("medical information (R2): {n} persons with drug, checkup or diagnosis records");
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
    let cards = Arc::new(crate::open_cards(&db.cards_path(keys_path))?);
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

    let payer_dir = a.data.join("payer");
    std::fs::create_dir_all(&payer_dir)?;
    let payer_db = payer_db(&payer_dir, a.payer_db.as_deref())?;
    // on PostgreSQL the 申立書 details are sealed under keys kept in the data folder
    let form_keys = matches!(payer_db, Db::Postgres(_)).then(|| payer_dir.join("form-keys"));
    let payer_store = crate::payer_cmd::open_store(&payer_db, form_keys.as_deref())?;
    let payer_logins = prepare_payer(&payer_dir, &*payer_store, &examples, SystemClock.today())?;
    let payer_svc = onshi_payer::service::PayerService {
        store: payer_store,
        registry: store.clone(),
        calendar: onshi_payer::rules::PayerCalendar::default(),
        settings: onshi_payer::rules::PayerSettings::default(),
        out_dir: Some(payer_dir.join("out")),
    };

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("binding {}", a.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        print_banner(
            scheme,
            addr,
            &db.display(),
            &facilities,
            &examples,
            store.counts()?,
        );
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
        let payer_listener = tokio::net::TcpListener::bind(a.payer_listen)
            .await
            .with_context(|| format!("binding {}", a.payer_listen))?;
        let payer_where = format!(
            "{} (its own {} database)",
            payer_db.display(),
            match payer_db {
                Db::Sqlite(_) => "SQLite",
                Db::Postgres(_) => "PostgreSQL",
            }
        );
        print_payer_banner(
            scheme,
            payer_listener.local_addr()?,
            &payer_dir,
            &payer_where,
            &payer_logins,
        );
        if a.no_serve {
            return Ok(());
        }
        // the payer: TLS with the same local CA's certificate, as the central; it calls the
        // demo desks' settlement hooks trusting that CA
        let ca_pem = match &tls {
            Some((_, f)) => Some(std::fs::read(&f.ca)?),
            None => None,
        };
        let client = onshi_payer::service::hook_client(ca_pem.as_deref())
            .map_err(|e| anyhow::anyhow!("the payer's hook client: {e}"))?;
        // its statements are signed with its key (beside its database); each demo desk takes
        // them from both payers by that public key
        let payer_key = crate::keys::payer_key(&crate::keys::payer_key_path(&payer_dir.join("payer.sqlite")))?;
        let payer_keys: Vec<_> = [PayerCode::Kikin, PayerCode::Kokuhoren]
            .into_iter()
            .map(|p| onshi_desk::claims::signature::PayerPublicKey {
                payer: p.code().to_string(),
                public_key: payer_key.public_key_hex(),
            })
            .collect();
        println!(
            "payer signing key (statements to the desks' hooks): {} (registered at each demo desk)",
            payer_key.public_key_hex()
        );
        let hooks = onshi_payer::signing::Hooks::new(client, payer_key);
        let payer_store = payer_svc.store.clone();
        crate::payer_cmd::start(
            payer_svc,
            hooks,
            payer_listener,
            tls.as_ref().map(|(t, _)| t.clone()),
            Some(payer_dir.join("inbox")),
            std::future::pending(),
        )?;
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
        let desks = crate::terminal_cmd::start_demo_terminals(
            &a.data,
            &state,
            &[CLINIC.0, PHARMACY.0],
            terminal_tls,
            &payer_keys,
        )
        .await?;
        // each demo facility's settlement hook is its desk (on a new port at each start): a
        // settled month reaches it, which purges the settled 申立書 (R27)
        register_demo_hooks(payer_store.as_ref(), &[CLINIC, PHARMACY], &desks)?;
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
    db: &str,
    facilities: &[DemoFacility],
    examples: &serde_json::Value,
    counts: onshi_store::RegistryCounts,
) {
    let base = format!("{scheme}://{addr}");
    println!("onshi demo — central OQS on {db}");
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

/// The payer's side of the demo, made on first start: the demo clinic and pharmacy registered
/// with both payers, a staff login per payer, a login per facility and payer (to submit), a
/// login for up to three insurers of each payer from the synthetic population, and a past of
/// payments (the 12 months before this one) for 按分 to weigh by. Later starts read the logins
/// back.
fn prepare_payer(
    dir: &std::path::Path,
    store: &dyn PayerStore,
    examples: &serde_json::Value,
    today: chrono::NaiveDate,
) -> Result<Vec<DemoPayerLogin>> {
    let path = dir.join("logins.json");
    if path.exists() {
        return Ok(serde_json::from_slice(&std::fs::read(&path)?)?);
    }
    let insurers: std::collections::BTreeSet<onshi_domain::numbers::InsurerNumber> = examples
        .get("examples")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("insurer_number")?.as_str())
        .filter_map(|s| onshi_domain::numbers::InsurerNumber::parse(s).ok())
        .collect();
    let this_month = YearMonth::of(today);
    let at = now();
    let mut logins = Vec::new();
    let mut issue = |payer: PayerCode, role: Role, subject: &str| -> Result<()> {
        let token = new_token().map_err(|e| anyhow::anyhow!("random: {e}"))?;
        store.add_principal(
            &token_hash(&token),
            &Principal {
                role,
                payer,
                subject: subject.to_string(),
            },
            &at,
        )?;
        logins.push(DemoPayerLogin {
            payer: payer.code().into(),
            role: role.code().into(),
            subject: subject.into(),
            token,
        });
        Ok(())
    };
    for payer in [PayerCode::Kikin, PayerCode::Kokuhoren] {
        issue(payer, Role::Staff, "デモ審査担当")?;
        for (code, name) in [CLINIC, PHARMACY] {
            store.upsert_facility(&FacilityRow {
                payer,
                code: code.into(),
                name: name.into(),
                hook_url: None,
            })?;
            issue(payer, Role::Facility, code)?;
        }
        let mine: Vec<String> = insurers
            .iter()
            .filter(|i| PayerCode::of_insurer(i) == payer)
            .map(|i| i.to_string())
            .collect();
        for i in mine.iter().take(3) {
            issue(payer, Role::Insurer, i)?;
        }
        let past = onshi_payer::synth::past_payments(
            payer,
            &[CLINIC.0.to_string(), PHARMACY.0.to_string()],
            &mine,
            this_month.plus(-12),
            this_month.plus(-1),
            1,
        );
        store.add_payments(&past)?;
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&logins)?)?;
    Ok(logins)
}

/// The payer's own database: the SQLite file `payer.sqlite` in `dir`, or the PostgreSQL
/// database `url` (`--payer-db`). Its signing key stays in `dir` either way.
fn payer_db(dir: &std::path::Path, url: Option<&str>) -> Result<Db> {
    match url {
        None => Ok(Db::Sqlite(dir.join("payer.sqlite"))),
        Some(u) if onshi_store::postgres::is_url(u) => Ok(Db::Postgres(u.to_string())),
        Some(_) => anyhow::bail!(
            "--payer-db: expected a postgres://… URL (without --payer-db the payer keeps an \
             SQLite file in the data folder)"
        ),
    }
}

/// Registers each demo facility's desk (`<desk base>/desk/api/claims/settlement`) as its
/// settlement hook with both payers, and prints them.
fn register_demo_hooks(
    store: &dyn PayerStore,
    facilities: &[(&str, &str)],
    desks: &[(PathBuf, String)],
) -> Result<()> {
    println!("payer settlement hooks (支払確定 POSTs each statement to the facility's desk, R27):");
    for ((code, name), (_, base)) in facilities.iter().zip(desks) {
        let hook = format!("{base}/desk/api/claims/settlement");
        for payer in [PayerCode::Kikin, PayerCode::Kokuhoren] {
            store.upsert_facility(&FacilityRow {
                payer,
                code: (*code).into(),
                name: (*name).into(),
                hook_url: Some(hook.clone()),
            })?;
        }
        println!("  {code}  {hook}");
    }
    Ok(())
}

fn print_payer_banner(
    scheme: &str,
    addr: SocketAddr,
    dir: &std::path::Path,
    on: &str,
    logins: &[DemoPayerLogin],
) {
    let base = format!("{scheme}://{addr}");
    println!(
        "payer (審査支払機関: 1 支払基金, 2 国保連) on {on}; the registry it reads is the central's"
    );
    println!(
        "  payer screens: {base}/payer/login  (sign in with a token below; insurers see {base}/insurer/)"
    );
    println!("  payer API:     {base}/v1/payer  (docs/payer.md)");
    println!(
        "  folder intake: {}/<payer>/<医療機関コード>/*.UKE",
        dir.join("inbox").display()
    );
    println!("payer logins (token, also Authorization: Bearer <token>):");
    for l in logins {
        let who = match l.role.as_str() {
            "staff" => "staff",
            "facility" => "facility",
            _ => "insurer",
        };
        println!(
            "  payer {} {who:<8} {:<14} token {}",
            l.payer, l.subject, l.token
        );
    }
    if let Some(f) = logins.iter().find(|l| l.role == "facility") {
        println!("submit the clinic's month (the UKE file from its 請求 screen):");
        println!(
            "  curl -s{} -H 'Authorization: Bearer {}' --data-binary @RECEIPTC.UKE '{base}/v1/payer/submissions?file_name=RECEIPTC.UKE'",
            if scheme == "https" {
                " --cacert <the demo's CA above>"
            } else {
                ""
            },
            f.token
        );
    }
}

/// Gives the imported persons synthetic medical information (R2: drug history, checkups,
/// diagnoses; `onshi_synth::medinfo`), in batches of one transaction each. Returns how many
/// persons have any.
fn fill_medical_info(
    store: &(impl RegistryRead + MedicalInfoStore),
    seed: u64,
    today: chrono::NaiveDate,
) -> Result<u64> {
    let persons = store.counts()?.persons as i64;
    let mut with_any = 0;
    let mut batch = Vec::new();
    let mut id = 0;
    let mut seen = 0;
    while seen < persons && id < persons * 2 + 16 {
        id += 1;
        let Some(p) = store.person(id)? else {
            continue;
        };
        seen += 1;
        let r =
            onshi_synth::medinfo::records_for(seed, id, p.person.birthdate, p.person.sex, today);
        if !r.is_empty() {
            with_any += 1;
            batch.push((id, r));
        }
        if batch.len() >= 1000 {
            store.add_medical_records(&batch)?;
            batch.clear();
        }
    }
    store.add_medical_records(&batch)?;
    Ok(with_any)
}
