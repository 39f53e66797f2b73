//! Command-line front of the terminal, shared by `onshi terminal …` / `onshi reader place …`
//! and the stand-alone `onshi-terminal` binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use onshi_central::SystemClock;
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_formats::terminal_xml::{CharacterCodes, Encoding};

use crate::client::{CentralClient, HttpCentral};
use crate::reader::Consents;
use crate::{Config, Exchange, HistoryRow, Terminal, TerminalInfo, TerminalStore};

/// `onshi terminal`: run one facility's terminal, or look at its history.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TerminalCmd {
    #[command(subcommand)]
    pub sub: Option<TerminalSub>,
    #[command(flatten)]
    pub run: TerminalArgs,
}

#[derive(Subcommand, Debug)]
pub enum TerminalSub {
    /// The terminal's confirmation history (資格確認履歴), newest first.
    History(HistoryArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TerminalArgs {
    /// base URL of the central (`onshi central`), e.g. http://127.0.0.1:8470
    #[arg(long)]
    pub central: Option<String>,
    /// the facility's 10-digit 医療機関コード
    #[arg(long)]
    pub facility: Option<String>,
    /// exchange folder (req/, res/, face/ are made inside)
    #[arg(long)]
    pub exchange: Option<PathBuf>,
    /// the terminal's own files (its store, the desk's databases, the reader key), outside
    /// the shared exchange folder (default: `<exchange>.terminal` beside it)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// the facility's bearer token for the central (or env ONSHI_TOKEN)
    #[arg(long, env = "ONSHI_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// address of the terminal's own API (reader sessions, history) and the desk's screens
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// TLS of the terminal's own API and desk (`--tls-cert`, `--tls-key`), or `--plain-http`
    /// on loopback
    #[command(flatten)]
    pub api_tls: onshi_tls::ListenTls,
    /// bound on each call to the central, in milliseconds
    #[arg(long, default_value_t = 10_000)]
    pub central_timeout_ms: u64,
    /// CharacterCodeIdentifier values as UTF8,SJIS (sources disagree: 0,1 or 1,2)
    #[arg(long, default_value = "0,1")]
    pub character_codes: String,
    /// encoding of face files: utf-8 or shift_jis
    #[arg(long, default_value = "utf-8")]
    pub face_encoding: String,
    /// the CA certificate (PEM) that signed the central's TLS certificate, for an https://
    /// central (`onshi demo` prints its path)
    #[arg(long)]
    pub central_ca: Option<PathBuf>,
    /// the facility's TLS client certificate (PEM) for a central that asks for one
    /// (`onshi central --client-ca`); with --client-key
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// the private key (PEM) of --client-cert
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// the card emulation's file (`onshi registry import` makes `<db stem>.cards.sqlite`):
    /// the cards patients place on this terminal's reader
    #[arg(long)]
    pub cards: Option<PathBuf>,
    /// this terminal's certified-reader device key (made on first start, mode 0600;
    /// default `<data>/reader.key.json`); register its public key at the central with
    /// `onshi reader register`
    #[arg(long)]
    pub reader_key: Option<PathBuf>,
    /// share of `face: auto` authentications that fail (0.0–1.0), for load tests
    #[arg(long, default_value_t = 0.0)]
    pub face_failure_rate: f64,
    /// SegmentOfResult value of a 異常終了 (OQSCD003; sources disagree: 9 or 3)
    #[arg(long, value_enum, default_value = "9")]
    pub abnormal_segment: AbnormalSegment,
}

/// The `SegmentOfResult` value written for a 異常終了.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AbnormalSegment {
    #[value(name = "9")]
    Nine,
    #[value(name = "3")]
    Three,
}

impl AbnormalSegment {
    pub fn code(self) -> &'static str {
        match self {
            AbnormalSegment::Nine => "9",
            AbnormalSegment::Three => "3",
        }
    }
}

impl TerminalArgs {
    /// The terminal's settings from the arguments.
    pub fn config(&self) -> Result<Config> {
        let facility = self
            .facility
            .as_deref()
            .context("--facility is required (10-digit 医療機関コード)")?;
        let facility = MedicalInstitutionCode::parse(facility)
            .map_err(|e| anyhow::anyhow!("--facility: {e}"))?;
        let exchange = self.exchange.as_deref().context("--exchange is required")?;
        let mut cfg = Config::new(facility, exchange);
        cfg.data = self.data.clone();
        cfg.central_timeout = Duration::from_millis(self.central_timeout_ms.max(1));
        cfg.abnormal_segment = self.abnormal_segment.code().to_string();
        cfg.codes = CharacterCodes::parse(&self.character_codes)
            .map_err(|e| anyhow::anyhow!("--character-codes: {e}"))?;
        cfg.face_encoding = Encoding::from_name(&self.face_encoding).with_context(|| {
            format!(
                "--face-encoding: {:?} is not utf-8 or shift_jis",
                self.face_encoding
            )
        })?;
        if !(0.0..=1.0).contains(&self.face_failure_rate) {
            bail!("--face-failure-rate: must be between 0 and 1");
        }
        cfg.face_failure_rate = self.face_failure_rate;
        cfg.api_tls = self.api_tls.tls_cert.is_some();
        Ok(cfg)
    }
}

