//! Claims from visits: one claim per patient, month and insurer part (R17–R20).
//!
//! For each charged visit of the month the claim basis comes from the one engine
//! (`onshi_domain::desk::assess` on the visit's stored situation, under the facility's claim
//! settings) — so numbers learned afterwards (R20 "ask again", the outage search after the
//! fact R12/R17, an oral confirmation R18) change the claim, while the amount charged at the
//! window (R11) stays what the visit recorded. Visits with 10割 (R16) make no insurance claim.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use onshi_domain::claims::{self as rules, FiledNumbers, Payer};
use onshi_domain::desk::{ClaimBasis, Decision, Moushitatesho, Step};
use serde::{Deserialize, Serialize};

use super::content::{Diagnosis, Line, VisitContent};
use crate::Visit;

/// A claim as the facility files it (one レセプト).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FiledClaim {
    pub payer: Payer,
    /// 診療年月 (YYYYMM).
    pub service_month: String,
    /// カルテ番号等.
    pub patient_id: String,
    pub name: String,
    /// カタカナ氏名 (full-width).
    pub name_kana: String,
    /// 男女区分 (1 男, 2 女).
    pub sex: String,
    pub birth_date: NaiveDate,
    /// レセプト種別 (4 digits).
    pub receipt_type: String,
    pub basis: ClaimBasis,
    pub numbers: FiledNumbers,
    pub koki: bool,
    /// The rules the basis follows (R17 … R20).
    pub rules: Vec<String>,
    /// Service days (1–31), in order.
    pub days: Vec<u8>,
    /// 合計点数.
    pub points: u64,
    /// 一部負担金 charged at the window over the month (R11).
    pub charged_yen: u64,
    pub diagnoses: Vec<Diagnosis>,
    /// 摘要 lines, merged over the month (same line on several days → one line with day counts).
    pub lines: Vec<MonthLine>,
    /// Free comments for the 摘要 (a 不詳 claim's 「不詳」 and the 申立書's details, R20).
    pub comments: Vec<String>,
    pub visit_ids: Vec<i64>,
    /// Whether a 申立書 stands behind the claim (purged after settlement, R27).
    pub uses_moushitatesho: bool,
    /// R20: the patient should be asked again for the numbers before filing 不詳.
    pub ask_numbers_again: bool,
}

/// A 摘要 line with its count per day of the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonthLine {
    pub line: Line,
    /// (day, count) in day order.
    pub days: Vec<(u8, u32)>,
}

impl MonthLine {
    pub fn total_times(&self) -> u32 {
        self.days.iter().map(|(_, n)| n).sum()
    }
}

/// Something open before a month can be closed (or to know about).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpenItem {
    pub visit_id: i64,
    /// `blocking` items stop the close; `warning`s are shown.
    pub severity: Severity,
    /// Stable code: `unconfirmed`, `no_content`, `content_invalid`, `patient_facts`,
    /// `fushou_ask_again`, `fushou_hold`, `moushitatesho_missing`, `no_claim_basis`.
    pub code: String,
    /// In Japanese, for the clerk.
    pub message: String,
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Blocking,
    Warning,
}

/// One visit's part, before grouping.
pub struct VisitPart<'a> {
    pub visit: &'a Visit,
    pub decision: Decision,
    pub content: Option<VisitContent>,
    /// What the card's result said of the patient.
    pub card: Option<super::store::CardPatient>,
    /// The visit is still on the 事後確認 worklist (R12, R17).
    pub unconfirmed: bool,
}

/// `YYYYMM` of a date.
pub fn month_of(d: NaiveDate) -> String {
    format!("{:04}{:02}", d.year(), d.month())
}

/// The first and last day of a `YYYYMM` month.
pub fn month_range(month: &str) -> Option<(NaiveDate, NaiveDate)> {
    if month.len() != 6 || !month.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = month[..4].parse().ok()?;
    let m: u32 = month[4..].parse().ok()?;
    let first = NaiveDate::from_ymd_opt(y, m, 1)?;
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)?
    };
    Some((first, next.pred_opt()?))
}

/// The usual 請求年月: the month after the service month.
pub fn next_month(month: &str) -> Option<String> {
    let (_, last) = month_range(month)?;
    Some(month_of(last.succ_opt()?))
}

fn item(
    visit_id: i64,
    severity: Severity,
    code: &str,
    message: String,
    rules: &[&str],
) -> OpenItem {
    OpenItem {
        visit_id,
        severity,
        code: code.to_string(),
        message,
        rules: rules.iter().map(|r| r.to_string()).collect(),
    }
}

