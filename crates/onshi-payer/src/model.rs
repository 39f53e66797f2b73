//! What a claim means to the payer: the facts of one レセプト that review, identification and
//! 按分 read, independent of the file format it arrived in (the UKE intake builds it).
//!
//! Pure: no I/O, no clock.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use onshi_domain::numbers::{InsurerKind, InsurerNumber, Sex};
use serde::{Deserialize, Serialize};

/// 審査支払機関: the IR record's first field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PayerCode {
    /// 1 社会保険診療報酬支払基金
    #[serde(rename = "1")]
    Kikin,
    /// 2 国民健康保険団体連合会
    #[serde(rename = "2")]
    Kokuhoren,
}

impl PayerCode {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "1" => Some(PayerCode::Kikin),
            "2" => Some(PayerCode::Kokuhoren),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            PayerCode::Kikin => "1",
            PayerCode::Kokuhoren => "2",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            PayerCode::Kikin => "社会保険診療報酬支払基金",
            PayerCode::Kokuhoren => "国民健康保険団体連合会",
        }
    }
    /// The payer that settles claims of `insurer`: 国保 (6 digits) and 後期 (39) go to 国保連,
    /// every other insurer to 支払基金 (SPEC "Electronic claims", the payer choice).
    pub fn of_insurer(insurer: &InsurerNumber) -> Self {
        match insurer.kind() {
            InsurerKind::Kokuho | InsurerKind::Koki => PayerCode::Kokuhoren,
            _ => PayerCode::Kikin,
        }
    }
}

/// A year and month (診療年月, 請求年月), written `YYYYMM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth {
    year: i32,
    month: u32,
}

impl YearMonth {
    pub fn new(year: i32, month: u32) -> Option<Self> {
        ((1..=12).contains(&month) && (1900..=9999).contains(&year))
            .then_some(YearMonth { year, month })
    }
    /// `YYYYMM`, six ASCII digits.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year = s[..4].parse().ok()?;
        let month = s[4..].parse().ok()?;
        YearMonth::new(year, month)
    }
    pub fn of(d: NaiveDate) -> Self {
        YearMonth {
            year: d.year(),
            month: d.month(),
        }
    }
    pub fn year(self) -> i32 {
        self.year
    }
    pub fn month(self) -> u32 {
        self.month
    }
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }
    pub fn days_in_month(self) -> u32 {
        let next = self.plus(1).first_day();
        (next - self.first_day()).num_days() as u32
    }
    /// The date of day `d` of this month, if it exists.
    pub fn day(self, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month, d)
    }
    /// This month moved by `n` months (negative: back).
    pub fn plus(self, n: i32) -> Self {
        let idx = self.year * 12 + self.month as i32 - 1 + n;
        YearMonth {
            year: idx.div_euclid(12),
            month: idx.rem_euclid(12) as u32 + 1,
        }
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}", self.year, self.month)
    }
}

impl Serialize for YearMonth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for YearMonth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        YearMonth::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("expected YYYYMM, got {s:?}")))
    }
}

/// The insurer a claim was filed under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "insurer_number", rename_all = "snake_case")]
pub enum ClaimedInsurer {
    /// a real insurer number (R17–R19)
    Known(InsurerNumber),
    /// filed as 不詳 (R20): 77777777 / 77777779 (or the disaster practice's 99999999)
    Fusho,
    /// 公費単独: no insurance part (no HO), only public funds (KO); paid by the 第1公費
    PublicFundOnly,
}

/// A public fund part of a claim (KO): the fund (公費負担者番号) and what it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicFund {
    /// 負担者番号 (8 digits, 法別番号 · 都道府県 · 実施機関 · 検証番号; its check digit is
    /// computed as a 保険者番号's)
    pub payer_number: InsurerNumber,
    /// 受給者番号 as written (empty when none)
    pub recipient_number: String,
    /// 診療実日数 (KO)
    pub days: u32,
    /// 合計点数 (KO)
    pub points: u64,
    /// 負担金額 (KO): what the patient paid at the window under this fund
    pub copay_yen: u64,
}

/// The insured numbers on a claim (HO 記号・番号, SN 枝番).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedNumbers {
    pub insurer: ClaimedInsurer,
    /// the 保険者番号 field as written (kept for the 連絡書)
    pub insurer_raw: String,
    pub symbol: String,
    pub number: String,
    pub branch: Option<String>,
}

/// One claim as the payer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// レセプト番号 (RE field 2)
    pub receipt_number: u32,
    /// line of the RE record in the file (1-based)
    pub line: u32,
    /// レセプト種別 as written (4 digits)
    pub receipt_kind: String,
    pub service_month: YearMonth,
    /// 氏名 as written
    pub name: String,
    /// カタカナ氏名 (full-width; may be empty in older files)
    pub kana_name: String,
    pub sex: Sex,
    pub birthdate: NaiveDate,
    pub numbers: ClaimedNumbers,
    /// days of service (1–31, ascending) from JD; empty when the file has no JD
    pub service_days: Vec<u32>,
    /// 診療実日数 (HO)
    pub actual_days: u32,
    /// 合計点数 (HO)
    pub points: u64,
    /// 一部負担金: the share charged at the window (HO 負担金額), a fact the payer never rewrites
    /// (R11)
    pub copay_yen: u64,
    /// number of 公費 parts (KO records)
    pub public_funds: u8,
    /// the 公費 parts (KO records) in order: 第1公費 first
    #[serde(default)]
    pub funds: Vec<PublicFund>,
    /// the 摘要 free comments (CO 810000001) in order; a 不詳 claim starts with 「不詳」 (R20)
    pub tekiyou: Vec<String>,
}

