//! レセプト振替・分割 (R21): a claim against the qualifications the insurers registered.
//!
//! For each claim the payer looks up the person who holds the claimed numbers and reads the
//! qualifications valid on each service day:
//! - valid as claimed on every day → **02 変更なし**; from the 2022-02 claims such a claim is
//!   never re-assigned, before them a newer qualification covering every day took it (04);
//! - 公費単独 (no insurance part) → **02**, billed to its 第1公費 as claimed: never re-assigned,
//!   identified or pooled;
//! - claimed under a lost qualification, with 公費 parts → **06**, billed to the insurer on the
//!   claim (claims with public funds are not re-assigned);
//! - lost, and exactly one other qualification covers every day → **04 振替** to it;
//! - the days fall under different qualifications (changed within the month), each day under
//!   exactly one → **05 分割** by service days, points and 一部負担金 split in proportion to the
//!   days (largest remainder, so the parts sum to the claim);
//! - anything else (the numbers are unknown, a day without qualification or with several, two
//!   persons hold the numbers) → **03 確認不能**, and the claim goes on to identification (R22).
//!
//! Pure: no I/O, no clock.

use chrono::NaiveDate;
use onshi_domain::qualification::Qualification;
use serde::{Deserialize, Serialize};

use crate::apportion::split_by;
use crate::model::{BillTo, Claim, ClaimPart, ClaimedInsurer, KakuninKubun};
use crate::registry::PersonHistory;
use crate::rules::PayerCalendar;

/// The outcome of reviewing one claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub kubun: KakuninKubun,
    /// the parts billed (one, or one per insurer for 分割); empty for 確認不能
    pub parts: Vec<ClaimPart>,
    /// the registry person the claim was matched to
    pub person_id: Option<i64>,
    /// why, in words (shown to staff and in the 連絡書)
    pub reason: String,
}

/// The qualification of `q` as a bill-to.
pub fn bill_to(q: &Qualification) -> BillTo {
    BillTo {
        insurer_number: q.insurer_number.clone(),
        symbol: q.symbol.as_str().to_string(),
        number: q.number.as_str().to_string(),
        branch: q.branch.as_str().to_string(),
    }
}

/// The share (percent) under `q` on the first of `dates`, per the registry (R11 list).
pub fn share_of(claim: &Claim, q: &Qualification, first_day: Option<NaiveDate>) -> Option<u8> {
    let d = first_day?;
    q.share_on(claim.birthdate, d).map(|(p, _)| p)
}

fn claimed_part(claim: &Claim, q: Option<&Qualification>) -> Option<ClaimPart> {
    let first = claim.service_dates().first().copied();
    let share_percent = q.and_then(|q| share_of(claim, q, first));
    let bt = match q {
        Some(q) => bill_to(q),
        None => {
            let ClaimedInsurer::Known(ins) = &claim.numbers.insurer else {
                return None;
            };
            BillTo {
                insurer_number: ins.clone(),
                symbol: claim.numbers.symbol.clone(),
                number: claim.numbers.number.clone(),
                branch: claim.numbers.branch.clone().unwrap_or_default(),
            }
        }
    };
    Some(ClaimPart {
        bill_to: bt,
        days: claim.service_days.clone(),
        points: claim.points,
        copay_yen: claim.copay_yen,
        share_percent,
        public_fund: false,
    })
}

/// Whether `q` carries the numbers written on the claim (width-folded; the branch only when
/// the claim gives one).
pub fn matches_claimed(claim: &Claim, q: &Qualification) -> bool {
    let ClaimedInsurer::Known(ins) = &claim.numbers.insurer else {
        return false;
    };
    q.insurer_number == *ins
        && q.number.key() == onshi_domain::kana::name_key(&claim.numbers.number)
        && q.symbol.key() == onshi_domain::kana::name_key(&claim.numbers.symbol)
        && claim
            .numbers
            .branch
            .as_deref()
            .is_none_or(|b| b.trim().is_empty() || b.trim() == q.branch.as_str())
}

