//! A small real registry (SQLite, through the store's import transaction) and a payer service
//! over it, with one person per case of R21/R22; the payer's own store on SQLite or PostgreSQL.
#![allow(dead_code, unused_macros)]

/// Each test once per backend of the payer's store: `sqlite::name` and `postgres::name`,
/// each given a fresh world on that backend.
macro_rules! on_both {
    ($($t:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $t() { super::$t(super::world_on(super::Backend::Sqlite)); })*
        }
        mod postgres {
            $(#[test] fn $t() { super::$t(super::world_on(super::Backend::Postgres)); })*
        }
    };
}

use std::sync::Arc;

use chrono::NaiveDate;
use onshi_domain::codes::{CardClassification, FamilyClass};
use onshi_domain::numbers::{
    BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber, MyNumberHash, Sex,
};
use onshi_domain::qualification::{Person, Qualification};
use onshi_payer::model::{Claim, ClaimedInsurer, ClaimedNumbers, PayerCode, YearMonth};
use onshi_payer::rules::{PayerCalendar, PayerSettings};
use onshi_payer::service::PayerService;
use onshi_payer::store::{FacilityRow, PayerStore, SqlitePayerStore};
use onshi_payer::store_pg::PostgresPayerStore;
use onshi_store::postgres::TestDatabase;
use onshi_store::{ImportStore, SqliteStore};

pub fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

pub fn ins(body: &str) -> InsurerNumber {
    InsurerNumber::from_body(body).unwrap()
}

/// 組合健保 A (06), 協会けんぽ B (01), 共済 C (31): 支払基金's insurers; 国保 K: 国保連's.
pub fn a() -> InsurerNumber {
    ins("0613456")
}
pub fn b() -> InsurerNumber {
    ins("0113001")
}
pub fn c() -> InsurerNumber {
    ins("3113005")
}
pub fn k() -> InsurerNumber {
    ins("13805")
}

pub fn qual(
    insurer: &InsurerNumber,
    number: &str,
    from: &str,
    until: Option<&str>,
    employer: Option<&str>,
) -> Qualification {
    Qualification {
        insurer_number: insurer.clone(),
        insurer_name: format!("保険者{}", insurer.as_str()),
        card_classification: CardClassification::General,
        symbol: InsuredSymbol::parse("10").unwrap(),
        number: InsuredNumber::parse(number).unwrap(),
        branch: BranchNumber::parse("00").unwrap(),
        family_class: FamilyClass::Insured,
        insured_name: "本人".into(),
        employer: employer.map(str::to_string),
        qualification_date: d(from),
        disqualification_date: until.map(d),
        reason_of_loss: None,
        contribution_ratio: None,
        elderly: None,
        limit_class: None,
        preschool: false,
        card_dates: Default::default(),
        details: Default::default(),
    }
}

/// `q` with its card / 資格確認書 issued on `issued` and registered in the OQS on `registered`.
pub fn dated(mut q: Qualification, issued: &str, registered: &str) -> Qualification {
    q.card_dates.issued_on = Some(d(issued));
    q.details.registered_on = Some(d(registered));
    q
}

pub struct PersonSpec {
    pub name: &'static str,
    pub kana: &'static str,
    pub sex: Sex,
    pub birth: &'static str,
    pub address: &'static str,
    pub quals: Vec<Qualification>,
}

