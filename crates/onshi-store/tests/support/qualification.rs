//! A qualification of the suites' one insurer (協会けんぽ東京支部), shared by the store's
//! test files.

use chrono::NaiveDate;
use onshi_domain::codes::{CardClassification, FamilyClass, ReasonOfLoss};
use onshi_domain::numbers::{BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber};
use onshi_domain::qualification::{CardDates, Qualification, QualificationDetails};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// 番号 `number` from `from` (`YYYY-MM-DD`), lost on `to` for another insurance when given.
pub fn qual(number: &str, from: &str, to: Option<&str>) -> Qualification {
    Qualification {
        insurer_number: InsurerNumber::from_body("0113001").unwrap(),
        insurer_name: "全国健康保険協会東京支部".into(),
        card_classification: CardClassification::General,
        symbol: InsuredSymbol::parse("1001").unwrap(),
        number: InsuredNumber::parse(number).unwrap(),
        branch: BranchNumber::parse("00").unwrap(),
        family_class: FamilyClass::Insured,
        insured_name: "田中　太郎".into(),
        employer: Some("おんし工業".into()),
        qualification_date: d(from),
        disqualification_date: to.map(d),
        reason_of_loss: to.map(|_| ReasonOfLoss::OtherInsurance),
        contribution_ratio: Some(30),
        elderly: None,
        limit_class: None,
        preschool: false,
        card_dates: CardDates {
            issued_on: Some(d(from) + chrono::Days::new(9)),
            valid_from: Some(d(from)),
            valid_to: to.map(d),
        },
        details: QualificationDetails::default(),
    }
}
