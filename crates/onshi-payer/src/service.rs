//! The payer's services: intake → review (R21) → identification (R22) → settlement with 按分
//! (R22) → statements, 資格確認結果連絡書, insurers' views (R11, R23).
//!
//! Side effects (the store, the registry, files, the facility's hook) live here; every
//! decision is taken by the pure modules.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use onshi_domain::numbers::InsurerNumber;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::apportion::{ApportionError, apportion};
use crate::identify::{Identification, identify};
use crate::intake::{Addressing, LineError, ParsedFile, validate};
use crate::model::{Claim, ClaimedInsurer, KakuninKubun, PayerCode, YearMonth};
use crate::registry::{PayerRegistry, PersonHistory};
use crate::review::review;
use crate::rules::{PayerCalendar, PayerSettings};
use crate::store::{
    ClaimStatus, Decision, NewSubmission, PayerStore, PayerStoreError, PaymentRow, PoolShareRow,
    Recorded, ReviewedClaim, SettleClaim, SettlementWrite, StoredClaim, SubmissionRow,
};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] PayerStoreError),
    #[error("registry: {0}")]
    Registry(#[from] onshi_store::StoreError),
    /// the file is refused whole, with every reason
    #[error("the file is refused: {} reason(s)", .0.len())]
    Refused(Vec<LineError>),
    #[error("{rule}: {message}")]
    Rule { rule: &'static str, message: String },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, ServiceError>;

/// What intake did with a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeOutcome {
    pub submission: SubmissionRow,
    /// the same file was submitted before: nothing new was recorded
    pub duplicate: bool,
    /// count of claims per status
    pub by_status: BTreeMap<String, u64>,
}

/// A file as it arrived: to which payer, from which (authenticated) facility, how.
#[derive(Debug, Clone, Copy)]
pub struct Submitted<'a> {
    pub payer: PayerCode,
    pub facility: &'a str,
    pub file_name: &'a str,
    pub bytes: &'a [u8],
    /// `api` or `folder`
    pub source: &'a str,
    pub at: &'a str,
}

/// What settling a billing month did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonthSettlement {
    pub statements: Vec<Statement>,
    /// facilities not settled, with why (e.g. an open worklist item)
    pub refused: Vec<Refusal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub facility: String,
    pub reason: String,
}

/// A file ready to record.
enum Prepared {
    New(NewSubmission, Vec<ReviewedClaim>),
    Duplicate(SubmissionRow),
}

/// The payer service.
#[derive(Clone)]
pub struct PayerService {
    pub store: Arc<dyn PayerStore>,
    pub registry: Arc<dyn PayerRegistry>,
    pub calendar: PayerCalendar,
    pub settings: PayerSettings,
    /// where statements and 連絡書 files are written (per facility), if anywhere
    pub out_dir: Option<PathBuf>,
}

/// SHA-256 of a file, hex.
pub fn file_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut a = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    a
}

/// 一部負担金 for `points` at `share` percent: 10 yen a point, rounded to 10 yen (四捨五入).
pub fn copay_for(points: u64, share_percent: u8) -> u64 {
    let yen = points * 10 * u64::from(share_percent);
    // yen/100 rounded to the nearest 10
    (yen + 500) / 1000 * 10
}

/// R27: a claim's facts without the 申立書 details: the 摘要 keeps only its 「不詳」 marker.
pub fn scrub_moushitatesho(c: &Claim) -> Claim {
    let mut c = c.clone();
    c.tekiyou = scrub_tekiyou(&c.tekiyou);
    c
}

/// R27: a 摘要 without the 申立書 details: only its 「不詳」 marker is kept.
pub fn scrub_tekiyou(tekiyou: &[String]) -> Vec<String> {
    tekiyou
        .iter()
        .filter(|t| t.trim() == "不詳")
        .cloned()
        .collect()
}

/// A settlement statement of one submitted file (docs/formats/settlement.md, format
/// `onshi-settlement/1`). Typed rows serialised once; the fields are in the order of their
/// names, as the statement's JSON has always been written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// each 按分 pool of the facility's month: its inputs and shares
    pub apportionment: Vec<serde_json::Value>,
    pub billing_month: YearMonth,
    pub by_payer: Vec<PayerTotal>,
    pub claims: Vec<StatementLine>,
    pub facility: String,
    pub file_sha256: Option<String>,
    pub format: String,
    pub payer: PayerCode,
    pub settled_at: String,
}

/// Who pays a statement line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayerKind {
    /// the 按分 pool (R22)
    Apportionment,
    Insurer,
    /// 公費単独: the claim's 第1公費
    PublicFund,
}

/// How a statement line was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettledBy {
    Review,
    Identification,
    Apportionment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    Settled,
    /// pooled with no basis to share on: not paid yet
    Pending,
}

/// One claim of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    pub amount_yen: u64,
    /// the (first) part's insurer or public fund; none for the 按分 pool
    pub insurer_number: Option<InsurerNumber>,
    pub kakunin_kubun: KakuninKubun,
    /// the parts of a split (分割) claim
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<LinePart>>,
    pub payer_kind: PayerKind,
    pub points: u64,
    pub receipt_number: u32,
    pub service_month: YearMonth,
    pub settled_by: Option<SettledBy>,
    pub status: LineStatus,
}

/// One part of a split claim's statement line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePart {
    pub amount_yen: u64,
    pub days: Vec<u32>,
    pub insurer_number: InsurerNumber,
    pub points: u64,
}

/// A statement's total for one payer of its claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerTotal {
    pub amount_yen: u64,
    pub claims: u64,
    pub payer_kind: PayerKind,
    pub payer_number: Option<String>,
}