/// R24/R25 fields a 不詳 claim's 申立書 should carry for the payer to find the insurer (R22).
fn missing_declaration_fields(m: &Moushitatesho) -> Vec<&'static str> {
    let mut out = Vec::new();
    let empty = |v: &Option<String>| v.as_deref().is_none_or(|v| v.trim().is_empty());
    if empty(&m.name) {
        out.push("氏名");
    }
    if empty(&m.name_kana) {
        out.push("フリガナ");
    }
    if m.birth_date.is_none() {
        out.push("生年月日");
    }
    if m.sex.is_none() {
        out.push("性別");
    }
    if empty(&m.address) {
        out.push("住所");
    }
    if empty(&m.phone) {
        out.push("連絡先");
    }
    if m.insurance_type.is_none() {
        out.push("保険種別");
    }
    out
}

/// The patient facts of a claim: from the content first, then the 申立書, then the visit.
struct PatientFacts {
    name: Option<String>,
    kana: Option<String>,
    sex: Option<String>,
    birth: Option<NaiveDate>,
    family: Option<bool>,
}

fn facts(part: &VisitPart<'_>) -> PatientFacts {
    let c = part.content.as_ref();
    let m = part.visit.situation.moushitatesho.shown();
    let card = part.card.as_ref();
    PatientFacts {
        family: c.and_then(|c| c.family).or(card.and_then(|k| k.family)),
        name: c
            .and_then(|c| c.name.clone())
            .or_else(|| {
                m.and_then(|m| m.name.clone())
                    .filter(|n| !n.trim().is_empty())
            })
            .or_else(|| part.visit.patient_label.clone()),
        kana: c
            .and_then(|c| c.name_kana.clone())
            .or_else(|| card.and_then(|k| k.name_kana.clone()))
            .or_else(|| {
                m.and_then(|m| m.name_kana.clone())
                    .filter(|n| !n.trim().is_empty())
            }),
        sex: c
            .and_then(|c| c.sex)
            .map(|s| s.code().to_string())
            .or_else(|| card.and_then(|k| k.sex.clone()))
            .or_else(|| m.and_then(|m| m.sex).map(|s| s.code().to_string()))
            .filter(|s| s == "1" || s == "2"),
        birth: c
            .and_then(|c| c.birth_date)
            .or(part.visit.birth_date)
            .or(part.visit.situation.birth_date)
            .or_else(|| m.and_then(|m| m.birth_date).map(|w| w.to_date())),
    }
}

