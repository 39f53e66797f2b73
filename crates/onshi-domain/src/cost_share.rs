//! The cost share (一部負担金の割合) a patient pays, from the birth date and the date of
//! service, when no confirmed qualification says it (SPEC "Cost share").
//!
//! The share comes from the confirmed qualification whenever there is one; these age rules
//! decide it where only a birth date and a declaration exist (the 申立書 path, R10, R24, R26).
//!
//! # Ages in law
//!
//! A person's age increases on the day *before* the birthday (年齢計算ニ関スル法律 with
//! 民法 143条: the year counted from the day of birth ends on the day before the anniversary).
//! Someone born on 29 February turns a year older on 28 February in every year. The age
//! thresholds below are computed with that rule:
//!
//! | bracket | from | to | share |
//! | --- | --- | --- | --- |
//! | 未就学児 | birth | the first 31 March on or after the day the child turns 6 ([`preschool_last_day`]) | 2割 |
//! | 6–69 | the next day | the day before [`elderly_start`] | 3割 |
//! | 70–74 | the 1st of the month after the one in which the person turns 70; the birth month itself for those born on the 1st ([`elderly_start`]) | the day before the 75th birthday | 2割, 3割 現役並み |
//! | 後期高齢者 | the 75th birthday itself ([`koki_start`]), or the 後期 障害認定 of someone 65–74 | — | 1割, 2割 一定以上所得 (from 2022-10-01), 3割 現役並み |
//!
//! The shares themselves are dated data ([`ShareRule::TABLE`]), starting on 2008-04-01, the
//! first day of 後期高齢者医療; there is no share for earlier days of service.
//!
//! Pure code: no clock; every function takes the date it works on.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Builds a date in a `const` context; a bad literal fails the build, never a run.
const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid date literal"),
    }
}

/// The age in law on a day (R24: "70+" and the brackets below use it): it increases on the day
/// before each birthday. `None` when `on` is before `birth`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> Option<u32> {
    if on < birth {
        return None;
    }
    // The age in law on a day is the ordinary age on the next day. In a year without
    // 29 February, comparing (month, day) puts that birthday's anniversary on 1 March.
    let (year, month, day) = match on.succ_opt() {
        Some(next) => (next.year(), next.month(), next.day()),
        None => (on.year() + 1, 1, 1),
    };
    let mut age = year - birth.year();
    if (month, day) < (birth.month(), birth.day()) {
        age -= 1;
    }
    u32::try_from(age).ok()
}

/// The calendar anniversary `years` after `birth`; 29 February falls on 1 March in a year
/// without it. Saturates at the end of chrono's range (year 262142).
fn anniversary(birth: NaiveDate, years: i32) -> NaiveDate {
    let year = birth.year().saturating_add(years);
    NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
        .or_else(|| {
            let leap_day = birth.month() == 2 && birth.day() == 29;
            NaiveDate::from_ymd_opt(year, 3, 1).filter(|_| leap_day)
        })
        .unwrap_or(NaiveDate::MAX)
}

/// The day on which the person reaches `years` in law: the day before the anniversary.
fn reaches_age(birth: NaiveDate, years: i32) -> NaiveDate {
    let birthday = anniversary(birth, years);
    birthday.pred_opt().unwrap_or(birthday)
}

/// The last day of 未就学児 (2割): the first 31 March on or after the day the child turns 6 in
/// law (the day before the 6th birthday). Born 1 April, the child turns 6 on 31 March and that
/// same day is the last; born 2 April, the last day is the 31 March a year later.
pub fn preschool_last_day(birth: NaiveDate) -> NaiveDate {
    let turns_six = reaches_age(birth, 6);
    let march_31 = |year: i32| NaiveDate::from_ymd_opt(year, 3, 31).unwrap_or(NaiveDate::MAX);
    let same_year = march_31(turns_six.year());
    if turns_six <= same_year {
        same_year
    } else {
        march_31(turns_six.year().saturating_add(1))
    }
}

