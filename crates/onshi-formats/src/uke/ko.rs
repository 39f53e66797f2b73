//! KO 公費レコード — one public-fund part of a claim (12 fields; 0–4 per claim).

use super::field::{FieldSpec as F, Kind::*, Num, layout};

layout! {
    /// KO 公費レコード: a public fund (公費) that pays part of the claim.
    pub struct Ko = "KO" {
        /// 2 負担者番号 — the fund's 8-digit payer number.
        payer_number: Num = F::new("負担者番号", "fund payer number", Digits, 8).fixed().req(),
        /// 3 受給者番号 — the recipient number (7 digits).
        recipient_number: Option<Num> = F::new("受給者番号", "recipient number", Digits, 7),
        /// 4 任意給付区分.
        optional_benefit: Option<Num> = F::new("任意給付区分", "optional benefit", Digits, 1),
        /// 5 診療実日数.
        days: Num = F::new("診療実日数", "service days", Digits, 2).req(),
        /// 6 合計点数.
        total_points: Num = F::new("合計点数", "total points", Digits, 8).req(),
        /// 7 負担金額（公費）.
        fund_amount: Option<Num> = F::new("負担金額", "fund amount (yen)", Digits, 8),
        /// 8 公費給付対象外来一部負担金.
        outpatient_share: Option<Num> = F::new("外来一部負担金", "outpatient share (yen)", Digits, 8),
        /// 9 公費給付対象入院一部負担金.
        inpatient_share: Option<Num> = F::new("入院一部負担金", "inpatient share (yen)", Digits, 8),
        /// 10 予備.
        reserved: Option<String> = F::new("予備", "reserved", Ascii, 8),
        /// 11 食事療養・生活療養 回数.
        meal_count: Option<Num> = F::new("食事療養・生活療養回数", "meal count", Digits, 3),
        /// 12 食事療養・生活療養 合計金額.
        meal_amount: Option<Num> = F::new("食事療養・生活療養合計金額", "meal amount", Digits, 8),
    }
}

impl Ko {
    /// A KO with the fund's payer and recipient numbers, days and points; the others empty.
    pub fn new(
        payer_number: Num,
        recipient_number: Option<Num>,
        days: u32,
        total_points: u64,
    ) -> Ko {
        Ko {
            payer_number,
            recipient_number,
            optional_benefit: None,
            days: Num::from(days),
            total_points: Num::from(total_points),
            fund_amount: None,
            outpatient_share: None,
            inpatient_share: None,
            reserved: None,
            meal_count: None,
            meal_amount: None,
        }
    }
}