/// Claims of one month from its visits, and what is still open.
pub fn build_month(month: &str, parts: &[VisitPart<'_>]) -> (Vec<FiledClaim>, Vec<OpenItem>) {
    let mut open = Vec::new();
    // (payer, patient key, numbers) → claim under construction
    let mut groups: BTreeMap<(Payer, String, FiledNumbers), FiledClaim> = BTreeMap::new();
    for part in parts {
        let v = part.visit;
        if v.charged_at.is_none() {
            continue;
        }
        if part.unconfirmed {
            open.push(item(
                v.id,
                Severity::Blocking,
                "unconfirmed",
                "事後確認が済んでいません（システム障害時モードの検索またはマイナ保険証で確認）"
                    .into(),
                &["R12", "R17"],
            ));
        }
        let Some(claim) = part.decision.claim.as_ref() else {
            if v.charged_percent == Some(100) {
                continue; // 10割: no insurance claim (R16)
            }
            open.push(item(
                v.id,
                Severity::Blocking,
                "no_claim_basis",
                "請求の根拠（資格）が決まっていません".into(),
                &["R17"],
            ));
            continue;
        };
        let Some(file) = claim.file.as_ref() else {
            open.push(item(
                v.id,
                Severity::Blocking,
                "no_claim_basis",
                "請求する保険者番号等が決まっていません".into(),
                &["R17"],
            ));
            continue;
        };
        let follow = |s: Step| part.decision.follow_ups.iter().any(|f| f.step == s);
        let m = v.situation.moushitatesho.shown();
        if claim.basis == ClaimBasis::Unknown {
            if follow(Step::HoldClaim) {
                open.push(item(
                    v.id,
                    Severity::Blocking,
                    "fushou_hold",
                    "「不詳」での請求はできない月です。番号が判明するまで保留してください".into(),
                    &["R20"],
                ));
                continue;
            }
            open.push(item(
                v.id,
                Severity::Warning,
                "fushou_ask_again",
                "「不詳」で請求する前に、患者に被保険者番号等をもう一度確認してください".into(),
                &["R20"],
            ));
            if let Some(m) = m {
                let missing = missing_declaration_fields(m);
                if !missing.is_empty() {
                    open.push(item(
                        v.id,
                        Severity::Warning,
                        "moushitatesho_missing",
                        format!("申立書の未記入欄: {}", missing.join("、")),
                        &["R20", "R24", "R25"],
                    ));
                }
            }
        }
        let Some(content) = part.content.as_ref() else {
            open.push(item(
                v.id,
                Severity::Blocking,
                "no_content",
                "診療内容（点数・一部負担金・傷病名）がレセコンから届いていません".into(),
                &[],
            ));
            continue;
        };
        let problems = content.check();
        if !problems.is_empty() {
            let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            open.push(item(
                v.id,
                Severity::Blocking,
                "content_invalid",
                format!("診療内容に誤り: {}", text.join("; ")),
                &[],
            ));
            continue;
        }
        let f = facts(part);
        let (Some(name), Some(sex), Some(birth)) = (f.name.clone(), f.sex.clone(), f.birth) else {
            let mut missing = Vec::new();
            if f.name.is_none() {
                missing.push("氏名");
            }
            if f.sex.is_none() {
                missing.push("男女区分");
            }
            if f.birth.is_none() {
                missing.push("生年月日");
            }
            open.push(item(
                v.id,
                Severity::Blocking,
                "patient_facts",
                format!(
                    "レセプトに必要な患者情報がありません: {}",
                    missing.join("、")
                ),
                &[],
            ));
            continue;
        };
        let key = content
            .patient_id
            .clone()
            .unwrap_or_else(|| format!("V{:06}", v.id));
        let day = v.service_date.day() as u8;
        let share = v.charged_percent.filter(|p| *p <= 30);
        let receipt_type = rules::receipt_type(
            file.koki,
            claim
                .insurer_number
                .as_ref()
                .is_some_and(|n| n.kind() == onshi_domain::numbers::InsurerKind::Taishoku),
            f.family,
            share,
            Some(birth),
            v.service_date,
        );
        let entry = groups
            .entry((file.payer, key.clone(), file.numbers.clone()))
            .or_insert_with(|| FiledClaim {
                payer: file.payer,
                service_month: month.to_string(),
                patient_id: key.clone(),
                name: rules::to_fullwidth(&name),
                name_kana: f
                    .kana
                    .as_deref()
                    .map(|k| rules::to_fullwidth(k).replace(['\u{3000}', ' '], ""))
                    .unwrap_or_default(),
                sex: sex.clone(),
                birth_date: birth,
                receipt_type,
                basis: claim.basis,
                numbers: file.numbers.clone(),
                koki: file.koki,
                rules: claim.rules.iter().map(|r| r.to_string()).collect(),
                days: Vec::new(),
                points: 0,
                charged_yen: 0,
                diagnoses: Vec::new(),
                lines: Vec::new(),
                comments: Vec::new(),
                visit_ids: Vec::new(),
                uses_moushitatesho: false,
                ask_numbers_again: false,
            });
        if !entry.days.contains(&day) {
            entry.days.push(day);
            entry.days.sort_unstable();
        }
        entry.points += u64::from(content.points);
        entry.charged_yen += u64::from(content.charged_yen);
        for d in &content.diagnoses {
            if !entry
                .diagnoses
                .iter()
                .any(|e| e.code == d.code && e.name == d.name && e.modifier == d.modifier)
            {
                entry.diagnoses.push(d.clone());
            }
        }
        for l in &content.lines {
            match entry.lines.iter_mut().find(|e| {
                e.line
                    == Line {
                        times: e.line.times,
                        ..l.clone()
                    }
            }) {
                Some(e) => match e.days.iter_mut().find(|(d, _)| *d == day) {
                    Some((_, n)) => *n += l.times,
                    None => {
                        e.days.push((day, l.times));
                        e.days.sort_unstable();
                    }
                },
                None => entry.lines.push(MonthLine {
                    line: l.clone(),
                    days: vec![(day, l.times)],
                }),
            }
        }
        for c in &file.comments {
            if !entry.comments.contains(c) {
                entry.comments.push(c.clone());
            }
        }
        entry.visit_ids.push(v.id);
        entry.uses_moushitatesho |= m.is_some();
        entry.ask_numbers_again |= claim.basis == ClaimBasis::Unknown;
    }
    let mut claims: Vec<FiledClaim> = groups.into_values().collect();
    claims.sort_by(|a, b| {
        (a.payer, &a.patient_id, a.visit_ids.first()).cmp(&(
            b.payer,
            &b.patient_id,
            b.visit_ids.first(),
        ))
    });
    (claims, open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        assert_eq!(
            month_range("202602"),
            Some((
                NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
            ))
        );
        assert_eq!(next_month("202612").as_deref(), Some("202701"));
        assert_eq!(month_range("2026-1"), None);
        assert_eq!(month_range("202613"), None);
    }
}
