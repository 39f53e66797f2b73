//! IY 医薬品レコード — one drug line of the 摘要 (44 fields).

use super::field::{
    Comments, Days, FieldSpec as F, Kind::*, Num, comment_specs, day_specs, layout,
};

layout! {
    /// IY 医薬品レコード.
    pub struct Iy = "IY" {
        /// 2 診療識別.
        shikibetsu: Option<Num> = F::new("診療識別", "care class", Digits, 2),
        /// 3 負担区分.
        futan_kubun: String = F::new("負担区分", "payer split", Ascii, 1).fixed().req(),
        /// 4 医薬品コード (9 digits).
        code: Num = F::new("医薬品コード", "drug code", Digits, 9).fixed().req(),
        /// 5 使用量 — integer part ≤ 5 digits, decimals ≤ 5.
        quantity: Option<String> = F::new("使用量", "quantity", Decimal, 11),
        /// 6 点数.
        points: Option<Num> = F::new("点数", "points", Digits, 7),
        /// 7 回数.
        count: Num = F::new("回数", "count", Digits, 3).req(),
        /// 8–13 three × (コメントコード, 文字データ).
        comments: Comments = comment_specs(),
        /// 14–44 算定日: the count on each day 1–31.
        days: Days = day_specs("算定回数", Digits, 3),
    }
}
