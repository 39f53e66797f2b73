//! The 被保険者資格申立書 (annex 3 of 保発0710第1号; R24, R25) as a typed form: the fields the
//! screen posts ([`FormInput`], plain strings, so that anything typed can be shown back), and
//! their check into the engine's [`Moushitatesho`] with messages in Japanese naming the field.
//!
//! Conditional rules of the form:
//! - ※1 事業所名 is asked when the type is 社保, 国保 (国保組合 only), その他 or わからない; a
//!   事業所名 with 後期 is refused, a missing one where it is asked is a reminder (the patient
//!   fills the form 「可能な範囲で」, so nothing is compulsory);
//! - ※2 一部負担金の割合 is asked of patients 70 and over or in 後期高齢者医療 (R11, R24); given
//!   by anyone else it is refused (under 70 the share is 3割, or 2割 before school, R26);
//! - 生年月日 in 和暦 with the five eras of the form (明治 大正 昭和 平成 令和), checked against
//!   the era's first and last day;
//! - 患者との関係 only when someone else signs (R25).

use chrono::{Datelike, NaiveDate};
use onshi_domain::desk::{CardIssued, InsuranceType, Moushitatesho};
use onshi_domain::kana;
use onshi_domain::numbers::Sex;
use onshi_domain::wareki::{Era, WarekiDate, WarekiError};
use serde::{Deserialize, Serialize};

/// The form as posted by the entry screen. Every field may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FormInput {
    /// "on" when 「有効な保険証の交付を受けている」 is ticked.
    pub has_valid_insurance: String,
    /// shaho | kokuho | koki | other | unknown
    pub insurance_type: String,
    pub insurer_name: String,
    pub employer: String,
    /// within_a_month | earlier | unknown
    pub card_issued: String,
    /// 30 | 20 | 10 | unknown
    pub share: String,
    pub name: String,
    pub name_kana: String,
    /// meiji | taisho | showa | heisei | reiwa
    pub era: String,
    pub birth_year: String,
    pub birth_month: String,
    pub birth_day: String,
    /// 1 男 | 2 女
    pub sex: String,
    pub address: String,
    pub other_residence: String,
    /// YYYY-MM-DD
    pub signed_on: String,
    /// "on" when someone other than the patient signs.
    pub signed_by_other: String,
    pub signer_relation: String,
    pub phone: String,
}

/// A message about one field, in Japanese: `field` is the label printed on the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldMessage {
    /// The input's name in [`FormInput`].
    pub input: &'static str,
    /// The field's label on the form (保険種別, 事業所名 …).
    pub field: &'static str,
    pub message: String,
    /// The rule behind it.
    pub rule: &'static str,
}

impl FieldMessage {
    fn new(
        input: &'static str,
        field: &'static str,
        rule: &'static str,
        message: impl Into<String>,
    ) -> Self {
        FieldMessage {
            input,
            field,
            message: message.into(),
            rule,
        }
    }

    /// 「事業所名: …」
    pub fn text(&self) -> String {
        format!("{}：{}", self.field, self.message)
    }
}

/// The checked form, with reminders that do not stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub form: Moushitatesho,
    pub reminders: Vec<FieldMessage>,
}

pub const ERAS: [(&str, Era); 5] = [
    ("meiji", Era::Meiji),
    ("taisho", Era::Taisho),
    ("showa", Era::Showa),
    ("heisei", Era::Heisei),
    ("reiwa", Era::Reiwa),
];

pub const TYPES: [(&str, InsuranceType); 5] = [
    ("shaho", InsuranceType::Shaho),
    ("kokuho", InsuranceType::Kokuho),
    ("koki", InsuranceType::Koki),
    ("other", InsuranceType::Other),
    ("unknown", InsuranceType::Unknown),
];

pub const ISSUED: [(&str, CardIssued); 3] = [
    ("within_a_month", CardIssued::WithinAMonth),
    ("earlier", CardIssued::Earlier),
    ("unknown", CardIssued::Unknown),
];

/// Whether the 事業所名 is asked for this type (※1, R24).
pub fn employer_asked(t: Option<InsuranceType>) -> bool {
    matches!(
        t,
        Some(
            InsuranceType::Shaho
                | InsuranceType::Kokuho
                | InsuranceType::Other
                | InsuranceType::Unknown
        )
    )
}