impl Claim {
    /// The amount the insurer pays: 10 yen a point, less what the patient paid at the window.
    pub fn amount_yen(&self) -> u64 {
        (self.points * 10).saturating_sub(self.copay_yen)
    }

    /// The dates of service. Without JD days the whole month is taken, so that a claim is
    /// only treated as covered when the whole month is.
    pub fn service_dates(&self) -> Vec<NaiveDate> {
        if self.service_days.is_empty() {
            (1..=self.service_month.days_in_month())
                .filter_map(|d| self.service_month.day(d))
                .collect()
        } else {
            self.service_days
                .iter()
                .filter_map(|d| self.service_month.day(*d))
                .collect()
        }
    }

    pub fn is_fusho(&self) -> bool {
        matches!(self.numbers.insurer, ClaimedInsurer::Fusho)
    }

    /// 公費単独: no insurance part, paid by its public fund (never re-assigned, never pooled).
    pub fn is_public_fund_only(&self) -> bool {
        matches!(self.numbers.insurer, ClaimedInsurer::PublicFundOnly)
    }
}

/// 確認区分 in the SN record, as the payer writes it (SPEC "Electronic claims").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KakuninKubun {
    /// 02 変更なし
    #[serde(rename = "02")]
    Unchanged,
    /// 03 確認不能
    #[serde(rename = "03")]
    Unconfirmable,
    /// 04 振替
    #[serde(rename = "04")]
    Furikae,
    /// 05 分割
    #[serde(rename = "05")]
    Bunkatsu,
    /// 06 資格喪失（請求先のまま）: billed to the insurer on the claim
    #[serde(rename = "06")]
    LostBilledAsClaimed,
    /// 09 枝番特定
    #[serde(rename = "09")]
    BranchIdentified,
}

impl KakuninKubun {
    pub fn code(self) -> &'static str {
        match self {
            KakuninKubun::Unchanged => "02",
            KakuninKubun::Unconfirmable => "03",
            KakuninKubun::Furikae => "04",
            KakuninKubun::Bunkatsu => "05",
            KakuninKubun::LostBilledAsClaimed => "06",
            KakuninKubun::BranchIdentified => "09",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            KakuninKubun::Unchanged,
            KakuninKubun::Unconfirmable,
            KakuninKubun::Furikae,
            KakuninKubun::Bunkatsu,
            KakuninKubun::LostBilledAsClaimed,
            KakuninKubun::BranchIdentified,
        ]
        .into_iter()
        .find(|k| k.code() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            KakuninKubun::Unchanged => "変更なし",
            KakuninKubun::Unconfirmable => "確認不能",
            KakuninKubun::Furikae => "振替",
            KakuninKubun::Bunkatsu => "分割",
            KakuninKubun::LostBilledAsClaimed => "資格喪失（請求先のまま）",
            KakuninKubun::BranchIdentified => "枝番特定",
        }
    }
}

/// The insurer part a claim (or a part of a split claim) is billed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillTo {
    pub insurer_number: InsurerNumber,
    pub symbol: String,
    pub number: String,
    pub branch: String,
}

/// One part of a reviewed claim: a whole claim has one, a split (分割) claim one per insurer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimPart {
    pub bill_to: BillTo,
    /// the service days this part covers
    pub days: Vec<u32>,
    pub points: u64,
    pub copay_yen: u64,
    /// the patient's share (percent) under this part's qualification on its first day, where
    /// the registry tells it (for the R11 list)
    #[serde(default)]
    pub share_percent: Option<u8>,
    /// billed to a public fund (公費単独: `bill_to` holds the 公費負担者番号 and 受給者番号),
    /// not to an insurer: never a weight of 按分
    #[serde(default)]
    pub public_fund: bool,
}

impl ClaimPart {
    pub fn amount_yen(&self) -> u64 {
        (self.points * 10).saturating_sub(self.copay_yen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn year_month_parses_moves_and_counts_days() {
        let m = YearMonth::parse("202402").unwrap();
        assert_eq!(m.days_in_month(), 29);
        assert_eq!(m.plus(-12).to_string(), "202302");
        assert_eq!(m.plus(11).to_string(), "202501");
        assert_eq!(m.plus(-2).to_string(), "202312");
        assert!(YearMonth::parse("202413").is_none());
        assert!(YearMonth::parse("2024-1").is_none());
        assert!(YearMonth::parse("２０２４０１").is_none());
    }

    #[test]
    fn payer_of_insurer_follows_the_payer_choice() {
        let kokuho = InsurerNumber::from_body("13805").unwrap();
        let koki = InsurerNumber::from_body("3913115").unwrap();
        let kumiai = InsurerNumber::from_body("0613456").unwrap();
        assert_eq!(PayerCode::of_insurer(&kokuho), PayerCode::Kokuhoren);
        assert_eq!(PayerCode::of_insurer(&koki), PayerCode::Kokuhoren);
        assert_eq!(PayerCode::of_insurer(&kumiai), PayerCode::Kikin);
    }
}
