//! One facility's qualification-confirmation terminal (資格確認端末) with its emulated
//! face-auth card reader (顔認証付きカードリーダー).
//!
//! - The folder interface receipt computers use ([`exchange`]): requests dropped into
//!   `DIR/req` are seen by file-system events (inotify), with a periodic rescan as a safety
//!   net, and each is answered **exactly once** with a file of the same name (`req` → `res`)
//!   in `DIR/res`, written atomically. The answer is written before the request is removed, and
//!   the journal in the terminal's store remembers what was answered, so a crash at any moment
//!   neither loses nor doubles an answer. A request the terminal cannot read gets a 異常終了
//!   answer saying what is wrong; the terminal never stops on input.
//! - The reader session ([`reader`]): card placed, face / PIN / 目視確認 (R1–R3, R15), the
//!   consent screens, the card confirmation at the central, the result in `DIR/face` and in the
//!   terminal's confirmation history (R6).
//! - The central is reached through [`client::CentralClient`]; every call is bounded by
//!   [`Config::central_timeout`] (default 10 s), after which the answer is 異常終了 with
//!   error code 2001 (central unreachable) and the terminal keeps running.

pub mod answer;
pub mod api;
pub mod cli;
pub mod client;
pub mod exchange;
pub mod medinfo;
mod medinfo_pdf;
pub mod reader;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use onshi_central::{Clock, ConfirmationResponse, NumbersConfirmation};
use onshi_domain::kana;
use onshi_domain::numbers::{InsuredNumber, InsuredSymbol, MedicalInstitutionCode};
use onshi_domain::qualification::NumbersQuery;
use onshi_domain::wareki::format_yyyymmdd;
use onshi_formats::terminal_xml::medinfo::MedicalInfoMessage;
use onshi_formats::terminal_xml::muquc01::{BulkUploadRequest, BulkUploadResponse};
use onshi_formats::terminal_xml::muquc02::{BulkConfirmUnit, BulkFetchRequest, BulkFetchResponse};
use onshi_formats::terminal_xml::siimm01::{RefRegistrationRequest, RefRegistrationResponse};
use onshi_formats::terminal_xml::siquc01::{QualificationResponse, SingleRequest};
use onshi_formats::terminal_xml::{
    self as txml, CharacterCodes, Encoding, MessageKind, QualificationEntry, ResponseHeader,
    ResultBody, SearchInfo, SearchInfoEcho, XmlError,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore, mpsc};

pub use client::{CentralClient, ClientError};
pub use exchange::{Exchange, TerminalInfo};
pub use store::{HistoryQuery, HistoryRow, TerminalStore};

use answer::codes;

/// Settings of one terminal.
#[derive(Debug, Clone)]
pub struct Config {
    pub facility: MedicalInstitutionCode,
    pub exchange: PathBuf,
    /// the terminal's own files (its store, the desk's databases), outside the exchange
    /// folder; `None`: [`exchange::default_data_dir`]
    pub data: Option<PathBuf>,
    /// bound on every call to the central (default 10 s)
    pub central_timeout: Duration,
    /// `CharacterCodeIdentifier` code values (default 0 UTF-8 / 1 Shift_JIS)
    pub codes: CharacterCodes,
    /// encoding of face files (answers use the encoding of their request)
    pub face_encoding: Encoding,
    /// for `face: "auto"` at the reader: share of face authentications that fail
    pub face_failure_rate: f64,
    /// safety-net rescan of `req` (events do the real work)
    pub rescan_every: Duration,
    /// a file found by rescan is taken once it is this old (a writer may still be busy)
    pub settle: Duration,
    /// requests handled at the same time
    pub max_parallel: usize,
    /// the `SegmentOfResult` value of a 異常終了: 9 in one public source, 3 in another
    /// (default 9)
    pub abnormal_segment: String,
    /// the terminal's own API (and the desk beside it) is served over TLS: the desk's
    /// session cookie is then Secure
    pub api_tls: bool,
}