/// How a person's qualifications cover a claim's days: for each day, the indexes of the
/// qualifications valid on it.
pub fn coverage(dates: &[NaiveDate], quals: &[Qualification]) -> Vec<Vec<usize>> {
    dates
        .iter()
        .map(|d| {
            quals
                .iter()
                .enumerate()
                .filter(|(_, q)| q.is_valid_on(*d))
                .map(|(i, _)| i)
                .collect()
        })
        .collect()
}

/// Splits a claim over the qualifications that cover its days, one part per qualification
/// (in the order of the first day each covers), when every day is covered by exactly one
/// qualification. `None` otherwise.
pub fn parts_by_day(claim: &Claim, quals: &[Qualification]) -> Option<Vec<ClaimPart>> {
    let dates = claim.service_dates();
    if dates.is_empty() {
        return None;
    }
    let cov = coverage(&dates, quals);
    let mut groups: Vec<(usize, Vec<u32>, NaiveDate)> = Vec::new();
    for (d, c) in dates.iter().zip(&cov) {
        let [i] = c.as_slice() else {
            return None;
        };
        let day = chrono::Datelike::day(d);
        match groups.iter_mut().find(|(q, _, _)| q == i) {
            Some((_, days, _)) => days.push(day),
            None => groups.push((*i, vec![day], *d)),
        }
    }
    let sizes: Vec<u64> = groups.iter().map(|(_, d, _)| d.len() as u64).collect();
    let points = split_by(claim.points, &sizes);
    let copay = split_by(claim.copay_yen, &sizes);
    Some(
        groups
            .into_iter()
            .zip(points.into_iter().zip(copay))
            .map(|((q, days, first), (points, copay_yen))| ClaimPart {
                share_percent: share_of(claim, &quals[q], Some(first)),
                bill_to: bill_to(&quals[q]),
                // a claim without JD days is treated as the whole month: keep its days empty
                days: if claim.service_days.is_empty() {
                    Vec::new()
                } else {
                    days
                },
                points,
                copay_yen,
                public_fund: false,
            })
            .collect(),
    )
}

fn unconfirmable(person_id: Option<i64>, reason: impl Into<String>) -> Review {
    Review {
        kubun: KakuninKubun::Unconfirmable,
        parts: Vec::new(),
        person_id,
        reason: reason.into(),
    }
}

/// A 公費単独 claim (no HO, only KO): billed whole to its 第1公費 (the first KO's 負担者番号,
/// with the 受給者番号), as claimed — R21 re-assigns insurance parts only, and claims with
/// public funds are not re-assigned; it is never identified nor pooled (R22's 按分 shares out
/// insurers' claims). `None` when the claim is not 公費単独.
pub fn public_fund_review(claim: &Claim) -> Option<Review> {
    if !claim.is_public_fund_only() {
        return None;
    }
    let f = claim.funds.first()?;
    Some(Review {
        kubun: KakuninKubun::Unchanged,
        parts: vec![ClaimPart {
            bill_to: BillTo {
                insurer_number: f.payer_number.clone(),
                symbol: String::new(),
                number: f.recipient_number.clone(),
                branch: String::new(),
            },
            days: claim.service_days.clone(),
            points: f.points,
            copay_yen: f.copay_yen,
            share_percent: None,
            public_fund: true,
        }],
        person_id: None,
        reason: "公費単独の請求: 公費負担者に請求（振替・按分の対象外）".into(),
    })
}