/// Runs a terminal with the given client until Ctrl-C; prints its folders.
pub async fn serve(
    cfg: Config,
    client: Arc<dyn CentralClient>,
    listen: SocketAddr,
    tls: Option<onshi_tls::ServerTls>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let t = Terminal::open(cfg, client, Arc::new(SystemClock))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let ex = t.exchange().clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "terminal {}  api {scheme}://{addr}\n  req  {}\n  res  {}\n  face {}",
        t.config().facility.as_str(),
        ex.req.display(),
        ex.res.display(),
        ex.face.display()
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let api = tokio::spawn(crate::api::serve(t.clone(), listener, tls, {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.changed().await;
        }
    }));
    let run = t.run(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    run.await?;
    let _ = api.await;
    Ok(())
}

/// `onshi terminal --central URL …`: a terminal talking HTTP to a central.
pub fn run_terminal(a: &TerminalArgs) -> Result<()> {
    let cfg = a.config()?;
    let api_tls = a.api_tls.choose(a.listen)?;
    let central = a.central.as_deref().context("--central URL is required")?;
    let token = a.token.as_deref().context(
        "--token (or env ONSHI_TOKEN) is required: the facility's token for the central",
    )?;
    let ca = match &a.central_ca {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("--central-ca {}", p.display()))?),
        None => None,
    };
    let identity = match (&a.client_cert, &a.client_key) {
        (Some(c), Some(k)) => {
            let mut pem =
                std::fs::read(c).with_context(|| format!("--client-cert {}", c.display()))?;
            pem.extend(std::fs::read(k).with_context(|| format!("--client-key {}", k.display()))?);
            Some(zeroize::Zeroizing::new(pem))
        }
        _ => None,
    };
    let mut client = HttpCentral::with_tls(
        central,
        token,
        ca.as_deref(),
        identity.as_ref().map(|p| p.as_slice()),
    )?;
    if let Some(cards) = &a.cards {
        let cards = onshi_card::CardStore::open_with_key_file(cards)
            .with_context(|| format!("--cards {}", cards.display()))?;
        let key_path = a.reader_key.clone().unwrap_or_else(|| {
            Exchange::with_data_opt(&cfg.exchange, cfg.data.as_deref())
                .data
                .join("reader.key.json")
        });
        let key = onshi_card::ReaderKey::load_or_create(
            &key_path,
            &format!("reader-{}", cfg.facility.as_str()),
        )?;
        eprintln!(
            "certified reader {} (public key {}); register it once at the central: onshi reader register --db <central db> --facility {} --id {} --public-key {}",
            key.id,
            key.public_key_hex(),
            cfg.facility.as_str(),
            key.id,
            key.public_key_hex()
        );
        client = client.with_reader(crate::client::ReaderLink {
            reader: Arc::new(onshi_card::CertifiedReader::new(key, Arc::new(cards))),
            facility: cfg.facility.clone(),
        });
    } else {
        eprintln!("no --cards: this terminal has no card reader (card reads are refused)");
    }
    let client = Arc::new(client);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(serve(cfg, client, a.listen, api_tls, async {
        let _ = tokio::signal::ctrl_c().await;
    }))
}

