//! The qualification model (資格) and the rules that turn a person's registered history into
//! an online result (R5, R6, R7).
//!
//! A qualification is valid on a date `d` when `qualification_date ≤ d` and either it has no
//! `disqualification_date` or `d < disqualification_date` (資格喪失日 is the first day without
//! the qualification).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::codes::{
    CardClassification, FamilyClass, LimitCertificateClassification, LimitClass,
    QualificationValidity, ReasonOfLoss, SpecificDisease,
};
use crate::cost_share::{self, IncomeClass};
use crate::numbers::{BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber, Sex};

/// A person's basic facts (基本4情報 + 郵便番号) as the registry holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub name_kana: String,
    pub sex: Sex,
    pub birthdate: NaiveDate,
    pub post_number: Option<String>,
    pub address: Option<String>,
}

/// 高齢受給者証 information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElderlyInfo {
    /// percent: 20 or 30
    pub ratio: u8,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

/// The dates printed on the insurance card (被保険者証) or the 資格確認書 the insurer issued for a
/// qualification, as the insurer registered them. The OQS answers them as
/// `InsuredCertificateIssuanceDate` (交付年月日), `InsuredCardValidDate` (有効開始日) and
/// `InsuredCardExpirationDate` (有効終了日); receipt software needs at least the start date to
/// register a patient's insurance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CardDates {
    pub issued_on: Option<NaiveDate>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
}

/// The 限度額適用認定証 (or 限度額適用・標準負担額減額認定証) the insurer issued: what the OQS answers in
/// `LimitApplicationCertificateRelatedInfo` besides the class ([`Qualification::limit_class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LimitCertificate {
    /// OQSCD011 限度額適用認定証区分
    pub classification: Option<LimitCertificateClassification>,
    pub issued_on: Option<NaiveDate>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    /// 長期入院該当年月日 (low-income long-stay)
    pub long_term_date: Option<NaiveDate>,
}

impl LimitCertificate {
    pub fn is_empty(&self) -> bool {
        *self == LimitCertificate::default()
    }
}

/// One 特定疾病療養受療証 (`SpecificDiseasesCertificateInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecificDiseaseCertificate {
    pub category: SpecificDisease,
    pub issued_on: Option<NaiveDate>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    /// 自己負担限度額 per month in yen (10,000; 20,000 for high-income dialysis patients)
    pub self_pay: Option<u32>,
}

/// What a registration holds beyond the core of a qualification: the other name, 性別2, the
/// 高齢受給者証's issue date, the 限度額 and 特定疾病 certificates, 未就学区分 2. All optional: files
/// and registries of earlier versions have none of it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QualificationDetails {
    /// 通称名 or other name registered for the person (`NameOfOther`)
    pub name_of_other: Option<String>,
    /// its kana (`NameOfOtherKana`)
    pub name_of_other_kana: Option<String>,
    /// 性別2 (`Sex2`): the sex as printed on the card where it differs from 性別1
    pub sex2: Option<Sex>,
    /// 高齢受給者証 交付年月日 (`ElderlyRecipientCertificateDate`)
    pub elderly_certificate_date: Option<NaiveDate>,
    pub limit_certificate: LimitCertificate,
    pub specific_diseases: Vec<SpecificDiseaseCertificate>,
    /// 未就学区分 2 就学中 (the insurer registered it explicitly)
    pub in_school: bool,
    /// when the insurer registered this qualification in the OQS (R23: a registration after
    /// the card / 資格確認書 was issued leaves the member unconfirmable by My Number card
    /// until then); `None` where the insurer did not give it
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_on: Option<NaiveDate>,
}