/// R21: reviews a claim filed under real numbers against the persons who hold them
/// (`holders`: every registry person with a qualification under the claimed insurer and
/// number). A 不詳 claim is not reviewed here (it goes to identification).
pub fn review(claim: &Claim, holders: &[PersonHistory], cal: &PayerCalendar) -> Review {
    if let Some(r) = public_fund_review(claim) {
        return r;
    }
    if claim.is_fusho() {
        return unconfirmable(None, "不詳の請求: 振替の対象外（保険者の特定へ）");
    }
    let mine: Vec<&PersonHistory> = holders
        .iter()
        .filter(|h| {
            h.person.birthdate == claim.birthdate
                && h.qualifications.iter().any(|q| matches_claimed(claim, q))
        })
        .collect();
    let h = match mine.as_slice() {
        [] => {
            return unconfirmable(
                None,
                "請求の記号・番号と生年月日に一致する資格が登録されていない",
            );
        }
        [h] => *h,
        _ => return unconfirmable(None, "請求の記号・番号と生年月日に一致する者が複数いる"),
    };
    let pid = Some(h.person_id);
    let quals = &h.qualifications;
    let dates = claim.service_dates();
    let claimed: Vec<usize> = quals
        .iter()
        .enumerate()
        .filter(|(_, q)| matches_claimed(claim, q))
        .map(|(i, _)| i)
        .collect();
    let cov = coverage(&dates, quals);
    let claimed_covers_all = cov.iter().all(|c| c.iter().any(|i| claimed.contains(i)));

    if claimed_covers_all {
        let claimed_q = claimed
            .iter()
            .map(|i| &quals[*i])
            .find(|q| dates.iter().all(|d| q.is_valid_on(*d)));
        if claim.service_month < cal.valid_claim_never_reassigned_from {
            // before the 2022-02 claims: a newer qualification covering every day took the claim
            let newer = quals.iter().enumerate().find(|(i, q)| {
                !claimed.contains(i)
                    && dates.iter().all(|d| q.is_valid_on(*d))
                    && claimed_q.is_some_and(|c| q.qualification_date > c.qualification_date)
            });
            if let Some((_, q)) = newer {
                return Review {
                    kubun: KakuninKubun::Furikae,
                    parts: vec![ClaimPart {
                        bill_to: bill_to(q),
                        days: claim.service_days.clone(),
                        points: claim.points,
                        copay_yen: claim.copay_yen,
                        share_percent: share_of(claim, q, dates.first().copied()),
                        public_fund: false,
                    }],
                    person_id: pid,
                    reason: format!(
                        "{} より前の請求: 新しい資格が診療日を含むため振替",
                        cal.valid_claim_never_reassigned_from
                    ),
                };
            }
        }
        let mut part = claimed_part(claim, claimed_q);
        let branch_found = claim
            .numbers
            .branch
            .as_deref()
            .is_none_or(|b| b.trim().is_empty())
            && claimed_q.is_some();
        return Review {
            kubun: if branch_found {
                KakuninKubun::BranchIdentified
            } else {
                KakuninKubun::Unchanged
            },
            parts: part.take().into_iter().collect(),
            person_id: pid,
            reason: if branch_found {
                "請求の資格は診療日に有効。枝番を登録から補記".into()
            } else {
                "請求の資格は診療日に有効（振替しない）".into()
            },
        };
    }

    // claimed under a qualification lost on (some of) the days
    if claim.public_funds > 0 {
        return Review {
            kubun: KakuninKubun::LostBilledAsClaimed,
            parts: claimed_part(claim, None).into_iter().collect(),
            person_id: pid,
            reason: "公費併用の請求は振替しない: 請求の保険者に請求".into(),
        };
    }
    match parts_by_day(claim, quals) {
        Some(parts) if parts.len() == 1 => Review {
            kubun: KakuninKubun::Furikae,
            parts,
            person_id: pid,
            reason: "請求の資格は喪失済み。診療日を含む新しい資格が一つあるため振替".into(),
        },
        Some(parts) => Review {
            kubun: KakuninKubun::Bunkatsu,
            parts,
            person_id: pid,
            reason: "月の途中で資格が変わったため診療日で分割".into(),
        },
        None => unconfirmable(
            pid,
            "請求の資格は喪失済みで、診療日をちょうど一つの資格で覆えない",
        ),
    }
}