/// `onshi reader place`: one card on the emulated reader of a running terminal.
#[derive(Args, Debug)]
pub struct PlaceArgs {
    /// the terminal's exchange folder (its running terminal is found through it)
    #[arg(long)]
    pub exchange: PathBuf,
    /// the terminal's data folder, if it was started with `--data`
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// card serial
    #[arg(long)]
    pub card: String,
    /// face authentication: ok, fail or auto (the terminal's failure rate)
    #[arg(long)]
    pub face: Option<String>,
    /// 4-digit PIN (not for a PIN-less card, R2)
    #[arg(long)]
    pub pin: Option<String>,
    /// 目視確認 mode: id of the staff member who ticked 目視で本人確認完了 (R3)
    #[arg(long)]
    pub visual: Option<String>,
    /// consents: limit,drug,checkup,diagnosis,operation (or all / none)
    #[arg(long, default_value = "")]
    pub consent: String,
    /// 処方箋発行選択 on the reader's screen: electronic or paper (PrescriptionIssueSelect)
    #[arg(long, value_parser = ["electronic", "paper"])]
    pub prescription: Option<String>,
    /// confirmation date YYYY-MM-DD (default today)
    #[arg(long)]
    pub date: Option<chrono::NaiveDate>,
    /// print the whole session as JSON
    #[arg(long)]
    pub json: bool,
    /// the CA certificate (PEM) of the terminal's TLS certificate, for a terminal whose API
    /// is served over https (`onshi demo` prints its path)
    #[arg(long)]
    pub terminal_ca: Option<PathBuf>,
}

/// A client of a running terminal's API: its address and its API token (read from the
/// terminal's data folder), over TLS trusting `ca` when given.
pub struct TerminalApi {
    pub info: TerminalInfo,
    token: crate::api::ApiToken,
    http: reqwest::Client,
}

impl TerminalApi {
    pub fn open(exchange: &Path, data: Option<&Path>, ca: Option<&Path>) -> Result<Self> {
        let info = terminal_info(exchange, data)?;
        let data = Exchange::with_data_opt(exchange, data).data;
        let token = crate::api::read_token(&data).with_context(|| {
            format!(
                "the terminal's API token ({}) cannot be read: run as the terminal's user",
                data.join(crate::api::TOKEN_FILE).display()
            )
        })?;
        let mut b = reqwest::Client::builder().use_rustls_tls();
        if let Some(p) = ca {
            let pem = std::fs::read(p).with_context(|| format!("--terminal-ca {}", p.display()))?;
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).with_context(
                || format!("--terminal-ca {}: not a PEM certificate", p.display()),
            )?);
        }
        Ok(TerminalApi {
            info,
            token,
            http: b.build()?,
        })
    }

    /// A request to `path` of the API, with the token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.info.api))
            .bearer_auth(self.token.expose())
    }
}

/// Reads `terminal.json` of a running terminal.
pub fn terminal_info(exchange: &Path, data: Option<&Path>) -> Result<TerminalInfo> {
    let p = Exchange::with_data_opt(exchange, data).info_path();
    let raw = std::fs::read(&p).with_context(|| {
        format!(
            "no running terminal found for {} ({} missing; start `onshi terminal --exchange …` first)",
            exchange.display(),
            p.display()
        )
    })?;
    serde_json::from_slice(&raw).with_context(|| format!("{} is not valid", p.display()))
}

