//! Normalisation of names and their kana reading, and the exact-match keys built from them.
//!
//! The system-outage search (R14) matches name or name kana "exactly" (完全一致). People and
//! programs write the same name in more than one way — half-width or full-width katakana,
//! hiragana, spaces between family and given name — so onshi compares *keys*, and "exact" in
//! onshi means "equal keys". This module defines those keys, and the conversions between the
//! full-width katakana people read and the half-width katakana of the OQS XML (`NameKana`).
//!
//! # What [`kana_key`] tolerates (folds to one key)
//!
//! | difference | example | key |
//! | --- | --- | --- |
//! | half-width / full-width katakana | ﾔﾏﾀﾞ ﾊﾟﾝ / ヤマダ パン | ヤマダパン |
//! | dakuten written as a separate mark (half-width ﾞ ﾟ, ゛ ゜, or combining U+3099 U+309A) | ｶﾞ / カ゛ / カ + U+3099 | ガ |
//! | hiragana / katakana | やまだ / ヤマダ | ヤマダ |
//! | whitespace of any kind and place (space, U+3000, tab, zero-width space) | ヤマダ　タロウ / ヤマダタロウ | ヤマダタロウ |
//! | full-width / ASCII letters and digits, and letter case | ｊｏｈｎ / JOHN | JOHN |
//! | long-vowel mark variants after a kana: ー, ｰ, hyphen-minus `-`, full-width － (U+FF0D), hyphens and dashes ‐ ‑ ‒ – — ― − | ジョ-ジ / ジョｰジ | ジョージ |
//! | half-width / full-width middle dot | ｽﾐｽ･ｼﾞｮﾝ | スミス・ジョン |
//!
//! # What it does not tolerate (different keys)
//!
//! - small and large kana: ァ ≠ ア, ッ ≠ ツ, ャ ≠ ヤ (キャ and キヤ are different readings);
//! - voiced and unvoiced kana: ガ ≠ カ, パ ≠ ハ ≠ バ;
//! - spelling variants of the same sound: ヂ ≠ ジ, ヅ ≠ ズ, ヲ ≠ オ, ヴ ≠ ブ, ヰ ≠ イ, ヱ ≠ エ;
//! - the order of the characters, and any character added or missing (including ・ and ー);
//! - a hyphen that does not follow a kana stays a hyphen.
//!
//! # [`name_key`] (the name in kanji)
//!
//! Only width and whitespace are folded: full-width ASCII → ASCII, half-width katakana →
//! full-width (with its dakuten), whitespace removed. Kanji are compared as they are: 異体字
//! are different characters and give different keys (髙 ≠ 高, 﨑 ≠ 崎, 邊 ≠ 辺), as on the
//! card. Letter case and hiragana/katakana are not folded in a kanji name.
//!
//! Pure functions, no tables outside this file.

use unicode_normalization::char::{compose, decompose_canonical};

/// Combining voiced sound mark (dakuten).
const DAKUTEN: char = '\u{3099}';
/// Combining semi-voiced sound mark (handakuten).
const HANDAKUTEN: char = '\u{309A}';
/// Spacing forms of the marks, used when a mark cannot join the character before it.
const SPACING_DAKUTEN: char = '\u{309B}';
const SPACING_HANDAKUTEN: char = '\u{309C}';
const HALF_DAKUTEN: char = '\u{FF9E}';
const HALF_HANDAKUTEN: char = '\u{FF9F}';
const LONG_VOWEL: char = 'ー';
const IDEOGRAPHIC_SPACE: char = '\u{3000}';

/// Full-width forms of the half-width katakana block U+FF61 ..= U+FF9D, in code-point order.
const HALFWIDTH_TO_FULLWIDTH: [char; 61] = [
    '。', '「', '」', '、', '・', 'ヲ', 'ァ', 'ィ', 'ゥ', 'ェ', 'ォ', 'ャ', 'ュ', 'ョ', 'ッ', 'ー',
    'ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ', 'ソ', 'タ',
    'チ', 'ツ', 'テ', 'ト', 'ナ', 'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ', 'マ', 'ミ',
    'ム', 'メ', 'モ', 'ヤ', 'ユ', 'ヨ', 'ラ', 'リ', 'ル', 'レ', 'ロ', 'ワ', 'ン',
];
const HALFWIDTH_FIRST: u32 = 0xFF61;