/// The first day of the 70–74 bracket: the 1st of the month after the month in which the
/// person reaches 70 in law (the day before the 70th birthday). For someone born on the 1st of
/// a month that is the 1st of the birth month itself (born 1955-05-01 → reaches 70 on
/// 2025-04-30 → 2025-05-01; born 1955-05-02 → 2025-05-01 → 2025-06-01).
pub fn elderly_start(birth: NaiveDate) -> NaiveDate {
    let turns_seventy = reaches_age(birth, 70);
    let (year, month) = match turns_seventy.month() {
        12 => (turns_seventy.year().saturating_add(1), 1),
        month => (turns_seventy.year(), month + 1),
    };
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MAX)
}

/// The first day of 後期高齢者医療 by age: the 75th birthday itself (29 February → 1 March in
/// a year without it).
pub fn koki_start(birth: NaiveDate) -> NaiveDate {
    anniversary(birth, 75)
}

/// The age bracket that decides the cost share, in the order a life passes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AgeBracket {
    /// 未就学児: up to [`preschool_last_day`].
    Preschool,
    /// From school age to 69 (until the day before [`elderly_start`]).
    School,
    /// 70–74 (前期高齢者 with 高齢受給者証): from [`elderly_start`] to the day before the 75th birthday.
    Elderly70To74,
    /// 後期高齢者 by age: from [`koki_start`].
    Koki75,
}

/// The bracket of a person on a day; `None` before birth.
pub fn age_bracket(birth: NaiveDate, on: NaiveDate) -> Option<AgeBracket> {
    if on < birth {
        None
    } else if on <= preschool_last_day(birth) {
        Some(AgeBracket::Preschool)
    } else if on < elderly_start(birth) {
        Some(AgeBracket::School)
    } else if on < koki_start(birth) {
        Some(AgeBracket::Elderly70To74)
    } else {
        Some(AgeBracket::Koki75)
    }
}

/// The income class that changes the share of the 70+.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IncomeClass {
    /// 一般 (and 低所得).
    General,
    /// 一定以上所得 (後期 only: 2割 from 2022-10-01). For 70–74 it is treated as [`IncomeClass::General`].
    Ichiteiijo,
    /// 現役並み所得: 3割.
    GenekiNami,
}

const ALL_INCOMES: &[IncomeClass] = &[
    IncomeClass::General,
    IncomeClass::Ichiteiijo,
    IncomeClass::GenekiNami,
];
const GENERAL_OR_ICHITEIIJO: &[IncomeClass] = &[IncomeClass::General, IncomeClass::Ichiteiijo];

/// One dated row of the share table: for a bracket and income classes, the share in force on
/// days of service in `from ..= until`, optionally only for people born in `born_from ..=
/// born_until` (transitional measures are tied to birth cohorts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareRule {
    /// The bracket the row is for.
    pub bracket: AgeBracket,
    /// The income classes the row is for.
    pub incomes: &'static [IncomeClass],
    /// First day of service the row applies to.
    pub from: NaiveDate,
    /// Last day of service the row applies to; `None` while in force.
    pub until: Option<NaiveDate>,
    /// Earliest birth date the row applies to, if limited.
    pub born_from: Option<NaiveDate>,
    /// Latest birth date the row applies to, if limited.
    pub born_until: Option<NaiveDate>,
    /// The share in percent (30 = 3割).
    pub percent: u8,
    /// What the row is, in a sentence.
    pub note: &'static str,
}

/// First day of service [`ShareRule::TABLE`] covers (start of 後期高齢者医療).
pub const TABLE_FROM: NaiveDate = ymd(2008, 4, 1);
/// 70–74 一般: the 1割 freeze ended for days of service from this day…
const FREEZE_END: NaiveDate = ymd(2014, 3, 31);
/// …for people born on or after this day (turning 70 from April 2014); older people kept 1割.
const FREEZE_COHORT_END: NaiveDate = ymd(1944, 4, 1);
/// 後期 一定以上所得: 2割 from this day of service.
pub const KOKI_ICHITEIIJO_FROM: NaiveDate = ymd(2022, 10, 1);