impl Config {
    pub fn new(facility: MedicalInstitutionCode, exchange: &Path) -> Self {
        Config {
            facility,
            exchange: exchange.to_path_buf(),
            data: None,
            central_timeout: Duration::from_secs(10),
            codes: CharacterCodes::default(),
            face_encoding: Encoding::Utf8,
            face_failure_rate: 0.0,
            rescan_every: Duration::from_secs(1),
            settle: Duration::from_millis(200),
            max_parallel: 16,
            abnormal_segment: answer::ABNORMAL.into(),
            api_tls: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("exchange folder {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("watching {path}: {message}")]
    Watch { path: String, message: String },
}

/// A running terminal (cheap to clone).
#[derive(Clone)]
pub struct Terminal {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: Config,
    ex: Exchange,
    client: Arc<dyn CentralClient>,
    store: TerminalStore,
    clock: Arc<dyn Clock>,
    inflight: Mutex<HashSet<String>>,
    /// Answers made but not yet durably published (e.g. the disk is full), by request name and
    /// content hash: a retry writes them again instead of asking the central a second time.
    unwritten: Mutex<HashMap<(String, String), Made>>,
    bulk_wake: Notify,
    sem: Semaphore,
    rng: Mutex<rand::rngs::SmallRng>,
}

/// An answer made: its bytes, its `SegmentOfResult` (or result code), and for a medical-information
/// request asking for the PDF rendering, the PDF written beside it (same name, `.pdf`).
#[derive(Clone)]
pub(crate) struct Made {
    pub(crate) bytes: Vec<u8>,
    pub(crate) segment: String,
    pub(crate) pdf: Option<Vec<u8>>,
}

impl From<(Vec<u8>, String)> for Made {
    fn from((bytes, segment): (Vec<u8>, String)) -> Self {
        Made {
            bytes,
            segment,
            pdf: None,
        }
    }
}

/// The name of the PDF published beside the answer `res_name`.
pub fn pdf_name(res_name: &str) -> String {
    match res_name.strip_suffix(".xml") {
        Some(stem) => format!("{stem}.pdf"),
        None => format!("{res_name}.pdf"),
    }
}

/// Answers kept in memory, made but not yet written, before the terminal stops taking requests.
const MAX_UNWRITTEN: usize = 64;

/// Removes a name from the in-flight set when dropped.
struct InflightGuard<'a>(&'a Inner, String);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.inflight.lock() {
            s.remove(&self.1);
        }
    }
}

/// A bulk entry as kept in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BulkItem {
    date: NaiveDate,
    query: NumbersQuery,
    limit: bool,
    echo: SearchInfoEcho,
}

impl Terminal {
    /// Prepares the exchange folder and opens the terminal's store.
    pub fn open(
        cfg: Config,
        client: Arc<dyn CentralClient>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, TerminalError> {
        let ex = Exchange::with_data_opt(&cfg.exchange, cfg.data.as_deref());
        ex.prepare().map_err(|source| TerminalError::Io {
            path: ex.root.display().to_string(),
            source,
        })?;
        let store = TerminalStore::open(&ex.store_path())?;
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
        let sem = Semaphore::new(cfg.max_parallel.max(1));
        Ok(Terminal {
            inner: Arc::new(Inner {
                cfg,
                ex,
                client,
                store,
                clock,
                inflight: Mutex::new(HashSet::new()),
                unwritten: Mutex::new(HashMap::new()),
                bulk_wake: Notify::new(),
                sem,
                rng: Mutex::new(rand::SeedableRng::seed_from_u64(seed)),
            }),
        })
    }

    /// The terminal's clock (the one place its time is read; tests pin it).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    pub fn exchange(&self) -> &Exchange {
        &self.inner.ex
    }

    pub fn store(&self) -> &TerminalStore {
        &self.inner.store
    }

    /// The outage-mode search at the central (R12, R14), bounded by the central timeout: no
    /// answer in time is [`ClientError::Unreachable`].
    pub async fn outage_search(
        &self,
        input: &onshi_central::outage::SearchInput,
    ) -> Result<onshi_central::outage::SearchResponse, ClientError> {
        let t = self.inner.cfg.central_timeout;
        tokio::time::timeout(t, self.inner.client.outage_search(input))
            .await
            .unwrap_or_else(|_| Err(ClientError::Unreachable(format!("no answer in {t:?}"))))
    }

    /// Staff choose a candidate of an outage-mode search (R14), bounded like the search.
    pub async fn outage_select(
        &self,
        search_id: i64,
        candidate: u32,
        staff_id: Option<&str>,
    ) -> Result<onshi_central::outage::SelectResponse, ClientError> {
        let t = self.inner.cfg.central_timeout;
        tokio::time::timeout(
            t,
            self.inner
                .client
                .outage_select(search_id, candidate, staff_id),
        )
        .await
        .unwrap_or_else(|_| Err(ClientError::Unreachable(format!("no answer in {t:?}"))))
    }

    /// One step of the facility's outage-mode procedure at the central (R13), bounded like the
    /// search.
    pub async fn outage_step(
        &self,
        step: &client::OutageStep,
    ) -> Result<client::OutageAnswer, ClientError> {
        let t = self.inner.cfg.central_timeout;
        tokio::time::timeout(t, self.inner.client.outage_step(step))
            .await
            .unwrap_or_else(|_| Err(ClientError::Unreachable(format!("no answer in {t:?}"))))
    }