/// Katakana with no half-width form, and the nearest one used instead.
const NEAREST_HALFWIDTH: [(char, char); 5] = [
    ('ヰ', 'ｲ'),
    ('ヱ', 'ｴ'),
    ('ヮ', 'ﾜ'),
    ('ヵ', 'ｶ'),
    ('ヶ', 'ｹ'),
];

/// Characters read as a long-vowel mark when they follow a kana (in [`kana_key`]).
const DASHES: [char; 10] = [
    '-', '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2015}', '\u{2212}',
    '\u{FF0D}', '\u{FF70}',
];

/// The exact-match key of a name kana (R14 完全一致); see the module documentation for what
/// is and is not folded.
pub fn kana_key(s: &str) -> String {
    fold(
        s,
        Fold {
            drop_whitespace: true,
            narrow_ascii: true,
            uppercase_ascii: true,
            hiragana_to_katakana: true,
            long_vowels: true,
            widen_space: false,
        },
    )
}

/// The exact-match key of a name in kanji (R14 完全一致): width folding (full-width ASCII →
/// ASCII, half-width katakana → full-width) and whitespace removed; kanji untouched, so 異体字
/// stay different (髙 ≠ 高, 﨑 ≠ 崎).
pub fn name_key(s: &str) -> String {
    fold(
        s,
        Fold {
            drop_whitespace: true,
            narrow_ascii: true,
            uppercase_ascii: false,
            hiragana_to_katakana: false,
            long_vowels: false,
            widen_space: false,
        },
    )
}

/// True when `s` is a usable name kana: after [`kana_key`] it is not empty and holds only
/// katakana (ァ … ヺ, including ヴ ヷ ヸ ヹ ヺ), the long-vowel mark ー, the middle dot ・ and the
/// iteration marks ヽ ヾ. Used to refuse a kana field that holds kanji, letters or digits.
pub fn is_kana_name(s: &str) -> bool {
    let key = kana_key(s);
    !key.is_empty()
        && key
            .chars()
            .all(|c| matches!(c, '\u{30A1}'..='\u{30FA}' | '・' | 'ー' | 'ヽ' | 'ヾ'))
}

/// Converts to half-width katakana, the form of `NameKana` in the OQS XML.
///
/// Full-width katakana and hiragana become half-width katakana, voiced ones as two characters
/// (ガ → ｶﾞ, パ → ﾊﾟ, ヴ → ｳﾞ); ー → ｰ, 。「」、・ → ｡｢｣､･; the full-width space becomes a
/// half-width space and full-width ASCII becomes ASCII. Kana with no half-width form map to the
/// nearest one: ヰ → ｲ, ヱ → ｴ, ヮ → ﾜ, ヵ → ｶ, ヶ → ｹ (so ヸ → ｲﾞ, ヹ → ｴﾞ); this loses the
/// difference, so those names do not round-trip. The iteration marks ヽ ヾ, kanji and
/// everything else are left as they are.
pub fn to_halfwidth_katakana(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = hiragana_to_katakana(c);
        if c == IDEOGRAPHIC_SPACE {
            out.push(' ');
        } else if let Some(narrow) = narrow_ascii(c) {
            out.push(narrow);
        } else if ('\u{30A1}'..='\u{30FC}').contains(&c)
            || c == SPACING_DAKUTEN
            || c == SPACING_HANDAKUTEN
        {
            decompose_canonical(c, |part| out.push(halfwidth_of(part)));
        } else {
            out.push(halfwidth_of(c));
        }
    }
    out
}

/// Converts to full-width katakana, the form people read: half-width katakana and hiragana
/// become full-width katakana (ｶﾞ → ガ, ﾊﾟ → パ, ｰ → ー), a half-width space becomes a
/// full-width space. Other characters, ASCII letters and digits included, are kept.
pub fn to_fullwidth_katakana(s: &str) -> String {
    fold(
        s,
        Fold {
            drop_whitespace: false,
            narrow_ascii: false,
            uppercase_ascii: false,
            hiragana_to_katakana: true,
            long_vowels: false,
            widen_space: true,
        },
    )
}