/// One registered qualification of a person under one insurer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualification {
    pub insurer_number: InsurerNumber,
    pub insurer_name: String,
    pub card_classification: CardClassification,
    pub symbol: InsuredSymbol,
    pub number: InsuredNumber,
    pub branch: BranchNumber,
    pub family_class: FamilyClass,
    /// 被保険者氏名 (the 本人 of the household)
    pub insured_name: String,
    /// 事業所名
    pub employer: Option<String>,
    pub qualification_date: NaiveDate,
    pub disqualification_date: Option<NaiveDate>,
    pub reason_of_loss: Option<ReasonOfLoss>,
    /// 一部負担金割合 in percent (30 = 3割) where the insurer registered one.
    pub contribution_ratio: Option<u8>,
    pub elderly: Option<ElderlyInfo>,
    pub limit_class: Option<LimitClass>,
    /// 未就学区分
    pub preschool: bool,
    /// the card / 資格確認書 dates
    #[serde(default)]
    pub card_dates: CardDates,
    #[serde(default)]
    pub details: QualificationDetails,
}

impl Qualification {
    pub fn is_valid_on(&self, d: NaiveDate) -> bool {
        self.qualification_date <= d && self.disqualification_date.is_none_or(|x| d < x)
    }

    /// Has started and ended on or before `d`.
    pub fn is_lost_on(&self, d: NaiveDate) -> bool {
        self.qualification_date <= d && self.disqualification_date.is_some_and(|x| x <= d)
    }

    /// Whether two qualifications of the same person overlap in time (half-open intervals).
    pub fn overlaps(&self, other: &Qualification) -> bool {
        let end_a = self.disqualification_date.unwrap_or(NaiveDate::MAX);
        let end_b = other.disqualification_date.unwrap_or(NaiveDate::MAX);
        self.qualification_date < end_b && other.qualification_date < end_a
    }

    /// The patient's share on `on`, in percent, and where it came from: the 高齢受給者 ratio
    /// valid that day, else the ratio the insurer registered, else the statutory rule by age.
    pub fn share_on(&self, birth: NaiveDate, on: NaiveDate) -> Option<(u8, ShareSource)> {
        if let Some(e) = &self.elderly
            && e.valid_from <= on
            && e.valid_to.is_none_or(|t| on <= t)
        {
            return Some((e.ratio, ShareSource::ElderlyCertificate));
        }
        if let Some(r) = self.contribution_ratio {
            return Some((r, ShareSource::Registered));
        }
        let income = self
            .limit_class
            .map(LimitClass::income_class)
            .unwrap_or(IncomeClass::General);
        let koki = self.insurer_number.kind() == crate::numbers::InsurerKind::Koki;
        cost_share::statutory_share_percent(birth, on, income, koki)
            .map(|p| (p, ShareSource::AgeRule))
    }
}

/// Where a share came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareSource {
    ElderlyCertificate,
    Registered,
    AgeRule,
}

/// Outcome of a confirmation against a person's registered history (R5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// 資格（有効）: the qualification valid on the date.
    Valid(&'a Qualification),
    /// 複数該当: more than one qualification valid on the date.
    Multiple(Vec<&'a Qualification>),
    /// 資格（無効）: the latest qualification has ended and no newer one is registered; carries
    /// the lost qualification (R6).
    Invalid(&'a Qualification),
    /// 無効（新しい資格あり）: only for a search by numbers (R7): the searched qualification
    /// is lost and a newer one exists, which is not disclosed.
    InvalidNewerExists(&'a Qualification),
    /// 資格情報なし.
    NotFound,
}

impl Outcome<'_> {
    pub fn validity(&self) -> QualificationValidity {
        match self {
            Outcome::Valid(_) => QualificationValidity::Valid,
            Outcome::Multiple(_) => QualificationValidity::Multiple,
            Outcome::Invalid(_) => QualificationValidity::Invalid,
            Outcome::InvalidNewerExists(_) => QualificationValidity::InvalidNewerExists,
            Outcome::NotFound => QualificationValidity::NotFound,
        }
    }
}

/// R5/R6: a card confirmation on `on` sees the person's whole history.
/// - valid qualifications on `on`: one → 有効, several → 複数該当;
/// - none valid but some started on or before `on` → 資格（無効） with the one lost last (R6);
/// - nothing started by `on` → 資格情報なし.
pub fn evaluate_by_card(history: &[Qualification], on: NaiveDate) -> Outcome<'_> {
    let valid: Vec<&Qualification> = history.iter().filter(|q| q.is_valid_on(on)).collect();
    match valid.len() {
        1 => return Outcome::Valid(valid[0]),
        n if n > 1 => return Outcome::Multiple(valid),
        _ => {}
    }
    history
        .iter()
        .filter(|q| q.is_lost_on(on))
        .max_by_key(|q| (q.disqualification_date, q.qualification_date))
        .map(Outcome::Invalid)
        .unwrap_or(Outcome::NotFound)
}

/// What the staff typed from an insurance card or 資格確認書 (照会区分 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NumbersQuery {
    pub insurer_number: InsurerNumber,
    pub symbol: InsuredSymbol,
    pub number: InsuredNumber,
    /// Optional: older cards carry no 枝番.
    pub branch: Option<BranchNumber>,
    pub birthdate: NaiveDate,
}

