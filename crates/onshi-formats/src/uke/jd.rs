//! JD 受診日等レコード — the days of service per payer (33 fields).

use super::field::{Days, FieldSpec as F, Kind::*, Num, day_specs, layout};

layout! {
    /// JD 受診日等レコード: one code per day 1–31 — `1` counted visit, `2` visit not counted,
    /// `9` mismatch with the 算定日.
    pub struct Jd = "JD" {
        /// 2 負担者種別 — `1` 医療保険, `2`–`5` 第1–第4公費.
        payer_kind: Num = F::new("負担者種別", "payer kind", Digits, 1).fixed().req(),
        /// 3–33 1日の情報 … 31日の情報.
        days: Days = day_specs("情報", Digits, 1),
    }
}

/// JD day code: a visit counted in 診療実日数.
pub const JD_COUNTED: &str = "1";
/// JD day code: a visit not counted.
pub const JD_NOT_COUNTED: &str = "2";

impl Jd {
    /// A JD with code `1` (counted visit) on each of `days` (1–31; others ignored).
    pub fn counted(payer_kind: u32, days: &[u32]) -> Jd {
        let mut d = Days::default();
        for &day in days {
            d.set(day, Some(Num::padded(1, 1)));
        }
        Jd {
            payer_kind: Num::from(payer_kind),
            days: d,
        }
    }
}
