//! Claims at the facility (3 of 保発0710第1号): the month's UKE files from the desk's visits —
//! confirmed, oral, lost and 不詳 claims (R17–R20), the amount charged at the window kept as a
//! fact of the visit (R11), month close, the payer's settlement and the purge of settled 申立書
//! data (R27).
//!
//! - [`content`]: what a visit contributes (the receipt computer's part: points, diagnoses,
//!   SI/IY/TO/CO lines; the 一部負担金 charged);
//! - [`build`]: claims from visits, one per patient, month and insurer part, the basis from the
//!   engine (`onshi_domain::desk::assess`) and the claim file's insurer part from
//!   `onshi_domain::claims`;
//! - [`uke`]: a claim as UKE records (`onshi_formats::uke`), one file per payer;
//! - [`store`]: `claims.sqlite` beside `desk.sqlite`;
//! - [`web`]: the JSON API under `/desk/api/claims` and the 請求 screen under `/desk/claims`.
//!
//! The service [`Claims`] is the one door: the CLI (`onshi claims …`), the API and the screen
//! all go through it.

pub mod build;
pub mod content;
pub mod screen;
pub mod settlement;
pub mod signature;
pub mod store;
pub mod uke;
pub mod web;

use std::path::Path;

use onshi_central::clock::{Clock, SystemClock};
use onshi_domain::claims::{ClaimSettings, Payer};
use onshi_domain::desk::{Decision, Situation, assess};
use serde::{Deserialize, Serialize};

use crate::{VisitError, VisitStore};
pub use build::{FiledClaim, OpenItem, Severity};
pub use content::{ContentProblem, VisitContent};
pub use store::{CardPatient, ClaimStore, PurgeRecord, StoredClaim, StoredFile};

/// The file of the facility's claims inside the terminal's data folder.
pub const CLAIMS_FILE: &str = "claims.sqlite";

pub(crate) fn now_jst() -> String {
    SystemClock
        .now_jst()
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Errors of the claims service.
#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    #[error("claims store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("claims store: stored JSON unreadable: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Visit(#[from] VisitError),
    #[error("claims store: lock poisoned")]
    Poisoned,
    #[error("visit {0}: content refused: {1}")]
    Content(i64, String),
    #[error(
        "visit {visit_id}: charged_yen: the amount charged at the window is a fact of the visit (R11): {recorded} yen was recorded, {given} given"
    )]
    ChargedIsFact {
        visit_id: i64,
        recorded: i64,
        given: i64,
    },
    #[error("visit {0}: the patient has not been charged yet; content is taken after 会計")]
    NotCharged(i64),
    #[error("month {0:?}: must be YYYYMM")]
    Month(String),
    #[error("month {month}: {count} open item(s) block the close: {first}")]
    Blocked {
        month: String,
        count: usize,
        first: String,
    },
    #[error("month {0}: already closed; a change after filing goes into a re-claim")]
    Closed(String),
    #[error("month {0}: not closed yet")]
    NotClosed(String),
    #[error("claim file: {0}")]
    Uke(String),
    #[error("not offered: {0}")]
    NotOffered(String),
    #[error("settlement: {0}")]
    Settlement(String),
}

/// The facility's claim settings, with what the IR record needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct FacilityClaimSettings {
    /// 医療機関名称 (IR).
    pub facility_name: String,
    /// 電話番号 (IR).
    pub phone: String,
    /// The 不詳 insurer number, the payer of a 不詳 claim of unknown type, the 診療識別 of its
    /// comments (R20).
    pub rules: ClaimSettings,
    /// The public keys of the payers this facility takes settlement statements from (R27: a
    /// statement purges 申立書, so it must be signed by one of them).
    pub payer_keys: Vec<signature::PayerPublicKey>,
}

impl FacilityClaimSettings {
    /// Whether these settings hold: each payer key a payer (1, 2) and an ed25519 public key, and
    /// the claim files of `facility_code` can carry the rest — the IR record is written with them (医療機関名称 in Windows-31J, ≤ 40 bytes; 電話番号 ASCII, ≤ 15). The
    /// error names the record, the field and the rule.
    pub fn check(&self, facility_code: &str) -> Result<(), String> {
        for (i, k) in self.payer_keys.iter().enumerate() {
            k.key(&format!("payer_keys[{i}]"))?;
        }
        match uke::file_bytes(facility_code, self, Payer::ShiharaiKikin, "202601", &[]) {
            Err(ClaimsError::Uke(m)) => Err(format!("the claim file's {m}")),
            _ => Ok(()),
        }
    }
}

