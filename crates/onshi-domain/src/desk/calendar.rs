//! The desk's dated rules: what the notices and the later measures allow on a day of service
//! (SPEC "Dated rules"). Rules that change with time are rows of [`DatedRule::CALENDAR`], not
//! `if`s with dates in the engine: the engine asks [`Calendar::on`] what is in force.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Builds a date in a `const` context; a bad literal fails the build, never a run.
const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid date literal"),
    }
}

/// Which dated rule a row is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DatedRuleId {
    /// Full operation of the OQS (2021-10-20). The desk engine covers days of service from it.
    OqsFullOperation,
    /// 保発0710第1号 (2023-07-10): the 被保険者資格申立書 and the other answers of this module.
    Notice0710,
    /// R20: claims with insurer number and symbol/number 不詳 are accepted from the 2023-09
    /// claims (令和5年9月の請求から).
    FushouClaims,
    /// R2: My Number cards with no PIN set (顔認証マイナンバーカード) are issued.
    PinlessCards,
    /// No new insurance card (健康保険証) is issued; the 資格確認書 is issued instead, and the
    /// 資格情報のお知らせ goes with the My Number card.
    NoNewInsuranceCards,
    /// An insurance card issued before [`DatedRuleId::NoNewInsuranceCards`] stays valid until
    /// its own expiry, at the latest until the row's `until` (2025-12-01).
    InsuranceCardsValid,
    /// スマホ保険証: a smartphone carrying the card's certificate is used like the card.
    SmartphoneCard,
    /// Temporary measure: an expired insurance card, or the 資格情報のお知らせ alone, is
    /// accepted when its numbers confirm online (照会区分 2, R7).
    ExpiredCardMeasure,
}

/// One row of the calendar: a rule in force on days of service `from ..= until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatedRule {
    pub id: DatedRuleId,
    /// First day of service the rule applies to.
    pub from: NaiveDate,
    /// Last day of service it applies to; `None` while in force.
    pub until: Option<NaiveDate>,
    /// The R-numbers the rule belongs to.
    pub rules: &'static [&'static str],
    /// What the rule is, in a sentence, and where it comes from.
    pub note: &'static str,
}

/// First day the desk engine covers: full operation of the OQS.
pub const OQS_FULL_OPERATION: NaiveDate = ymd(2021, 10, 20);
/// First claim month (year, month) in which a 不詳 claim is accepted (R20).
pub const FUSHOU_FIRST_CLAIM_MONTH: (i32, u32) = (2023, 9);
/// First day no new insurance card is issued.
pub const NO_NEW_INSURANCE_CARDS: NaiveDate = ymd(2024, 12, 2);
/// Last day any insurance card is valid, whatever its own expiry.
pub const INSURANCE_CARDS_LAST_DAY: NaiveDate = ymd(2025, 12, 1);
/// The temporary measure for expired insurance cards and the お知らせ alone.
pub const EXPIRED_CARD_MEASURE: (NaiveDate, NaiveDate) = (ymd(2025, 12, 2), ymd(2026, 3, 31));
/// First day of スマホ保険証.
pub const SMARTPHONE_CARD_FROM: NaiveDate = ymd(2025, 9, 19);
/// First day PIN-less cards were issued.
pub const PINLESS_CARDS_FROM: NaiveDate = ymd(2023, 12, 15);

impl DatedRule {
    /// The calendar. Dates the seed does not give come from SPEC "Dated rules".
    pub const CALENDAR: &'static [DatedRule] = &[
        DatedRule {
            id: DatedRuleId::OqsFullOperation,
            from: OQS_FULL_OPERATION,
            until: None,
            rules: &["R5"],
            note: "オンライン資格確認等システム本格運用 (seed: 令和3年10月)",
        },
        DatedRule {
            id: DatedRuleId::Notice0710,
            from: ymd(2023, 7, 10),
            until: None,
            rules: &["R8", "R9", "R10", "R16"],
            note: "保発0710第1号: 申立書の運用は通知日から可 (seed 5(2))",
        },
        DatedRule {
            id: DatedRuleId::FushouClaims,
            // The first day of service whose ordinary claim (filed the next month) is a
            // 2023-09 claim.
            from: ymd(2023, 8, 1),
            until: None,
            rules: &["R20"],
            note: "保険者番号等「不詳」の請求は令和5年9月の請求から (seed 5(2))",
        },
        DatedRule {
            id: DatedRuleId::PinlessCards,
            from: PINLESS_CARDS_FROM,
            until: None,
            rules: &["R2"],
            note: "暗証番号の設定が不要なマイナンバーカードの交付 (seed: 本年11月から予定; SPEC: 2023-12-15)",
        },
        DatedRule {
            id: DatedRuleId::NoNewInsuranceCards,
            from: NO_NEW_INSURANCE_CARDS,
            until: None,
            rules: &["R9"],
            note: "健康保険証の新規発行終了、資格確認書・資格情報のお知らせへ (SPEC)",
        },
        DatedRule {
            id: DatedRuleId::InsuranceCardsValid,
            from: OQS_FULL_OPERATION,
            until: Some(INSURANCE_CARDS_LAST_DAY),
            rules: &["R9"],
            note: "発行済みの健康保険証は券面の有効期限まで、最長2025-12-01まで有効 (SPEC)",
        },
        DatedRule {
            id: DatedRuleId::SmartphoneCard,
            from: SMARTPHONE_CARD_FROM,
            until: None,
            rules: &["R1"],
            note: "スマホ保険証の利用開始 (SPEC)",
        },
        DatedRule {
            id: DatedRuleId::ExpiredCardMeasure,
            from: EXPIRED_CARD_MEASURE.0,
            until: Some(EXPIRED_CARD_MEASURE.1),
            rules: &["R7", "R9"],
            note: "暫定措置: 有効期限切れの保険証、または資格情報のお知らせのみでも、記号・番号等でオンライン資格確認できれば受付可 (SPEC)",
        },
    ];

    /// Whether the row is in force on a day of service.
    pub fn in_force(&self, on: NaiveDate) -> bool {
        self.from <= on && self.until.is_none_or(|until| on <= until)
    }
}

