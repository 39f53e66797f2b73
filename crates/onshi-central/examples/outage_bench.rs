//! Benchmark of the system-outage search (R14): p50 / p99 latency at a given registry size.
//!
//! ```text
//! cargo run --release -p onshi-central --example outage_bench -- \
//!     --db data/outage-bench/p1000000.sqlite --persons 1000000 --searches 5000
//! ```
//!
//! 1. If the database has no persons, builds a synthetic registry of `--persons` through the
//!    real bulk import (`import::import`, one transaction), from a CSV stream generated on the
//!    fly: names drawn from 60 family × 30 given names per sex (kanji with their kana), birth dates
//!    spread over 1920–2019, addresses in 47 prefectures, 8 insurers. Reused by later runs.
//! 2. Opens it with the real `SqliteStore` (WAL, `synchronous=FULL`), registers a benchmark
//!    facility and runs the activation procedure up to `enabled`.
//! 3. Picks `--searches` random persons and searches each as staff would type it (name kana in
//!    a random one of full-width / half-width / hiragana, with or without the space; birth date;
//!    sex; 資格確認日; part of the address or of the insurer name), single-threaded, and prints
//!    p50 / p99 / max for
//!    - `lookup`: criteria checks + the indexed person lookup + each hit's history + the
//!      address / insurer filter (what the index must make fast);
//!    - `search`: the whole service call — window check, lookup, and the audit line written
//!      durably (one fsync) before the answer.
//!
//! Every search must find its person; the run fails otherwise.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use onshi_card::PinHasher;
use onshi_central::fixture::QUAL_HEADER;
use onshi_central::import::{self, Input};
use onshi_central::outage::{OutageConfig, OutageService, SearchInput};
use onshi_central::{Clock, SystemClock};
use onshi_domain::kana;
use onshi_domain::numbers::{InsurerNumber, MedicalInstitutionCode, MyNumber, MyNumberHasher};
use onshi_store::outage::{NewRequest, OutageStore, Step};
use onshi_store::{Facility, FacilityStore, RegistryRead, SqliteStore};

const FAMILY: [(&str, &str); 60] = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("山下", "ヤマシタ"),
    ("中島", "ナカジマ"),
    ("石井", "イシイ"),
    ("小川", "オガワ"),
    ("前田", "マエダ"),
    ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"),
    ("藤田", "フジタ"),
    ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"),
    ("村上", "ムラカミ"),
    ("遠藤", "エンドウ"),
    ("青木", "アオキ"),
    ("坂本", "サカモト"),
    ("斉藤", "サイトウ"),
    ("福田", "フクダ"),
    ("太田", "オオタ"),
    ("西村", "ニシムラ"),
    ("藤井", "フジイ"),
    ("金子", "カネコ"),
    ("岡本", "オカモト"),
    ("藤原", "フジワラ"),
    ("中野", "ナカノ"),
    ("三浦", "ミウラ"),
    ("原田", "ハラダ"),
    ("中川", "ナカガワ"),
    ("松田", "マツダ"),
    ("竹内", "タケウチ"),
    ("小野", "オノ"),
    ("田村", "タムラ"),
    ("中山", "ナカヤマ"),
    ("和田", "ワダ"),
    ("石田", "イシダ"),
    ("森田", "モリタ"),
];

const GIVEN_M: [(&str, &str); 30] = [
    ("翔", "ショウ"),
    ("蓮", "レン"),
    ("大翔", "ヒロト"),
    ("太郎", "タロウ"),
    ("健", "ケン"),
    ("誠", "マコト"),
    ("茂", "シゲル"),
    ("浩", "ヒロシ"),
    ("隆", "タカシ"),
    ("優", "ユウ"),
    ("翼", "ツバサ"),
    ("拓也", "タクヤ"),
    ("大輔", "ダイスケ"),
    ("直樹", "ナオキ"),
    ("和也", "カズヤ"),
    ("健太", "ケンタ"),
    ("亮", "リョウ"),
    ("修", "オサム"),
    ("清", "キヨシ"),
    ("勇", "イサム"),
    ("陽太", "ヒナタ"),
    ("悠真", "ユウマ"),
    ("湊", "ミナト"),
    ("樹", "イツキ"),
    ("蒼", "アオイ"),
    ("一郎", "イチロウ"),
    ("次郎", "ジロウ"),
    ("三郎", "サブロウ"),
    ("正", "タダシ"),
    ("進", "ススム"),
];

