//! What a visit contributes to the month's claim: the receipt computer's part (points, the
//! diagnoses, the SI/IY/TO/CO lines) and the 一部負担金 charged at the window.
//!
//! The amount charged at the window is a fact of the visit: once recorded it is never rewritten
//! by later information (R11 — a patient of 70 or over who paid a declared share keeps having
//! paid it; the claim is not returned for it). Everything else may be corrected until the month
//! is closed.

use chrono::NaiveDate;
use onshi_domain::numbers::Sex;
use serde::{Deserialize, Serialize};

/// A diagnosis (傷病名, the SY record).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Diagnosis {
    /// 傷病名コード (7 digits); `0000999` for an uncoded name, given in `name`.
    #[schema(pattern = "^[0-9]{7}$", example = "0000999")]
    pub code: String,
    /// 傷病名称 (required with `0000999`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 診療開始日.
    pub start_date: NaiveDate,
    /// 転帰区分: 1 継続, 2 治ゆ, 3 死亡, 4 中止.
    #[serde(default = "outcome_continuing")]
    #[schema(pattern = "^[1-4]$")]
    pub outcome: String,
    /// 修飾語コード (4 digits each, concatenated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^([0-9]{4})+$")]
    pub modifier: Option<String>,
    /// 主傷病.
    #[serde(default)]
    pub main: bool,
}

fn outcome_continuing() -> String {
    "1".to_string()
}

/// The kind of a 摘要 line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum LineKind {
    /// 診療行為 (SI).
    SI,
    /// 医薬品 (IY).
    IY,
    /// 特定器材 (TO).
    TO,
    /// コメント (CO).
    CO,
}

/// One 摘要 line (SI / IY / TO / CO) of a visit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub kind: LineKind,
    /// 診療識別 (2 digits: 11 初診, 12 再診, 13 医学管理 … 80 その他; the 医科 codes of
    /// [`SHIKIBETSU`]).
    #[schema(
        pattern = "^(01|11|12|13|14|18|21|22|23|24|25|26|27|28|31|32|33|40|50|54|60|70|80|90|92|97|99)$",
        example = "11"
    )]
    pub shikibetsu: String,
    /// 負担区分 (1 保険単独 …).
    #[serde(default = "futan_insurance")]
    #[schema(pattern = "^[0-9]$")]
    pub futan: String,
    /// The code: 診療行為 / 医薬品 / 特定器材 / コメント コード (9 digits).
    #[schema(pattern = "^[0-9]{9}$", example = "111000110")]
    pub code: String,
    /// 数量データ (SI/TO) or 使用量 (IY), as the receipt computer writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9.]{1,11}$")]
    pub quantity: Option<String>,
    /// 点数 of the line, when it carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u32>,
    /// 回数 on this visit (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 99)]
    pub times: u32,
    /// 文字データ of a CO line (free text with 810000001).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

fn futan_insurance() -> String {
    "1".to_string()
}

fn one() -> u32 {
    1
}

/// What a visit contributes, as the receipt computer sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitContent {
    /// カルテ番号等: the facility's patient number. Visits of one patient in a month are claimed
    /// together under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 20, example = "00697")]
    pub patient_id: Option<String>,
    /// 氏名 (when the visit does not know it from the card's result or the 申立書).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// カタカナ氏名.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_kana: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    /// 本人家族: `true` for a 家族 (dependant), `false` for 本人 (the レセプト種別's last digit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<bool>,
    /// 合計点数 of this visit.
    #[schema(maximum = 99_999_999)]
    pub points: u32,
    /// 一部負担金 charged at the window, in yen (R11: never rewritten once recorded).
    #[schema(maximum = 99_999_999)]
    pub charged_yen: u32,
    #[serde(default)]
    pub diagnoses: Vec<Diagnosis>,
    #[serde(default)]
    pub lines: Vec<Line>,
}

/// A field that breaks a rule, named for the clerk and the receipt computer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContentProblem {
    /// The field, as in the JSON (`diagnoses[0].code`).
    pub field: String,
    /// The rule broken.
    pub rule: String,
}

impl std::fmt::Display for ContentProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// 診療識別 codes of the 医科 layout.
pub const SHIKIBETSU: [&str; 27] = [
    "01", "11", "12", "13", "14", "21", "22", "23", "24", "25", "26", "27", "28", "31", "32", "33",
    "40", "50", "54", "60", "70", "80", "90", "92", "97", "99", "18",
];

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Bytes a text takes in Shift_JIS (CP932): 1 for ASCII and half-width katakana, 2 otherwise.
pub fn sjis_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if c.is_ascii() || ('\u{FF61}'..='\u{FF9F}').contains(&c) {
                1
            } else {
                2
            }
        })
        .sum()
}

fn no_separators(s: &str) -> bool {
    !s.chars().any(|c| matches!(c, ',' | '"' | '\r' | '\n'))
}