    /// Watches `req` and answers requests until `shutdown` resolves; also runs the bulk worker.
    pub async fn run(
        &self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), TerminalError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
        let req_dir = self.inner.ex.req.clone();
        let _watcher = watch(&req_dir, tx)?;
        let bulk = tokio::spawn(self.clone().bulk_worker());
        tracing::info!(req = %req_dir.display(), facility = %self.inner.cfg.facility.as_str(), "terminal watching");
        self.rescan(Duration::ZERO);
        let mut tick = tokio::time::interval(self.inner.cfg.rescan_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(p) = rx.recv() => {
                    if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                        self.spawn_handle(name.to_string());
                    }
                }
                _ = tick.tick() => self.rescan(self.inner.cfg.settle),
            }
        }
        bulk.abort();
        Ok(())
    }

    /// Looks at every file in `req` at least `settle` old.
    fn rescan(&self, settle: Duration) {
        let Ok(rd) = std::fs::read_dir(&self.inner.ex.req) else {
            return;
        };
        let now = SystemTime::now();
        for e in rd.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if !exchange::is_request_name(&name) {
                continue;
            }
            let old_enough = e
                .metadata()
                .and_then(|m| m.modified())
                .map(|m| now.duration_since(m).unwrap_or_default() >= settle)
                .unwrap_or(true);
            if old_enough {
                self.spawn_handle(name);
            }
        }
    }

    fn spawn_handle(&self, name: String) {
        if !exchange::is_request_name(&name) {
            return;
        }
        if let Ok(s) = self.inner.inflight.lock()
            && s.contains(&name)
        {
            return;
        }
        let t = self.clone();
        tokio::spawn(async move {
            if let Err(e) = t.handle_file(&name).await {
                tracing::warn!(file = %name, error = %e, "request not handled; will retry on rescan");
            }
        });
    }

    /// Answers one request file exactly once.
    pub async fn handle_file(&self, name: &str) -> Result<(), TerminalError> {
        let inner = &self.inner;
        {
            let mut s = inner.inflight.lock().map_err(|_| TerminalError::Watch {
                path: name.into(),
                message: "in-flight set poisoned".into(),
            })?;
            if !s.insert(name.to_string()) {
                return Ok(());
            }
        }
        let _guard = InflightGuard(inner, name.to_string());
        let _permit = inner.sem.acquire().await.ok();
        let req_path = inner.ex.req.join(name);
        // A request over the size limit is answered without being read whole: its first
        // bytes (for the header's echo) and its size stand for it.
        let size = match tokio::fs::metadata(&req_path).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) => 0,
        };
        let too_large = size > txml::MAX_MESSAGE_BYTES as u64;
        let read = async {
            if too_large {
                use tokio::io::AsyncReadExt;
                let f = tokio::fs::File::open(&req_path).await?;
                let mut head = Vec::with_capacity(4096);
                f.take(4096).read_to_end(&mut head).await?;
                head.extend_from_slice(format!("\n<!-- size {size} -->").as_bytes());
                Ok(head)
            } else {
                tokio::fs::read(&req_path).await
            }
        };
        let bytes = match read.await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(TerminalError::Io {
                    path: req_path.display().to_string(),
                    source,
                });
            }
        };
        let Some(res_name) = txml::response_file_name(name) else {
            return Ok(());
        };
        let hash = hex::encode(Sha256::digest(&bytes));
        let res_dir = &inner.ex.res;
        let res_path = res_dir.join(&res_name);
        let io = |p: &Path| {
            let path = p.display().to_string();
            move |source| TerminalError::Io { path, source }
        };
        // Exactly once, across crashes. The order is: staging file written and fsynced →
        // journal 'staged' → staging file renamed into res/ → journal 'done' → request removed.
        // A restart looks at where the last run stopped.
        match inner.store.journal_state(name, &hash)?.as_deref() {
            Some("done") => return self.remove_request(&req_path),
            Some(_) => {
                // staged: if the staging file is still there, the rename did not happen yet;
                // if it is gone, the answer was published (and perhaps already taken).
                let staged = res_dir.join(exchange::staging_name(&res_name));
                if staged.exists() && !res_path.exists() {
                    exchange::publish(res_dir, &res_name).map_err(io(&res_path))?;
                }
                self.mark_done(name, &hash, &res_name)?;
                return self.remove_request(&req_path);
            }
            None => {}
        }
        if res_path.exists() {
            // answered by an earlier run whose journal entry was lost, or by hand
            if let Ok(mut m) = inner.unwritten.lock() {
                m.remove(&(name.to_string(), hash.clone()));
            }
            self.mark_done(name, &hash, &res_name)?;
            return self.remove_request(&req_path);
        }
        // An answer that could not be written (a full disk) is kept and written again on the
        // next try: the central is asked once per request, never again by a rescan.
        let key = (name.to_string(), hash.clone());
        let kept = inner
            .unwritten
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned());
        let made = match kept {
            Some(a) => a,
            None => {
                let waiting = inner.unwritten.lock().map(|m| m.len()).unwrap_or(0);
                if waiting >= MAX_UNWRITTEN {
                    // a clear stop: no more work while the answers made cannot be written
                    return Err(TerminalError::Io {
                        path: res_dir.display().to_string(),
                        source: std::io::Error::other(format!(
                            "{waiting} answers are waiting to be written (disk full?); not taking new requests"
                        )),
                    });
                }
                let a = if too_large {
                    self.answer_too_large(&bytes, size).into()
                } else {
                    self.answer(name, &bytes, &hash).await
                };
                if let Ok(mut m) = inner.unwritten.lock() {
                    m.insert(key.clone(), a.clone());
                }
                a
            }
        };
        let written = (|| -> Result<(), TerminalError> {
            // the PDF first: once the XML answer is staged, its PDF is already in res/
            if let Some(pdf) = &made.pdf {
                let pdf_name = pdf_name(&res_name);
                let pdf_path = res_dir.join(&pdf_name);
                exchange::stage(res_dir, &pdf_name, pdf).map_err(io(&pdf_path))?;
                exchange::publish(res_dir, &pdf_name).map_err(io(&pdf_path))?;
            }
            exchange::stage(res_dir, &res_name, &made.bytes).map_err(io(&res_path))?;
            inner.store.set_journal(
                name,
                &hash,
                &res_name,
                &self.now_iso(),
                &made.segment,
                "staged",
            )?;
            exchange::publish(res_dir, &res_name).map_err(io(&res_path))?;
            self.mark_done(name, &hash, &res_name)
        })();
        if let Err(e) = written {
            tracing::error!(file = %name, error = %e, "answer made but not written; it is kept and written on the next try, without asking the central again");
            return Err(e);
        }
        if let Ok(mut m) = inner.unwritten.lock() {
            m.remove(&key);
        }
        self.remove_request(&req_path)
    }

    fn mark_done(&self, name: &str, hash: &str, res_name: &str) -> Result<(), TerminalError> {
        Ok(self
            .inner
            .store
            .set_journal(name, hash, res_name, &self.now_iso(), "", "done")?)
    }

    fn remove_request(&self, req_path: &Path) -> Result<(), TerminalError> {
        match std::fs::remove_file(req_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(TerminalError::Io {
                path: req_path.display().to_string(),
                source,
            }),
        }
    }

    fn now_iso(&self) -> String {
        self.inner
            .clock
            .now_jst()
            .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string()
    }

    fn now_compact(&self) -> String {
        self.inner
            .clock
            .now_jst()
            .format("%Y%m%d%H%M%S")
            .to_string()
    }

    /// A header for answers made at the terminal, filled from what could be read of the request.
    fn local_header(&self, bytes: &[u8], reference: &str) -> (Encoding, ResponseHeader) {
        let enc = txml::detect_encoding(bytes).unwrap_or(Encoding::Utf8);
        let mut h = ResponseHeader {
            process_execution_time: self.now_compact(),
            qualification_confirmation_date: Some(format_yyyymmdd(self.inner.clock.today())),
            medical_institution_code: self.inner.cfg.facility.as_str().to_string(),
            arbitrary_file_identifier: None,
            reference_classification: Some(reference.into()),
            segment_of_result: "1".into(),
            error_code: None,
            error_message: None,
            character_code_identifier: self.inner.cfg.codes.code(enc).to_string(),
        };
        if let Ok((_, root)) = txml::read_message(bytes)
            && let Some(mh) = root.child("MessageHeader")
        {
            if let Some(d) = mh.nonempty("QualificationConfirmationDate")
                && onshi_domain::wareki::parse_yyyymmdd(&d).is_ok()
            {
                h.qualification_confirmation_date = Some(d);
            }
            h.arbitrary_file_identifier = mh
                .nonempty("ArbitraryFileIdentifier")
                .filter(|a| a.chars().count() <= 100);
        }
        (enc, h)
    }

    /// Encodes an answer; if it holds a character the request's encoding cannot carry, the
    /// answer becomes a 異常終了 saying so. A 異常終了 is written with the configured
    /// `SegmentOfResult` value ([`Config::abnormal_segment`]).
    fn encode_or_explain<A: answer::Answer>(&self, enc: Encoding, resp: &mut A) -> Vec<u8> {
        let abnormal = &self.inner.cfg.abnormal_segment;
        let h = resp.header_mut();
        if h.segment_of_result == answer::ABNORMAL {
            h.segment_of_result = abnormal.clone();
        }
        let header = h.clone();
        match resp.encode(enc) {
            Ok(b) => b,
            Err(e) => {
                let msg = match &e {
                    XmlError::Unrepresentable { path, code, .. } => format!(
                        "応答の {path} に Shift_JIS で表せない文字 (U+{code:04X}) があります。UTF-8 で要求してください。"
                    ),
                    other => format!("応答を作成できません: {other}"),
                };
                let (mut h, b) = answer::abnormal(header.clone(), codes::UNREPRESENTABLE, &msg);
                h.segment_of_result = abnormal.clone();
                QualificationResponse { header: h, body: b }
                    .write(enc)
                    .or_else(|_| {
                        let (mut h, b) = answer::abnormal(
                            header.clone(),
                            codes::UNREPRESENTABLE,
                            "encoding error",
                        );
                        h.segment_of_result = abnormal.clone();
                        QualificationResponse { header: h, body: b }.write(Encoding::Utf8)
                    })
                    .unwrap_or_default()
            }
        }
    }

    /// The answer to a request over [`txml::MAX_MESSAGE_BYTES`], from its first bytes only.
    fn answer_too_large(&self, head: &[u8], size: u64) -> (Vec<u8>, String) {
        let (enc, header) = self.local_header(head, "2");
        let msg = format!(
            "要求ファイルが大きすぎます（{size} バイト、上限 {} バイト）。分割して送ってください。",
            txml::MAX_MESSAGE_BYTES
        );
        let (h, b) = answer::abnormal(header, codes::TOO_LARGE, &msg);
        let mut r = QualificationResponse { header: h, body: b };
        (
            self.encode_or_explain(enc, &mut r),
            answer::ABNORMAL.to_string(),
        )
    }

    /// The answer to one request file: bytes and its SegmentOfResult.
    async fn answer(&self, name: &str, bytes: &[u8], hash: &str) -> Made {
        let kind = MessageKind::from_request_file(name);
        let (enc, header) = self.local_header(bytes, "2");
        let fail = |code: &str, msg: &str| {
            let (h, b) = answer::abnormal(header.clone(), code, msg);
            let mut r = QualificationResponse { header: h, body: b };
            Made::from((self.encode_or_explain(enc, &mut r), "9".to_string()))
        };
        match kind {
            None => fail(
                codes::WRONG_MESSAGE,
                &format!(
                    "ファイル名 {name} から電文の種類が分かりません (OQSsiquc01req_ / OQSsiimm01req_ / OQSmuquc01req_ / OQSmuquc02req_ / YZKsiquc01req_ / TKKsiquc01req_)"
                ),
            ),
            Some(MessageKind::BulkRefRegistration) => fail(
                codes::NOT_OFFERED,
                "OQSmuimm01req（照会番号の一括登録）はこの端末では扱えません。OQSsiimm01req を1件ずつ送ってください。",
            ),
            Some(MessageKind::BulkOnline) => fail(
                codes::NOT_OFFERED,
                "OQSmuonq（オンライン診療の一括照会）はこの端末では提供していません。OQSmuquc01req / OQSsiquc01req をお使いください。",
            ),
            Some(MessageKind::BulkHomeVisit) => fail(
                codes::NOT_OFFERED,
                "OQSmuhvq（訪問診療の一括照会）はこの端末では提供していません。OQSmuquc01req / OQSsiquc01req をお使いください。",
            ),
            Some(MessageKind::BulkMedicalAid) => fail(
                codes::NOT_OFFERED,
                "OQSmutic（医療扶助の一括照会）はこの端末では提供していません。",
            ),
            Some(MessageKind::Single) => self.answer_single(name, bytes, enc, header).await.into(),
            Some(MessageKind::RefRegistration) => self.answer_ref(bytes, enc, header).into(),
            Some(MessageKind::BulkUpload) => self
                .answer_bulk_upload(name, bytes, hash, enc, header)
                .into(),
            Some(MessageKind::BulkFetch) => self.answer_bulk_fetch(bytes, enc, header).into(),
            Some(MessageKind::DrugInfo) => {
                self.answer_medical_info(MedicalInfoMessage::Drug, bytes)
                    .await
            }
            Some(MessageKind::CheckupInfo) => {
                self.answer_medical_info(MedicalInfoMessage::Checkup, bytes)
                    .await
            }
        }
    }

    fn check_facility(&self, code: &MedicalInstitutionCode) -> Result<(), (String, String)> {
        if code != &self.inner.cfg.facility {
            return Err((
                codes::OTHER_FACILITY.into(),
                format!(
                    "XmlMsg/MessageHeader/MedicalInstitutionCode: {} はこの端末の医療機関コード {} ではありません",
                    code.as_str(),
                    self.inner.cfg.facility.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Calls the central with the terminal's time bound.
    async fn bounded<'a>(
        &self,
        fut: client::BoxFut<'a, Result<ConfirmationResponse, ClientError>>,
    ) -> Result<ConfirmationResponse, ClientError> {
        let t = self.inner.cfg.central_timeout;
        match tokio::time::timeout(t, fut).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Unreachable(format!(
                "no answer within {} ms",
                t.as_millis()
            ))),
        }
    }

    fn client_error(e: &ClientError) -> (&'static str, String) {
        match e {
            ClientError::Unreachable(d) => (
                codes::CENTRAL_UNREACHABLE,
                format!("資格確認システム（中央）に接続できません: {d}"),
            ),
            ClientError::Refused { status, message } => (
                codes::CENTRAL_REFUSED,
                format!("資格確認システム（中央）がエラーを返しました (HTTP {status}): {message}"),
            ),
        }
    }

    /// A confirmation by numbers, as header + body (used by single requests and bulk units).
    async fn confirm_numbers(
        &self,
        search: &SearchInfo,
        date: NaiveDate,
        header: &ResponseHeader,
    ) -> (ResponseHeader, ResultBody, Option<ConfirmationResponse>) {
        let req = NumbersConfirmation {
            confirmation_date: date,
            query: search.query(),
            staff_id: None,
            limit_consent: search.limit_consent == onshi_domain::codes::LimitConsent::Consented,
        };
        match self.bounded(self.inner.client.confirm_numbers(&req)).await {
            Ok(c) => {
                let (h, mut b) = answer::from_central(
                    &c,
                    header.arbitrary_file_identifier.clone(),
                    &header.character_code_identifier,
                    Some(search.echo()),
                );
                self.add_reference_numbers(&mut b.results);
                (h, b, Some(c))
            }
            Err(e) => {
                let (code, msg) = Self::client_error(&e);
                let (h, mut b) = answer::abnormal(header.clone(), code, &msg);
                b.search_info = Some(search.echo());
                (h, b, None)
            }
        }
    }

    async fn answer_single(
        &self,
        name: &str,
        bytes: &[u8],
        enc: Encoding,
        header: ResponseHeader,
    ) -> (Vec<u8>, String) {
        let parsed = SingleRequest::read(bytes)
            .map_err(|e| {
                let (c, m) = answer::request_error(&e);
                (c.to_string(), m)
            })
            .and_then(|(_, r)| {
                self.check_facility(&r.header.medical_institution_code)?;
                Ok(r)
            });
        let (h, b, central) = match parsed {
            Err((code, msg)) => {
                let (h, b) = answer::abnormal(header.clone(), &code, &msg);
                (h, b, None)
            }
            Ok(r) => {
                self.confirm_numbers(&r.search, r.header.qualification_confirmation_date, &header)
                    .await
            }
        };
        let mut resp = QualificationResponse { header: h, body: b };
        let out = self.encode_or_explain(enc, &mut resp);
        self.record("req", Some(name), &resp, central.as_ref(), None, None);
        (out, resp.header.segment_of_result.clone())
    }

    fn answer_ref(&self, bytes: &[u8], enc: Encoding, header: ResponseHeader) -> (Vec<u8>, String) {
        let parsed = RefRegistrationRequest::read(bytes)
            .map_err(|e| {
                let (c, m) = answer::request_error(&e);
                (c.to_string(), m)
            })
            .and_then(|(_, r)| {
                self.check_facility(&r.header.medical_institution_code)?;
                Ok(r)
            });
        let mut resp = RefRegistrationResponse {
            header: header.clone(),
            processing_result_status: "1".into(),
            ..RefRegistrationResponse::default()
        };
        match parsed {
            Err((code, msg)) => {
                let (h, b) = answer::abnormal(header, &code, &msg);
                resp.header = h;
                resp.processing_result_status = b.processing_result_status;
                resp.processing_result_code = b.processing_result_code;
                resp.processing_result_message = b.processing_result_message;
            }
            Ok(r) => {
                let key = ref_key_of_search(&r.search);
                let stored =
                    self.inner
                        .store
                        .register_reference(&key, &r.reference_number, &self.now_iso());
                resp.search_info = Some(r.search.echo());
                match stored {
                    Ok(()) => resp.reference_number = Some(r.reference_number),
                    Err(e) => {
                        let (h, b) =
                            answer::abnormal(header, "9999", &format!("端末内部エラー: {e}"));
                        resp.header = h;
                        resp.processing_result_status = b.processing_result_status;
                        resp.processing_result_code = b.processing_result_code;
                        resp.processing_result_message = b.processing_result_message;
                    }
                }
            }
        }
        let seg = resp.header.segment_of_result.clone();
        (self.encode_or_explain(enc, &mut resp), seg)
    }

    fn answer_bulk_upload(
        &self,
        name: &str,
        bytes: &[u8],
        hash: &str,
        enc: Encoding,
        header: ResponseHeader,
    ) -> (Vec<u8>, String) {
        let mut resp = BulkUploadResponse {
            header: header.clone(),
            processing_result_status: "1".into(),
            ..BulkUploadResponse::default()
        };
        let outcome = BulkUploadRequest::read(bytes)
            .map_err(|e| {
                let (c, m) = answer::request_error(&e);
                (c.to_string(), m)
            })
            .and_then(|(_, r)| {
                self.check_facility(&r.header.medical_institution_code)?;
                Ok(r)
            })
            .and_then(|r| {
                let items: Vec<String> = r
                    .entries
                    .iter()
                    .map(|s| {
                        serde_json::to_string(&BulkItem {
                            date: r.header.qualification_confirmation_date,
                            query: s.query(),
                            limit: s.limit_consent == onshi_domain::codes::LimitConsent::Consented,
                            echo: s.echo(),
                        })
                        .unwrap_or_default()
                    })
                    .collect();
                let internal =
                    |e: store::StoreError| ("9999".to_string(), format!("端末内部エラー: {e}"));
                let seq = self.inner.store.next("bulk").map_err(internal)?;
                let rn = format!("{}{seq:08}", self.inner.clock.today().format("%Y%m%d"));
                let rn = self
                    .inner
                    .store
                    .create_bulk(&rn, name, hash, &self.now_iso(), &items)
                    .map_err(internal)?;
                Ok((rn, items.len()))
            });
        match outcome {
            Ok((rn, n)) => {
                resp.reception_number = Some(rn);
                resp.number_of_requests = u32::try_from(n).ok();
                self.inner.bulk_wake.notify_one();
            }
            Err((code, msg)) => {
                let (h, b) = answer::abnormal(header, &code, &msg);
                resp.header = h;
                resp.processing_result_status = b.processing_result_status;
                resp.processing_result_code = b.processing_result_code;
                resp.processing_result_message = b.processing_result_message;
            }
        }
        let seg = resp.header.segment_of_result.clone();
        (self.encode_or_explain(enc, &mut resp), seg)
    }

    fn answer_bulk_fetch(
        &self,
        bytes: &[u8],
        enc: Encoding,
        header: ResponseHeader,
    ) -> (Vec<u8>, String) {
        let mut resp = BulkFetchResponse {
            header: header.clone(),
            processing_result_status: "1".into(),
            ..BulkFetchResponse::default()
        };
        let outcome = BulkFetchRequest::read(bytes)
            .map_err(|e| {
                let (c, m) = answer::request_error(&e);
                (c.to_string(), m)
            })
            .and_then(|(_, r)| {
                self.check_facility(&r.header.medical_institution_code)?;
                Ok(r)
            })
            .and_then(|r| {
                match self.inner.store.bulk_entries(&r.reception_number) {
                    Ok(Some(e)) => Ok((r.reception_number, e)),
                    Ok(None) => Err((
                        codes::UNKNOWN_RECEPTION.to_string(),
                        format!(
                            "XmlMsg/MessageBody/ReceptionNumber: 受付番号 {} の一括照会はありません",
                            r.reception_number
                        ),
                    )),
                    Err(e) => Err(("9999".to_string(), format!("端末内部エラー: {e}"))),
                }
            });
        match outcome {
            Ok((rn, entries)) => {
                let total = entries.len();
                let units: Vec<BulkConfirmUnit> = entries
                    .iter()
                    .filter_map(|e| {
                        let body: ResultBody = serde_json::from_str(e.result.as_deref()?).ok()?;
                        Some(BulkConfirmUnit {
                            sequence_number: e.seq,
                            result: body,
                        })
                    })
                    .collect();
                let normal = units
                    .iter()
                    .filter(|u| u.result.processing_result_status == "1")
                    .count();
                resp.reception_number = Some(rn);
                resp.number_of_requests = u32::try_from(total).ok();
                resp.number_of_processed = u32::try_from(units.len()).ok();
                resp.number_of_normal_end = u32::try_from(normal).ok();
                resp.number_of_errors = u32::try_from(units.len() - normal).ok();
                if units.len() == total {
                    resp.units = units;
                } else {
                    resp.header.segment_of_result = "2".into();
                }
            }
            Err((code, msg)) => {
                let (h, b) = answer::abnormal(header, &code, &msg);
                resp.header = h;
                resp.processing_result_status = b.processing_result_status;
                resp.processing_result_code = b.processing_result_code;
                resp.processing_result_message = b.processing_result_message;
            }
        }
        let seg = resp.header.segment_of_result.clone();
        (self.encode_or_explain(enc, &mut resp), seg)
    }

    /// Confirms pending bulk entries, one by one, until aborted.
    async fn bulk_worker(self) {
        loop {
            let pending = match self.inner.store.pending_bulk(64) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "bulk worker: store");
                    Vec::new()
                }
            };
            if pending.is_empty() {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), self.inner.bulk_wake.notified())
                        .await;
                continue;
            }
            for e in pending {
                let body = match serde_json::from_str::<BulkItem>(&e.request) {
                    Ok(item) => {
                        let header = ResponseHeader {
                            character_code_identifier: self
                                .inner
                                .cfg
                                .codes
                                .code(Encoding::Utf8)
                                .to_string(),
                            ..ResponseHeader::default()
                        };
                        let search = SearchInfo {
                            insurer_number: item.query.insurer_number.clone(),
                            symbol: item.query.symbol.clone(),
                            number: item.query.number.clone(),
                            branch: item.query.branch.clone(),
                            birthdate: item.query.birthdate,
                            limit_consent: if item.limit {
                                onshi_domain::codes::LimitConsent::Consented
                            } else {
                                onshi_domain::codes::LimitConsent::NotConsented
                            },
                        };
                        let (h, mut b, central) =
                            self.confirm_numbers(&search, item.date, &header).await;
                        b.search_info = Some(item.echo.clone());
                        let resp = QualificationResponse {
                            header: h,
                            body: b.clone(),
                        };
                        self.record(
                            "bulk",
                            Some(&e.reception_number),
                            &resp,
                            central.as_ref(),
                            None,
                            None,
                        );
                        b
                    }
                    Err(err) => ResultBody::error("9999", &format!("端末内部エラー: {err}")),
                };
                let json = serde_json::to_string(&body).unwrap_or_default();
                if let Err(err) =
                    self.inner
                        .store
                        .set_bulk_result(&e.reception_number, e.seq, &json)
                {
                    tracing::error!(error = %err, "bulk worker: store");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Adds the registered 照会番号 to result entries.
    fn add_reference_numbers(&self, results: &mut [QualificationEntry]) {
        for r in results {
            let i = &r.insured;
            let (Some(ins), Some(num), Some(birth)) = (
                i.insurer_number.as_deref(),
                i.insured_identification_number.as_deref(),
                i.birthdate.as_deref(),
            ) else {
                continue;
            };
            let sym = i.insured_card_symbol.as_deref().unwrap_or("");
            let branch = i.insured_branch_number.as_deref();
            for b in [branch, None] {
                let key = ref_key(ins, sym, num, b, birth);
                if let Ok(Some(n)) = self.inner.store.reference(&key) {
                    r.consents.reference_number = Some(n);
                    break;
                }
            }
        }
    }

    /// Writes the confirmation into the terminal's history (R6). Failures are logged: the
    /// answer file has priority.
    fn record(
        &self,
        source: &str,
        file_name: Option<&str>,
        resp: &QualificationResponse,
        central: Option<&ConfirmationResponse>,
        reader: Option<&reader::ReaderFacts>,
        consents: Option<&reader::Consents>,
    ) -> Option<i64> {
        let first = resp.body.results.first().map(|e| &e.insured);
        let row = HistoryRow {
            id: 0,
            processed_at: self.now_iso(),
            source: source.into(),
            file_name: file_name.map(str::to_string),
            reference_classification: resp.header.reference_classification.clone(),
            card_serial: reader.map(|r| r.card_serial.clone()),
            identity_method: reader.and_then(|r| r.identity_method.clone()),
            staff_id: reader.and_then(|r| r.staff_id.clone()),
            confirmation_date: resp
                .header
                .qualification_confirmation_date
                .clone()
                .unwrap_or_else(|| format_yyyymmdd(self.inner.clock.today())),
            birthdate: first.and_then(|i| i.birthdate.clone()),
            kana_key: first
                .and_then(|i| i.name_kana.as_deref())
                .map(kana::kana_key),
            name: first.and_then(|i| i.name.clone()),
            segment_of_result: resp.header.segment_of_result.clone(),
            validity: resp.body.qualification_validity.clone(),
            error_code: resp.header.error_code.clone(),
            error_class: central.and_then(|c| c.error.as_ref().map(|e| e.class.clone())),
            insurer_number: first.and_then(|i| i.insurer_number.clone()),
            insured_card_symbol: first.and_then(|i| i.insured_card_symbol.clone()),
            insured_identification_number: first
                .and_then(|i| i.insured_identification_number.clone()),
            insured_branch_number: first.and_then(|i| i.insured_branch_number.clone()),
            disqualification_date: first.and_then(|i| i.disqualification_date.clone()),
            consents: consents.and_then(|c| serde_json::to_value(c).ok()),
            response: serde_json::to_value(resp).unwrap_or(serde_json::Value::Null),
        };
        match self.inner.store.add_history(&row) {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::error!(error = %e, "history not recorded");
                None
            }
        }
    }

    /// The terminal's confirmation history, newest first.
    pub fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>, TerminalError> {
        Ok(self.inner.store.history(q)?)
    }
}