/// A month as the 請求 screen and `onshi claims check` show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MonthView {
    pub service_month: String,
    pub billing_month: String,
    pub closed_at: Option<String>,
    pub claims: Vec<FiledClaim>,
    pub open: Vec<OpenItem>,
    /// After close: claims whose basis changed since filing (→ a re-claim).
    pub changed_since_filing: Vec<FiledClaim>,
    pub files: Vec<StoredFile>,
}

impl MonthView {
    pub fn blocking(&self) -> impl Iterator<Item = &OpenItem> {
        self.open
            .iter()
            .filter(|o| o.severity == Severity::Blocking)
    }
}

/// The claims service of one facility.
#[derive(Clone)]
pub struct Claims {
    pub store: ClaimStore,
    pub visits: VisitStore,
    /// 医療機関コード (10 digits).
    pub facility_code: String,
}

impl Claims {
    /// Opens the claims file at `path` for a facility's visits.
    pub fn open(path: &Path, visits: VisitStore, facility_code: &str) -> Result<Self, ClaimsError> {
        Ok(Claims {
            store: ClaimStore::open(path)?,
            visits,
            facility_code: facility_code.to_string(),
        })
    }

    pub fn settings(&self) -> Result<FacilityClaimSettings, ClaimsError> {
        self.store.settings()
    }

    /// Keeps what the card's result says of the patient (Sex1, NameKana,
    /// PersonalFamilyClassification) for the claim's RE record.
    pub fn note_card_result(
        &self,
        visit_id: i64,
        sex1: Option<&str>,
        name_kana: Option<&str>,
        personal_family: Option<&str>,
    ) -> Result<(), ClaimsError> {
        self.store.put_patient(
            visit_id,
            &CardPatient {
                sex: sex1.filter(|s| matches!(*s, "1" | "2")).map(str::to_string),
                name_kana: name_kana
                    .filter(|k| !k.trim().is_empty())
                    .map(str::to_string),
                family: match personal_family {
                    Some("1") => Some(false),
                    Some("2") => Some(true),
                    _ => None,
                },
            },
        )
    }

    /// The decision of a visit now, under the facility's claim settings (one engine).
    pub fn decision(&self, situation: &Situation) -> Result<Decision, ClaimsError> {
        let mut s = situation.clone();
        s.claim_settings = self.settings()?.rules;
        assess(&s).map_err(|e| ClaimsError::Content(0, e.to_string()))
    }

    /// Records what a visit contributes. Every problem is named; nothing is stored when one is
    /// found. The amount charged is kept as first recorded (R11).
    pub fn record_content(&self, visit_id: i64, content: &VisitContent) -> Result<(), ClaimsError> {
        let visit = self.visits.get(visit_id)?;
        if visit.charged_at.is_none() {
            return Err(ClaimsError::NotCharged(visit_id));
        }
        let problems = content.check();
        if !problems.is_empty() {
            let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            return Err(ClaimsError::Content(visit_id, text.join("; ")));
        }
        // After close a correction still lands: it shows as a change since filing (re-claim).
        self.store.put_content(visit_id, content)
    }

    fn parts_and_build(
        &self,
        month: &str,
    ) -> Result<(Vec<FiledClaim>, Vec<OpenItem>), ClaimsError> {
        let (first, last) =
            build::month_range(month).ok_or_else(|| ClaimsError::Month(month.to_string()))?;
        let ids = self.visits.ids_between(first, last)?;
        let mut visits = Vec::with_capacity(ids.len());
        for id in ids {
            visits.push(self.visits.get(id)?);
        }
        let mut parts = Vec::with_capacity(visits.len());
        for v in &visits {
            let unconfirmed = self
                .visits
                .after_fact(v.id)?
                .is_some_and(|a| a.resolved_at.is_none());
            parts.push(build::VisitPart {
                visit: v,
                decision: self.decision(&v.situation)?,
                content: self.store.content(v.id)?,
                card: self.store.patient(v.id)?,
                unconfirmed,
            });
        }
        Ok(build::build_month(month, &parts))
    }

    /// The month as it stands: the claims it would file, what is open, and after close what
    /// changed since filing.
    pub fn month(&self, month: &str) -> Result<MonthView, ClaimsError> {
        let (claims, open) = self.parts_and_build(month)?;
        let closed = self.store.closed(month)?;
        let files = self.store.files(month)?;
        let (claims, changed) = match &closed {
            None => (claims, Vec::new()),
            Some(_) => {
                let filed: Vec<FiledClaim> = self
                    .store
                    .filed_claims(month)?
                    .into_iter()
                    .map(|c| c.claim)
                    .collect();
                let changed = changed_since(&filed, &claims);
                (filed, changed)
            }
        };
        Ok(MonthView {
            service_month: month.to_string(),
            billing_month: closed
                .as_ref()
                .map(|c| c.1.clone())
                .or_else(|| build::next_month(month))
                .unwrap_or_default(),
            closed_at: closed.map(|c| c.0),
            claims,
            open,
            changed_since_filing: changed,
            files,
        })
    }

