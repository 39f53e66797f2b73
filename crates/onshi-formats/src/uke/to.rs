//! TO 特定器材レコード — one material line of the 摘要 (48 fields).

use super::field::{
    Comments, Days, FieldSpec as F, Kind::*, Num, comment_specs, day_specs, layout,
};

layout! {
    /// TO 特定器材レコード.
    pub struct To = "TO" {
        /// 2 診療識別.
        shikibetsu: Option<Num> = F::new("診療識別", "care class", Digits, 2),
        /// 3 負担区分.
        futan_kubun: String = F::new("負担区分", "payer split", Ascii, 1).fixed().req(),
        /// 4 特定器材コード (9 digits).
        code: Num = F::new("特定器材コード", "material code", Digits, 9).fixed().req(),
        /// 5 使用量.
        quantity: Option<String> = F::new("使用量", "quantity", Decimal, 11),
        /// 6 点数.
        points: Option<Num> = F::new("点数", "points", Digits, 7),
        /// 7 回数.
        count: Num = F::new("回数", "count", Digits, 3).req(),
        /// 8 単位コード.
        unit_code: Option<Num> = F::new("単位コード", "unit code", Digits, 3),
        /// 9 単価.
        unit_price: Option<String> = F::new("単価", "unit price", Decimal, 12),
        /// 10 予備.
        reserved: Option<String> = F::new("予備", "reserved", Text, 40),
        /// 11 商品名及び規格又はサイズ.
        product_name: Option<String> = F::new("商品名", "product name", Text, 254),
        /// 12–17 three × (コメントコード, 文字データ).
        comments: Comments = comment_specs(),
        /// 18–48 算定日: the count on each day 1–31.
        days: Days = day_specs("算定回数", Digits, 3),
    }
}
