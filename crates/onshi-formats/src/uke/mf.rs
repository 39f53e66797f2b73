//! MF 窓口負担額レコード — the window share class and its days (33 fields; layout "?").

use super::field::{Days, FieldSpec as F, Kind::*, Num, day_specs, layout};

layout! {
    /// MF 窓口負担額レコード: 窓口負担額区分 and 31 day fields. The day fields' meaning and width
    /// come from the 歯科 layout only (SPEC marks them "?"); onshi accepts up to 2 digits.
    pub struct Mf = "MF" {
        /// 2 窓口負担額区分 — `00` none, `01` with 高額療養費 現物給付, `04` 特別の費用.
        window_kind: Num = F::new("窓口負担額区分", "window share class", Digits, 2).fixed().req(),
        /// 3–33 1日の情報 … 31日の情報.
        days: Days = day_specs("情報", Digits, 2),
    }
}