/// The registry's people, one per case.
pub fn people() -> Vec<PersonSpec> {
    use Sex::*;
    vec![
        // R21 valid as claimed
        PersonSpec {
            name: "佐藤一郎",
            kana: "サトウイチロウ",
            sex: Male,
            birth: "1970-04-01",
            address: "東京都港区1-1",
            quals: vec![qual(&a(), "1001", "2020-01-01", None, Some("港商事"))],
        },
        // R21 振替: A lost 2026-10-01, B from 2026-10-01
        PersonSpec {
            name: "鈴木花子",
            kana: "スズキハナコ",
            sex: Female,
            birth: "1985-06-15",
            address: "東京都新宿区2-2",
            quals: vec![
                qual(
                    &a(),
                    "2001",
                    "2019-04-01",
                    Some("2026-10-01"),
                    Some("新宿工業"),
                ),
                qual(&b(), "3001", "2026-10-01", None, Some("渋谷販売")),
            ],
        },
        // R21 分割: A until 2026-11-15, C from 2026-11-15
        PersonSpec {
            name: "高橋三郎",
            kana: "タカハシサブロウ",
            sex: Male,
            birth: "1990-02-02",
            address: "大阪府大阪市3-3",
            quals: vec![
                qual(&a(), "4001", "2015-01-01", Some("2026-11-15"), None),
                qual(&c(), "4002", "2026-11-15", None, None),
            ],
        },
        // R21 public funds: lost under A, new under B
        PersonSpec {
            name: "田中四郎",
            kana: "タナカシロウ",
            sex: Male,
            birth: "1960-03-03",
            address: "京都府京都市4-4",
            quals: vec![
                qual(&a(), "5001", "2010-01-01", Some("2026-10-01"), None),
                qual(&b(), "5002", "2026-10-01", None, None),
            ],
        },
        // R21 2022-02 rule: A never closed, B registered from 2021-12-01 (overlap)
        PersonSpec {
            name: "伊藤五郎",
            kana: "イトウゴロウ",
            sex: Male,
            birth: "1975-05-05",
            address: "愛知県名古屋市5-5",
            quals: vec![
                qual(&a(), "6001", "2010-01-01", None, None),
                qual(&b(), "6002", "2021-12-01", None, None),
            ],
        },
        // R22 不詳, single candidate
        PersonSpec {
            name: "山本花子",
            kana: "ヤマモトハナコ",
            sex: Female,
            birth: "1980-05-05",
            address: "福岡県福岡市6-6",
            quals: vec![qual(&b(), "7001", "2018-01-01", None, Some("博多物産"))],
        },
        // R22 不詳, two candidates with the same kana, birth date and sex
        PersonSpec {
            name: "渡辺太郎",
            kana: "ワタナベタロウ",
            sex: Male,
            birth: "1975-01-01",
            address: "北海道札幌市7-7",
            quals: vec![qual(&a(), "8001", "2018-01-01", None, Some("札幌建設"))],
        },
        PersonSpec {
            name: "渡邊太郎",
            kana: "ワタナベタロウ",
            sex: Male,
            birth: "1975-01-01",
            address: "沖縄県那覇市8-8",
            quals: vec![qual(&c(), "8002", "2018-01-01", None, Some("那覇観光"))],
        },
        // R23: changed jobs from B to A on 2026-11-01; A issued the card on 11-05 and
        // registered the qualification in the OQS only on 11-19
        PersonSpec {
            name: "中川七海",
            kana: "ナカガワナナミ",
            sex: Female,
            birth: "1992-07-07",
            address: "神奈川県横浜市10-10",
            quals: vec![
                qual(&b(), "9201", "2014-04-01", Some("2026-11-01"), None),
                dated(
                    qual(&a(), "9202", "2026-11-01", None, Some("横浜運輸")),
                    "2026-11-05",
                    "2026-11-19",
                ),
            ],
        },
        // R11: 72 years old, 2割 by age (70–74, 一般)
        PersonSpec {
            name: "小林六郎",
            kana: "コバヤシロクロウ",
            sex: Male,
            birth: "1954-01-10",
            address: "埼玉県さいたま市9-9",
            quals: vec![qual(&a(), "9001", "2010-01-01", None, None)],
        },
    ]
}

pub struct World {
    pub _dir: tempfile::TempDir,
    pub registry: Arc<SqliteStore>,
    pub store: Arc<dyn PayerStore>,
    pub service: PayerService,
    /// the payer's SQLite file, when the payer's store is SQLite
    pub payer_file: Option<std::path::PathBuf>,
    /// the payer's PostgreSQL database, when it is PostgreSQL (dropped last)
    pub _db: Option<TestDatabase>,
}

pub const FACILITY: &str = "1310000017";

/// The payer's own store a world is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// a fresh database on the test server (fails without one)
    Postgres,
}

pub fn world() -> World {
    world_with(people())
}

/// The world of [`people`] with the payer's store on `backend`.
pub fn world_on(backend: Backend) -> World {
    world_with_on(people(), backend)
}

/// A world whose registry holds these people.
pub fn world_with(people: Vec<PersonSpec>) -> World {
    world_with_on(people, Backend::Sqlite)
}

