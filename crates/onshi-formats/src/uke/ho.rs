//! HO 保険者レコード — the insurance part of a claim (15 fields).

use super::field::{FieldSpec as F, InsurerNo, Kind::*, Num, layout};

layout! {
    /// HO 保険者レコード: insurer, card symbol and number, days and points of the insurance part.
    pub struct Ho = "HO" {
        /// 2 保険者番号 — 8 digits; a 6-digit 国保 number right-justified with two spaces.
        insurer_number: InsurerNo = F::new("保険者番号", "insurer number", Insurer, 8).req(),
        /// 3 被保険者証（手帳）等の記号 — card symbol as written (real files carry full-width).
        kigou: Option<String> = F::new("記号", "card symbol", Text, 38),
        /// 4 被保険者証（手帳）等の番号 — card number as written (often full-width digits).
        bangou: Option<String> = F::new("番号", "card number", Text, 38),
        /// 5 診療実日数 — days of service.
        days: Num = F::new("診療実日数", "service days", Digits, 2).req(),
        /// 6 合計点数 — total points.
        total_points: Num = F::new("合計点数", "total points", Digits, 8).req(),
        /// 7 予備.
        reserved: Option<String> = F::new("予備", "reserved", Ascii, 8),
        /// 8 食事療養・生活療養 回数.
        meal_count: Option<Num> = F::new("食事療養・生活療養回数", "meal count", Digits, 3),
        /// 9 食事療養・生活療養 合計金額.
        meal_amount: Option<Num> = F::new("食事療養・生活療養合計金額", "meal amount", Digits, 8),
        /// 10 職務上の事由.
        occupational: Option<Num> = F::new("職務上の事由", "occupational cause", Digits, 1),
        /// 11 証明書番号.
        certificate_number: Option<Num> = F::new("証明書番号", "certificate number", Digits, 3),
        /// 12 負担金額（医療保険）— the patient's share of the insurance part, in yen.
        share_amount: Option<Num> = F::new("負担金額", "patient share (yen)", Digits, 8),
        /// 13 減免区分.
        reduction_kind: Option<Num> = F::new("減免区分", "reduction kind", Digits, 1),
        /// 14 減額割合.
        reduction_ratio: Option<Num> = F::new("減額割合", "reduction ratio", Digits, 3),
        /// 15 減額金額.
        reduction_amount: Option<Num> = F::new("減額金額", "reduction amount", Digits, 6),
    }
}

impl Ho {
    /// An HO with insurer, card symbol and number, days and points; the others empty.
    pub fn new(
        insurer_number: InsurerNo,
        kigou: Option<String>,
        bangou: Option<String>,
        days: u32,
        total_points: u64,
    ) -> Ho {
        Ho {
            insurer_number,
            kigou,
            bangou,
            days: Num::from(days),
            total_points: Num::from(total_points),
            reserved: None,
            meal_count: None,
            meal_amount: None,
            occupational: None,
            certificate_number: None,
            share_amount: None,
            reduction_kind: None,
            reduction_ratio: None,
            reduction_amount: None,
        }
    }
}
