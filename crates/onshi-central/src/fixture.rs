//! A small hand-made registry: one person per case the notices are about, as the two import
//! CSV files. Used by the tests of every crate above this one and in the docs' examples.
//! All My Numbers are computed with valid check digits; nothing here is a real person.

use onshi_domain::numbers::{InsurerNumber, MyNumber};

/// One person of the fixture.
#[derive(Debug, Clone)]
pub struct FixturePerson {
    pub key: &'static str,
    pub my_number: String,
    pub card_serial: Option<&'static str>,
    pub pin: Option<&'static str>,
    pub name: &'static str,
    pub name_kana: &'static str,
    pub sex: &'static str,
    pub birthdate: &'static str,
}

/// Fixed facts of the fixture.
pub struct Fixture {
    pub qualifications_csv: String,
    pub cards_csv: String,
    pub persons: Vec<FixturePerson>,
    /// 協会けんぽ 東京支部
    pub kyokai: InsurerNumber,
    /// a 組合健保
    pub kumiai: InsurerNumber,
    /// 東京都後期高齢者医療広域連合
    pub koki: InsurerNumber,
}

pub const QUAL_HEADER: &str = "my_number,insurer_number,insurer_name,card_classification,symbol,number,branch,family_class,insured_name,name,name_kana,sex,birthdate,post_number,address,employer,qualification_date,disqualification_date,reason_of_loss,contribution_ratio,elderly_ratio,elderly_valid_from,elderly_valid_to,limit_class,preschool";
/// The columns added to the qualifications file after [`QUAL_HEADER`] (the format's first
/// version, still accepted): the card / 資格確認書 dates.
pub const QUAL_HEADER_CARD_DATES: &str = ",card_issuance_date,card_valid_from,card_valid_to";
/// The columns added after the card dates: other name, 性別2, certificates.
pub const QUAL_HEADER_DETAILS: &str = ",name_of_other,name_of_other_kana,sex2,elderly_certificate_date,limit_certificate_classification,limit_certificate_date,limit_valid_from,limit_valid_to,limit_long_term_date,specific_diseases";
pub const CARD_HEADER: &str =
    "my_number,card_serial,pin,cert_expiry,status,name,name_kana,sex,birthdate,address";

/// The My Number of fixture person `i` (valid check digit).
pub fn my_number(i: u8) -> String {
    let mut d = [0u8; 11];
    d[0] = 9;
    d[9] = i / 10;
    d[10] = i % 10;
    MyNumber::from_first11(&d)
        .map(|m| m.expose_digits())
        .unwrap_or_default()
}

impl Fixture {
    pub fn person(&self, key: &str) -> &FixturePerson {
        self.persons
            .iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("no fixture person {key}"))
    }
}