/// Runs `reader place`; returns the process exit code (0 only when the central confirmed).
pub fn reader_place(a: &PlaceArgs) -> Result<std::process::ExitCode> {
    let consent = Consents::parse_list(&a.consent).map_err(|e| anyhow::anyhow!("--{e}"))?;
    let api = TerminalApi::open(&a.exchange, a.data.as_deref(), a.terminal_ca.as_deref())?;
    let info = &api.info;
    let body = serde_json::json!({
        "card_serial": a.card,
        "confirmation_date": a.date,
        "face": a.face,
        "pin": a.pin,
        "visual_staff_id": a.visual,
        "consent": consent,
        "prescription": a.prescription,
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, v): (u16, serde_json::Value) = rt.block_on(async {
        let r = api
            .request(reqwest::Method::POST, "/v1/reader/place")
            .json(&body)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .with_context(|| format!("the terminal at {} does not answer", info.api))?;
        let s = r.status().as_u16();
        Ok::<_, anyhow::Error>((s, r.json().await?))
    })?;
    if status != 200 {
        let msg = v["error"]["message"].as_str().unwrap_or("refused");
        bail!("reader: {msg}");
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    for at in v["attempts"].as_array().into_iter().flatten() {
        let m = at["message"].as_str().unwrap_or("");
        eprintln!(
            "  {:<7} {:<20} {m}",
            at["method"].as_str().unwrap_or(""),
            at["result"].as_str().unwrap_or("")
        );
    }
    let outcome = v["outcome"].as_str().unwrap_or("");
    match outcome {
        "confirmed" => {
            let validity = v["qualification_validity"].as_str().unwrap_or("");
            let label = match validity {
                "1" => "有効",
                "2" => "無効",
                "3" => "無効（新しい資格あり）",
                "4" => "該当資格なし",
                "5" => "複数該当",
                _ => "",
            };
            if !a.json {
                println!(
                    "confirmed: 資格有効性 {validity} {label}; face file {}",
                    v["face_file"].as_str().unwrap_or("-")
                );
                for r in v["response"]["body"]["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let i = &r["insured"];
                    println!(
                        "  {} {} 保険者番号 {} 記号 {} 番号 {} 枝番 {} 負担 {}{}",
                        i["name"].as_str().unwrap_or(""),
                        i["birthdate"].as_str().unwrap_or(""),
                        i["insurer_number"].as_str().unwrap_or(""),
                        i["insured_card_symbol"].as_str().unwrap_or(""),
                        i["insured_identification_number"].as_str().unwrap_or(""),
                        i["insured_branch_number"].as_str().unwrap_or(""),
                        i["insured_partial_contribution_ratio"]
                            .as_str()
                            .unwrap_or("-"),
                        i["disqualification_date"]
                            .as_str()
                            .map(|d| format!(" 喪失 {d}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        other => {
            eprintln!(
                "{}: {} {}",
                match other {
                    "refused" => "refused (identity not established)",
                    "unreachable" => "central unreachable",
                    _ => "not confirmed",
                },
                v["error_code"].as_str().unwrap_or(""),
                v["error_message"].as_str().unwrap_or("")
            );
            Ok(std::process::ExitCode::from(2))
        }
    }
}

/// `onshi terminal history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[arg(long)]
    pub exchange: PathBuf,
    /// the terminal's data folder, if it was started with `--data`
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// from this confirmation date (YYYY-MM-DD or yyyyMMdd)
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    /// the patient's birth date
    #[arg(long)]
    pub birthdate: Option<String>,
    /// the patient's kana name (width, kana kind and spaces do not matter)
    #[arg(long)]
    pub kana: Option<String>,
    #[arg(long)]
    pub card: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// print JSON
    #[arg(long)]
    pub json: bool,
}

pub fn history(a: &HistoryArgs) -> Result<()> {
    let params = crate::api::HistoryParams {
        from: a.from.clone(),
        to: a.to.clone(),
        birthdate: a.birthdate.clone(),
        kana: a.kana.clone(),
        card_serial: a.card.clone(),
        limit: Some(a.limit),
    };
    let q = params
        .to_query()
        .map_err(|(f, m)| anyhow::anyhow!("--{f}: {m}"))?;
    let path = Exchange::with_data_opt(&a.exchange, a.data.as_deref()).store_path();
    if !path.exists() {
        bail!("no terminal store at {}", path.display());
    }
    let rows = TerminalStore::open_read_only(&path)?.history(&q)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for r in &rows {
        println!("{}", history_line(r));
    }
    if rows.is_empty() {
        eprintln!("no confirmations match");
    }
    Ok(())
}

/// One line of the history listing; for 資格（無効） the lost qualification's old numbers (R6).
pub fn history_line(r: &HistoryRow) -> String {
    let what = match (&r.validity, &r.error_code) {
        (_, Some(c)) => format!(
            "異常終了 {c} {}",
            r.error_class.as_deref().unwrap_or_default()
        ),
        (Some(v), None) => format!("資格有効性 {v}"),
        _ => String::new(),
    };
    let lost = if r.validity.as_deref() == Some("2") || r.validity.as_deref() == Some("3") {
        format!(
            "  旧 保険者番号 {} 記号 {} 番号 {} 枝番 {} 喪失 {}",
            r.insurer_number.as_deref().unwrap_or("-"),
            r.insured_card_symbol.as_deref().unwrap_or("-"),
            r.insured_identification_number.as_deref().unwrap_or("-"),
            r.insured_branch_number.as_deref().unwrap_or("-"),
            r.disqualification_date.as_deref().unwrap_or("-")
        )
    } else {
        r.insurer_number
            .as_deref()
            .map(|i| {
                format!(
                    "  保険者番号 {i} 記号 {} 番号 {}",
                    r.insured_card_symbol.as_deref().unwrap_or("-"),
                    r.insured_identification_number.as_deref().unwrap_or("-")
                )
            })
            .unwrap_or_default()
    };
    format!(
        "#{} {} {} {:<5} {} {} {}{}{}{}",
        r.id,
        r.processed_at,
        r.confirmation_date,
        r.source,
        r.identity_method.as_deref().unwrap_or("-"),
        r.name.as_deref().unwrap_or("-"),
        what,
        r.staff_id
            .as_deref()
            .map(|s| format!(" 目視確認 {s}"))
            .unwrap_or_default(),
        lost,
        r.file_name
            .as_deref()
            .map(|f| format!("  [{f}]"))
            .unwrap_or_default()
    )
}