/// Which foldings one pass applies.
#[derive(Clone, Copy)]
struct Fold {
    drop_whitespace: bool,
    narrow_ascii: bool,
    uppercase_ascii: bool,
    hiragana_to_katakana: bool,
    long_vowels: bool,
    widen_space: bool,
}

/// One left-to-right pass. Every decision depends only on the current character and the last
/// character already written, which makes the keys idempotent.
fn fold(s: &str, how: Fold) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if how.drop_whitespace && (c.is_whitespace() || is_invisible(c)) {
            continue;
        }
        if how.widen_space && c == ' ' {
            out.push(IDEOGRAPHIC_SPACE);
            continue;
        }
        if let Some(mark) = combining_mark(c) {
            push_mark(&mut out, mark);
            continue;
        }
        if how.long_vowels && DASHES.contains(&c) && out.chars().next_back().is_some_and(is_kana) {
            out.push(LONG_VOWEL);
            continue;
        }
        let mut c = widen_katakana(c).unwrap_or(c);
        if how.narrow_ascii {
            c = narrow_ascii(c).unwrap_or(c);
        }
        if how.uppercase_ascii {
            c = c.to_ascii_uppercase();
        }
        if how.hiragana_to_katakana {
            c = hiragana_to_katakana(c);
        }
        out.push(c);
    }
    out
}

/// Joins a voicing mark to the last character when they compose (カ + ゛ → ガ); otherwise
/// writes the mark in its spacing form.
fn push_mark(out: &mut String, mark: char) {
    if let Some(last) = out.chars().next_back()
        && let Some(joined) = compose(last, mark)
    {
        out.pop();
        out.push(joined);
        return;
    }
    out.push(if mark == DAKUTEN {
        SPACING_DAKUTEN
    } else {
        SPACING_HANDAKUTEN
    });
}

/// The combining form of any voicing mark (combining, spacing or half-width).
fn combining_mark(c: char) -> Option<char> {
    match c {
        DAKUTEN | SPACING_DAKUTEN | HALF_DAKUTEN => Some(DAKUTEN),
        HANDAKUTEN | SPACING_HANDAKUTEN | HALF_HANDAKUTEN => Some(HANDAKUTEN),
        _ => None,
    }
}

/// Katakana letters and the long-vowel mark: what a following dash lengthens.
fn is_kana(c: char) -> bool {
    matches!(c, '\u{30A1}'..='\u{30FA}' | LONG_VOWEL)
}

/// Zero-width characters that are invisible on screen and paper.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

/// Half-width katakana (and its punctuation) → full-width; marks are handled separately.
fn widen_katakana(c: char) -> Option<char> {
    let index = u32::from(c).checked_sub(HALFWIDTH_FIRST)?;
    HALFWIDTH_TO_FULLWIDTH
        .get(usize::try_from(index).ok()?)
        .copied()
}

/// Full-width ASCII U+FF01 ..= U+FF5E → ASCII.
fn narrow_ascii(c: char) -> Option<char> {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0),
        _ => None,
    }
}

/// Hiragana → katakana (ぁ…ゖ → ァ…ヶ, ゝ ゞ → ヽ ヾ); other characters unchanged.
fn hiragana_to_katakana(c: char) -> char {
    match c {
        '\u{3041}'..='\u{3096}' | '\u{309D}' | '\u{309E}' => {
            char::from_u32(u32::from(c) + 0x60).unwrap_or(c)
        }
        _ => c,
    }
}