const GIVEN_F: [(&str, &str); 30] = [
    ("花子", "ハナコ"),
    ("美咲", "ミサキ"),
    ("恵", "メグミ"),
    ("和子", "カズコ"),
    ("陽菜", "ヒナ"),
    ("結衣", "ユイ"),
    ("さくら", "サクラ"),
    ("葵", "アオイ"),
    ("凛", "リン"),
    ("芽依", "メイ"),
    ("洋子", "ヨウコ"),
    ("幸子", "サチコ"),
    ("節子", "セツコ"),
    ("久美子", "クミコ"),
    ("由美", "ユミ"),
    ("直美", "ナオミ"),
    ("裕子", "ユウコ"),
    ("真由美", "マユミ"),
    ("愛", "アイ"),
    ("舞", "マイ"),
    ("彩", "アヤ"),
    ("優子", "ユウコ"),
    ("明美", "アケミ"),
    ("智子", "トモコ"),
    ("純子", "ジュンコ"),
    ("千尋", "チヒロ"),
    ("楓", "カエデ"),
    ("澪", "ミオ"),
    ("紬", "ツムギ"),
    ("杏", "アン"),
];

const PREFECTURES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

const INSURERS: [(&str, &str); 8] = [
    ("0113001", "全国健康保険協会東京支部"),
    ("0127001", "全国健康保険協会大阪支部"),
    ("0613456", "おんし商事健康保険組合"),
    ("0613457", "おんし電機健康保険組合"),
    ("3113001", "おんし共済組合"),
    ("0613459", "おんし化学健康保険組合"),
    ("0613458", "おんし建設健康保険組合"),
    ("0614001", "おんし自動車健康保険組合"),
];

