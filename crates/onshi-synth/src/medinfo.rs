//! Synthetic medical information (R2) for the persons of a population: drug history from
//! claims and from 電子処方箋 prescriptions / dispensing, diagnosis and procedure items (手術
//! among them) and specific health checkups (特定健診, ages 40–74).
//!
//! Deterministic per (seed, person id), so the records can be made after the import, when the
//! persons have their ids, without keeping anything in memory. Shares, chosen to be plausible
//! rather than measured: someone with drugs in the last 12 months 45 % under 40, 65 % at
//! 40–64, 90 % at 65 and over; a third of them also with 電子処方箋 records; a checkup in each
//! of the last two years for 58 % of the 40–74 (the national 特定健診 rate is about that); an
//! operation in the year for 3 %. Drug and item names are real names; the drug and procedure
//! codes are synthetic 9-digit codes in the レセプト電算 form, the checkup item codes those of the
//! 特定健診 data file.

use chrono::{Datelike, Days, Months, NaiveDate};
use onshi_domain::medinfo::{CheckupItem, DiagnosisRecord, DrugRecord, DrugSource, MedicalRecords};
use onshi_domain::numbers::Sex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The facilities the records name: the demo's clinic and pharmacy first, then others.
pub const CLINICS: &[(&str, &str)] = &[
    ("1311234567", "おんし内科クリニック（デモ）"),
    ("1310000013", "さくら整形外科"),
    ("1310000021", "みなと総合病院"),
];
pub const PHARMACIES: &[(&str, &str)] = &[
    ("1341234567", "おんし薬局（デモ）"),
    ("1340000016", "あおば調剤薬局"),
];

/// (code, name, ingredient, unit, usage, class): class 1 内服, 2 頓服, 3 外用.
const DRUGS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "620000101",
        "アムロジピン錠５ｍｇ",
        "アムロジピンベシル酸塩",
        "錠",
        "1日1回朝食後",
        "1",
    ),
    (
        "620000102",
        "メトホルミン塩酸塩錠２５０ｍｇ",
        "メトホルミン塩酸塩",
        "錠",
        "1日2回朝夕食後",
        "1",
    ),
    (
        "620000103",
        "ロスバスタチン錠２．５ｍｇ",
        "ロスバスタチンカルシウム",
        "錠",
        "1日1回夕食後",
        "1",
    ),
    (
        "620000104",
        "ランソプラゾールＯＤ錠１５ｍｇ",
        "ランソプラゾール",
        "錠",
        "1日1回朝食後",
        "1",
    ),
    (
        "620000105",
        "カルボシステイン錠５００ｍｇ",
        "Ｌ－カルボシステイン",
        "錠",
        "1日3回毎食後",
        "1",
    ),
    (
        "620000106",
        "アセトアミノフェン錠２００ｍｇ",
        "アセトアミノフェン",
        "錠",
        "疼痛時",
        "2",
    ),
    (
        "620000107",
        "ロキソプロフェンＮａ錠６０ｍｇ",
        "ロキソプロフェンナトリウム水和物",
        "錠",
        "疼痛時",
        "2",
    ),
    (
        "620000108",
        "フェキソフェナジン塩酸塩錠６０ｍｇ",
        "フェキソフェナジン塩酸塩",
        "錠",
        "1日2回朝夕食後",
        "1",
    ),
    (
        "620000109",
        "ヘパリン類似物質油性クリーム０．３％",
        "ヘパリン類似物質",
        "ｇ",
        "1日2回患部に塗布",
        "3",
    ),
    (
        "620000110",
        "モンテルカスト錠１０ｍｇ",
        "モンテルカストナトリウム",
        "錠",
        "1日1回就寝前",
        "1",
    ),
];

/// (code, name, id class, operation)
const PROCEDURES: &[(&str, &str, &str, bool)] = &[
    ("111000110", "初診料", "11", false),
    ("112007410", "再診料", "12", false),
    ("160000310", "血液学的検査判断料", "60", false),
    ("170000410", "単純撮影（イ）の写真診断", "70", false),
];
const OPERATIONS: &[(&str, &str)] = &[
    ("150000101", "虫垂切除術（虫垂周囲膿瘍を伴わないもの）"),
    ("150000102", "水晶体再建術（眼内レンズを挿入する場合）"),
    (
        "150000103",
        "内視鏡的大腸ポリープ・粘膜切除術（長径２ｃｍ未満）",
    ),
];

fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    let mut a = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    a.max(0) as u32
}

