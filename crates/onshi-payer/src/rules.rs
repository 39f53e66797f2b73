//! The payer's dated rules and settings, as data (STYLE: "dated rules are data").

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::YearMonth;

/// Dated rules the payer applies, each with the source of its date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerCalendar {
    /// R21: from the claims of this service month on, a claim whose qualification was valid on
    /// the service days is never re-assigned (2022-02 claims).
    pub valid_claim_never_reassigned_from: YearMonth,
    /// R20: 不詳 filing allowed from the claims of this service month (2023-09).
    pub fusho_allowed_from: YearMonth,
    /// R23: the time-limited measure of 保発0710第1号 4(1)–(3): employee insurers tell members,
    /// when a new card is issued on a job change, whether their data is registered yet —
    /// "until a mechanism to notify the registration status is in place".
    pub r23_measure_from: NaiveDate,
    /// end of the R23 measure; `None` while no end has been announced
    pub r23_measure_until: Option<NaiveDate>,
}

impl Default for PayerCalendar {
    fn default() -> Self {
        PayerCalendar {
            valid_claim_never_reassigned_from: YearMonth::new(2022, 2)
                .unwrap_or_else(|| unreachable!("2022-02 is a valid month")),
            fusho_allowed_from: YearMonth::new(2023, 9)
                .unwrap_or_else(|| unreachable!("2023-09 is a valid month")),
            r23_measure_from: NaiveDate::from_ymd_opt(2023, 7, 10)
                .unwrap_or_else(|| unreachable!("2023-07-10 is a valid date")),
            r23_measure_until: None,
        }
    }
}

impl PayerCalendar {
    pub fn r23_in_force_on(&self, d: NaiveDate) -> bool {
        self.r23_measure_from <= d && self.r23_measure_until.is_none_or(|u| d <= u)
    }
}

/// The payer's settings (SPEC: reference period and rounding of 按分 are not public).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerSettings {
    /// 按分's reference period: this many months before the service month (default 12)
    pub reference_months: u32,
    /// insurer numbers read as 不詳 (R20: 77777777, 77777779; the disaster practice 99999999)
    pub fusho_insurer_numbers: Vec<String>,
    /// at most this many candidates are fetched from the registry per identification
    pub candidate_limit: u32,
}

impl Default for PayerSettings {
    fn default() -> Self {
        PayerSettings {
            reference_months: 12,
            fusho_insurer_numbers: vec!["77777777".into(), "77777779".into(), "99999999".into()],
            candidate_limit: 20,
        }
    }
}

impl PayerSettings {
    /// The reference period of 按分 for claims of `service_month`: the `reference_months`
    /// months before it, first and last month inclusive.
    pub fn reference_period(&self, service_month: YearMonth) -> (YearMonth, YearMonth) {
        let n = self.reference_months.max(1) as i32;
        (service_month.plus(-n), service_month.plus(-1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r22_reference_period_defaults_to_the_twelve_months_before() {
        let s = PayerSettings::default();
        let (from, to) = s.reference_period(YearMonth::parse("202611").unwrap());
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("202511".into(), "202610".into())
        );
    }

    #[test]
    fn r23_measure_is_dated() {
        let c = PayerCalendar::default();
        assert!(!c.r23_in_force_on(NaiveDate::from_ymd_opt(2023, 7, 9).unwrap()));
        assert!(c.r23_in_force_on(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()));
        let ended = PayerCalendar {
            r23_measure_until: NaiveDate::from_ymd_opt(2026, 3, 31),
            ..c
        };
        assert!(!ended.r23_in_force_on(NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()));
    }
}