impl ShareRule {
    /// The share table. At most one row applies to any bracket, income class, birth date and
    /// day of service, and from [`TABLE_FROM`] on exactly one does (see the tests).
    pub const TABLE: &'static [ShareRule] = &[
        ShareRule {
            bracket: AgeBracket::Preschool,
            incomes: ALL_INCOMES,
            from: TABLE_FROM,
            until: None,
            born_from: None,
            born_until: None,
            percent: 20,
            note: "未就学児: 2割",
        },
        ShareRule {
            bracket: AgeBracket::School,
            incomes: ALL_INCOMES,
            from: TABLE_FROM,
            until: None,
            born_from: None,
            born_until: None,
            percent: 30,
            note: "school age to 69: 3割",
        },
        ShareRule {
            bracket: AgeBracket::Elderly70To74,
            incomes: GENERAL_OR_ICHITEIIJO,
            from: TABLE_FROM,
            until: Some(FREEZE_END),
            born_from: None,
            born_until: None,
            percent: 10,
            note: "70-74 一般: 2割 in law, held at 1割 by the freeze (特例措置) until 2014-03-31",
        },
        ShareRule {
            bracket: AgeBracket::Elderly70To74,
            incomes: GENERAL_OR_ICHITEIIJO,
            from: ymd(2014, 4, 1),
            until: None,
            born_from: None,
            born_until: Some(FREEZE_COHORT_END),
            percent: 10,
            note: "70-74 一般 born on or before 1944-04-01: kept 1割 until 75 (特例措置)",
        },
        ShareRule {
            bracket: AgeBracket::Elderly70To74,
            incomes: GENERAL_OR_ICHITEIIJO,
            from: ymd(2014, 4, 1),
            until: None,
            born_from: Some(ymd(1944, 4, 2)),
            born_until: None,
            percent: 20,
            note: "70-74 一般 born on or after 1944-04-02: 2割",
        },
        ShareRule {
            bracket: AgeBracket::Elderly70To74,
            incomes: &[IncomeClass::GenekiNami],
            from: TABLE_FROM,
            until: None,
            born_from: None,
            born_until: None,
            percent: 30,
            note: "70-74 現役並み所得: 3割",
        },
        ShareRule {
            bracket: AgeBracket::Koki75,
            incomes: &[IncomeClass::General],
            from: TABLE_FROM,
            until: None,
            born_from: None,
            born_until: None,
            percent: 10,
            note: "後期高齢者 一般: 1割",
        },
        ShareRule {
            bracket: AgeBracket::Koki75,
            incomes: &[IncomeClass::Ichiteiijo],
            from: TABLE_FROM,
            until: Some(ymd(2022, 9, 30)),
            born_from: None,
            born_until: None,
            percent: 10,
            note: "後期高齢者 一定以上所得 before the 2割 class existed: 1割",
        },
        ShareRule {
            bracket: AgeBracket::Koki75,
            incomes: &[IncomeClass::Ichiteiijo],
            from: KOKI_ICHITEIIJO_FROM,
            until: None,
            born_from: None,
            born_until: None,
            percent: 20,
            note: "後期高齢者 一定以上所得: 2割 from 2022-10-01 (the 配慮措置 to 2025-09-30 capped \
                   the monthly increase, not the ratio)",
        },
        ShareRule {
            bracket: AgeBracket::Koki75,
            incomes: &[IncomeClass::GenekiNami],
            from: TABLE_FROM,
            until: None,
            born_from: None,
            born_until: None,
            percent: 30,
            note: "後期高齢者 現役並み所得: 3割",
        },
    ];

    /// Whether this row applies.
    pub fn applies(
        &self,
        bracket: AgeBracket,
        income: IncomeClass,
        birth: NaiveDate,
        on: NaiveDate,
    ) -> bool {
        self.bracket == bracket
            && self.incomes.contains(&income)
            && self.from <= on
            && self.until.is_none_or(|until| on <= until)
            && self.born_from.is_none_or(|from| from <= birth)
            && self.born_until.is_none_or(|until| birth <= until)
    }

    /// The row in force, if any (none before [`TABLE_FROM`]).
    pub fn find(
        bracket: AgeBracket,
        income: IncomeClass,
        birth: NaiveDate,
        on: NaiveDate,
    ) -> Option<&'static ShareRule> {
        ShareRule::TABLE
            .iter()
            .find(|rule| rule.applies(bracket, income, birth, on))
    }
}