/// The half-width form of one full-width katakana, mark or punctuation; others unchanged.
fn halfwidth_of(c: char) -> char {
    match c {
        DAKUTEN | SPACING_DAKUTEN => return HALF_DAKUTEN,
        HANDAKUTEN | SPACING_HANDAKUTEN => return HALF_HANDAKUTEN,
        _ => {}
    }
    if let Some(&(_, near)) = NEAREST_HALFWIDTH.iter().find(|(full, _)| *full == c) {
        return near;
    }
    HALFWIDTH_TO_FULLWIDTH
        .iter()
        .position(|&full| full == c)
        .and_then(|index| u32::try_from(index).ok())
        .and_then(|index| char::from_u32(HALFWIDTH_FIRST + index))
        .unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // --- tolerated differences (same key) ---

    #[test]
    fn r14_halfwidth_and_fullwidth_katakana_match() {
        assert_eq!(kana_key("ﾔﾏﾀﾞ ﾀﾛｳ"), kana_key("ヤマダ　タロウ"));
        assert_eq!(kana_key("ﾔﾏﾀﾞ ﾀﾛｳ"), "ヤマダタロウ");
    }

    #[test]
    fn r14_halfwidth_dakuten_and_handakuten_combine() {
        assert_eq!(kana_key("ｶﾞ"), "ガ");
        assert_eq!(kana_key("ﾊﾟ"), "パ");
        assert_eq!(kana_key("ｳﾞ"), "ヴ");
        assert_eq!(kana_key("ﾜﾞ"), "ヷ");
        assert_eq!(kana_key("ｦﾞ"), "ヺ");
    }

    #[test]
    fn r14_separate_and_combining_marks_combine() {
        assert_eq!(kana_key("カ゛"), "ガ");
        assert_eq!(kana_key("ハ゜"), "パ");
        assert_eq!(kana_key("カ\u{3099}"), "ガ");
        assert_eq!(kana_key("ハ\u{309A}"), "パ");
        assert_eq!(kana_key("う\u{3099}"), "ヴ");
    }

    #[test]
    fn r14_hiragana_matches_katakana() {
        assert_eq!(kana_key("やまだ たろう"), kana_key("ヤマダ タロウ"));
        assert_eq!(kana_key("ゔぁ"), "ヴァ");
        assert_eq!(kana_key("ゝゞ"), "ヽヾ");
    }

    #[test]
    fn r14_every_kind_of_whitespace_is_ignored() {
        let expected = "ヤマダタロウ";
        for s in [
            "ヤマダ タロウ",
            "ヤマダ\u{3000}タロウ",
            "ヤマダ\tタロウ",
            " ヤマダタロウ ",
            "ヤ マ ダ タ ロ ウ",
            "ヤマダ\u{200B}タロウ",
        ] {
            assert_eq!(kana_key(s), expected, "{s:?}");
        }
    }

    #[test]
    fn r14_fullwidth_ascii_and_case_are_folded() {
        assert_eq!(kana_key("ｊｏｈｎ　ｓｍｉｔｈ"), "JOHNSMITH");
        assert_eq!(kana_key("John Smith"), "JOHNSMITH");
        assert_eq!(kana_key("１２３"), "123");
    }

    #[test]
    fn r14_long_vowel_variants_after_kana_become_choon() {
        let expected = "ジョージ";
        for s in [
            "ジョージ",
            "ｼﾞｮｰｼﾞ",
            "ジョｰジ",
            "ジョ-ジ",
            "ジョ－ジ",
            "ジョ‐ジ",
            "ジョ—ジ",
            "ジョ−ジ",
            "じょ-じ",
        ] {
            assert_eq!(kana_key(s), expected, "{s:?}");
        }
        assert_eq!(kana_key("ジョ-"), "ジョー");
        assert_eq!(kana_key("ジョ -"), "ジョー");
    }

    #[test]
    fn r14_middle_dot_widths_match() {
        assert_eq!(kana_key("ｽﾐｽ･ｼﾞｮﾝ"), "スミス・ジョン");
    }

    // --- differences that are not tolerated (different keys) ---

    #[test]
    fn r14_small_kana_differ_from_large() {
        assert_ne!(kana_key("キャ"), kana_key("キヤ"));
        assert_ne!(kana_key("ァ"), kana_key("ア"));
        assert_ne!(kana_key("ハットリ"), kana_key("ハツトリ"));
        assert_ne!(kana_key("ｷｬ"), kana_key("ｷﾔ"));
    }

    #[test]
    fn r14_voiced_kana_differ_from_unvoiced() {
        assert_ne!(kana_key("ガ"), kana_key("カ"));
        assert_ne!(kana_key("パ"), kana_key("ハ"));
        assert_ne!(kana_key("パ"), kana_key("バ"));
    }

    #[test]
    fn r14_spelling_variants_differ() {
        assert_ne!(kana_key("ヂ"), kana_key("ジ"));
        assert_ne!(kana_key("ヅ"), kana_key("ズ"));
        assert_ne!(kana_key("ヲ"), kana_key("オ"));
        assert_ne!(kana_key("ヴ"), kana_key("ブ"));
        assert_ne!(kana_key("サトー"), kana_key("サトウ"));
        assert_ne!(kana_key("スミス・ジョン"), kana_key("スミスジョン"));
    }

    #[test]
    fn hyphen_not_after_kana_stays_a_hyphen() {
        assert_eq!(kana_key("-ア"), "-ア");
        assert_eq!(kana_key("A-B"), "A-B");
        assert_eq!(kana_key("Ａ－Ｂ"), "A-B");
    }

    #[test]
    fn a_mark_that_cannot_combine_stays_a_spacing_mark() {
        assert_eq!(kana_key("ア゛"), "ア゛");
        assert_eq!(kana_key("ｱﾞ"), "ア゛");
        assert_eq!(kana_key("ﾞ"), "゛");
    }

    // --- name_key ---

    #[test]
    fn r14_name_key_folds_width_and_whitespace() {
        assert_eq!(name_key("山田　太郎"), "山田太郎");
        assert_eq!(name_key(" 山田 太郎 "), "山田太郎");
        assert_eq!(name_key("ＳＭＩＴＨ　Ｊｏｈｎ"), "SMITHJohn");
        assert_eq!(name_key("ｽﾐｽ ｼﾞｮﾝ"), "スミスジョン");
        assert_eq!(name_key("１２３"), "123");
    }

    #[test]
    fn r14_name_key_keeps_itaiji_apart() {
        assert_ne!(name_key("髙橋"), name_key("高橋"));
        assert_ne!(name_key("山﨑"), name_key("山崎"));
        assert_ne!(name_key("渡邊"), name_key("渡辺"));
        // A CJK compatibility ideograph is kept as written, not normalised to its unified form.
        assert_eq!(name_key("\u{FA19}"), "\u{FA19}");
    }

    #[test]
    fn r14_name_key_keeps_case_and_hiragana() {
        assert_ne!(name_key("Smith"), name_key("SMITH"));
        assert_ne!(name_key("さくら"), name_key("サクラ"));
    }

    // --- is_kana_name ---

    #[test]
    fn kana_names_are_accepted() {
        for s in [
            "ヤマダ タロウ",
            "ﾔﾏﾀﾞ ﾀﾛｳ",
            "やまだ たろう",
            "スミス・ジョン",
            "ヴァージニア",
            "ジョ-ジ",
        ] {
            assert!(is_kana_name(s), "{s:?}");
        }
    }

    #[test]
    fn kana_field_holding_kanji_letters_or_nothing_is_refused() {
        for s in [
            "山田 太郎",
            "ヤマダ 太郎",
            "JOHN",
            "ヤマダ1",
            "",
            "   ",
            "ア゛",
            "-",
        ] {
            assert!(!is_kana_name(s), "{s:?}");
        }
    }

    // --- half-width <-> full-width ---

    #[test]
    fn to_halfwidth_splits_voiced_kana() {
        assert_eq!(to_halfwidth_katakana("ヤマダ　ガクト"), "ﾔﾏﾀﾞ ｶﾞｸﾄ");
        assert_eq!(to_halfwidth_katakana("パーク"), "ﾊﾟｰｸ");
        assert_eq!(to_halfwidth_katakana("ヴィ"), "ｳﾞｨ");
        assert_eq!(to_halfwidth_katakana("やまだ"), "ﾔﾏﾀﾞ");
        assert_eq!(to_halfwidth_katakana("ヲ・ン"), "ｦ･ﾝ");
        assert_eq!(to_halfwidth_katakana("ＡＢ１"), "AB1");
        assert_eq!(to_halfwidth_katakana("山田"), "山田");
    }

    #[test]
    fn to_halfwidth_maps_kana_without_a_halfwidth_form_to_the_nearest() {
        assert_eq!(to_halfwidth_katakana("ヰヱヮヵヶ"), "ｲｴﾜｶｹ");
        assert_eq!(to_halfwidth_katakana("ヸヹ"), "ｲﾞｴﾞ");
        assert_eq!(to_halfwidth_katakana("ヷヺ"), "ﾜﾞｦﾞ");
    }

    #[test]
    fn to_fullwidth_joins_marks_and_widens_spaces() {
        assert_eq!(to_fullwidth_katakana("ﾔﾏﾀﾞ ｶﾞｸﾄ"), "ヤマダ　ガクト");
        assert_eq!(to_fullwidth_katakana("ﾊﾟｰｸ"), "パーク");
        assert_eq!(to_fullwidth_katakana("やまだ"), "ヤマダ");
        assert_eq!(to_fullwidth_katakana("ﾔﾏﾀﾞ　ﾀﾛｳ"), "ヤマダ　タロウ");
        assert_eq!(to_fullwidth_katakana("ｱﾞ"), "ア゛");
    }

    #[test]
    fn halfwidth_to_fullwidth_and_back_round_trips() {
        let half = "ｱｲｳｴｵｶﾞｷﾞｸﾞｹﾞｺﾞﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟｧｨｩｪｫｬｭｮｯｰｦﾝｳﾞ ｱﾞ｡｢｣､･";
        assert_eq!(to_halfwidth_katakana(&to_fullwidth_katakana(half)), half);
    }

    /// Full-width katakana that have a half-width form, and the full-width space.
    fn roundtrip_katakana() -> impl Strategy<Value = String> {
        let chars: Vec<char> = ('\u{30A1}'..='\u{30FC}')
            .filter(|c| !matches!(c, 'ヰ' | 'ヱ' | 'ヮ' | 'ヵ' | 'ヶ' | 'ヸ' | 'ヹ'))
            .chain([IDEOGRAPHIC_SPACE])
            .collect();
        proptest::collection::vec(proptest::sample::select(chars), 0..20)
            .prop_map(|v| v.into_iter().collect())
    }

    /// A mix of kana, marks, dashes, spaces and ASCII, to exercise every rule.
    fn kana_soup() -> impl Strategy<Value = String> {
        "[ぁ-ゖァ-ヺｦ-ﾟー゛゜\u{3099}\u{309A}\\-－‐ 　\ta-zＡ-Ｚ0-9・･山髙]{0,24}"
    }

    proptest! {
        #[test]
        fn fullwidth_to_halfwidth_and_back_round_trips(s in roundtrip_katakana()) {
            prop_assert_eq!(to_fullwidth_katakana(&to_halfwidth_katakana(&s)), s);
        }

        #[test]
        fn kana_key_is_idempotent(s in kana_soup()) {
            let once = kana_key(&s);
            prop_assert_eq!(kana_key(&once), once);
        }

        #[test]
        fn kana_key_is_idempotent_on_any_text(s in any::<String>()) {
            let once = kana_key(&s);
            prop_assert_eq!(kana_key(&once), once);
        }

        #[test]
        fn name_key_is_idempotent(s in kana_soup()) {
            let once = name_key(&s);
            prop_assert_eq!(name_key(&once), once);
        }

        #[test]
        fn keys_ignore_halfwidth_and_hiragana(s in roundtrip_katakana()) {
            prop_assert_eq!(kana_key(&to_halfwidth_katakana(&s)), kana_key(&s));
        }

        #[test]
        fn conversions_never_panic(s in any::<String>()) {
            let _ = kana_key(&s);
            let _ = name_key(&s);
            let _ = is_kana_name(&s);
            let _ = to_halfwidth_katakana(&s);
            let _ = to_fullwidth_katakana(&s);
        }
    }
}