/// Key of a registered 照会番号: insurer number, symbol and number (folded as the central
/// folds them), branch (`*` = any), birth date.
pub fn ref_key(
    insurer: &str,
    symbol: &str,
    number: &str,
    branch: Option<&str>,
    birth: &str,
) -> String {
    let sym = InsuredSymbol::parse(symbol)
        .map(|s| s.key())
        .unwrap_or_else(|_| symbol.to_string());
    let num = InsuredNumber::parse(number)
        .map(|s| s.key())
        .unwrap_or_else(|_| number.to_string());
    format!(
        "{}|{sym}|{num}|{}|{birth}",
        insurer.trim(),
        branch.unwrap_or("*")
    )
}

fn ref_key_of_search(s: &SearchInfo) -> String {
    ref_key(
        s.insurer_number.as_str(),
        s.symbol.as_str(),
        s.number.as_str(),
        s.branch.as_ref().map(|b| b.as_str()),
        &format_yyyymmdd(s.birthdate),
    )
}

/// Starts an inotify watcher on `dir` that sends the paths of files closed after writing or
/// moved in.
fn watch(
    dir: &Path,
    tx: mpsc::UnboundedSender<PathBuf>,
) -> Result<notify::RecommendedWatcher, TerminalError> {
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    use notify::{EventKind, RecursiveMode, Watcher};
    let err = |e: notify::Error| TerminalError::Watch {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else {
            return;
        };
        let interesting = matches!(
            ev.kind,
            EventKind::Access(AccessKind::Close(AccessMode::Write))
                | EventKind::Modify(ModifyKind::Name(_))
        );
        if interesting {
            for p in ev.paths {
                let _ = tx.send(p);
            }
        }
    })
    .map_err(err)?;
    w.watch(dir, RecursiveMode::NonRecursive).map_err(err)?;
    Ok(w)
}