/// The age in full years on `on` (a person turns a year older on the birthday).
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// Whether the share is asked (※2, R24): 70 and over, or 後期高齢者医療.
pub fn share_asked(t: Option<InsuranceType>, birth: Option<NaiveDate>, on: NaiveDate) -> bool {
    t == Some(InsuranceType::Koki) || birth.is_some_and(|b| age_on(b, on) >= 70)
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

const MAX_TEXT: usize = 200;

fn wareki_message(e: &WarekiError) -> String {
    match e {
        WarekiError::YearZero { .. } => "年は1以上で記入してください（元年は1）".into(),
        WarekiError::YearTooLarge { era, year } => {
            format!("{}{year}年はありません", era.kanji())
        }
        WarekiError::NoSuchDay {
            era,
            year,
            month,
            day,
        } => {
            format!(
                "{}{year}年{month}月{day}日という日はありません",
                era.kanji()
            )
        }
        WarekiError::BeforeEraStart { era, date } => format!(
            "{date} は{}の始まり（{}）より前です。元号を確かめてください",
            era.kanji(),
            era.start()
        ),
        WarekiError::AfterEraEnd { era, date } => format!(
            "{date} は{}の終わりより後です。元号を確かめてください",
            era.kanji()
        ),
        other => format!("和暦の日付として読めません（{other}）"),
    }
}

impl FormInput {
    /// Checks the form for a visit on `on`; `known_birth` is the birth date known from the
    /// card's result, used for ※2 when the form leaves it empty.
    pub fn check(
        &self,
        on: NaiveDate,
        known_birth: Option<NaiveDate>,
    ) -> Result<Checked, Vec<FieldMessage>> {
        let mut errors = Vec::new();
        let mut reminders = Vec::new();

        let insurance_type = match self.insurance_type.trim() {
            "" => None,
            t => match TYPES.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => Some(*v),
                None => {
                    errors.push(FieldMessage::new(
                        "insurance_type",
                        "保険種別",
                        "R24",
                        "社保・国保・後期・その他・わからない から選んでください",
                    ));
                    None
                }
            },
        };
        let card_issued = match self.card_issued.trim() {
            "" => None,
            t => match ISSUED.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => Some(*v),
                None => {
                    errors.push(FieldMessage::new(
                        "card_issued",
                        "保険証の交付を受けた時期",
                        "R24",
                        "1か月以内・それより前・わからない から選んでください",
                    ));
                    None
                }
            },
        };

        for (input, field, value) in [
            ("insurer_name", "保険者等名称", &self.insurer_name),
            ("employer", "事業所名", &self.employer),
            ("name", "氏名", &self.name),
            ("name_kana", "フリガナ", &self.name_kana),
            ("address", "住所", &self.address),
            ("other_residence", "居所", &self.other_residence),
            ("signer_relation", "患者との関係", &self.signer_relation),
            ("phone", "連絡先電話番号", &self.phone),
        ] {
            if value.chars().count() > MAX_TEXT {
                errors.push(FieldMessage::new(
                    input,
                    field,
                    "R25",
                    format!("{MAX_TEXT}文字以内で記入してください"),
                ));
            }
        }

        let employer = opt(&self.employer);
        if insurance_type == Some(InsuranceType::Koki) && employer.is_some() {
            errors.push(FieldMessage::new(
                "employer",
                "事業所名",
                "R24",
                "保険種別が「後期」の場合は記入しません（※1：社保・国保組合・その他・わからないの場合に記入）",
            ));
        } else if employer_asked(insurance_type) && employer.is_none() {
            reminders.push(FieldMessage::new(
                "employer",
                "事業所名",
                "R24",
                "この保険種別ではお勤め先の会社名等の記入をお願いします（※1。国保は国民健康保険組合の場合のみ）",
            ));
        }

        // 生年月日 (和暦)
        let parts = [
            &self.era,
            &self.birth_year,
            &self.birth_month,
            &self.birth_day,
        ];
        let filled = parts.iter().filter(|p| !p.trim().is_empty()).count();
        let mut birth_date = None;
        if filled > 0 && filled < 4 {
            errors.push(FieldMessage::new(
                "era",
                "生年月日",
                "R25",
                "元号・年・月・日をすべて記入してください",
            ));
        } else if filled == 4 {
            let era = ERAS
                .iter()
                .find(|(k, _)| *k == self.era.trim())
                .map(|(_, e)| *e);
            let mut num = |s: &str, input: &'static str, field: &'static str| -> Option<u32> {
                let folded: String = s
                    .trim()
                    .chars()
                    .map(|c| match c {
                        '０'..='９' => {
                            char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c)
                        }
                        '元' => '1',
                        other => other,
                    })
                    .collect();
                match folded.parse::<u32>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        errors.push(FieldMessage::new(
                            input,
                            field,
                            "R25",
                            "数字で記入してください",
                        ));
                        None
                    }
                }
            };
            let y = num(&self.birth_year, "birth_year", "生年月日（年）");
            let m = num(&self.birth_month, "birth_month", "生年月日（月）");
            let d = num(&self.birth_day, "birth_day", "生年月日（日）");
            match (era, y, m, d) {
                (None, ..) => errors.push(FieldMessage::new(
                    "era",
                    "生年月日（元号）",
                    "R25",
                    "明治・大正・昭和・平成・令和 から選んでください",
                )),
                (Some(era), Some(y), Some(m), Some(d)) => match WarekiDate::new(era, y, m, d) {
                    Ok(w) if w.to_date() > on => errors.push(FieldMessage::new(
                        "birth_year",
                        "生年月日",
                        "R25",
                        format!("{} は受診日（{on}）より後です", w),
                    )),
                    Ok(w) => birth_date = Some(w),
                    Err(e) => errors.push(FieldMessage::new(
                        "birth_year",
                        "生年月日",
                        "R25",
                        wareki_message(&e),
                    )),
                },
                _ => {}
            }
        }

        let birth_for_age = birth_date.map(|w| w.to_date()).or(known_birth);
        let declared_share_percent = match self.share.trim() {
            "" | "unknown" => None,
            "30" => Some(30),
            "20" => Some(20),
            "10" => Some(10),
            _ => {
                errors.push(FieldMessage::new(
                    "share",
                    "一部負担金の割合",
                    "R24",
                    "3割・2割・1割・わからない から選んでください",
                ));
                None
            }
        };
        let asked = share_asked(insurance_type, birth_for_age, on);
        if !asked && !self.share.trim().is_empty() {
            errors.push(FieldMessage::new(
                "share",
                "一部負担金の割合",
                "R24",
                "70歳以上の方、または後期高齢者医療の方だけが記入します（※2）。70歳未満の方は3割（未就学児は2割）です",
            ));
        } else if asked && self.share.trim().is_empty() {
            reminders.push(FieldMessage::new(
                "share",
                "一部負担金の割合",
                "R11",
                "70歳以上・後期高齢者医療の方は記入をお願いします（わからなければ「わからない」）",
            ));
        }

        let sex = match self.sex.trim() {
            "" => None,
            s => match Sex::parse(s) {
                Ok(Sex::Unset) | Err(_) => {
                    errors.push(FieldMessage::new(
                        "sex",
                        "性別",
                        "R25",
                        "男・女 から選んでください",
                    ));
                    None
                }
                Ok(x) => Some(x),
            },
        };

        let name_kana = opt(&self.name_kana);
        if let Some(k) = &name_kana
            && !kana::is_kana_name(k)
        {
            errors.push(FieldMessage::new(
                "name_kana",
                "フリガナ",
                "R25",
                "カタカナ（またはひらがな）で記入してください",
            ));
        }

        let phone = opt(&self.phone);
        if let Some(p) = &phone {
            let digits = p
                .chars()
                .filter(|c| c.is_ascii_digit() || ('０'..='９').contains(c))
                .count();
            let ok_chars = p.chars().all(|c| {
                c.is_ascii_digit()
                    || ('０'..='９').contains(&c)
                    || matches!(c, '-' | '－' | '(' | ')' | '（' | '）' | ' ')
            });
            if !ok_chars || !(10..=11).contains(&digits) {
                errors.push(FieldMessage::new(
                    "phone",
                    "連絡先電話番号",
                    "R25",
                    "市外局番から10桁または11桁の数字で記入してください（例 03-1234-5678）",
                ));
            }
        }

        let signed_on = match self.signed_on.trim() {
            "" => None,
            s => match s.parse::<NaiveDate>() {
                Ok(d) if d > on => {
                    errors.push(FieldMessage::new(
                        "signed_on",
                        "記入日",
                        "R25",
                        "受診日より後の日付は記入できません",
                    ));
                    None
                }
                Ok(d) => Some(d),
                Err(_) => {
                    errors.push(FieldMessage::new(
                        "signed_on",
                        "記入日",
                        "R25",
                        "日付（年-月-日）で記入してください",
                    ));
                    None
                }
            },
        };
        let by_other = self.signed_by_other.trim() == "on";
        let signer_relation = opt(&self.signer_relation);
        if signer_relation.is_some() && !by_other {
            errors.push(FieldMessage::new(
                "signer_relation",
                "患者との関係",
                "R25",
                "保護者の方など患者以外が署名した場合だけ記入します（※5）",
            ));
        } else if by_other && signer_relation.is_none() {
            errors.push(FieldMessage::new(
                "signer_relation",
                "患者との関係",
                "R25",
                "患者以外が署名した場合は、患者との関係を記入してください（※5）",
            ));
        }

        let has_valid_insurance = self.has_valid_insurance.trim() == "on";
        if !has_valid_insurance {
            reminders.push(FieldMessage::new(
                "has_valid_insurance",
                "保険証の有無",
                "R16",
                "「有効な保険証の交付を受けている」に✓がない場合、保険診療の資格を確認できないため10割負担です",
            ));
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Checked {
            form: Moushitatesho {
                has_valid_insurance,
                insurance_type,
                insurer_name: opt(&self.insurer_name),
                employer,
                card_issued,
                declared_share_percent,
                name: opt(&self.name),
                name_kana,
                birth_date,
                sex,
                address: opt(&self.address),
                other_residence: opt(&self.other_residence),
                signed_on,
                signer_relation,
                phone,
            },
            reminders,
        })
    }

    /// The form's fields from a stored form (to show it again).
    pub fn from_form(m: &Moushitatesho) -> Self {
        let era = m.birth_date.map(|w| {
            ERAS.iter()
                .find(|(_, e)| *e == w.era())
                .map(|(k, _)| k.to_string())
                .unwrap_or_default()
        });
        FormInput {
            has_valid_insurance: if m.has_valid_insurance {
                "on".into()
            } else {
                String::new()
            },
            insurance_type: m
                .insurance_type
                .and_then(|t| TYPES.iter().find(|(_, v)| *v == t))
                .map(|(k, _)| k.to_string())
                .unwrap_or_default(),
            insurer_name: m.insurer_name.clone().unwrap_or_default(),
            employer: m.employer.clone().unwrap_or_default(),
            card_issued: m
                .card_issued
                .and_then(|t| ISSUED.iter().find(|(_, v)| *v == t))
                .map(|(k, _)| k.to_string())
                .unwrap_or_default(),
            share: m
                .declared_share_percent
                .map(|p| p.to_string())
                .unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
            name_kana: m.name_kana.clone().unwrap_or_default(),
            era: era.unwrap_or_default(),
            birth_year: m
                .birth_date
                .map(|w| w.year().to_string())
                .unwrap_or_default(),
            birth_month: m
                .birth_date
                .map(|w| w.month().to_string())
                .unwrap_or_default(),
            birth_day: m
                .birth_date
                .map(|w| w.day().to_string())
                .unwrap_or_default(),
            sex: m.sex.map(|s| s.code().to_string()).unwrap_or_default(),
            address: m.address.clone().unwrap_or_default(),
            other_residence: m.other_residence.clone().unwrap_or_default(),
            signed_on: m.signed_on.map(|d| d.to_string()).unwrap_or_default(),
            signed_by_other: if m.signer_relation.is_some() {
                "on".into()
            } else {
                String::new()
            },
            signer_relation: m.signer_relation.clone().unwrap_or_default(),
            phone: m.phone.clone().unwrap_or_default(),
        }
    }

    /// An empty form pre-filled from what is known: name and birth date from the card's
    /// result, the day of service as the date, the valid-insurance box ticked.
    pub fn prefilled(name: Option<&str>, birth: Option<NaiveDate>, on: NaiveDate) -> Self {
        let mut f = FormInput {
            has_valid_insurance: "on".into(),
            signed_on: on.to_string(),
            name: name.unwrap_or_default().to_string(),
            ..FormInput::default()
        };
        if let Some(w) = birth.and_then(|b| WarekiDate::from_date(b).ok()) {
            f.era = ERAS
                .iter()
                .find(|(_, e)| *e == w.era())
                .map(|(k, _)| k.to_string())
                .unwrap_or_default();
            f.birth_year = w.year().to_string();
            f.birth_month = w.month().to_string();
            f.birth_day = w.day().to_string();
        }
        f
    }
}

#[cfg(test)]
#[path = "moushitatesho_tests.rs"]
mod tests;