/// The bracket used for the share: the age bracket, except that a person of 65–74 certified
/// for 後期高齢者医療 (障害認定, `koki_certified`) is in [`AgeBracket::Koki75`]. The flag is
/// ignored below 65, where no such certification exists.
pub fn share_bracket(birth: NaiveDate, on: NaiveDate, koki_certified: bool) -> Option<AgeBracket> {
    let bracket = age_bracket(birth, on)?;
    let certified = koki_certified && age_on(birth, on).is_some_and(|age| age >= 65);
    Some(if certified {
        AgeBracket::Koki75
    } else {
        bracket
    })
}

/// The share in percent (30 = 3割) the law sets for a person on a day of service: 未就学児 20;
/// 6–69 30; 70–74 20 (一般, 一定以上所得) or 30 (現役並み); 後期高齢者 (from the 75th birthday, or
/// certified at 65–74) 10, 20 (一定以上所得, from 2022-10-01; 10 before) or 30 (現役並み).
///
/// `None` before birth and for days of service before [`TABLE_FROM`].
pub fn statutory_share_percent(
    birth: NaiveDate,
    on: NaiveDate,
    income: IncomeClass,
    koki_certified: bool,
) -> Option<u8> {
    let bracket = share_bracket(birth, on, koki_certified)?;
    ShareRule::find(bracket, income, birth, on).map(|rule| rule.percent)
}

/// Shares offered on the 申立書 to patients under 70 outside 未就学: 3割 (R26).
pub const SHARE_OPTIONS_DEFAULT: &[u8] = &[30];
/// Shares offered for 未就学児: 2割 (R26).
pub const SHARE_OPTIONS_PRESCHOOL: &[u8] = &[20];
/// Shares offered to patients 70 and over or in 後期高齢者医療: 3割, 2割, 1割 in the order of
/// the form (R24, R26). A 65–74 patient who declares 後期 insurance (障害認定) is offered these
/// too; the caller knows the declared insurance type and picks this list.
pub const SHARE_OPTIONS_ELDERLY: &[u8] = &[30, 20, 10];