/// A statement's totals per payer of its claims: each insurer and each public fund (公費単独)
/// with the count of its claims and what it pays, and the 按分 pool as one line; claims still
/// pending are not in it.
pub fn statement_totals(lines: &[StatementLine]) -> Vec<PayerTotal> {
    let mut t: BTreeMap<(PayerKind, &str), (u64, u64)> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.status == LineStatus::Settled) {
        match &l.parts {
            Some(parts) => {
                for p in parts {
                    let e = t
                        .entry((l.payer_kind, p.insurer_number.as_str()))
                        .or_default();
                    e.0 += 1;
                    e.1 += p.amount_yen;
                }
            }
            None => {
                let number = l.insurer_number.as_ref().map_or("", |n| n.as_str());
                let e = t.entry((l.payer_kind, number)).or_default();
                e.0 += 1;
                e.1 += l.amount_yen;
            }
        }
    }
    t.into_iter()
        .map(|((kind, number), (claims, amount))| PayerTotal {
            amount_yen: amount,
            claims,
            payer_kind: kind,
            payer_number: (!number.is_empty()).then(|| number.to_string()),
        })
        .collect()
}

/// The client the payer calls facilities' settlement hooks with: a 10-second timeout, and
/// over TLS trusting the CA certificates of `ca_pem` (PEM, several allowed; e.g. the demo's
/// local CA). Hooks are on loopback or a facility's own network: no public roots are built in.
pub fn hook_client(ca_pem: Option<&[u8]>) -> std::result::Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10));
    if let Some(pem) = ca_pem {
        for c in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| e.to_string())? {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| e.to_string())
}

/// POSTs a statement of `payer` to a facility's settlement hook, signed with the hooks' key
/// (`X-Onshi-Payer-Signature`, [`crate::signing`]); returns the HTTP status.
pub async fn call_hook<T: Serialize + ?Sized>(
    hooks: &crate::signing::Hooks,
    url: &str,
    payer: PayerCode,
    statement: &T,
) -> std::result::Result<u16, String> {
    let body = serde_json::to_vec(statement).map_err(|e| e.to_string())?;
    let mut rq = hooks
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(key) = &hooks.key {
        rq = rq.header(
            onshi_domain::claims::SETTLEMENT_SIGNATURE_HEADER,
            key.signature_header(payer.code(), &body),
        );
    }
    let r = rq.body(body).send().await.map_err(|e| e.to_string())?;
    Ok(r.status().as_u16())
}

/// What a facility's settlement hook answered to one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookCall {
    pub facility: String,
    /// `http <status>` or `failed: <why>`
    pub hook: String,
}

/// What settling a billing month did, with what each facility's hook answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SettledMonth {
    pub statements: Vec<Statement>,
    pub refused: Vec<Refusal>,
    pub hooks: Vec<HookCall>,
}

impl PayerService {
    /// Settles the billing month (as [`PayerService::settle_month`], on a blocking thread),
    /// then POSTs each statement to its facility's hook when one is registered — the
    /// facility then purges its settled 申立書 (R27) — and records each hook's answer. A
    /// failed hook does not undo the settlement: the statement stays available by API and in
    /// the facility's folder. The API, the 支払確定 screen and `onshi payer settle` all settle
    /// through this.
    pub async fn settle_month_and_notify(
        &self,
        hooks: &crate::signing::Hooks,
        payer: PayerCode,
        billing_month: YearMonth,
        at: &str,
    ) -> Result<SettledMonth> {
        let svc = self.clone();
        let at = at.to_string();
        let out = tokio::task::spawn_blocking(move || svc.settle_month(payer, billing_month, &at))
            .await
            .map_err(|e| ServiceError::NotFound(format!("the settlement task stopped: {e}")))??;
        let mut calls = Vec::new();
        for st in &out.statements {
            let f = st.facility.clone();
            let Some(url) = self.store.facility(payer, &f)?.and_then(|f| f.hook_url) else {
                continue;
            };
            let status = match call_hook(hooks, &url, payer, st).await {
                Ok(code) => format!("http {code}"),
                Err(e) => format!("failed: {e}"),
            };
            if (200..300).contains(
                &status
                    .strip_prefix("http ")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0),
            ) {
                tracing::info!(facility = %f, "settlement hook answered");
            } else {
                tracing::warn!(facility = %f, hook = %status, "settlement hook did not take the statement");
            }
            self.store
                .set_hook_status(payer, &f, billing_month, &status)?;
            calls.push(HookCall {
                facility: f,
                hook: status,
            });
        }
        Ok(SettledMonth {
            statements: out.statements,
            refused: out.refused,
            hooks: calls,
        })
    }
}

impl PayerService {
    /// Reviews one claim (R21) and, when review cannot settle it, identifies it (R22).
    pub fn process_claim(&self, claim: &Claim) -> Result<ReviewedClaim> {
        self.process(claim.clone(), None)
    }