/// The dated rules in force on one day of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    on: NaiveDate,
}

impl Calendar {
    pub fn on(on: NaiveDate) -> Self {
        Calendar { on }
    }

    /// The day of service.
    pub fn date(&self) -> NaiveDate {
        self.on
    }

    /// Whether a rule is in force on the day.
    pub fn allows(&self, id: DatedRuleId) -> bool {
        DatedRule::CALENDAR
            .iter()
            .any(|rule| rule.id == id && rule.in_force(self.on))
    }

    /// The ids in force on the day, in calendar order.
    pub fn in_force(&self) -> Vec<DatedRuleId> {
        DatedRule::CALENDAR
            .iter()
            .filter(|rule| rule.in_force(self.on))
            .map(|rule| rule.id)
            .collect()
    }

    /// Whether an insurance card (健康保険証) is valid on the day: until its own printed
    /// expiry (none printed: no limit of its own) and only while
    /// [`DatedRuleId::InsuranceCardsValid`] is in force.
    pub fn insurance_card_valid(&self, own_expiry: Option<NaiveDate>) -> bool {
        self.allows(DatedRuleId::InsuranceCardsValid)
            && own_expiry.is_none_or(|expiry| self.on <= expiry)
    }

    /// Whether a 資格確認書 is valid on the day: until its own expiry.
    pub fn kakuninsho_valid(&self, expiry: Option<NaiveDate>) -> bool {
        expiry.is_none_or(|expiry| self.on <= expiry)
    }

    /// Whether an expired insurance card or the お知らせ alone may be accepted on the day,
    /// given an online numbers confirmation (R7) of it.
    pub fn expired_card_measure(&self) -> bool {
        self.allows(DatedRuleId::ExpiredCardMeasure)
    }

    /// Whether the 資格情報のお知らせ shown with the My Number card stands in for a card that
    /// cannot be read (from the end of new insurance cards on).
    pub fn oshirase_with_card(&self) -> bool {
        self.allows(DatedRuleId::NoNewInsuranceCards)
    }

    /// Whether a smartphone may be used as the card on the day.
    pub fn smartphone_card(&self) -> bool {
        self.allows(DatedRuleId::SmartphoneCard)
    }

    /// Whether a claim for this day of service, filed in the ordinary course (the month after
    /// the service month), may carry 不詳 (R20).
    pub fn fushou_claim_allowed(&self) -> bool {
        let (year, month) = claim_month(self.on);
        (year, month) >= FUSHOU_FIRST_CLAIM_MONTH
    }
}

/// The month in which a day of service is claimed in the ordinary course: the next month.
pub fn claim_month(service: NaiveDate) -> (i32, u32) {
    if service.month() == 12 {
        (service.year() + 1, 1)
    } else {
        (service.year(), service.month() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("test date")
    }

    #[test]
    fn rows_are_well_formed_and_ids_unique() {
        let mut ids: Vec<DatedRuleId> = DatedRule::CALENDAR.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), DatedRule::CALENDAR.len());
        for row in DatedRule::CALENDAR {
            assert!(row.until.is_none_or(|u| row.from <= u), "{:?}", row.id);
            assert!(!row.rules.is_empty(), "{:?}", row.id);
        }
    }

    #[test]
    fn insurance_cards_end_on_2025_12_01_at_the_latest() {
        assert!(Calendar::on(d(2025, 12, 1)).insurance_card_valid(None));
        assert!(!Calendar::on(d(2025, 12, 2)).insurance_card_valid(None));
        assert!(!Calendar::on(d(2025, 12, 2)).insurance_card_valid(Some(d(2026, 7, 31))));
        assert!(!Calendar::on(d(2025, 8, 1)).insurance_card_valid(Some(d(2025, 7, 31))));
        assert!(Calendar::on(d(2025, 7, 31)).insurance_card_valid(Some(d(2025, 7, 31))));
    }

    #[test]
    fn expired_card_measure_window() {
        assert!(!Calendar::on(d(2025, 12, 1)).expired_card_measure());
        assert!(Calendar::on(d(2025, 12, 2)).expired_card_measure());
        assert!(Calendar::on(d(2026, 3, 31)).expired_card_measure());
        assert!(!Calendar::on(d(2026, 4, 1)).expired_card_measure());
    }

    #[test]
    fn r20_fushou_claims_from_the_2023_09_claims() {
        assert!(!Calendar::on(d(2023, 7, 31)).fushou_claim_allowed());
        assert!(Calendar::on(d(2023, 8, 1)).fushou_claim_allowed());
        assert_eq!(claim_month(d(2023, 12, 5)), (2024, 1));
    }
}
