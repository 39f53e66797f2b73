//! The payer's settlement of a filed file (docs/formats/settlement.md), and the purge it
//! triggers: once a claim that used a 被保険者資格申立書 is settled, the 申立書 is deleted (R27)
//! — its row in `desk.sqlite`, the 摘要 comments copied into the frozen claim — and the purge is
//! logged with the visit and the reason, never the data.

use onshi_domain::claims::{FUSHOU_HEAD, Payer};
use serde::{Deserialize, Serialize};

use super::{Claims, ClaimsError};

/// The statement format id.
pub const FORMAT: &str = "onshi-settlement/1";

/// A payer's statement for one filed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Statement {
    /// `onshi-settlement/1`.
    #[schema(example = "onshi-settlement/1")]
    pub format: String,
    /// 1 支払基金, 2 国保連.
    #[schema(pattern = "^[12]$")]
    pub payer: String,
    /// 医療機関コード (10 digits).
    pub facility: String,
    /// 請求年月 of the file (YYYYMM).
    pub billing_month: String,
    /// SHA-256 of the submitted file's bytes.
    pub file_sha256: String,
    pub claims: Vec<StatementClaim>,
}

/// The outcome of one claim of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatementClaim {
    /// レセプト番号 in the file.
    pub receipt_number: u32,
    #[serde(default)]
    pub service_month: Option<String>,
    /// `settled`, `returned` (返戻) or `pending`.
    pub status: String,
    /// The insurer that pays (after 振替, identification or 按分).
    #[serde(default)]
    pub insurer_number: Option<String>,
    /// The payer's SN 確認区分 (02 unchanged, 03 確認不能, 04 振替, 05 分割 …).
    #[serde(default)]
    pub kakunin_kubun: Option<String>,
    #[serde(default)]
    pub points: Option<u64>,
    #[serde(default)]
    pub amount_yen: Option<u64>,
}

/// What taking a statement did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    /// `false` when the same statement was taken before (nothing done again).
    pub recorded: bool,
    pub settled: usize,
    pub returned: usize,
    /// Visits whose 申立書 was deleted (R27).
    pub purged_visits: Vec<i64>,
}

impl Claims {
    /// Takes a payer's statement: every claim's outcome, then the R27 purge of the settled
    /// claims' 申立書. A statement for a file this facility did not file is refused whole.
    pub fn settle(&self, st: &Statement) -> Result<Outcome, ClaimsError> {
        let bad = |m: String| Err(ClaimsError::Settlement(m));
        if st.format != FORMAT {
            return bad(format!("format: expected {FORMAT:?}, got {:?}", st.format));
        }
        let Some(payer) = Payer::from_code(&st.payer) else {
            return bad(format!(
                "payer: must be 1 (支払基金) or 2 (国保連), got {:?}",
                st.payer
            ));
        };
        if st.facility != self.facility_code {
            return bad(format!(
                "facility: statement is for {}, this facility is {}",
                st.facility, self.facility_code
            ));
        }
        let Some(file) = self.store.file_by_digest(&st.file_sha256)? else {
            return bad(format!(
                "file_sha256: no file with digest {} was filed here",
                st.file_sha256
            ));
        };
        if file.payer != payer.code() || file.billing_month != st.billing_month {
            return bad(format!(
                "payer/billing_month: the file {} was filed with payer {} for {}",
                st.file_sha256, file.payer, file.billing_month
            ));
        }
        let stored = self
            .store
            .claims_of_file(&file.billing_month, &file.payer, &file.kind)?;
        let mut outcomes = Vec::new();
        let mut settled = Vec::new();
        let mut out = Outcome::default();
        for (i, c) in st.claims.iter().enumerate() {
            let Some(claim) = stored.iter().find(|s| s.receipt_number == c.receipt_number) else {
                return bad(format!(
                    "claims[{i}].receipt_number: no claim {} in the file",
                    c.receipt_number
                ));
            };
            if !matches!(c.status.as_str(), "settled" | "returned" | "pending") {
                return bad(format!(
                    "claims[{i}].status: must be settled, returned or pending, got {:?}",
                    c.status
                ));
            }
            match c.status.as_str() {
                "settled" => {
                    out.settled += 1;
                    settled.push(claim.clone());
                }
                "returned" => out.returned += 1,
                _ => {}
            }
            let status = if c.status == "pending" {
                "filed"
            } else {
                c.status.as_str()
            };
            outcomes.push((claim.id, status.to_string(), serde_json::to_string(c)?));
        }
        out.recorded = self.store.record_settlement(
            payer.code(),
            &st.billing_month,
            &st.file_sha256,
            &outcomes,
        )?;
        if !out.recorded {
            return Ok(out);
        }
        for claim in settled.iter().filter(|c| c.uses_moushitatesho) {
            for visit in &claim.claim.visit_ids {
                if self.visits.purge_moushitatesho(*visit)? {
                    out.purged_visits.push(*visit);
                    self.store.log_purge(
                        *visit,
                        &format!(
                            "請求（{} {} レセプト番号{}）の支払確定により被保険者資格申立書を削除",
                            payer.short_label(),
                            st.billing_month,
                            claim.receipt_number
                        ),
                    )?;
                }
            }
            // every filing of these visits (the first claim and any re-claim) loses the
            // declaration's details
            for filed in self.store.filed_claims(&claim.service_month)? {
                if filed.claim.comments.len() > 1
                    && filed
                        .claim
                        .visit_ids
                        .iter()
                        .any(|v| claim.claim.visit_ids.contains(v))
                {
                    let mut redacted = filed.claim.clone();
                    redacted.comments = vec![FUSHOU_HEAD.to_string()];
                    self.store.redact_claim(filed.id, &redacted)?;
                }
            }
        }
        if !out.purged_visits.is_empty() {
            self.store.vacuum()?;
        }
        Ok(out)
    }
}