    /// The claimed numbers of a claim that may be valid as claimed: from the 2022-02 claims
    /// such a claim is decided by the holders of its claimed numbers alone.
    fn claimed_key<'c>(&self, claim: &'c Claim) -> Option<(&'c InsurerNumber, &'c str)> {
        match &claim.numbers.insurer {
            ClaimedInsurer::Known(ins)
                if claim.service_month >= self.calendar.valid_claim_never_reassigned_from =>
            {
                Some((ins, claim.numbers.number.as_str()))
            }
            _ => None,
        }
    }

    /// Reviews the claims of a file (R21) and identifies those review cannot settle (R22).
    /// The registry reads of the claims valid as claimed go together (one read of the
    /// registry for the file); the others are read claim by claim.
    fn process_file(&self, claims: Vec<Claim>) -> Result<Vec<ReviewedClaim>> {
        let keys: Vec<Option<(&InsurerNumber, &str)>> =
            claims.iter().map(|c| self.claimed_key(c)).collect();
        let wanted: Vec<(&InsurerNumber, &str)> = keys.iter().flatten().copied().collect();
        let mut found = self.registry.claimed_holders_many(&wanted)?.into_iter();
        let holders: Vec<Option<Vec<PersonHistory>>> =
            keys.iter().map(|k| k.and_then(|_| found.next())).collect();
        claims
            .into_iter()
            .zip(holders)
            .map(|(c, h)| self.process(c, h))
            .collect()
    }

    /// Reviews one claim, with the holders of its claimed numbers when already read.
    fn process(&self, claim: Claim, claimed: Option<Vec<PersonHistory>>) -> Result<ReviewedClaim> {
        // 公費単独: paid by its public fund as claimed (no registry read, never pooled)
        if let Some(r) = crate::review::public_fund_review(&claim) {
            return Ok(ReviewedClaim {
                claim,
                status: ClaimStatus::Assigned,
                kubun: r.kubun,
                identified: false,
                person_id: None,
                reason: r.reason,
                parts: r.parts,
                evidence: None,
                worklist: None,
            });
        }
        let mut reason_prefix = String::new();
        let mut person_hint = None;
        if let ClaimedInsurer::Known(ins) = &claim.numbers.insurer {
            // the common case first: valid as claimed, decided by the claimed numbers alone
            // (exactly what the full review decides, since from the 2022-02 claims such a
            // claim is never re-assigned)
            if claim.service_month >= self.calendar.valid_claim_never_reassigned_from {
                let holders = match claimed {
                    Some(h) => h,
                    None => self.registry.claimed_holders(ins, &claim.numbers.number)?,
                };
                let r = review(&claim, &holders, &self.calendar);
                if matches!(
                    r.kubun,
                    KakuninKubun::Unchanged | KakuninKubun::BranchIdentified
                ) {
                    return Ok(ReviewedClaim {
                        claim,
                        status: ClaimStatus::Assigned,
                        kubun: r.kubun,
                        identified: false,
                        person_id: r.person_id,
                        reason: r.reason,
                        parts: r.parts,
                        evidence: None,
                        worklist: None,
                    });
                }
            }
            let holders = self.registry.holders_of(ins, &claim.numbers.number)?;
            let r = review(&claim, &holders, &self.calendar);
            if r.kubun != KakuninKubun::Unconfirmable {
                return Ok(ReviewedClaim {
                    claim,
                    status: ClaimStatus::Assigned,
                    kubun: r.kubun,
                    identified: false,
                    person_id: r.person_id,
                    reason: r.reason,
                    parts: r.parts,
                    evidence: None,
                    worklist: None,
                });
            }
            reason_prefix = format!("{}。", r.reason);
            person_hint = r.person_id;
        }
        let candidates = self.registry.persons_by_facts(
            &claim.kana_name,
            claim.birthdate,
            claim.sex,
            self.settings.candidate_limit,
        )?;
        Ok(match identify(&claim, &candidates) {
            Identification::Assigned { evidence } => {
                let same_as_claimed = matches!(&claim.numbers.insurer, ClaimedInsurer::Known(i)
                    if evidence.parts.len() == 1 && evidence.parts[0].bill_to.insurer_number == *i);
                let kubun = if evidence.parts.len() > 1 {
                    KakuninKubun::Bunkatsu
                } else if same_as_claimed {
                    KakuninKubun::Unchanged
                } else {
                    KakuninKubun::Furikae
                };
                ReviewedClaim {
                    claim,
                    status: ClaimStatus::Assigned,
                    kubun,
                    identified: true,
                    person_id: Some(evidence.person_id),
                    reason: format!(
                        "{reason_prefix}R22 特定: 候補者一名（{}）",
                        evidence.matched.join("・")
                    ),
                    parts: evidence.parts.clone(),
                    evidence: Some(evidence),
                    worklist: None,
                }
            }
            Identification::Several { candidates, facts } => ReviewedClaim {
                claim,
                status: ClaimStatus::Worklist,
                kubun: KakuninKubun::Unconfirmable,
                identified: false,
                person_id: person_hint,
                reason: format!(
                    "{reason_prefix}R22 特定: 候補者が{}名。職員が判断（各保険者に照会）",
                    candidates.len()
                ),
                parts: Vec::new(),
                evidence: None,
                worklist: Some((candidates, facts)),
            },
            Identification::None { searched, .. } => ReviewedClaim {
                claim,
                status: ClaimStatus::Pool,
                kubun: KakuninKubun::Unconfirmable,
                identified: false,
                person_id: person_hint,
                reason: format!(
                    "{reason_prefix}R22 特定: 診療日の資格を持つ候補者なし（検索 {searched} 名）: 按分へ"
                ),
                parts: Vec::new(),
                evidence: None,
                worklist: None,
            },
        })
    }

    /// Intake of a submitted UKE file (API or folder).
    pub fn intake_uke(&self, f: &Submitted<'_>) -> Result<IntakeOutcome> {
        let parsed = crate::uke_intake::read_uke(f.bytes, &self.settings.fusho_insurer_numbers);
        self.intake_parsed(f, parsed)
    }

    /// Everything of an intake but recording: the duplicate check, validation, review and
    /// identification.
    fn prepare_intake(
        &self,
        f: &Submitted<'_>,
        parsed: std::result::Result<ParsedFile, Vec<LineError>>,
    ) -> Result<Prepared> {
        let Submitted {
            payer,
            facility,
            file_name,
            bytes,
            source,
            at,
        } = *f;
        let sha = file_sha256(bytes);
        // a file seen before is recognised whatever its content says
        if let Some(prev) = self
            .store
            .list_submissions(payer, Some(facility))?
            .into_iter()
            .find(|s| s.file_sha256 == sha)
        {
            return Ok(Prepared::Duplicate(prev));
        }
        let parsed = parsed.map_err(ServiceError::Refused)?;
        let registered = self.store.facility(payer, facility)?.is_some();
        let errs = validate(
            &parsed,
            &Addressing {
                payer,
                facility,
                registered,
            },
            &self.calendar,
        );
        if !errs.is_empty() {
            return Err(ServiceError::Refused(errs));
        }
        let billing_month = parsed.header.billing_month;
        let reviewed = self.process_file(parsed.claims)?;
        let sub = NewSubmission {
            payer,
            facility: facility.to_string(),
            billing_month,
            file_sha256: sha,
            file_name: file_name.to_string(),
            received_at: at.to_string(),
            source: source.to_string(),
        };
        Ok(Prepared::New(sub, reviewed))
    }

    /// Intake of a file already read into the payer's model (the UKE reader's errors, if any,
    /// come as `parsed`): refused whole on any error, else reviewed and recorded whole; the
    /// same bytes twice are recognised.
    pub fn intake_parsed(
        &self,
        f: &Submitted<'_>,
        parsed: std::result::Result<ParsedFile, Vec<LineError>>,
    ) -> Result<IntakeOutcome> {
        let p = self.prepare_intake(f, parsed)?;
        self.record(vec![p])?
            .pop()
            .ok_or_else(|| ServiceError::NotFound("intake outcome".into()))
    }

    /// Intake of several UKE files with one durable commit for all those accepted (as a
    /// folder scan or a bulk upload takes them). Each file is still accepted or refused on its
    /// own; the outcome of each is in the same order.
    pub fn intake_batch(&self, files: &[Submitted<'_>]) -> Result<Vec<Result<IntakeOutcome>>> {
        let mut prepared = Vec::with_capacity(files.len());
        let mut out: Vec<Option<Result<IntakeOutcome>>> = Vec::with_capacity(files.len());
        for f in files {
            let parsed = crate::uke_intake::read_uke(f.bytes, &self.settings.fusho_insurer_numbers);
            match self.prepare_intake(f, parsed) {
                Ok(p) => {
                    prepared.push(p);
                    out.push(None);
                }
                Err(e @ (ServiceError::Refused(_) | ServiceError::Rule { .. })) => {
                    out.push(Some(Err(e)))
                }
                Err(e) => return Err(e),
            }
        }
        let mut done = self.record(prepared)?.into_iter();
        Ok(out
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    done.next()
                        .ok_or_else(|| ServiceError::NotFound("intake outcome".into()))
                })
            })
            .collect())
    }

    fn record(&self, prepared: Vec<Prepared>) -> Result<Vec<IntakeOutcome>> {
        let news: Vec<(&NewSubmission, &[ReviewedClaim])> = prepared
            .iter()
            .filter_map(|p| match p {
                Prepared::New(s, r) => Some((s, r.as_slice())),
                Prepared::Duplicate(_) => None,
            })
            .collect();
        let mut recorded = self.store.record_submissions(&news)?.into_iter();
        let mut out = Vec::with_capacity(prepared.len());
        for p in prepared {
            match p {
                Prepared::Duplicate(row) => out.push(self.outcome(row, true)?),
                Prepared::New(_, reviewed) => match recorded.next() {
                    Some(Recorded::New(row)) => {
                        let mut by_status = BTreeMap::new();
                        for c in &reviewed {
                            *by_status.entry(c.status.code().to_string()).or_insert(0) += 1;
                        }
                        if let Err(e) = self.write_renrakusho_file(&row, &reviewed) {
                            tracing::warn!(error = %e, "could not write the 資格確認結果連絡書 file");
                        }
                        out.push(IntakeOutcome {
                            submission: row,
                            duplicate: false,
                            by_status,
                        });
                    }
                    Some(Recorded::Duplicate(row)) => out.push(self.outcome(row, true)?),
                    None => return Err(ServiceError::NotFound("recorded submission".into())),
                },
            }
        }
        Ok(out)
    }

    fn outcome(&self, submission: SubmissionRow, duplicate: bool) -> Result<IntakeOutcome> {
        let mut by_status = BTreeMap::new();
        for c in self
            .store
            .claims_of_submission(submission.payer, submission.id)?
        {
            *by_status
                .entry(c.reviewed.status.code().to_string())
                .or_insert(0) += 1;
        }
        Ok(IntakeOutcome {
            submission,
            duplicate,
            by_status,
        })
    }

    /// A staff decision on a worklist item (R22: a person decides, nothing is guessed).
    /// `person_id` must be one of the item's candidates; `None` sends the claim to the pool.
    pub fn decide(
        &self,
        payer: PayerCode,
        claim_id: i64,
        person_id: Option<i64>,
        by: &str,
        at: &str,
    ) -> Result<StoredClaim> {
        let item = self
            .store
            .worklist_item(payer, claim_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("worklist item {claim_id}")))?;
        let d = match person_id {
            None => Decision::NoneOfThem,
            Some(p) => {
                let e = item
                    .candidates
                    .iter()
                    .find(|c| c.person_id == p)
                    .ok_or_else(|| ServiceError::Rule {
                        rule: "R22",
                        message: format!("person {p} is not a candidate of claim {claim_id}"),
                    })?;
                let mut e = e.clone();
                e.matched.push(format!("staff:{by}"));
                Decision::Assign(e)
            }
        };
        Ok(self.store.decide(payer, claim_id, &d, by, at)?)
    }

    /// Settles one facility's billing month: claims billed to their insurers, the pool shared
    /// by 按分 (R22), the payment record extended, one statement per submitted file stored and
    /// written to the facility's folder (docs/formats/settlement.md); the API POSTs them to the
    /// facility's hook.
    pub fn settle_facility(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
        at: &str,
    ) -> Result<Vec<serde_json::Value>> {
        let (w, statements) = self.prepare_settlement(payer, facility, billing_month, at)?;
        self.store.settle(&w)?;
        self.write_statements(facility, payer, billing_month, &statements)?;
        statements
            .iter()
            .map(|st| {
                serde_json::to_value(st).map_err(|e| ServiceError::Rule {
                    rule: "R22",
                    message: format!("the statement could not be written: {e}"),
                })
            })
            .collect()
    }

    /// What settling one facility's month would write, and its statements (nothing stored).
    fn prepare_settlement(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
        at: &str,
    ) -> Result<(SettlementWrite, Vec<Statement>)> {
        if self
            .store
            .statement(payer, facility, billing_month)?
            .is_some()
        {
            return Err(ServiceError::Store(PayerStoreError::Conflict(format!(
                "facility {facility} billing month {billing_month} is already settled"
            ))));
        }
        let claims = self
            .store
            .settlement_claims(payer, facility, billing_month)?;
        if claims.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "no claims of facility {facility} for billing month {billing_month}"
            )));
        }
        let open: Vec<u32> = claims
            .iter()
            .filter(|c| c.status == ClaimStatus::Worklist)
            .map(|c| c.receipt_number)
            .collect();
        if !open.is_empty() {
            return Err(ServiceError::Rule {
                rule: "R22",
                message: format!(
                    "facility {facility}: {} claim(s) still on the worklist (レセプト番号 {:?}); \
                     staff decide before settlement",
                    open.len(),
                    open
                ),
            });
        }
        let file_sha: BTreeMap<i64, String> = self
            .store
            .list_submissions(payer, Some(facility))?
            .into_iter()
            .filter(|s| s.billing_month == billing_month)
            .map(|s| (s.id, s.file_sha256))
            .collect();
        let mut settled = Vec::new();
        let mut apportioned = Vec::new();
        let mut unapportioned = Vec::new();
        // one statement per submitted file: its claims' lines
        let mut lines: BTreeMap<i64, Vec<StatementLine>> = BTreeMap::new();
        // what each payer of a part (insurer, or public fund for 公費単独) is owed per month
        let mut pay: BTreeMap<(String, YearMonth, bool), (u64, u64)> = BTreeMap::new();
        let mut pools: BTreeMap<YearMonth, Vec<&SettleClaim>> = BTreeMap::new();
        for c in &claims {
            match c.status {
                ClaimStatus::Assigned => {
                    settled.push(c.id);
                    for p in &c.parts {
                        let e = pay
                            .entry((
                                p.bill_to.insurer_number.to_string(),
                                c.service_month,
                                p.public_fund,
                            ))
                            .or_default();
                        e.0 += p.amount_yen();
                        e.1 += 1;
                    }
                    let parts = &c.parts;
                    let line = StatementLine {
                        amount_yen: parts.iter().map(|p| p.amount_yen()).sum(),
                        insurer_number: parts.first().map(|p| p.bill_to.insurer_number.clone()),
                        kakunin_kubun: c.kubun,
                        parts: (parts.len() > 1).then(|| {
                            parts
                                .iter()
                                .map(|p| LinePart {
                                    amount_yen: p.amount_yen(),
                                    days: p.days.clone(),
                                    insurer_number: p.bill_to.insurer_number.clone(),
                                    points: p.points,
                                })
                                .collect()
                        }),
                        payer_kind: if parts.first().is_some_and(|p| p.public_fund) {
                            PayerKind::PublicFund
                        } else {
                            PayerKind::Insurer
                        },
                        points: parts.iter().map(|p| p.points).sum(),
                        receipt_number: c.receipt_number,
                        service_month: c.service_month,
                        settled_by: Some(if c.identified {
                            SettledBy::Identification
                        } else {
                            SettledBy::Review
                        }),
                        status: LineStatus::Settled,
                    };
                    lines.entry(c.submission_id).or_default().push(line);
                }
                ClaimStatus::Pool => pools.entry(c.service_month).or_default().push(c),
                _ => {}
            }
        }
        let mut shares = Vec::new();
        let mut pool_docs = Vec::new();
        for (sm, pooled) in &pools {
            let pool_yen: u64 = pooled.iter().map(|c| c.amount_yen).sum();
            let (from, to) = self.settings.reference_period(*sm);
            let weights = self.store.payments_to(payer, facility, from, to)?;
            let receipts: Vec<u32> = pooled.iter().map(|c| c.receipt_number).collect();
            let inputs = json!({
                "reference_period": {"from": from, "to": to},
                "pool_yen": pool_yen,
                "receipt_numbers": receipts,
                "rounding": "largest_remainder_ties_by_insurer_number",
            });
            let status = match apportion(pool_yen, &weights) {
                Ok(ss) => {
                    for s in &ss {
                        let e = pay
                            .entry((s.insurer_number.to_string(), *sm, false))
                            .or_default();
                        e.0 += s.share_yen;
                        shares.push(PoolShareRow {
                            payer,
                            facility: facility.to_string(),
                            billing_month,
                            service_month: *sm,
                            share: s.clone(),
                            inputs: inputs.clone(),
                        });
                    }
                    apportioned.extend(pooled.iter().map(|c| c.id));
                    pool_docs.push(json!({
                        "service_month": sm, "pool_yen": pool_yen, "inputs": inputs,
                        "shares": ss,
                    }));
                    (LineStatus::Settled, Some(SettledBy::Apportionment))
                }
                Err(ApportionError::NoBasis) | Err(ApportionError::DuplicateInsurer(_)) => {
                    unapportioned.extend(pooled.iter().map(|c| c.id));
                    pool_docs.push(json!({
                        "service_month": sm, "pool_yen": pool_yen, "inputs": inputs,
                        "shares": [], "note": "R22 按分: no payments in the reference period",
                    }));
                    (LineStatus::Pending, None)
                }
            };
            for c in pooled {
                lines
                    .entry(c.submission_id)
                    .or_default()
                    .push(StatementLine {
                        amount_yen: c.amount_yen,
                        insurer_number: None,
                        kakunin_kubun: c.kubun,
                        parts: None,
                        payer_kind: PayerKind::Apportionment,
                        points: c.points,
                        receipt_number: c.receipt_number,
                        service_month: c.service_month,
                        settled_by: status.1,
                        status: status.0,
                    });
            }
        }
        // public funds' payments are recorded apart: they are never a weight of 按分
        let payments: Vec<PaymentRow> = pay
            .into_iter()
            .map(|((ins, sm, fund), (amount, n))| PaymentRow {
                payer,
                insurer_number: ins,
                facility: facility.to_string(),
                service_month: sm,
                source: if fund { "public_fund" } else { "settled" }.into(),
                amount_yen: amount,
                claims: n,
            })
            .collect();
        // R27: once paid, the 申立書 details in the 摘要 have served their purpose
        let scrubbed: Vec<(i64, Vec<String>)> = claims
            .iter()
            .filter(|c| !c.tekiyou.is_empty())
            .map(|c| (c.id, scrub_tekiyou(&c.tekiyou)))
            .collect();
        let statements: Vec<Statement> = lines
            .into_iter()
            .map(|(sub, mut ls)| {
                ls.sort_by_key(|l| l.receipt_number);
                Statement {
                    apportionment: pool_docs.clone(),
                    billing_month,
                    by_payer: statement_totals(&ls),
                    claims: ls,
                    facility: facility.to_string(),
                    file_sha256: file_sha.get(&sub).cloned(),
                    format: "onshi-settlement/1".into(),
                    payer,
                    settled_at: at.to_string(),
                }
            })
            .collect();
        let w = SettlementWrite {
            payer,
            facility: facility.to_string(),
            billing_month,
            settled_at: at.to_string(),
            settled,
            apportioned,
            unapportioned,
            shares,
            payments,
            // serialized once, here (on the worker's core), not inside the month's transaction
            statement: serde_json::to_string(&statements).map_err(|e| ServiceError::Rule {
                rule: "R22",
                message: format!("the statement could not be written: {e}"),
            })?,
            scrubbed,
        };
        Ok((w, statements))
    }

    fn write_statements(
        &self,
        facility: &str,
        payer: PayerCode,
        billing_month: YearMonth,
        statements: &[Statement],
    ) -> Result<()> {
        if let Some(dir) = &self.out_dir {
            let d = dir.join(facility);
            std::fs::create_dir_all(&d)?;
            for st in statements {
                let sha = st.file_sha256.as_deref().unwrap_or_default();
                let name = format!(
                    "settlement-{}-{billing_month}-{}.json",
                    payer.code(),
                    sha.get(..12).unwrap_or(sha)
                );
                let tmp = d.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, serde_json::to_vec_pretty(st).unwrap_or_default())?;
                std::fs::rename(&tmp, d.join(name))?;
            }
        }
        Ok(())
    }

    /// Settles every facility of the billing month that has no open worklist item; returns
    /// the statements made and the facilities refused, with why.
    pub fn settle_month(
        &self,
        payer: PayerCode,
        billing_month: YearMonth,
        at: &str,
    ) -> Result<MonthSettlement> {
        let mut out = MonthSettlement::default();
        let facilities = self.store.facilities_of_month(payer, billing_month)?;
        // the facilities are read and computed on every core; the writes are one transaction
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4);
        let prepare = |f: &String| -> Result<Option<(SettlementWrite, Vec<Statement>)>> {
            if self.store.statement(payer, f, billing_month)?.is_some() {
                return Ok(None);
            }
            self.prepare_settlement(payer, f, billing_month, at)
                .map(Some)
        };
        let mut prepared: Vec<(usize, Result<Option<_>>)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|k| {
                    let (facilities, prepare) = (&facilities, &prepare);
                    s.spawn(move || {
                        facilities
                            .iter()
                            .enumerate()
                            .skip(k)
                            .step_by(threads)
                            .map(|(i, f)| (i, prepare(f)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        if prepared.len() != facilities.len() {
            return Err(ServiceError::NotFound(
                "a settlement worker stopped before its facilities were done".into(),
            ));
        }
        prepared.sort_by_key(|(i, _)| *i);
        let mut ws = Vec::new();
        let mut stss = Vec::new();
        for ((_, r), f) in prepared.into_iter().zip(&facilities) {
            match r {
                Ok(Some((w, sts))) => {
                    ws.push(w);
                    stss.push(sts);
                }
                Ok(None) => {}
                Err(e @ ServiceError::Rule { .. }) => out.refused.push(Refusal {
                    facility: f.clone(),
                    reason: e.to_string(),
                }),
                Err(e) => return Err(e),
            }
        }
        // one transaction for the month: every facility settled, or none
        self.store.settle_all(&ws)?;
        // the statement files once the settlement is committed, on every core
        let written: Vec<Result<()>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|k| {
                    let (ws, stss) = (&ws, &stss);
                    s.spawn(move || {
                        ws.iter()
                            .zip(stss)
                            .skip(k)
                            .step_by(threads)
                            .map(|(w, sts)| {
                                self.write_statements(&w.facility, payer, billing_month, sts)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        if written.len() != ws.len() {
            return Err(ServiceError::NotFound(
                "a statement writer stopped before its files were done".into(),
            ));
        }
        written.into_iter().collect::<Result<Vec<()>>>()?;
        out.statements = stss.into_iter().flatten().collect();
        Ok(out)
    }

    /// The 資格確認結果連絡書 of a submission: each claim whose insurer part the payer changed
    /// or could not confirm, in the SN vocabulary (処理区分 = 確認区分).
    pub fn renrakusho(&self, payer: PayerCode, submission_id: i64) -> Result<serde_json::Value> {
        let sub = self
            .store
            .submission(payer, submission_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("submission {submission_id}")))?;
        let claims = self.store.claims_of_submission(payer, submission_id)?;
        let reviewed: Vec<ReviewedClaim> = claims.into_iter().map(|c| c.reviewed).collect();
        Ok(renrakusho_doc(&sub, &reviewed))
    }

    /// The 連絡書 as CSV (UTF-8, CR LF), one line per part (or one per claim without parts).
    pub fn renrakusho_csv(&self, payer: PayerCode, submission_id: i64) -> Result<String> {
        Ok(renrakusho_csv_of(&self.renrakusho(payer, submission_id)?))
    }

    fn write_renrakusho_file(&self, sub: &SubmissionRow, reviewed: &[ReviewedClaim]) -> Result<()> {
        let Some(dir) = &self.out_dir else {
            return Ok(());
        };
        let d = dir.join(&sub.facility);
        std::fs::create_dir_all(&d)?;
        let csv = renrakusho_csv_of_claims(reviewed);
        let name = format!(
            "kekka-renrakusho-{}-{}-{}.csv",
            sub.payer.code(),
            sub.billing_month,
            sub.id
        );
        let tmp = d.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, csv)?;
        std::fs::rename(&tmp, d.join(name))?;
        Ok(())
    }
}

/// The 資格確認結果連絡書 of a file: each claim whose insurer part the payer changed or could
/// not confirm (処理区分 = the SN 確認区分).
pub fn renrakusho_doc(sub: &SubmissionRow, claims: &[ReviewedClaim]) -> serde_json::Value {
    {
        let entries: Vec<serde_json::Value> = claims
            .iter()
            .filter(|c| c.kubun != KakuninKubun::Unchanged)
            .map(|c| {
                let cl = &c.claim;
                json!({
                    "receipt_number": cl.receipt_number,
                    "service_month": cl.service_month,
                    "name": cl.name,
                    "kana_name": cl.kana_name,
                    "claimed": {
                        "insurer_number": cl.numbers.insurer_raw.trim(),
                        "symbol": cl.numbers.symbol,
                        "number": cl.numbers.number,
                        "branch": cl.numbers.branch,
                    },
                    "shori_kubun": c.kubun.code(),
                    "shori_kubun_label": c.kubun.label(),
                    "status": c.status.code(),
                    "parts": c.parts.iter().map(|p| json!({
                        "insurer_number": p.bill_to.insurer_number,
                        "symbol": p.bill_to.symbol,
                        "number": p.bill_to.number,
                        "branch": p.bill_to.branch,
                        "days": p.days,
                        "points": p.points,
                        "copay_yen": p.copay_yen,
                    })).collect::<Vec<_>>(),
                    "reason": c.reason,
                })
            })
            .collect();
        json!({
            "format": "onshi-kekka-renrakusho/1",
            "payer": sub.payer.code(),
            "facility": sub.facility,
            "billing_month": sub.billing_month,
            "file_sha256": sub.file_sha256,
            "submission_id": sub.id,
            "entries": entries,
        })
    }
}

const RENRAKUSHO_CSV_HEADER: &str = "レセプト番号,診療年月,氏名,請求保険者番号,請求記号,請求番号,\
     処理区分,処理区分名,保険者番号,記号,番号,枝番,診療日,点数\r\n";

/// A CSV field of the 連絡書: the CSV carries no quotes, so a field never holds , " CR LF.
fn csv_cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\r', '\n']) {
        s.replace([',', '"', '\r', '\n'], " ").into()
    } else {
        s.into()
    }
}

/// The 連絡書 of a file's reviewed claims as CSV, written straight from the claims (as
/// intake writes the facility's file): the same text as [`renrakusho_csv_of`] of
/// [`renrakusho_doc`].
pub fn renrakusho_csv_of_claims(claims: &[ReviewedClaim]) -> String {
    use std::fmt::Write;
    let mut out = String::from(RENRAKUSHO_CSV_HEADER);
    for c in claims.iter().filter(|c| c.kubun != KakuninKubun::Unchanged) {
        let cl = &c.claim;
        let head = format!(
            "{},{},{},{},{},{},{},{}",
            cl.receipt_number,
            cl.service_month,
            csv_cell(&cl.name),
            csv_cell(cl.numbers.insurer_raw.trim()),
            csv_cell(&cl.numbers.symbol),
            csv_cell(&cl.numbers.number),
            c.kubun.code(),
            c.kubun.label(),
        );
        if c.parts.is_empty() {
            out.push_str(&head);
            out.push_str(",,,,,,\r\n");
        }
        for p in &c.parts {
            let days: Vec<String> = p.days.iter().map(|d| d.to_string()).collect();
            let _ = write!(
                out,
                "{head},{},{},{},{},{},{}\r\n",
                csv_cell(p.bill_to.insurer_number.as_str()),
                csv_cell(&p.bill_to.symbol),
                csv_cell(&p.bill_to.number),
                csv_cell(&p.bill_to.branch),
                days.join(" "),
                p.points,
            );
        }
    }
    out
}

/// The 連絡書 as CSV (UTF-8, CR LF), one line per part (or one per claim without parts).
pub fn renrakusho_csv_of(doc: &serde_json::Value) -> String {
    {
        let mut out = String::from(RENRAKUSHO_CSV_HEADER);
        let cell = |v: &serde_json::Value| -> String {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            // the CSV carries no quotes: a field never holds , " CR LF
            s.replace([',', '"', '\r', '\n'], " ")
        };
        for e in doc["entries"].as_array().into_iter().flatten() {
            let head = [
                cell(&e["receipt_number"]),
                cell(&e["service_month"]),
                cell(&e["name"]),
                cell(&e["claimed"]["insurer_number"]),
                cell(&e["claimed"]["symbol"]),
                cell(&e["claimed"]["number"]),
                cell(&e["shori_kubun"]),
                cell(&e["shori_kubun_label"]),
            ]
            .join(",");
            let parts = e["parts"].as_array().cloned().unwrap_or_default();
            if parts.is_empty() {
                out.push_str(&format!("{head},,,,,,\r\n"));
            }
            for p in parts {
                let days: Vec<String> = p["days"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| d.to_string())
                    .collect();
                out.push_str(&format!(
                    "{head},{},{},{},{},{},{}\r\n",
                    cell(&p["insurer_number"]),
                    cell(&p["symbol"]),
                    cell(&p["number"]),
                    cell(&p["branch"]),
                    days.join(" "),
                    cell(&p["points"]),
                ));
            }
        }
        out
    }
}

impl PayerService {
    /// R11: the insurer's members of 70 and over whose share charged at the window differs
    /// from the share of their qualification. The claim is not returned; the insurer collects
    /// the difference from the patient (positive) or refunds it (negative).
    pub fn r11_list(&self, payer: PayerCode, insurer: &str) -> Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        for c in self.store.claims_for_insurer(payer, insurer)? {
            let cl = &c.reviewed.claim;
            for p in &c.reviewed.parts {
                if p.bill_to.insurer_number.as_str() != insurer {
                    continue;
                }
                let Some(share) = p.share_percent else {
                    continue;
                };
                let first_day = p
                    .days
                    .first()
                    .and_then(|d| cl.service_month.day(*d))
                    .unwrap_or_else(|| cl.service_month.first_day());
                let age = age_on(cl.birthdate, first_day);
                if age < 70 {
                    continue;
                }
                let due = copay_for(p.points, share);
                let diff = due as i64 - p.copay_yen as i64;
                if diff == 0 {
                    continue;
                }
                out.push(json!({
                    "claim_id": c.id,
                    "facility": c.facility,
                    "receipt_number": cl.receipt_number,
                    "service_month": cl.service_month,
                    "name": cl.name,
                    "age": age,
                    "symbol": p.bill_to.symbol,
                    "number": p.bill_to.number,
                    "branch": p.bill_to.branch,
                    "points": p.points,
                    "share_percent": share,
                    "charged_yen": p.copay_yen,
                    "due_yen": due,
                    "difference_yen": diff,
                    "action": if diff > 0 { "collect" } else { "refund" },
                    "returned": false,
                }));
            }
        }
        Ok(out)
    }

    /// R23: notices for the insurer's members whose qualification the insurer registered in
    /// the OQS after their card / 資格確認書 was issued (from the registry's dates): until the
    /// registration the member could not be confirmed by My Number card under it. Employee
    /// insurers only (被用者保険: not 国保, not 後期); a time-limited measure, so each notice
    /// carries the measure's dates, and none is made when it is not in force on `as_of` or
    /// the card was issued outside it. Each notice says why: the qualification's, the
    /// issuance's and the registration's dates, and whether the registration was made by
    /// `as_of`.
    pub fn r23_notices(&self, insurer: &str, as_of: NaiveDate) -> Result<Vec<serde_json::Value>> {
        let ins = InsurerNumber::parse(insurer).map_err(|e| ServiceError::Rule {
            rule: "R23",
            message: e.to_string(),
        })?;
        use onshi_domain::numbers::InsurerKind;
        if matches!(ins.kind(), InsurerKind::Kokuho | InsurerKind::Koki)
            || !self.calendar.r23_in_force_on(as_of)
        {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for h in self
            .registry
            .members_registered_after_issuance(&ins, as_of)?
        {
            for q in &h.qualifications {
                let (Some(issued), Some(registered)) =
                    (q.card_dates.issued_on, q.details.registered_on)
                else {
                    continue;
                };
                if q.insurer_number != ins
                    || registered <= issued
                    || !self.calendar.r23_in_force_on(issued)
                {
                    continue;
                }
                let registered_by_as_of = registered <= as_of;
                let status = if registered_by_as_of {
                    format!(
                        "新しい資格は{}にオンライン資格確認等システムに登録されました。",
                        jp_date(registered)
                    )
                } else {
                    "新しい資格はまだオンライン資格確認等システムに登録されていません。".to_string()
                };
                out.push(json!({
                    "rule": "R23",
                    "measure": {
                        "title": "転職等で新しい保険証等が交付された際のデータ登録状況のお知らせ（当分の間の措置）",
                        "in_force_from": self.calendar.r23_measure_from,
                        "in_force_until": self.calendar.r23_measure_until,
                        "time_limited": true,
                    },
                    "as_of": as_of,
                    "member": {"name": h.person.name, "symbol": q.symbol.as_str(),
                               "number": q.number.as_str(), "branch": q.branch.as_str()},
                    "qualification_date": q.qualification_date,
                    "card_issued_on": issued,
                    "registered_on": registered,
                    "registered_by_as_of": registered_by_as_of,
                    "days_after_issuance": (registered - issued).num_days(),
                    "reason": format!(
                        "資格（{}取得）の登録日 {} が保険証等の交付日 {} より後",
                        q.qualification_date, registered, issued
                    ),
                    "text": format!(
                        "保険証等（資格確認書を含む）は{}に交付されましたが、{}\
                         交付から登録までの間は、マイナンバーカードで受診しても新しい資格を確認できません。\
                         初めてマイナンバーカードで受診する前や、転職等で新しい保険証等が交付された後は、\
                         マイナポータルで新しい資格が登録されていることを確認するか、\
                         念のため保険証等もお持ちください。（当分の間の措置です）",
                        jp_date(issued),
                        status
                    ),
                }));
            }
        }
        Ok(out)
    }
}

/// A date as written in a notice: 2026年11月5日.
fn jp_date(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}