/// Builds the fixture. Every qualification carries its card / 資格確認書 dates: an insurance
/// card valid from the qualification date, except `koki` (資格確認書 2026-08-01 – 2027-07-31,
/// issued 2026-07-15) and `nocard` (資格確認書 2025-12-02 – 2030-12-01, issued 2025-11-10).
/// `pinless` also has a 通称名, a 限度額適用認定証 (ア… 01) and a 特定疾病療養受療証 (人工透析),
/// `elderly` the 高齢受給者証's issue date, `locked` a 性別2, `nocard` 未就学区分 2 (就学中).
/// Case keys:
/// - `valid`     PIN 1234, 協会けんぽ, valid (R5 有効)
/// - `pinless`   PIN-less card, valid (R2)
/// - `lost`      job changer: 組合健保 lost 2026-10-01, new insurer not registered (R5 無効, R6)
/// - `none`      card, nothing registered (R5 資格情報なし)
/// - `grace`     certificate expired 2026-08-15, usable until 2026-11-30
/// - `revoked`   revoked certificate
/// - `changed`   組合健保 lost 2026-10-01, then 協会けんぽ from 2026-10-01 (R7 新しい資格あり)
/// - `elderly`   72 years old, 高齢受給者 2割, 限度額 一般
/// - `koki`      80 years old, 後期高齢 1割
/// - `locked`    PIN locked
/// - `nocard`    qualification only, no card
/// - `multiple`  two qualifications valid at once under two insurers (R5 複数該当)
pub fn build() -> Fixture {
    let kyokai = InsurerNumber::from_body("0113001").expect("valid body");
    let kumiai = InsurerNumber::from_body("0613456").expect("valid body");
    let koki = InsurerNumber::from_body("3913001").expect("valid body");
    let p = |i: u8,
             key: &'static str,
             card: Option<&'static str>,
             pin: Option<&'static str>,
             name: &'static str,
             kana: &'static str,
             sex: &'static str,
             birth: &'static str| FixturePerson {
        key,
        my_number: my_number(i),
        card_serial: card,
        pin,
        name,
        name_kana: kana,
        sex,
        birthdate: birth,
    };
    let persons = vec![
        p(
            1,
            "valid",
            Some("C0001"),
            Some("1234"),
            "田中　太郎",
            "タナカ　タロウ",
            "1",
            "19800402",
        ),
        p(
            2,
            "pinless",
            Some("C0002"),
            None,
            "鈴木　花子",
            "スズキ　ハナコ",
            "2",
            "19920715",
        ),
        p(
            3,
            "lost",
            Some("C0003"),
            Some("2222"),
            "佐藤　健",
            "サトウ　ケン",
            "1",
            "19851111",
        ),
        p(
            4,
            "none",
            Some("C0004"),
            Some("3333"),
            "高橋　美咲",
            "タカハシ　ミサキ",
            "2",
            "20000101",
        ),
        p(
            5,
            "grace",
            Some("C0005"),
            Some("4444"),
            "伊藤　誠",
            "イトウ　マコト",
            "1",
            "19750505",
        ),
        p(
            6,
            "revoked",
            Some("C0006"),
            Some("5555"),
            "渡辺　恵",
            "ワタナベ　メグミ",
            "2",
            "19880808",
        ),
        p(
            7,
            "changed",
            Some("C0007"),
            Some("6666"),
            "山本　翔",
            "ヤマモト　ショウ",
            "1",
            "19900303",
        ),
        p(
            8,
            "elderly",
            Some("C0008"),
            Some("7777"),
            "中村　和子",
            "ナカムラ　カズコ",
            "2",
            "19540610",
        ),
        p(
            9,
            "koki",
            Some("C0009"),
            None,
            "小林　茂",
            "コバヤシ　シゲル",
            "1",
            "19460120",
        ),
        p(
            10,
            "locked",
            Some("C0010"),
            Some("8888"),
            "加藤　優",
            "カトウ　ユウ",
            "1",
            "19950923",
        ),
        p(
            11,
            "nocard",
            None,
            None,
            "吉田　翼",
            "ヨシダ　ツバサ",
            "1",
            "20100401",
        ),
        p(
            12,
            "multiple",
            Some("C0011"),
            Some("9999"),
            "松本　彩",
            "マツモト　アヤ",
            "2",
            "19830707",
        ),
    ];
    let mn = |k: &str| {
        persons
            .iter()
            .find(|x| x.key == k)
            .map(|x| x.my_number.clone())
            .unwrap_or_default()
    };
    let kyo = format!("{},全国健康保険協会東京支部", kyokai);
    let kum = format!("{},おんし商事健康保険組合", kumiai);
    let kok = format!("{},東京都後期高齢者医療広域連合", koki);
    let addr = "1000001,東京都千代田区千代田1-1";
    let q = [
        format!(
            "{},{kyo},01,1001,2001,00,1,田中　太郎,田中　太郎,タナカ　タロウ,1,19800402,{addr},おんし工業株式会社,20150401,,,030,,,,,",
            mn("valid")
        ),
        format!(
            "{},{kyo},01,1001,2002,00,1,鈴木　花子,鈴木　花子,スズキ　ハナコ,2,19920715,{addr},おんし工業株式会社,20200401,,,030,,,,A04,",
            mn("pinless")
        ),
        format!(
            "{},{kum},01,77,3001,00,1,佐藤　健,佐藤　健,サトウ　ケン,1,19851111,{addr},おんし商事株式会社,20100401,20261001,03,030,,,,,",
            mn("lost")
        ),
        format!(
            "{},{kyo},01,1001,2005,00,1,伊藤　誠,伊藤　誠,イトウ　マコト,1,19750505,{addr},おんし工業株式会社,20000401,,,030,,,,,",
            mn("grace")
        ),
        format!(
            "{},{kyo},01,1001,2006,00,1,渡辺　恵,渡辺　恵,ワタナベ　メグミ,2,19880808,{addr},おんし工業株式会社,20100401,,,030,,,,,",
            mn("revoked")
        ),
        format!(
            "{},{kum},01,77,3007,00,1,山本　翔,山本　翔,ヤマモト　ショウ,1,19900303,{addr},おんし商事株式会社,20120401,20261001,03,030,,,,,",
            mn("changed")
        ),
        format!(
            "{},{kyo},01,1001,2007,00,1,山本　翔,山本　翔,ヤマモト　ショウ,1,19900303,{addr},おんし工業株式会社,20261001,,,030,,,,,",
            mn("changed")
        ),
        format!(
            "{},{kyo},01,1001,2008,00,1,中村　和子,中村　和子,ナカムラ　カズコ,2,19540610,{addr},おんし工業株式会社,20000401,,,,020,20240701,20270731,B04,",
            mn("elderly")
        ),
        format!(
            "{},{kok},01,,39009,00,1,小林　茂,小林　茂,コバヤシ　シゲル,1,19460120,{addr},,20210120,,,010,,,,,",
            mn("koki")
        ),
        format!(
            "{},{kyo},01,1001,2010,00,1,加藤　優,加藤　優,カトウ　ユウ,1,19950923,{addr},おんし工業株式会社,20180401,,,030,,,,,",
            mn("locked")
        ),
        format!(
            "{},{kyo},01,1001,2001,01,2,田中　太郎,吉田　翼,ヨシダ　ツバサ,1,20100401,{addr},,20100401,,,030,,,,,",
            mn("nocard")
        ),
        format!(
            "{},{kyo},01,1001,2012,00,1,松本　彩,松本　彩,マツモト　アヤ,2,19830707,{addr},おんし工業株式会社,20200401,,,030,,,,,",
            mn("multiple")
        ),
        format!(
            "{},{kum},01,77,3012,00,1,松本　彩,松本　彩,マツモト　アヤ,2,19830707,{addr},おんし商事株式会社,20260401,,,030,,,,,",
            mn("multiple")
        ),
    ];
    let mut qualifications_csv =
        format!("{QUAL_HEADER}{QUAL_HEADER_CARD_DATES}{QUAL_HEADER_DETAILS}");
    qualifications_csv.push('\n');
    let koki_mn = mn("koki");
    let nocard_mn = mn("nocard");
    let details = |row: &str| -> &'static str {
        let of = |k: &str| row.starts_with(&mn(k));
        if of("pinless") {
            // a 通称名, a 限度額適用認定証 and a 特定疾病療養受療証 (人工透析)
            ",鈴木　はな,スズキ　ハナ,,,01,20260325,20260401,20270331,,1:20250310:20250401::10000"
        } else if of("elderly") {
            ",,,,20240620,,,,,,"
        } else if of("locked") {
            ",,,2,,,,,,,"
        } else {
            ",,,,,,,,,,"
        }
    };
    for row in q {
        // 未就学区分 2 (就学中) registered for the schoolchild
        let row = if row.starts_with(&nocard_mn) {
            format!("{row}2")
        } else {
            row
        };
        qualifications_csv.push_str(&row);
        // The card / 資格確認書 dates: an insurance card issued when the qualification began
        // (valid from then, no end printed); 後期 and the person with no My Number card hold a
        // 資格確認書 with an end date.
        let qdate = row.split(',').nth(16).unwrap_or_default();
        let dates = if row.starts_with(&koki_mn) {
            ",20260715,20260801,20270731".to_string()
        } else if row.starts_with(&nocard_mn) {
            ",20251110,20251202,20301201".to_string()
        } else {
            format!(",{qdate},{qdate},")
        };
        qualifications_csv.push_str(&dates);
        qualifications_csv.push_str(details(&row));
        qualifications_csv.push('\n');
    }
    let mut cards_csv = String::from(CARD_HEADER);
    cards_csv.push('\n');
    for x in &persons {
        let Some(serial) = x.card_serial else {
            continue;
        };
        let (expiry, status) = match x.key {
            "grace" => ("20260815", "active"),
            "revoked" => ("20300101", "revoked"),
            "locked" => ("20300101", "pin_locked"),
            _ => ("20300101", "active"),
        };
        cards_csv.push_str(&format!(
            "{},{serial},{},{expiry},{status},{},{},{},{},東京都千代田区千代田1-1\n",
            x.my_number,
            x.pin.unwrap_or(""),
            x.name,
            x.name_kana,
            x.sex,
            x.birthdate
        ));
    }
    Fixture {
        qualifications_csv,
        cards_csv,
        persons,
        kyokai,
        kumiai,
        koki,
    }
}
