//! SI 診療行為レコード — one procedure line of the 摘要 (44 fields).

use super::field::{
    Comments, Days, FieldSpec as F, Kind::*, Num, comment_specs, day_specs, layout,
};

layout! {
    /// SI 診療行為レコード.
    pub struct Si = "SI" {
        /// 2 診療識別 — on the first record of each group only.
        shikibetsu: Option<Num> = F::new("診療識別", "care class", Digits, 2),
        /// 3 負担区分 — `1` 保険単独 ….
        futan_kubun: String = F::new("負担区分", "payer split", Ascii, 1).fixed().req(),
        /// 4 診療行為コード (9 digits).
        code: Num = F::new("診療行為コード", "procedure code", Digits, 9).fixed().req(),
        /// 5 数量データ.
        quantity: Option<Num> = F::new("数量データ", "quantity", Digits, 8),
        /// 6 点数 — on the last record of a group.
        points: Option<Num> = F::new("点数", "points", Digits, 7),
        /// 7 回数.
        count: Num = F::new("回数", "count", Digits, 3).req(),
        /// 8–13 three × (コメントコード, 文字データ).
        comments: Comments = comment_specs(),
        /// 14–44 算定日: the count on each day 1–31.
        days: Days = day_specs("算定回数", Digits, 3),
    }
}