impl VisitContent {
    /// Checks every field; returns every problem, not only the first.
    pub fn check(&self) -> Vec<ContentProblem> {
        let mut out = Vec::new();
        let mut bad = |field: String, rule: &str| {
            out.push(ContentProblem {
                field,
                rule: rule.to_string(),
            })
        };
        if let Some(id) = &self.patient_id
            && (id.is_empty() || id.len() > 20 || !id.is_ascii() || !no_separators(id))
        {
            bad(
                "patient_id".into(),
                "カルテ番号等は半角英数字20桁以内（UKE RE カルテ番号等）",
            );
        }
        if let Some(n) = &self.name
            && (n.trim().is_empty() || sjis_width(n) > 40 || !no_separators(n))
        {
            bad(
                "name".into(),
                "氏名は40バイト以内、カンマ・引用符・改行を含まない（UKE RE 氏名）",
            );
        }
        if let Some(k) = &self.name_kana
            && (k.trim().is_empty() || sjis_width(k) > 40 || !no_separators(k))
        {
            bad(
                "name_kana".into(),
                "カタカナ氏名は40バイト以内（UKE RE カタカナ氏名）",
            );
        }
        if self.points > 99_999_999 {
            bad("points".into(), "合計点数は8桁以内（UKE HO 合計点数）");
        }
        if self.charged_yen > 99_999_999 {
            bad(
                "charged_yen".into(),
                "一部負担金は8桁以内（UKE HO 負担金額）",
            );
        }
        for (i, d) in self.diagnoses.iter().enumerate() {
            if !digits(&d.code, 7) {
                bad(
                    format!("diagnoses[{i}].code"),
                    "傷病名コードは7桁の数字（未コード化傷病名は0000999）",
                );
            }
            let named = d.name.as_deref().is_some_and(|n| !n.trim().is_empty());
            if d.code == "0000999" && !named {
                bad(
                    format!("diagnoses[{i}].name"),
                    "未コード化傷病名（0000999）には傷病名称が必要（UKE SY）",
                );
            }
            if let Some(n) = &d.name
                && (sjis_width(n) > 80 || !no_separators(n))
            {
                bad(
                    format!("diagnoses[{i}].name"),
                    "傷病名称は80バイト以内、カンマ・引用符・改行を含まない",
                );
            }
            if !matches!(d.outcome.as_str(), "1" | "2" | "3" | "4") {
                bad(
                    format!("diagnoses[{i}].outcome"),
                    "転帰区分は1（継続）・2（治ゆ）・3（死亡）・4（中止）",
                );
            }
            if let Some(m) = &d.modifier
                && (m.is_empty() || m.len() % 4 != 0 || !m.bytes().all(|b| b.is_ascii_digit()))
            {
                bad(
                    format!("diagnoses[{i}].modifier"),
                    "修飾語コードは4桁の数字の並び",
                );
            }
        }
        for (i, l) in self.lines.iter().enumerate() {
            if !SHIKIBETSU.contains(&l.shikibetsu.as_str()) {
                bad(
                    format!("lines[{i}].shikibetsu"),
                    "診療識別は医科の2桁コード（11 初診、12 再診 … 80 その他）",
                );
            }
            if !digits(&l.futan, 1) {
                bad(format!("lines[{i}].futan"), "負担区分は1桁の数字");
            }
            if !digits(&l.code, 9) {
                bad(format!("lines[{i}].code"), "コードは9桁の数字");
            }
            if let Some(q) = &l.quantity
                && (q.is_empty()
                    || q.len() > 11
                    || !q.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            {
                bad(format!("lines[{i}].quantity"), "数量は数字11桁以内");
            }
            if l.times == 0 || l.times > 99 {
                bad(format!("lines[{i}].times"), "回数は1〜99");
            }
            match l.kind {
                LineKind::CO => {
                    let ok = l
                        .text
                        .as_deref()
                        .is_some_and(|t| !t.trim().is_empty() && no_separators(t));
                    if l.code == "810000001" && !ok {
                        bad(
                            format!("lines[{i}].text"),
                            "フリーコメント（810000001）には文字データが必要",
                        );
                    }
                    if l.text.as_deref().is_some_and(|t| sjis_width(t) > 400) {
                        bad(format!("lines[{i}].text"), "文字データは400バイト以内");
                    }
                }
                _ => {
                    if l.text.is_some() {
                        bad(
                            format!("lines[{i}].text"),
                            "文字データはコメント行（CO）だけに記録する",
                        );
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> VisitContent {
        VisitContent {
            patient_id: Some("00697".into()),
            name: None,
            name_kana: None,
            sex: None,
            birth_date: None,
            family: None,
            points: 361,
            charged_yen: 1080,
            diagnoses: vec![Diagnosis {
                code: "0000999".into(),
                name: Some("かぜ".into()),
                start_date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
                outcome: "1".into(),
                modifier: None,
                main: true,
            }],
            lines: vec![Line {
                kind: LineKind::SI,
                shikibetsu: "11".into(),
                futan: "1".into(),
                code: "111000110".into(),
                quantity: None,
                points: Some(288),
                times: 1,
                text: None,
            }],
        }
    }

    #[test]
    fn a_good_content_has_no_problem() {
        assert!(content().check().is_empty());
    }

    #[test]
    fn every_problem_names_its_field() {
        let mut c = content();
        c.diagnoses[0].name = None;
        c.diagnoses[0].outcome = "7".into();
        c.lines[0].code = "12".into();
        c.lines[0].shikibetsu = "77".into();
        c.patient_id = Some("a,b".into());
        let fields: Vec<String> = c.check().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "patient_id",
                "diagnoses[0].name",
                "diagnoses[0].outcome",
                "lines[0].shikibetsu",
                "lines[0].code"
            ]
        );
    }

    #[test]
    fn unknown_json_fields_are_refused() {
        let r: Result<VisitContent, _> =
            serde_json::from_str(r#"{"points":1,"charged_yen":0,"pointz":3}"#);
        assert!(r.is_err());
    }
}
