//! Identification of the insurer (R22) for 不詳 claims (R20) and for lost-qualification claims
//! (R19) that 振替 could not settle.
//!
//! Candidates come from the registry by the claim's person facts — カタカナ氏名, 生年月日 and
//! 男女区分 from RE. A candidate is viable when the qualifications registered for it cover the
//! service days (each day under exactly one). When several are viable, the 摘要's facts from the
//! 申立書 — address and 事業所名 — narrow them: only candidates whose registered address or
//! employer is found in the 摘要 stay. Then:
//! - exactly one → **assigned**, with the evidence kept (which facts matched, which person and
//!   qualification);
//! - several → the **worklist**: payer staff decide (the real payer asks each insurer); nothing
//!   is guessed;
//! - none → the **按分 pool**.
//!
//! The registry keeps no phone number, so the 摘要's phone is shown to staff but never matched.
//!
//! Pure: no I/O, no clock.

use onshi_domain::kana;
use serde::{Deserialize, Serialize};

use crate::model::{Claim, ClaimPart};
use crate::registry::PersonHistory;
use crate::review::parts_by_day;

/// Facts a 不詳 claim carries in its 摘要 (R20), read from the free comments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TekiyouFacts {
    pub fusho: bool,
    pub address: Option<String>,
    pub employer: Option<String>,
    pub phone: Option<String>,
    /// comments that carry no label we know
    pub other: Vec<String>,
}

const ADDRESS_LABELS: [&str; 3] = ["住所", "居所", "現住所"];
const EMPLOYER_LABELS: [&str; 3] = ["事業所名", "事業所", "勤務先"];
const PHONE_LABELS: [&str; 3] = ["連絡先電話番号", "電話番号", "電話"];

fn strip_label<'a>(s: &'a str, labels: &[&str]) -> Option<&'a str> {
    labels.iter().find_map(|l| {
        let rest = s.strip_prefix(l)?;
        let rest = rest.trim_start_matches([' ', '\u{3000}']);
        rest.strip_prefix(['：', ':', '　', ' '])
            .map(|r| r.trim_matches([' ', '\u{3000}']))
    })
}

/// Reads the 摘要 comments: 「不詳」 first (R20), then labelled facts (住所：…, 事業所名：…,
/// 電話：…); unlabelled comments are kept as `other` and still compared with the registry.
pub fn tekiyou_facts(comments: &[String]) -> TekiyouFacts {
    let mut f = TekiyouFacts::default();
    for (i, c) in comments.iter().enumerate() {
        let c = c.trim_matches([' ', '\u{3000}']);
        if i == 0 && c == "不詳" {
            f.fusho = true;
        } else if let Some(v) = strip_label(c, &ADDRESS_LABELS) {
            f.address = Some(v.to_string());
        } else if let Some(v) = strip_label(c, &EMPLOYER_LABELS) {
            f.employer = Some(v.to_string());
        } else if let Some(v) = strip_label(c, &PHONE_LABELS) {
            f.phone = Some(v.to_string());
        } else if !c.is_empty() {
            f.other.push(c.to_string());
        }
    }
    f
}

/// Why a candidate was kept: the facts that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub person_id: i64,
    /// e.g. `["kana_name", "birthdate", "sex", "qualification_covers_days", "address"]`
    pub matched: Vec<String>,
    /// the parts the claim would be billed as (one, or several when the person's
    /// qualification changed within the month)
    pub parts: Vec<ClaimPart>,
    pub registered_name: String,
    pub registered_address: Option<String>,
    pub registered_employer: Option<String>,
}

/// The outcome of identification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Identification {
    /// one candidate: the claim is assigned, with its evidence
    Assigned { evidence: Evidence },
    /// several candidates: payer staff decide (a worklist item)
    Several {
        candidates: Vec<Evidence>,
        facts: TekiyouFacts,
    },
    /// no candidate: the claim goes to the 按分 pool
    None {
        facts: TekiyouFacts,
        searched: usize,
    },
}

fn key_contains(haystack: &str, needle: &str) -> bool {
    let h = kana::name_key(haystack);
    let n = kana::name_key(needle);
    !n.is_empty() && !h.is_empty() && (h.contains(&n) || n.contains(&h))
}

/// R22: identifies the claim's insurer among `candidates` (the registry's persons with the
/// claim's kana name, birth date and sex).
pub fn identify(claim: &Claim, candidates: &[PersonHistory]) -> Identification {
    let facts = tekiyou_facts(&claim.tekiyou);
    let kana = kana::kana_key(&claim.kana_name);
    let mut viable: Vec<Evidence> = Vec::new();
    for c in candidates {
        if c.person.birthdate != claim.birthdate
            || c.person.sex != claim.sex
            || kana.is_empty()
            || kana::kana_key(&c.person.name_kana) != kana
        {
            continue;
        }
        let Some(parts) = parts_by_day(claim, &c.qualifications) else {
            continue;
        };
        let mut matched: Vec<String> =
            ["kana_name", "birthdate", "sex", "qualification_covers_days"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let addr_sources: Vec<&str> = facts
            .address
            .iter()
            .map(String::as_str)
            .chain(facts.other.iter().map(String::as_str))
            .collect();
        if let Some(a) = &c.person.address
            && addr_sources.iter().any(|s| key_contains(a, s))
        {
            matched.push("address".into());
        }
        let employers: Vec<&str> = c
            .qualifications
            .iter()
            .filter_map(|q| q.employer.as_deref())
            .collect();
        let emp_sources: Vec<&str> = facts
            .employer
            .iter()
            .map(String::as_str)
            .chain(facts.other.iter().map(String::as_str))
            .collect();
        if employers
            .iter()
            .any(|e| emp_sources.iter().any(|s| key_contains(e, s)))
        {
            matched.push("employer".into());
        }
        viable.push(Evidence {
            person_id: c.person_id,
            matched,
            parts,
            registered_name: c.person.name.clone(),
            registered_address: c.person.address.clone(),
            registered_employer: employers.first().map(|s| s.to_string()),
        });
    }
    if viable.len() > 1 {
        let narrowed: Vec<&Evidence> = viable
            .iter()
            .filter(|e| e.matched.iter().any(|m| m == "address" || m == "employer"))
            .collect();
        if let [one] = narrowed.as_slice() {
            return Identification::Assigned {
                evidence: (*one).clone(),
            };
        }
    }
    match viable.len() {
        0 => Identification::None {
            facts,
            searched: candidates.len(),
        },
        1 => Identification::Assigned {
            evidence: viable.remove(0),
        },
        _ => Identification::Several {
            candidates: viable,
            facts,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r20_tekiyou_facts_read_the_moushitatesho_comments() {
        let c: Vec<String> = [
            "不詳",
            "住所：東京都千代田区霞が関1-2-2",
            "事業所名：霞が関商事",
            "電話：03-1234-5678",
            "転職直後",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let f = tekiyou_facts(&c);
        assert!(f.fusho);
        assert_eq!(f.address.as_deref(), Some("東京都千代田区霞が関1-2-2"));
        assert_eq!(f.employer.as_deref(), Some("霞が関商事"));
        assert_eq!(f.phone.as_deref(), Some("03-1234-5678"));
        assert_eq!(f.other, vec!["転職直後".to_string()]);
    }
}