/// The shares (percent) a patient may declare on the 被保険者資格申立書 by age (R24, R26):
/// 3割 normally, 2割 for 未就学児, 3割 / 2割 / 1割 from age 70 in law (the form asks the share of
/// everyone 70 and over, including the days before [`elderly_start`]) and in 後期高齢者医療.
/// Empty before birth.
pub fn declared_share_options(birth: NaiveDate, on: NaiveDate) -> &'static [u8] {
    match age_bracket(birth, on) {
        None => &[],
        Some(AgeBracket::Preschool) => SHARE_OPTIONS_PRESCHOOL,
        Some(AgeBracket::School) if age_on(birth, on).is_some_and(|age| age >= 70) => {
            SHARE_OPTIONS_ELDERLY
        }
        Some(AgeBracket::School) => SHARE_OPTIONS_DEFAULT,
        Some(AgeBracket::Elderly70To74 | AgeBracket::Koki75) => SHARE_OPTIONS_ELDERLY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date literal")
    }

    fn share(birth: NaiveDate, on: NaiveDate, income: IncomeClass) -> Option<u8> {
        statutory_share_percent(birth, on, income, false)
    }

    // --- age in law ---

    #[test]
    fn age_increases_on_the_day_before_the_birthday() {
        let birth = date(2000, 5, 10);
        assert_eq!(age_on(birth, date(2000, 5, 9)), None);
        assert_eq!(age_on(birth, birth), Some(0));
        assert_eq!(age_on(birth, date(2001, 5, 8)), Some(0));
        assert_eq!(age_on(birth, date(2001, 5, 9)), Some(1));
        assert_eq!(age_on(birth, date(2001, 5, 10)), Some(1));
        assert_eq!(age_on(birth, date(2070, 5, 8)), Some(69));
        assert_eq!(age_on(birth, date(2070, 5, 9)), Some(70));
    }

    #[test]
    fn born_on_new_years_day_is_a_year_older_on_new_years_eve() {
        let birth = date(2000, 1, 1);
        assert_eq!(age_on(birth, date(2000, 12, 30)), Some(0));
        assert_eq!(age_on(birth, date(2000, 12, 31)), Some(1));
    }

    #[test]
    fn born_on_29_february_is_a_year_older_on_28_february() {
        let birth = date(2000, 2, 29);
        assert_eq!(age_on(birth, date(2001, 2, 27)), Some(0));
        assert_eq!(age_on(birth, date(2001, 2, 28)), Some(1));
        assert_eq!(age_on(birth, date(2004, 2, 27)), Some(3));
        assert_eq!(age_on(birth, date(2004, 2, 28)), Some(4));
        assert_eq!(age_on(birth, date(2004, 2, 29)), Some(4));
    }

    // --- 未就学児 ---

    #[test]
    fn preschool_born_1_april_ends_the_31_march_before_the_birthday() {
        assert_eq!(preschool_last_day(date(2019, 4, 1)), date(2025, 3, 31));
    }

    #[test]
    fn preschool_born_2_april_ends_a_year_later() {
        assert_eq!(preschool_last_day(date(2019, 4, 2)), date(2026, 3, 31));
    }

    #[test]
    fn preschool_born_31_march_ends_on_the_next_31_march() {
        assert_eq!(preschool_last_day(date(2019, 3, 31)), date(2025, 3, 31));
        assert_eq!(preschool_last_day(date(2019, 1, 1)), date(2025, 3, 31));
        assert_eq!(preschool_last_day(date(2018, 12, 31)), date(2025, 3, 31));
    }

    #[test]
    fn preschool_born_29_february() {
        assert_eq!(preschool_last_day(date(2020, 2, 29)), date(2026, 3, 31));
    }

    #[test]
    fn preschool_share_boundary() {
        let birth = date(2019, 4, 2);
        let g = IncomeClass::General;
        assert_eq!(share(birth, date(2026, 3, 30), g), Some(20));
        assert_eq!(share(birth, date(2026, 3, 31), g), Some(20));
        assert_eq!(share(birth, date(2026, 4, 1), g), Some(30));
        let birth = date(2019, 4, 1);
        assert_eq!(share(birth, date(2025, 3, 31), g), Some(20));
        assert_eq!(share(birth, date(2025, 4, 1), g), Some(30));
    }

    // --- 70–74 ---

    #[test]
    fn elderly_born_on_the_1st_starts_in_the_birth_month() {
        assert_eq!(elderly_start(date(1955, 5, 1)), date(2025, 5, 1));
        assert_eq!(elderly_start(date(1956, 1, 1)), date(2026, 1, 1));
    }

    #[test]
    fn elderly_born_on_the_2nd_starts_the_next_month() {
        assert_eq!(elderly_start(date(1955, 5, 2)), date(2025, 6, 1));
        assert_eq!(elderly_start(date(1955, 12, 31)), date(2026, 1, 1));
        assert_eq!(elderly_start(date(1956, 2, 29)), date(2026, 3, 1));
    }

    #[test]
    fn elderly_share_boundary_born_on_the_1st() {
        let birth = date(1955, 5, 1);
        let g = IncomeClass::General;
        assert_eq!(share(birth, date(2025, 4, 30), g), Some(30));
        assert_eq!(share(birth, date(2025, 5, 1), g), Some(20));
        assert_eq!(share(birth, date(2025, 5, 2), g), Some(20));
    }

    #[test]
    fn elderly_share_boundary_born_on_the_2nd() {
        let birth = date(1955, 5, 2);
        let g = IncomeClass::General;
        assert_eq!(share(birth, date(2025, 5, 31), g), Some(30));
        assert_eq!(share(birth, date(2025, 6, 1), g), Some(20));
        assert_eq!(share(birth, date(2025, 6, 2), g), Some(20));
        assert_eq!(
            share(birth, date(2025, 6, 1), IncomeClass::GenekiNami),
            Some(30)
        );
        assert_eq!(
            share(birth, date(2025, 6, 1), IncomeClass::Ichiteiijo),
            Some(20)
        );
    }

    #[test]
    fn elderly_1_wari_freeze_and_the_1944_cohort() {
        let g = IncomeClass::General;
        assert_eq!(share(date(1939, 1, 1), date(2010, 1, 1), g), Some(10));
        assert_eq!(share(date(1944, 4, 1), date(2014, 3, 31), g), Some(30));
        assert_eq!(share(date(1944, 4, 1), date(2014, 4, 1), g), Some(10));
        assert_eq!(share(date(1944, 4, 1), date(2019, 3, 31), g), Some(10));
        assert_eq!(share(date(1944, 4, 2), date(2014, 4, 30), g), Some(30));
        assert_eq!(share(date(1944, 4, 2), date(2014, 5, 1), g), Some(20));
    }

    // --- 後期高齢者 ---

    #[test]
    fn koki_starts_on_the_75th_birthday() {
        let birth = date(1950, 6, 15);
        assert_eq!(koki_start(birth), date(2025, 6, 15));
        let g = IncomeClass::General;
        assert_eq!(share(birth, date(2025, 6, 14), g), Some(20));
        assert_eq!(share(birth, date(2025, 6, 15), g), Some(10));
        assert_eq!(share(birth, date(2025, 6, 16), g), Some(10));
        assert_eq!(
            share(birth, date(2025, 6, 15), IncomeClass::GenekiNami),
            Some(30)
        );
    }

    #[test]
    fn koki_born_29_february_starts_1_march() {
        assert_eq!(koki_start(date(1948, 2, 29)), date(2023, 3, 1));
        let g = IncomeClass::General;
        assert_eq!(share(date(1948, 2, 29), date(2023, 2, 28), g), Some(20));
        assert_eq!(share(date(1948, 2, 29), date(2023, 3, 1), g), Some(10));
    }

    #[test]
    fn koki_ichiteiijo_pays_2_wari_from_2022_10_01() {
        let birth = date(1940, 1, 1);
        let i = IncomeClass::Ichiteiijo;
        assert_eq!(share(birth, date(2022, 9, 30), i), Some(10));
        assert_eq!(share(birth, date(2022, 10, 1), i), Some(20));
        assert_eq!(share(birth, date(2022, 10, 2), i), Some(20));
    }

    #[test]
    fn koki_certified_from_65_pays_the_koki_share() {
        let birth = date(1958, 6, 15);
        let g = IncomeClass::General;
        // 66 in 2024: 3割 by age, 1割 when certified for 後期.
        let on = date(2024, 7, 1);
        assert_eq!(statutory_share_percent(birth, on, g, false), Some(30));
        assert_eq!(statutory_share_percent(birth, on, g, true), Some(10));
        // 64: the certification does not exist, the flag is ignored.
        let on = date(2022, 7, 1);
        assert_eq!(statutory_share_percent(birth, on, g, true), Some(30));
        // Turns 65 in law on 2023-06-14.
        assert_eq!(
            statutory_share_percent(birth, date(2023, 6, 13), g, true),
            Some(30)
        );
        assert_eq!(
            statutory_share_percent(birth, date(2023, 6, 14), g, true),
            Some(10)
        );
        // 70–74: 2割 by age, 1割 when certified.
        let on = date(2029, 1, 1);
        assert_eq!(statutory_share_percent(birth, on, g, false), Some(20));
        assert_eq!(statutory_share_percent(birth, on, g, true), Some(10));
    }

    #[test]
    fn no_share_before_birth_or_before_the_table() {
        let g = IncomeClass::General;
        assert_eq!(share(date(2000, 1, 1), date(1999, 12, 31), g), None);
        assert_eq!(share(date(1960, 1, 1), date(2008, 3, 31), g), None);
        assert_eq!(share(date(1960, 1, 1), date(2008, 4, 1), g), Some(30));
    }

    // --- brackets ---

    #[test]
    fn brackets_in_a_life() {
        let birth = date(1955, 5, 2);
        assert_eq!(age_bracket(birth, date(1955, 5, 1)), None);
        assert_eq!(age_bracket(birth, birth), Some(AgeBracket::Preschool));
        assert_eq!(
            age_bracket(birth, date(1962, 3, 31)),
            Some(AgeBracket::Preschool)
        );
        assert_eq!(
            age_bracket(birth, date(1962, 4, 1)),
            Some(AgeBracket::School)
        );
        assert_eq!(
            age_bracket(birth, date(2025, 5, 31)),
            Some(AgeBracket::School)
        );
        assert_eq!(
            age_bracket(birth, date(2025, 6, 1)),
            Some(AgeBracket::Elderly70To74)
        );
        assert_eq!(
            age_bracket(birth, date(2030, 5, 1)),
            Some(AgeBracket::Elderly70To74)
        );
        assert_eq!(
            age_bracket(birth, date(2030, 5, 2)),
            Some(AgeBracket::Koki75)
        );
    }

    // --- 申立書 options ---

    #[test]
    fn r26_declared_share_options_by_age() {
        assert_eq!(
            declared_share_options(date(2020, 1, 1), date(2019, 1, 1)),
            &[] as &[u8]
        );
        assert_eq!(
            declared_share_options(date(2020, 1, 1), date(2024, 1, 1)),
            &[20]
        );
        assert_eq!(
            declared_share_options(date(1980, 1, 1), date(2024, 1, 1)),
            &[30]
        );
        assert_eq!(
            declared_share_options(date(1950, 1, 1), date(2024, 1, 1)),
            &[30, 20, 10]
        );
        assert_eq!(
            declared_share_options(date(1940, 1, 1), date(2024, 1, 1)),
            &[30, 20, 10]
        );
    }

    #[test]
    fn r24_share_is_asked_from_70_in_law_even_before_the_elderly_bracket() {
        let birth = date(1955, 5, 2);
        assert_eq!(declared_share_options(birth, date(2025, 4, 30)), &[30]);
        assert_eq!(
            declared_share_options(birth, date(2025, 5, 1)),
            &[30, 20, 10]
        );
        assert_eq!(
            share(birth, date(2025, 5, 1), IncomeClass::General),
            Some(30)
        );
    }

    // --- the table ---

    #[test]
    fn exactly_one_rule_applies_from_2008_04_01() {
        let births = [
            date(1930, 1, 1),
            date(1939, 3, 15),
            date(1944, 4, 1),
            date(1944, 4, 2),
            date(1948, 2, 29),
            date(1955, 5, 1),
            date(1960, 12, 31),
            date(2005, 6, 6),
            date(2019, 4, 1),
        ];
        let days = [
            TABLE_FROM,
            date(2014, 3, 31),
            date(2014, 4, 1),
            date(2022, 9, 30),
            KOKI_ICHITEIIJO_FROM,
            date(2030, 1, 1),
        ];
        let brackets = [
            AgeBracket::Preschool,
            AgeBracket::School,
            AgeBracket::Elderly70To74,
            AgeBracket::Koki75,
        ];
        for birth in births {
            for on in days {
                for bracket in brackets {
                    for &income in ALL_INCOMES {
                        let count = ShareRule::TABLE
                            .iter()
                            .filter(|r| r.applies(bracket, income, birth, on))
                            .count();
                        assert_eq!(count, 1, "{bracket:?} {income:?} {birth} {on}");
                    }
                }
            }
        }
    }

    #[test]
    fn table_rows_are_well_formed() {
        for rule in ShareRule::TABLE {
            assert!(
                rule.until.is_none_or(|until| rule.from <= until),
                "{}",
                rule.note
            );
            assert!(matches!(rule.percent, 10 | 20 | 30), "{}", rule.note);
            assert!(!rule.incomes.is_empty(), "{}", rule.note);
        }
    }

    // --- properties ---

    /// Births from 1900 to 2100.
    fn any_birth() -> impl Strategy<Value = NaiveDate> {
        let first = date(1900, 1, 1);
        let span = (date(2100, 12, 31) - first).num_days();
        (0..=span).prop_map(move |offset| first + chrono::Duration::days(offset))
    }

    /// Any date chrono can hold.
    fn any_date() -> impl Strategy<Value = NaiveDate> {
        (NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce())
            .prop_map(|days| NaiveDate::from_num_days_from_ce_opt(days).unwrap_or(NaiveDate::MIN))
    }

    proptest! {
        #[test]
        fn brackets_only_move_forward(birth in any_birth(), a in 0i64..40_000, b in 0i64..40_000) {
            let (early, late) = (a.min(b), a.max(b));
            let first = age_bracket(birth, birth + chrono::Duration::days(early));
            let second = age_bracket(birth, birth + chrono::Duration::days(late));
            prop_assert!(first.is_some() && second.is_some());
            prop_assert!(first <= second);
        }

        #[test]
        fn elderly_start_is_a_1st_within_a_month_of_the_70th_birthday(birth in any_birth()) {
            let start = elderly_start(birth);
            prop_assert_eq!(start.day(), 1);
            let after_birthday = (start - anniversary(birth, 70)).num_days();
            prop_assert!((0..=30).contains(&after_birthday), "{} {}", birth, start);
            prop_assert!(start > reaches_age(birth, 70));
            prop_assert_eq!(age_on(birth, start), Some(70));
        }

        #[test]
        fn preschool_last_day_is_a_31_march_at_age_6(birth in any_birth()) {
            let last = preschool_last_day(birth);
            prop_assert_eq!((last.month(), last.day()), (3, 31));
            prop_assert_eq!(age_on(birth, last), Some(6));
            let year_before = NaiveDate::from_ymd_opt(last.year() - 1, 3, 31).unwrap_or(last);
            prop_assert!(age_on(birth, year_before).is_none_or(|age| age < 6));
        }

        #[test]
        fn age_increases_exactly_on_the_eve_of_each_birthday(birth in any_birth(), years in 1i32..110) {
            let eve = reaches_age(birth, years);
            let expected = u32::try_from(years).unwrap_or(0);
            prop_assert_eq!(age_on(birth, eve), Some(expected));
            let before = eve.pred_opt().unwrap_or(eve);
            prop_assert_eq!(age_on(birth, before), Some(expected - 1));
        }

        #[test]
        fn koki_start_is_the_75th_birthday_when_it_exists(birth in any_birth()) {
            let start = koki_start(birth);
            if let Some(exact) = NaiveDate::from_ymd_opt(birth.year() + 75, birth.month(), birth.day()) {
                prop_assert_eq!(start, exact);
            } else {
                prop_assert_eq!((start.month(), start.day()), (3, 1));
            }
        }

        #[test]
        fn every_person_has_a_share_from_2008(birth in any_birth(), offset in 0i64..40_000, certified in any::<bool>(), income in 0usize..3) {
            let on = birth + chrono::Duration::days(offset);
            let result = statutory_share_percent(birth, on, ALL_INCOMES[income], certified);
            if on >= TABLE_FROM {
                prop_assert!(matches!(result, Some(10 | 20 | 30)));
                prop_assert!(!declared_share_options(birth, on).is_empty());
            } else {
                prop_assert_eq!(result, None);
            }
        }

        #[test]
        fn nothing_panics_on_any_dates(birth in any_date(), on in any_date(), certified in any::<bool>()) {
            let _ = age_on(birth, on);
            let _ = preschool_last_day(birth);
            let _ = elderly_start(birth);
            let _ = koki_start(birth);
            let _ = declared_share_options(birth, on);
            for &income in ALL_INCOMES {
                let _ = statutory_share_percent(birth, on, income, certified);
            }
        }
    }
}