impl NumbersQuery {
    pub fn matches(&self, q: &Qualification, birth: NaiveDate) -> bool {
        birth == self.birthdate
            && q.insurer_number == self.insurer_number
            && q.symbol.key() == self.symbol.key()
            && q.number.key() == self.number.key()
            && self.branch.as_ref().is_none_or(|b| *b == q.branch)
    }
}

/// R7: confirmation by the numbers of a card. `history` is the matched person's history and
/// `matched` the qualifications in it that the numbers designate. A lost qualification is
/// reported as 無効 — or 無効（新しい資格あり） when a newer one is registered — and the newer
/// one is never returned.
pub fn evaluate_by_numbers<'a>(
    history: &'a [Qualification],
    matched: &[&'a Qualification],
    on: NaiveDate,
) -> Outcome<'a> {
    if let Some(q) = matched.iter().find(|q| q.is_valid_on(on)) {
        return Outcome::Valid(q);
    }
    let Some(lost) = matched
        .iter()
        .filter(|q| q.is_lost_on(on))
        .max_by_key(|q| q.disqualification_date)
    else {
        return Outcome::NotFound;
    };
    let newer = history.iter().any(|q| {
        q.qualification_date >= lost.qualification_date && q != *lost && q.qualification_date <= on
    });
    if newer {
        Outcome::InvalidNewerExists(lost)
    } else {
        Outcome::Invalid(lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn qual(insurer_body: &str, number: &str, from: &str, to: Option<&str>) -> Qualification {
        Qualification {
            insurer_number: InsurerNumber::from_body(insurer_body).unwrap(),
            insurer_name: "テスト保険者".into(),
            card_classification: CardClassification::General,
            symbol: InsuredSymbol::parse("12").unwrap(),
            number: InsuredNumber::parse(number).unwrap(),
            branch: BranchNumber::parse("00").unwrap(),
            family_class: FamilyClass::Insured,
            insured_name: "山田 太郎".into(),
            employer: None,
            qualification_date: d(from),
            disqualification_date: to.map(d),
            reason_of_loss: to.map(|_| ReasonOfLoss::OtherInsurance),
            contribution_ratio: None,
            elderly: None,
            limit_class: None,
            preschool: false,
            card_dates: CardDates::default(),
            details: QualificationDetails::default(),
        }
    }

    #[test]
    fn r5_valid_invalid_and_nothing() {
        let old = qual("0613001", "1", "2015-04-01", Some("2026-10-01"));
        let new = qual("0113001", "2", "2026-10-01", None);
        let h = vec![old.clone(), new.clone()];
        assert_eq!(evaluate_by_card(&h, d("2026-11-25")), Outcome::Valid(&h[1]));
        assert_eq!(evaluate_by_card(&h, d("2026-09-30")), Outcome::Valid(&h[0]));
        // job changer whose new insurer has not registered yet → 無効 with the lost one (R6)
        let only_old = vec![old.clone()];
        let o = evaluate_by_card(&only_old, d("2026-11-25"));
        assert_eq!(o, Outcome::Invalid(&only_old[0]));
        assert_eq!(o.validity().code(), "2");
        assert_eq!(evaluate_by_card(&[], d("2026-11-25")), Outcome::NotFound);
        // before anything started
        assert_eq!(
            evaluate_by_card(&only_old, d("2015-03-31")),
            Outcome::NotFound
        );
    }

    #[test]
    fn r5_the_loss_day_is_the_first_day_without_qualification() {
        let q = qual("0613001", "1", "2015-04-01", Some("2026-10-01"));
        assert!(q.is_valid_on(d("2026-09-30")));
        assert!(!q.is_valid_on(d("2026-10-01")));
        assert!(q.is_lost_on(d("2026-10-01")));
    }

    #[test]
    fn r5_overlapping_valid_qualifications_are_multiple() {
        let h = vec![
            qual("0613001", "1", "2020-04-01", None),
            qual("0113001", "2", "2026-10-01", None),
        ];
        let o = evaluate_by_card(&h, d("2026-11-25"));
        assert_eq!(o.validity().code(), "5");
    }

    #[test]
    fn r7_numbers_search_never_exposes_the_newer_qualification() {
        let old = qual("0613001", "1", "2015-04-01", Some("2026-10-01"));
        let new = qual("0113001", "2", "2026-10-01", None);
        let h = vec![old, new];
        let matched = vec![&h[0]];
        let o = evaluate_by_numbers(&h, &matched, d("2026-11-25"));
        assert_eq!(o, Outcome::InvalidNewerExists(&h[0]));
        assert_eq!(o.validity().code(), "3");
        let only = vec![h[0].clone()];
        let m = vec![&only[0]];
        assert_eq!(
            evaluate_by_numbers(&only, &m, d("2026-11-25")),
            Outcome::Invalid(&only[0])
        );
        assert_eq!(
            evaluate_by_numbers(&only, &[], d("2026-11-25")),
            Outcome::NotFound
        );
    }

    #[test]
    fn numbers_query_folds_width_and_checks_birthdate() {
        let q = qual("0613001", "1234", "2015-04-01", None);
        let mut nq = NumbersQuery {
            insurer_number: q.insurer_number.clone(),
            symbol: InsuredSymbol::parse("１２").unwrap(),
            number: InsuredNumber::parse("１２３４").unwrap(),
            branch: None,
            birthdate: d("1980-01-01"),
        };
        assert!(nq.matches(&q, d("1980-01-01")));
        assert!(!nq.matches(&q, d("1980-01-02")));
        nq.branch = Some(BranchNumber::parse("01").unwrap());
        assert!(!nq.matches(&q, d("1980-01-01")));
    }

    #[test]
    fn share_prefers_elderly_certificate_then_registered_then_age() {
        let mut q = qual("0613001", "1", "2015-04-01", None);
        let birth = d("1990-06-01");
        assert_eq!(
            q.share_on(birth, d("2026-11-25")),
            Some((30, ShareSource::AgeRule))
        );
        q.contribution_ratio = Some(30);
        assert_eq!(
            q.share_on(birth, d("2026-11-25")),
            Some((30, ShareSource::Registered))
        );
        q.elderly = Some(ElderlyInfo {
            ratio: 20,
            valid_from: d("2026-08-01"),
            valid_to: Some(d("2027-07-31")),
        });
        assert_eq!(
            q.share_on(birth, d("2026-11-25")),
            Some((20, ShareSource::ElderlyCertificate))
        );
        assert_eq!(
            q.share_on(birth, d("2027-08-01")),
            Some((30, ShareSource::Registered))
        );
    }
}
