//! The 摘要欄 text of a 不詳 claim (R20): 「不詳」 at the head, then the patient's address,
//! employer (事業所名), contact phone and the other details of the 被保険者資格申立書 that help
//! the payer find the insurer (R22).

use super::situation::Moushitatesho;

/// The 申立書's details that go into a 不詳 claim's 摘要 (R20), as (label, value), in order:
/// address, 居所, employer, phone, then what helps the payer find the insurer (R22). Only what
/// the form holds.
pub fn declaration_items(m: &Moushitatesho) -> Vec<(&'static str, String)> {
    let mut items = Vec::new();
    let mut push = |label: &'static str, value: Option<&str>| {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            items.push((label, v.to_string()));
        }
    };
    push("住所", m.address.as_deref());
    push("居所", m.other_residence.as_deref());
    push("事業所名", m.employer.as_deref());
    push("連絡先", m.phone.as_deref());
    push("保険種別", m.insurance_type.map(|t| t.label()));
    push("保険者等名称", m.insurer_name.as_deref());
    push("氏名", m.name.as_deref());
    push("フリガナ", m.name_kana.as_deref());
    let birth = m.birth_date.map(|w| w.to_string());
    push("生年月日", birth.as_deref());
    push("性別", m.sex.map(|s| s.label()));
    push("保険証の交付時期", m.card_issued.map(|c| c.label()));
    items
}

/// The 摘要 text for a claim filed with insurer number and numbers 不詳. Only what the form
/// holds is written; items are separated by 「、」.
pub fn fushou_tekiyou(m: &Moushitatesho) -> String {
    let items: Vec<String> = declaration_items(m)
        .into_iter()
        .map(|(label, v)| format!("{label}：{v}"))
        .collect();
    if items.is_empty() {
        "不詳（被保険者資格申立書による）".to_string()
    } else {
        format!("不詳（被保険者資格申立書による）{}", items.join("、"))
    }
}

/// Whether the form holds any of the details R20 names: address, employer, phone.
pub fn has_contact_details(m: &Moushitatesho) -> bool {
    [&m.address, &m.employer, &m.phone]
        .iter()
        .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::situation::InsuranceType;
    use crate::numbers::Sex;
    use crate::wareki::WarekiDate;

    #[test]
    fn r20_tekiyou_starts_with_fushou_and_lists_the_declaration() {
        let m = Moushitatesho {
            address: Some("東京都千代田区霞が関1-2-2".into()),
            employer: Some("株式会社オンシ".into()),
            phone: Some("03-1234-5678".into()),
            insurance_type: Some(InsuranceType::Shaho),
            insurer_name: Some("オンシ健康保険組合".into()),
            name: Some("山田 花子".into()),
            name_kana: Some("ヤマダ ハナコ".into()),
            birth_date: WarekiDate::parse("昭和60年4月1日").ok(),
            sex: Some(Sex::Female),
            ..Moushitatesho::default()
        };
        let text = fushou_tekiyou(&m);
        assert!(text.starts_with("不詳"), "{text}");
        for part in [
            "住所：東京都千代田区霞が関1-2-2",
            "事業所名：株式会社オンシ",
            "連絡先：03-1234-5678",
            "保険種別：社保",
            "保険者等名称：オンシ健康保険組合",
            "生年月日：昭和60年4月1日",
            "性別：女",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert!(has_contact_details(&m));
    }

    #[test]
    fn r20_empty_form_still_says_fushou() {
        let m = Moushitatesho::default();
        assert_eq!(fushou_tekiyou(&m), "不詳（被保険者資格申立書による）");
        assert!(!has_contact_details(&m));
    }
}