/// A world whose registry holds these people, the payer's store on `backend`.
pub fn world_with_on(people: Vec<PersonSpec>, backend: Backend) -> World {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(SqliteStore::open(dir.path().join("central.sqlite")).unwrap());
    {
        let mut tx = registry.begin_import().unwrap();
        for (i, p) in people.into_iter().enumerate() {
            let h = MyNumberHash::from_stored(format!("hash-{i:04}"));
            let id = tx
                .insert_new_person(
                    &h,
                    &Person {
                        name: p.name.into(),
                        name_kana: p.kana.into(),
                        sex: p.sex,
                        birthdate: d(p.birth),
                        post_number: None,
                        address: Some(p.address.into()),
                    },
                )
                .unwrap();
            for q in &p.quals {
                tx.upsert_insurer(&q.insurer_number, &q.insurer_name)
                    .unwrap();
                tx.insert_new_qualification(id, p.name, q).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let (store, payer_file, db): (Arc<dyn PayerStore>, _, _) = match backend {
        Backend::Sqlite => {
            let file = dir.path().join("payer.sqlite");
            (
                Arc::new(SqlitePayerStore::open(&file).unwrap()),
                Some(file),
                None,
            )
        }
        Backend::Postgres => {
            let db = TestDatabase::create().expect("a PostgreSQL server for the payer's tests");
            (
                Arc::new(
                    PostgresPayerStore::open(db.url(), &dir.path().join("form-keys")).unwrap(),
                ),
                None,
                Some(db),
            )
        }
    };
    for payer in [PayerCode::Kikin, PayerCode::Kokuhoren] {
        store
            .upsert_facility(&FacilityRow {
                payer,
                code: FACILITY.into(),
                name: "オンシ診療所".into(),
                hook_url: None,
            })
            .unwrap();
    }
    let service = PayerService {
        store: store.clone(),
        registry: registry.clone(),
        calendar: PayerCalendar::default(),
        settings: PayerSettings::default(),
        out_dir: Some(dir.path().join("out")),
    };
    World {
        _dir: dir,
        registry,
        store,
        service,
        payer_file,
        _db: db,
    }
}

/// Every row of the payer's PostgreSQL tables as text (`bytea` in hex), when the world's store
/// is on PostgreSQL.
pub fn pg_rows(w: &World) -> Option<String> {
    let db = w._db.as_ref()?;
    let mut out = String::new();
    for t in onshi_payer::store_pg::TABLES {
        for r in
            onshi_store::postgres::simple_query(db.url(), &format!("SELECT t::text FROM {t} t"))
                .unwrap()
        {
            out.push_str(r[0].as_deref().unwrap_or(""));
            out.push('\n');
        }
    }
    Some(out)
}

/// Whether the PostgreSQL server's WAL (every segment in its data directory, which must be on
/// this machine) holds `needle`: what was sent to the server in a write is there.
pub fn pg_wal_holds(w: &World, needle: &str) -> bool {
    let db = w._db.as_ref().expect("a PostgreSQL world");
    // a commit returns once its WAL is flushed to these files
    let dir = onshi_store::postgres::simple_query(db.url(), "SHOW data_directory").unwrap()[0][0]
        .clone()
        .unwrap();
    let wal = std::path::Path::new(&dir).join("pg_wal");
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let mut seen = 0;
    for e in std::fs::read_dir(&wal).unwrap_or_else(|e| {
        panic!(
            "the server's WAL {} must be readable here: {e}",
            wal.display()
        )
    }) {
        let p = e.unwrap().path();
        if !p.is_file() {
            continue;
        }
        seen += 1;
        if finder.find(&std::fs::read(&p).unwrap()).is_some() {
            return true;
        }
    }
    assert!(seen > 0, "no WAL segment in {}", wal.display());
    false
}

/// The form-key files of the world's PostgreSQL store.
pub fn form_key_files(w: &World) -> usize {
    match std::fs::read_dir(w._dir.path().join("form-keys")) {
        Ok(d) => d.count(),
        Err(_) => 0,
    }
}

/// A claim of `month` under `insurer`/`number` for the named person.
pub fn claim(
    no: u32,
    who: &str,
    month: &str,
    insurer: Option<&InsurerNumber>,
    number: &str,
    days: &[u32],
) -> Claim {
    let p = people()
        .into_iter()
        .find(|p| p.name == who)
        .unwrap_or(PersonSpec {
            name: "不明者",
            kana: "フメイシャ",
            sex: Sex::Female,
            birth: "1999-09-09",
            address: "",
            quals: vec![],
        });
    Claim {
        receipt_number: no,
        line: 1 + no,
        receipt_kind: "1112".into(),
        service_month: YearMonth::parse(month).unwrap(),
        name: p.name.into(),
        kana_name: p.kana.into(),
        sex: p.sex,
        birthdate: d(p.birth),
        numbers: ClaimedNumbers {
            insurer: match insurer {
                Some(i) => ClaimedInsurer::Known(i.clone()),
                None => ClaimedInsurer::Fusho,
            },
            insurer_raw: insurer
                .map(|i| i.to_string())
                .unwrap_or_else(|| "77777777".into()),
            symbol: if insurer.is_some() {
                "10".into()
            } else {
                String::new()
            },
            number: number.into(),
            branch: Some("00".into()),
        },
        service_days: days.to_vec(),
        actual_days: days.len() as u32,
        points: 1234,
        copay_yen: 3700,
        public_funds: 0,
        funds: Vec::new(),
        tekiyou: if insurer.is_none() {
            vec!["不詳".into()]
        } else {
            vec![]
        },
    }
}

/// A UKE file (医科) for these claims, written line by line from the public layout (SPEC
/// "Electronic claims") in Windows-31J: IR, per claim RE HO [KO] SN JD [CO…], GO.
pub fn uke_bytes(payer: &str, facility: &str, billing_month: &str, claims: &[Claim]) -> Vec<u8> {
    let mut lines: Vec<String> = Vec::new();
    lines.push(format!(
        "IR,{payer},{},{},{},,オンシ診療所,{billing_month},00,0312345678",
        &facility[..2],
        &facility[2..3],
        &facility[3..]
    ));
    let mut parts = 0;
    let mut points = 0;
    for c in claims {
        let mut re: Vec<String> = vec![
            "RE".into(),
            c.receipt_number.to_string(),
            c.receipt_kind.clone(),
            c.service_month.to_string(),
            c.name.clone(),
            c.sex.code().into(),
            c.birthdate.format("%Y%m%d").to_string(),
        ];
        re.extend(std::iter::repeat_n(String::new(), 14 + 15));
        re.push(c.kana_name.clone());
        re.push(String::new());
        assert_eq!(re.len(), 38);
        lines.push(re.join(","));
        let insurer = match &c.numbers.insurer {
            ClaimedInsurer::Known(i) => Some(i.claim_form()),
            ClaimedInsurer::Fusho => Some(c.numbers.insurer_raw.clone()),
            // 公費単独: no HO
            ClaimedInsurer::PublicFundOnly => None,
        };
        if let Some(insurer) = &insurer {
            lines.push(format!(
                "HO,{insurer},{},{},{},{},,,,,,{},,,",
                c.numbers.symbol, c.numbers.number, c.actual_days, c.points, c.copay_yen
            ));
            parts += 1;
            points += c.points;
        }
        if c.funds.is_empty() {
            for _ in 0..c.public_funds {
                lines.push(format!(
                    "KO,12136016,1234566,,{},{},,,,,,",
                    c.actual_days, c.points
                ));
                parts += 1;
            }
        }
        for f in &c.funds {
            lines.push(format!(
                "KO,{},{},,{},{},{},,,,,",
                f.payer_number.as_str(),
                f.recipient_number,
                f.days,
                f.points,
                f.copay_yen
            ));
            parts += 1;
        }
        if insurer.is_none() {
            points += c.funds.first().map_or(0, |f| f.points);
        }
        if insurer.is_some() {
            lines.push(format!(
                "SN,1,01,,,,{},,",
                c.numbers.branch.clone().unwrap_or_else(|| "00".into())
            ));
        } else {
            lines.push("SN,2,01,,,,,,".into());
        }
        let days: Vec<&str> = (1..=31)
            .map(|d| if c.service_days.contains(&d) { "1" } else { "" })
            .collect();
        lines.push(format!("JD,1,{}", days.join(",")));
        for t in &c.tekiyou {
            lines.push(format!("CO,01,1,810000001,{t}"));
        }
    }
    lines.push(format!("GO,{parts},{points},99"));
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push_str("\r\n");
    }
    let (bytes, _, bad) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!bad, "a character Shift_JIS cannot carry");
    let mut v = bytes.into_owned();
    v.push(0x1A);
    v
}