    /// Closes a month: refuses while a blocking item is open; freezes the claims and the
    /// files' digests. Closing a closed month changes nothing and says so (`Ok(false)`).
    pub fn close(&self, month: &str, billing_month: Option<&str>) -> Result<bool, ClaimsError> {
        if self.store.closed(month)?.is_some() {
            return Ok(false);
        }
        let (claims, open) = self.parts_and_build(month)?;
        let blocking: Vec<&OpenItem> = open
            .iter()
            .filter(|o| o.severity == Severity::Blocking)
            .collect();
        if let Some(first) = blocking.first() {
            return Err(ClaimsError::Blocked {
                month: month.to_string(),
                count: blocking.len(),
                first: format!(
                    "visit {}: {} ({})",
                    first.visit_id, first.message, first.code
                ),
            });
        }
        let billing = match billing_month {
            Some(b) => {
                build::month_range(b).ok_or_else(|| ClaimsError::Month(b.to_string()))?;
                b.to_string()
            }
            None => {
                build::next_month(month).ok_or_else(|| ClaimsError::Month(month.to_string()))?
            }
        };
        self.freeze(month, &billing, "claim", claims, true)
    }

    fn freeze(
        &self,
        month: &str,
        billing: &str,
        kind: &str,
        claims: Vec<FiledClaim>,
        mark_closed: bool,
    ) -> Result<bool, ClaimsError> {
        let settings = self.settings()?;
        let mut numbered = Vec::new();
        let mut files = Vec::new();
        for payer in Payer::ALL {
            let of_payer: Vec<FiledClaim> = claims
                .iter()
                .filter(|c| c.payer == payer)
                .cloned()
                .collect();
            if of_payer.is_empty() {
                continue;
            }
            let bytes = uke::file_bytes(&self.facility_code, &settings, payer, billing, &of_payer)?;
            files.push(StoredFile {
                billing_month: billing.to_string(),
                payer: payer.code().to_string(),
                kind: kind.to_string(),
                service_month: month.to_string(),
                sha256: sha256_hex(&bytes),
                claims: of_payer.len() as u32,
                points: of_payer.iter().map(|c| c.points).sum(),
                created_at: now_jst(),
            });
            for (i, c) in of_payer.into_iter().enumerate() {
                numbered.push((payer.code().to_string(), i as u32 + 1, c));
            }
        }
        self.store
            .freeze(month, billing, kind, &numbered, &files, mark_closed)
    }

    /// Files a re-claim for what changed since a month was filed (a number learned after
    /// filing, R20): the changed claims go into a `reclaim` file of the given billing month.
    pub fn reclaim(&self, month: &str, billing_month: &str) -> Result<usize, ClaimsError> {
        let view = self.month(month)?;
        if view.closed_at.is_none() {
            return Err(ClaimsError::NotClosed(month.to_string()));
        }
        build::month_range(billing_month)
            .ok_or_else(|| ClaimsError::Month(billing_month.to_string()))?;
        let n = view.changed_since_filing.len();
        if n == 0 {
            return Ok(0);
        }
        if self
            .store
            .files(month)?
            .iter()
            .any(|f| f.kind == "reclaim" && f.billing_month == billing_month)
        {
            return Ok(0);
        }
        self.freeze(
            month,
            billing_month,
            "reclaim",
            view.changed_since_filing,
            false,
        )?;
        Ok(n)
    }

    /// The bytes of a filed file, written again from the frozen claims.
    pub fn file(
        &self,
        billing_month: &str,
        payer: Payer,
        kind: &str,
    ) -> Result<Vec<u8>, ClaimsError> {
        let stored = self
            .store
            .claims_of_file(billing_month, payer.code(), kind)?;
        if stored.is_empty() {
            return Err(ClaimsError::Uke(format!(
                "no {kind} file for payer {} in {billing_month}",
                payer.code()
            )));
        }
        let claims: Vec<FiledClaim> = stored.into_iter().map(|c| c.claim).collect();
        uke::file_bytes(
            &self.facility_code,
            &self.settings()?,
            payer,
            billing_month,
            &claims,
        )
    }
}

/// Claims of `now` that differ in their insurer part from the filed ones (same patient).
fn changed_since(filed: &[FiledClaim], now: &[FiledClaim]) -> Vec<FiledClaim> {
    now.iter()
        .filter(|c| {
            !filed.iter().any(|f| {
                f.patient_id == c.patient_id
                    && f.numbers == c.numbers
                    && f.payer == c.payer
                    && f.visit_ids == c.visit_ids
            })
        })
        .cloned()
        .collect()
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
