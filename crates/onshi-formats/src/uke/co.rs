//! CO コメントレコード — one comment line of the 摘要 (5 fields).

use super::field::{FieldSpec as F, Kind::*, Num, layout};

layout! {
    /// CO コメントレコード. Free text is コメントコード `810000001`; the 不詳 claim (R20) puts
    /// 「不詳」 in the first one and the 申立書's details in the next ones.
    pub struct Co = "CO" {
        /// 2 診療識別 — `01` 全体 … `99` 全体 (empty when the comment needs none).
        shikibetsu: Option<Num> = F::new("診療識別", "care class", Digits, 2),
        /// 3 負担区分.
        futan_kubun: String = F::new("負担区分", "payer split", Ascii, 1).fixed().req(),
        /// 4 コメントコード (9 digits).
        code: Num = F::new("コメントコード", "comment code", Digits, 9).fixed().req(),
        /// 5 文字データ — full-width; SPEC gives ≤ 400 bytes with a "?" (an older layout 76).
        text: Option<String> = F::new("文字データ", "comment text", FullWidth, 400),
    }
}

impl Co {
    /// A free comment (コメントコード 810000001).
    pub fn free(shikibetsu: Option<Num>, futan_kubun: &str, text: &str) -> Co {
        Co {
            shikibetsu,
            futan_kubun: futan_kubun.to_owned(),
            code: Num::padded(810_000_001, 9),
            text: Some(text.to_owned()),
        }
    }
    /// Free text (コメントコード 810000001).
    pub fn is_free(&self) -> bool {
        self.code.as_str() == super::FREE_COMMENT_CODE
    }
}