/// The records of one person, as of `today`.
pub fn records_for(
    seed: u64,
    person_id: i64,
    birthdate: NaiveDate,
    sex: Sex,
    today: NaiveDate,
) -> MedicalRecords {
    let mut rng =
        SmallRng::seed_from_u64(seed ^ (person_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let age = age_on(birthdate, today);
    let mut out = MedicalRecords::default();
    let p_drugs = if age < 40 {
        0.45
    } else if age < 65 {
        0.65
    } else {
        0.90
    };
    if rng.random_bool(p_drugs) {
        let eprescription = rng.random_bool(1.0 / 3.0);
        let clinic = CLINICS[rng.random_range(0..CLINICS.len())];
        let pharmacy = PHARMACIES[rng.random_range(0..PHARMACIES.len())];
        let regular: Vec<_> = (0..rng.random_range(1..=3))
            .map(|_| DRUGS[rng.random_range(0..DRUGS.len())])
            .collect();
        let visits = rng.random_range(1..=6u32);
        for v in 0..visits {
            let back = rng.random_range(0..60) + v * 55;
            let Some(on) = today.checked_sub_days(Days::new(u64::from(back) + 1)) else {
                continue;
            };
            for (i, d) in regular.iter().enumerate() {
                let days = if d.5 == "2" { 5 } else { 28 };
                let (qty, times) = match d.5 {
                    "3" => ("25".to_string(), "1".to_string()),
                    "2" => ("1".to_string(), days.to_string()),
                    _ if d.4.contains("2回") => ("2".to_string(), days.to_string()),
                    _ if d.4.contains("3回") => ("3".to_string(), days.to_string()),
                    _ => ("1".to_string(), days.to_string()),
                };
                let source = if eprescription && i == 0 {
                    DrugSource::Dispensing
                } else {
                    DrugSource::Claim
                };
                let rec = DrugRecord {
                    source,
                    dispensed_on: on,
                    prescribed_on: Some(on),
                    dispenser_code: pharmacy.0.into(),
                    dispenser_name: pharmacy.1.into(),
                    prescriber_code: Some(clinic.0.into()),
                    prescriber_name: Some(clinic.1.into()),
                    in_out: "2".into(),
                    drug_code: d.0.into(),
                    drug_name: d.1.into(),
                    ingredient: Some(d.2.into()),
                    quantity: qty,
                    unit: d.3.into(),
                    usage: Some(d.4.into()),
                    special_instruction: None,
                    times: Some(times),
                    id_class: d.5.into(),
                };
                if source == DrugSource::Dispensing {
                    out.drugs.push(DrugRecord {
                        source: DrugSource::Prescription,
                        ..rec.clone()
                    });
                }
                out.drugs.push(rec);
            }
            let visit = if v == 0 { PROCEDURES[0] } else { PROCEDURES[1] };
            out.diagnoses.push(DiagnosisRecord {
                treated_on: on,
                facility_code: clinic.0.into(),
                facility_name: clinic.1.into(),
                code: visit.0.into(),
                name: visit.1.into(),
                id_class: visit.2.into(),
                quantity: None,
                times: Some("1".into()),
                unit: None,
                operation: false,
            });
            if rng.random_bool(0.3) {
                let p = PROCEDURES[2 + rng.random_range(0..2)];
                out.diagnoses.push(DiagnosisRecord {
                    treated_on: on,
                    facility_code: clinic.0.into(),
                    facility_name: clinic.1.into(),
                    code: p.0.into(),
                    name: p.1.into(),
                    id_class: p.2.into(),
                    quantity: None,
                    times: Some("1".into()),
                    unit: None,
                    operation: p.3,
                });
            }
        }
    }
    if rng.random_bool(0.03) {
        let o = OPERATIONS[rng.random_range(0..OPERATIONS.len())];
        let hospital = CLINICS[2];
        if let Some(on) = today.checked_sub_days(Days::new(rng.random_range(7..330))) {
            out.diagnoses.push(DiagnosisRecord {
                treated_on: on,
                facility_code: hospital.0.into(),
                facility_name: hospital.1.into(),
                code: o.0.into(),
                name: o.1.into(),
                id_class: "50".into(),
                quantity: None,
                times: Some("1".into()),
                unit: None,
                operation: true,
            });
        }
    }
    if (40..=74).contains(&age) && rng.random_bool(0.58) {
        for years_back in [1u32, 0] {
            let Some(on) =
                today.checked_sub_months(Months::new(12 * years_back + rng.random_range(1..10)))
            else {
                continue;
            };
            out.checkups.extend(checkup(&mut rng, on, sex, age));
        }
    }
    out.drugs.sort_by_key(|d| d.dispensed_on);
    out.diagnoses.sort_by_key(|d| d.treated_on);
    out.checkups.sort_by_key(|c| c.checked_on);
    out
}

fn pq(on: NaiveDate, code: &str, name: &str, value: f64, digits: usize, unit: &str) -> CheckupItem {
    CheckupItem {
        checked_on: on,
        item_code: code.into(),
        item_name: name.into(),
        data_type: "PQ".into(),
        value: format!("{value:.digits$}"),
        unit: Some(unit.into()),
        oid: None,
        value_name: None,
    }
}

/// One checkup's items.
fn checkup(rng: &mut SmallRng, on: NaiveDate, sex: Sex, age: u32) -> Vec<CheckupItem> {
    let male = sex == Sex::Male;
    let height: f64 = if male { 170.0 } else { 157.0 } + rng.random_range(-8.0..8.0);
    let bmi: f64 = rng.random_range(18.5..31.0);
    let weight = bmi * (height / 100.0) * (height / 100.0);
    let aging = f64::from(age.saturating_sub(40)) * 0.5;
    let sbp = 112.0 + aging + rng.random_range(-10.0..25.0);
    let mut items = vec![
        pq(on, "9N001000000000001", "身長", height, 1, "cm"),
        pq(on, "9N006000000000001", "体重", weight, 1, "kg"),
        pq(on, "9N011000000000001", "ＢＭＩ", bmi, 1, "kg/m2"),
        pq(
            on,
            "9N016160100000001",
            "腹囲（実測）",
            if male { 80.0 } else { 76.0 } + (bmi - 22.0) * 2.5,
            1,
            "cm",
        ),
        pq(on, "9A751000000000001", "収縮期血圧", sbp, 0, "mmHg"),
        pq(on, "9A761000000000001", "拡張期血圧", sbp * 0.62, 0, "mmHg"),
        pq(
            on,
            "3F015000002327101",
            "中性脂肪（トリグリセリド）",
            rng.random_range(50.0..220.0),
            0,
            "mg/dl",
        ),
        pq(
            on,
            "3F070000002327101",
            "ＨＤＬコレステロール",
            rng.random_range(38.0..85.0),
            0,
            "mg/dl",
        ),
        pq(
            on,
            "3F077000002327101",
            "ＬＤＬコレステロール",
            rng.random_range(70.0..180.0),
            0,
            "mg/dl",
        ),
        pq(
            on,
            "3D046000001906202",
            "ＨｂＡ１ｃ（ＮＧＳＰ値）",
            rng.random_range(4.9..7.2),
            1,
            "%",
        ),
    ];
    let smoker = rng.random_bool(if male { 0.27 } else { 0.07 });
    items.push(CheckupItem {
        checked_on: on,
        item_code: "9N736000000000011".into(),
        item_name: "喫煙".into(),
        data_type: "CD".into(),
        value: if smoker { "1" } else { "2" }.into(),
        unit: None,
        oid: Some("1.2.392.200119.6.1005".into()),
        value_name: Some(if smoker { "はい" } else { "いいえ" }.into()),
    });
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    #[test]
    fn records_are_deterministic_and_in_the_past() {
        let b = NaiveDate::from_ymd_opt(1960, 4, 2).unwrap();
        let a = records_for(7, 42, b, Sex::Female, today());
        assert_eq!(a, records_for(7, 42, b, Sex::Female, today()));
        assert!(a.drugs.iter().all(|d| d.dispensed_on < today()));
        assert!(a.checkups.iter().all(|c| c.checked_on < today()));
    }

    #[test]
    fn shares_are_plausible() {
        let (mut drugs, mut checkups, mut eligible, mut eprx, mut ops) = (0, 0, 0, 0, 0);
        let n = 4000;
        for id in 0..n {
            let b =
                NaiveDate::from_ymd_opt(1940 + (id % 80) as i32, 1 + (id % 12) as u32, 1).unwrap();
            let r = records_for(1, id, b, Sex::Male, today());
            drugs += usize::from(!r.drugs.is_empty());
            eprx += usize::from(r.drugs.iter().any(|d| d.source == DrugSource::Dispensing));
            ops += usize::from(
                r.diagnoses
                    .iter()
                    .any(|d| d.operation && d.id_class == "50"),
            );
            let age = age_on(b, today());
            if (40..=74).contains(&age) {
                eligible += 1;
                checkups += usize::from(!r.checkups.is_empty());
            } else {
                assert!(r.checkups.is_empty(), "特定健診 is for ages 40–74");
            }
        }
        let share = |a: usize, b: usize| a as f64 / b as f64;
        assert!((0.55..0.80).contains(&share(drugs, n as usize)), "{drugs}");
        assert!(
            (0.50..0.66).contains(&share(checkups, eligible)),
            "{checkups}/{eligible}"
        );
        assert!((0.15..0.30).contains(&share(eprx, n as usize)), "{eprx}");
        assert!((0.01..0.06).contains(&share(ops, n as usize)), "{ops}");
    }
}
