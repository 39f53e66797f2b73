//! `onshi claims …`: the facility's month of claims from the desk's visits (R11, R17–R20,
//! R27), on the terminal's data folder (where `desk.sqlite` and `claims.sqlite` live).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use onshi_desk::VisitStore;
use onshi_desk::claims::settlement::Statement;
use onshi_desk::claims::web::ImportError;
use onshi_desk::claims::{CLAIMS_FILE, Claims, Severity, VisitContent};
use onshi_domain::claims::{FushouInsurer, Payer};

#[derive(Args)]
pub struct Where {
    /// the terminal's data folder (holds desk.sqlite); default: <exchange>.terminal beside it
    #[arg(long)]
    data: Option<PathBuf>,
    /// the terminal's exchange folder (its data folder is used)
    #[arg(long)]
    exchange: Option<PathBuf>,
    /// 10-digit 医療機関コード
    #[arg(long)]
    facility: String,
}

#[derive(Subcommand)]
pub enum ClaimsCmd {
    /// Record what visits contribute, from a JSON file `[{"visit_id":1,"content":{…}}]`: all or nothing.
    Content {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        file: PathBuf,
    },
    /// What is still open before a month can be filed; exit 1 when something blocks the close.
    Check {
        #[command(flatten)]
        at: Where,
        /// service month, YYYYMM
        #[arg(long)]
        month: String,
        /// print the month as JSON
        #[arg(long)]
        json: bool,
    },
    /// Close a month: freeze its claims (idempotent).
    Close {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        month: String,
        /// 請求年月 (default: the month after)
        #[arg(long)]
        billing_month: Option<String>,
    },
    /// File a re-claim for what changed after a month was filed.
    Reclaim {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        month: String,
        #[arg(long)]
        billing_month: String,
    },
    /// Write a closed month's UKE files: OUT/<請求年月>/<payer 1|2>/<claim|reclaim>/RECEIPTC.UKE.
    Files {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        month: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Take a payer's settlement statement (docs/formats/settlement.md); purges settled 申立書 (R27).
    Settle {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        statement: PathBuf,
    },
    /// Show or change the facility's claim settings.
    Settings {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        facility_name: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// the 不詳 insurer number: 77777777 or 77777779 (R20)
        #[arg(long)]
        fushou_insurer: Option<String>,
        /// payer of a 不詳 claim whose insurance type is わからない: 1 支払基金 or 2 国保連
        #[arg(long)]
        unknown_payer: Option<String>,
        /// 診療識別 of the 不詳 comments (CO)
        #[arg(long)]
        fushou_comment_shikibetsu: Option<String>,
        /// take settlement statements of a payer signed by this key: PAYER:PUBLIC_KEY, the
        /// payer 1 or 2 and its public key as `onshi payer key` prints it (repeatable; added to
        /// those registered)
        #[arg(long, value_name = "PAYER:PUBLIC_KEY")]
        payer_key: Vec<String>,
        /// forget every payer key registered before (then add those of --payer-key)
        #[arg(long)]
        clear_payer_keys: bool,
    },
}

fn open(at: &Where) -> Result<Claims> {
    let data = match (&at.data, &at.exchange) {
        (Some(d), _) => d.clone(),
        (None, Some(x)) => onshi_terminal::exchange::Exchange::new(x).data,
        (None, None) => bail!("--data or --exchange is required"),
    };
    if !data.join(onshi_desk::VISITS_FILE).exists() {
        bail!(
            "{}: no {} here (the terminal's data folder)",
            data.display(),
            onshi_desk::VISITS_FILE
        );
    }
    let visits = VisitStore::open(&data.join(onshi_desk::VISITS_FILE))?;
    Ok(Claims::open(&data.join(CLAIMS_FILE), visits, &at.facility)?)
}

pub fn run(cmd: ClaimsCmd) -> Result<ExitCode> {
    match cmd {
        ClaimsCmd::Content { at, file } => {
            let c = open(&at)?;
            let text = std::fs::read(&file).with_context(|| file.display().to_string())?;
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Entry {
                visit_id: i64,
                content: VisitContent,
            }
            let entries: Vec<Entry> = serde_json::from_slice(&text).with_context(|| {
                format!("{}: not a list of {{visit_id, content}}", file.display())
            })?;
            let entries: Vec<(i64, VisitContent)> = entries
                .into_iter()
                .map(|e| (e.visit_id, e.content))
                .collect();
            match c.import_contents(&entries) {
                Ok(n) => {
                    println!("{n} visit(s) recorded");
                    Ok(ExitCode::SUCCESS)
                }
                Err(ImportError::Problems(p)) => {
                    for p in &p {
                        eprintln!("{}: {}: {}", file.display(), p.field, p.rule);
                    }
                    eprintln!("nothing recorded ({} problem(s))", p.len());
                    Ok(ExitCode::from(1))
                }
                Err(ImportError::Claims(e)) => Err(e.into()),
            }
        }
        ClaimsCmd::Check { at, month, json } => {
            let c = open(&at)?;
            let v = c.month(&month)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{} 診療分 (請求 {}): {} claim(s){}",
                    v.service_month,
                    v.billing_month,
                    v.claims.len(),
                    v.closed_at
                        .as_deref()
                        .map(|t| format!(", closed {t}"))
                        .unwrap_or_default()
                );
                for o in &v.open {
                    let sev = match o.severity {
                        Severity::Blocking => "BLOCKING",
                        Severity::Warning => "warning ",
                    };
                    println!(
                        "  {sev} visit {:>5} {:<22} {} [{}]",
                        o.visit_id,
                        o.code,
                        o.message,
                        o.rules.join(",")
                    );
                }
                for ch in &v.changed_since_filing {
                    println!(
                        "  re-claim: patient {} now on {} {} (visits {:?})",
                        ch.patient_id, ch.numbers.insurer_number, ch.numbers.number, ch.visit_ids
                    );
                }
            }
            Ok(if v.blocking().next().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        ClaimsCmd::Close {
            at,
            month,
            billing_month,
        } => {
            let c = open(&at)?;
            let now = c.close(&month, billing_month.as_deref())?;
            let v = c.month(&month)?;
            println!(
                "{month}: {} ({} claim(s), {} file(s))",
                if now { "closed" } else { "was closed already" },
                v.claims.len(),
                v.files.len()
            );
            for f in &v.files {
                println!(
                    "  {} payer {} {}: {} claim(s), {} points, sha256 {}",
                    f.billing_month, f.payer, f.kind, f.claims, f.points, f.sha256
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ClaimsCmd::Reclaim {
            at,
            month,
            billing_month,
        } => {
            let c = open(&at)?;
            let n = c.reclaim(&month, &billing_month)?;
            println!("{month}: {n} claim(s) re-claimed in {billing_month}");
            Ok(ExitCode::SUCCESS)
        }
        ClaimsCmd::Files { at, month, out } => {
            let c = open(&at)?;
            let files = c.store.files(&month)?;
            if files.is_empty() {
                bail!("{month}: no files (close the month first: onshi claims close)");
            }
            for f in files {
                let payer = Payer::from_code(&f.payer).context("stored payer")?;
                let bytes = c.file(&f.billing_month, payer, &f.kind)?;
                let dir = out.join(&f.billing_month).join(&f.payer).join(&f.kind);
                std::fs::create_dir_all(&dir)?;
                let path = dir.join(onshi_desk::claims::uke::FILE_NAME);
                std::fs::write(&path, &bytes)?;
                println!("{} ({} bytes)", path.display(), bytes.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        ClaimsCmd::Settle { at, statement } => {
            let c = open(&at)?;
            let text =
                std::fs::read(&statement).with_context(|| statement.display().to_string())?;
            let st: Statement = serde_json::from_slice(&text)
                .with_context(|| format!("{}: not a settlement statement", statement.display()))?;
            let out = c.settle(&st)?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        ClaimsCmd::Settings {
            at,
            facility_name,
            phone,
            fushou_insurer,
            unknown_payer,
            fushou_comment_shikibetsu,
            payer_key,
            clear_payer_keys,
        } => {
            let c = open(&at)?;
            let mut s = c.settings()?;
            if let Some(n) = facility_name {
                s.facility_name = n;
            }
            if let Some(p) = phone {
                s.phone = p;
            }
            if let Some(f) = fushou_insurer {
                s.rules.fushou_insurer = match f.as_str() {
                    "77777777" => FushouInsurer::Plain,
                    "77777779" => FushouInsurer::CheckDigit,
                    other => bail!("--fushou-insurer: 77777777 or 77777779 (R20), got {other:?}"),
                };
            }
            if let Some(p) = unknown_payer {
                s.rules.unknown_type_payer = Payer::from_code(&p)
                    .with_context(|| format!("--unknown-payer: 1 or 2, got {p:?}"))?;
            }
            if let Some(k) = fushou_comment_shikibetsu {
                if k.len() != 2 || !k.bytes().all(|b| b.is_ascii_digit()) {
                    bail!("--fushou-comment-shikibetsu: a 2-digit 診療識別, got {k:?}");
                }
                s.rules.fushou_comment_shikibetsu = k;
            }
            if clear_payer_keys {
                s.payer_keys.clear();
            }
            for k in payer_key {
                let Some((payer, public_key)) = k.split_once(':') else {
                    bail!("--payer-key: PAYER:PUBLIC_KEY (1 or 2, then 64 hex digits), got {k:?}");
                };
                let k = onshi_desk::claims::signature::PayerPublicKey {
                    payer: payer.to_string(),
                    public_key: public_key.trim().to_ascii_lowercase(),
                };
                k.key("--payer-key").map_err(anyhow::Error::msg)?;
                if !s.payer_keys.contains(&k) {
                    s.payer_keys.push(k);
                }
            }
            s.check(&c.facility_code).map_err(anyhow::Error::msg)?;
            c.store.set_settings(&s)?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