/// A deterministic person `i` (SplitMix64 on the index).
struct Synth {
    i: u64,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Facts {
    my_number: String,
    name: String,
    kana: String,
    sex: &'static str,
    birth: NaiveDate,
    address: String,
    insurer: usize,
}

impl Synth {
    fn facts(&self) -> Facts {
        let r = mix(self.i);
        let fam = FAMILY[(r % 60) as usize];
        let male = (r >> 8) & 1 == 0;
        let given = if male {
            GIVEN_M[((r >> 9) % 30) as usize]
        } else {
            GIVEN_F[((r >> 9) % 30) as usize]
        };
        let base = NaiveDate::from_ymd_opt(1920, 1, 1).unwrap_or_default();
        let birth = base + chrono::Duration::days(((r >> 16) % 36_500) as i64);
        let pref = PREFECTURES[((r >> 32) % 47) as usize];
        let address = format!(
            "{pref}おんし市{}町{}-{}-{}",
            (r >> 38) % 50 + 1,
            (r >> 44) % 9 + 1,
            (r >> 48) % 30 + 1,
            (r >> 53) % 20 + 1
        );
        let mut digits = [0u8; 11];
        let mut n = self.i;
        for d in digits.iter_mut().rev() {
            *d = (n % 10) as u8;
            n /= 10;
        }
        digits[0] = 8;
        let my_number = MyNumber::from_first11(&digits)
            .map(|m| m.expose_digits())
            .unwrap_or_default();
        Facts {
            my_number,
            name: format!("{}　{}", fam.0, given.0),
            kana: format!("{}　{}", fam.1, given.1),
            sex: if male { "1" } else { "2" },
            birth,
            address,
            insurer: ((r >> 58) % 8) as usize,
        }
    }
}

/// The import CSV, generated as it is read.
struct CsvStream {
    next: u64,
    n: u64,
    buf: Vec<u8>,
    pos: usize,
    insurers: Vec<InsurerNumber>,
}

impl Read for CsvStream {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.next > self.n {
                return Ok(0);
            }
            self.buf.clear();
            self.pos = 0;
            if self.next == 0 {
                self.buf.extend_from_slice(QUAL_HEADER.as_bytes());
                self.buf.push(b'\n');
            } else {
                let f = Synth { i: self.next }.facts();
                let (_, iname) = INSURERS[f.insurer];
                let line = format!(
                    "{},{},{iname},01,{},{},00,1,{},{},{},{},{},1000001,{},,20200401,,,030,,,,,\n",
                    f.my_number,
                    self.insurers[f.insurer],
                    "1001",
                    self.next,
                    f.name,
                    f.name,
                    f.kana,
                    f.sex,
                    f.birth.format("%Y%m%d"),
                    f.address
                );
                self.buf.extend_from_slice(line.as_bytes());
            }
            self.next += 1;
        }
        let k = out.len().min(self.buf.len() - self.pos);
        out[..k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn pct(sorted: &[u128], p: f64) -> u128 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = arg("--db").unwrap_or_else(|| "data/outage-bench/central.sqlite".into());
    let persons: u64 = arg("--persons")
        .unwrap_or_else(|| "1000000".into())
        .parse()?;
    let searches: usize = arg("--searches").unwrap_or_else(|| "5000".into()).parse()?;
    let store = Arc::new(SqliteStore::open(&db)?);
    let have = store.counts()?.persons;
    if have == 0 {
        let insurers = INSURERS
            .iter()
            .map(|(b, _)| InsurerNumber::from_body(b))
            .collect::<Result<Vec<_>, _>>()?;
        let t = Instant::now();
        let report = import::import(
            store.as_ref(),
            &MyNumberHasher::new(b"outage-bench-key-0123")?,
            &onshi_card::CardStore::open(
                std::path::Path::new(&db).with_extension("cards.sqlite"),
                PinHasher::new(b"outage-bench-pin-0123")?,
            )?,
            Some(Input {
                name: "synthetic.csv".into(),
                reader: std::io::BufReader::with_capacity(
                    1 << 20,
                    CsvStream {
                        next: 0,
                        n: persons,
                        buf: Vec::new(),
                        pos: 0,
                        insurers,
                    },
                ),
            }),
            None::<Input<&[u8]>>,
            &mut |_| {},
        )?;
        if !report.committed {
            return Err(format!("import failed: {:?}", report.errors.first()).into());
        }
        eprintln!(
            "built {persons} persons in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let n = store.counts()?.persons;
    // a benchmark facility, enabled
    let code = MedicalInstitutionCode::parse("1319999999")?;
    store.upsert_facility(
        &Facility {
            code: code.clone(),
            name: "ベンチマーク診療所".into(),
        },
        "outage-bench-token-hash",
    )?;
    store.set_facility_contact(&code, "0300000000", None, "2026-01-01T00:00:00.000+09:00")?;
    let clock = Arc::new(SystemClock);
    let stamp =
        |t: chrono::DateTime<chrono::FixedOffset>| t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string();
    let now = clock.now_jst();
    if store.enabled_request(code.as_str())?.is_none() {
        let r = match store.create_request(&NewRequest {
            facility: code.clone(),
            facility_name: "ベンチマーク診療所".into(),
            contact_person: "bench".into(),
            reason: "benchmark".into(),
            at: stamp(now),
            by: "operator:bench".into(),
        }) {
            Ok(r) => r,
            Err(_) => {
                return Err("the benchmark facility has an open request; use a fresh --db".into());
            }
        };
        for s in [
            Step::Verify {
                phone: "0300000000".into(),
            },
            Step::IssueForm {
                email: "bench@example.jp".into(),
            },
        ] {
            store.apply_step(r.id, &s, &stamp(now), "operator:bench")?;
        }
        let until = stamp(now + chrono::Duration::hours(24));
        store.apply_step(r.id, &Step::Enable { until }, &stamp(now), "operator:bench")?;
    }
    let svc = OutageService::new(
        store.clone(),
        store.clone(),
        clock.clone(),
        OutageConfig::default(),
    );
    // the searches, typed as staff would
    let today = clock.today();
    let mut inputs = Vec::with_capacity(searches);
    let mut k = 0u64;
    while inputs.len() < searches {
        k += 1;
        let r = mix(k ^ 0xA5A5);
        let id = (r % n) as i64 + 1;
        let Some(p) = store.person(id)? else {
            continue;
        };
        let quals = store.qualifications(id)?;
        let kana_typed = match (r >> 40) & 3 {
            0 => p.person.name_kana.clone(),
            1 => kana::to_halfwidth_katakana(&p.person.name_kana),
            2 => p.person.name_kana.replace('　', ""),
            _ => p
                .person
                .name_kana
                .chars()
                .map(|c| match c {
                    'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
                    c => c,
                })
                .collect(),
        };
        let by_address = (r >> 50) & 1 == 0;
        let address: Option<String> = p
            .person
            .address
            .as_ref()
            .map(|a| a.chars().take(10).collect());
        inputs.push(SearchInput {
            staff_id: Some("bench".into()),
            birthdate: Some(p.person.birthdate.format("%Y-%m-%d").to_string()),
            sex: Some(p.person.sex.code().into()),
            confirmation_date: Some(today.format("%Y-%m-%d").to_string()),
            name: None,
            name_kana: Some(kana_typed),
            address: if by_address { address } else { None },
            insurer_name: if by_address {
                None
            } else {
                quals.first().map(|q| q.qualification.insurer_name.clone())
            },
        });
    }
    let mut lookup = Vec::with_capacity(searches);
    let mut full = Vec::with_capacity(searches);
    let mut hits_total = 0usize;
    for input in &inputs {
        let t = Instant::now();
        let found = svc.lookup(input)?;
        lookup.push(t.elapsed().as_micros());
        if found.is_empty() {
            return Err(format!("a search found nobody: {input:?}").into());
        }
        hits_total += found.len();
    }
    for input in &inputs {
        let t = Instant::now();
        let r = svc.search(&code, input)?;
        full.push(t.elapsed().as_micros());
        if r.hits == 0 {
            return Err(format!("a search found nobody: {input:?}").into());
        }
    }
    lookup.sort_unstable();
    full.sort_unstable();
    println!(
        "outage search, {n} persons, {searches} searches ({:.2} hits per search)",
        hits_total as f64 / searches as f64
    );
    for (what, v) in [("lookup", &lookup), ("search+audit", &full)] {
        println!(
            "  {what:<13} p50 {:>6} µs  p99 {:>6} µs  max {:>6} µs",
            pct(v, 0.50),
            pct(v, 0.99),
            v.last().copied().unwrap_or(0)
        );
    }
    Ok(())
}
