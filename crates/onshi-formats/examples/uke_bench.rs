//! Benchmark of the UKE writer and reader: a month of synthetic claims written to a file and
//! read back, against a plain line split of the same file in the same run (the baseline).
//!
//! `cargo run --release -p onshi-formats --example uke_bench -- [CLAIMS] [DIR]`
//! (default 100000 claims, the system temp dir). Prints MB, claims/s, and the ratio to the
//! baseline. See docs/performance.md.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read};
use std::time::Instant;

use onshi_formats::uke::{
    ClaimParts, ClaimReader, Co, Days, FileItem, Ho, InsurerNo, Ir, Iy, Jd, Num, Re, Record,
    RecordReader, Si, Sn, Sy, UkeClaim, UkeWriter, YearMonth, Ymd,
};

/// A small deterministic generator (xorshift), so every run writes the same file.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FAMILY: [&str; 8] = [
    "山田", "鈴木", "佐藤", "田中", "高橋", "伊藤", "渡辺", "中村",
];
const FAMILY_KANA: [&str; 8] = [
    "ヤマダ",
    "スズキ",
    "サトウ",
    "タナカ",
    "タカハシ",
    "イトウ",
    "ワタナベ",
    "ナカムラ",
];
const GIVEN: [&str; 4] = ["太郎", "花子", "一郎", "春子"];
const GIVEN_KANA: [&str; 4] = ["タロウ", "ハナコ", "イチロウ", "ハルコ"];

fn num(n: u64) -> Num {
    Num::from(n)
}

fn claim(g: &mut Gen, i: u64, month: YearMonth) -> UkeClaim {
    let (f, gv) = (g.below(8) as usize, g.below(4) as usize);
    let birth = chrono::NaiveDate::from_ymd_opt(
        1930 + g.below(90) as i32,
        1 + g.below(12) as u32,
        1 + g.below(28) as u32,
    )
    .unwrap_or_default();
    let re = Re {
        receipt_number: num(i + 1),
        receipt_kind: Num::parse("1112").unwrap(),
        service_month: month,
        name: format!("{}　{}", FAMILY[f], GIVEN[gv]),
        sex: num(1 + g.below(2)),
        birth_date: Ymd(birth),
        benefit_ratio: None,
        admission_date: None,
        ward: None,
        share_kubun: None,
        tokki: None,
        beds: None,
        chart_number: Some(format!("{:06}", i)),
        discount_unit_price: None,
        reserved1: None,
        reserved2: None,
        reserved3: None,
        search_number: None,
        spec_month: None,
        billing_info: None,
        departments: Default::default(),
        kana_name: Some(format!("{}{}", FAMILY_KANA[f], GIVEN_KANA[gv])),
        patient_state: None,
    };
    let visits = 1 + g.below(3);
    let mut days = Days::default();
    let mut si_days = Days::default();
    for k in 0..visits {
        let d = 1 + (k * 9 + g.below(9)) as u32;
        days.set(d, Some(Num::padded(1, 1)));
        si_days.set(d, Some(Num::padded(1, 1)));
    }
    let points = 291 + 75 * (visits - 1) + 27;
    let ho = Ho {
        insurer_number: InsurerNo::parse(["01130012", "06130017", "  138057"][g.below(3) as usize])
            .unwrap(),
        kigou: Some("１２３４５６７８".into()),
        bangou: Some(
            format!("{}", i % 1000)
                .chars()
                .map(full_width_digit)
                .collect(),
        ),
        days: num(visits),
        total_points: num(points),
        reserved: None,
        meal_count: None,
        meal_amount: None,
        occupational: None,
        certificate_number: None,
        // 3割 of points × 10 yen, rounded to 10 yen
        share_amount: Some(num((points * 3 + 5) / 10 * 10)),
        reduction_kind: None,
        reduction_ratio: None,
        reduction_amount: None,
    };
    let si = |shikibetsu: u64, code: &str, p: u64, count: u64, days: &Days| Si {
        shikibetsu: Some(num(shikibetsu)),
        futan_kubun: "1".into(),
        code: Num::parse(code).unwrap(),
        quantity: None,
        points: Some(num(p)),
        count: num(count),
        comments: Default::default(),
        days: days.clone(),
    };
    let parts = ClaimParts {
        ho: Some(ho),
        sn: vec![Sn::facility(1, Some(Num::padded(0, 2)))],
        jd: vec![Jd {
            payer_kind: num(1),
            days,
        }],
        sy: vec![
            Sy {
                code: Num::parse("4659007").unwrap(),
                start_date: Ymd(
                    birth.max(chrono::NaiveDate::from_ymd_opt(2025, 9, 1).unwrap_or_default())
                ),
                outcome: num(1),
                modifiers: None,
                name: None,
                main: Some(Num::padded(1, 2)),
                supplement: None,
            },
            Sy {
                code: Num::parse("0000999").unwrap(),
                start_date: Ymd(chrono::NaiveDate::from_ymd_opt(2025, 9, 1).unwrap_or_default()),
                outcome: num(1),
                modifiers: None,
                name: Some("喉の違和感".into()),
                main: None,
                supplement: None,
            },
        ],
        tekiyou: vec![
            Record::Si(si(11, "111000110", 291, 1, &si_days)),
            Record::Si(si(
                12,
                "112007410",
                75,
                visits.saturating_sub(1).max(1),
                &si_days,
            )),
            Record::Iy(Iy {
                shikibetsu: Some(num(21)),
                futan_kubun: "1".into(),
                code: Num::parse("620004422").unwrap(),
                quantity: Some("3".into()),
                points: Some(num(9)),
                count: num(3),
                comments: Default::default(),
                days: si_days.clone(),
            }),
            Record::Co(Co::free(Some(num(21)), "1", "１日３回毎食後")),
        ],
        ..ClaimParts::default()
    };
    UkeClaim::from_parts(re, parts).unwrap_or_else(|r| panic!("bad part {r:?}"))
}

fn full_width_digit(c: char) -> char {
    c.to_digit(10)
        .and_then(|d| char::from_u32(0xff10 + d))
        .unwrap_or(c)
}

/// CPU time of this thread so far (Linux `/proc/thread-self/schedstat`), in seconds: on a
/// shared machine it shows the work done apart from the time spent waiting for a core.
fn cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// A phase's wall and CPU seconds.
struct Phase {
    wall: Instant,
    cpu: Option<f64>,
}
impl Phase {
    fn start() -> Phase {
        Phase {
            wall: Instant::now(),
            cpu: cpu_s(),
        }
    }
    fn end(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = match (self.cpu, cpu_s()) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        };
        (wall, cpu)
    }
}

fn main() {
    let claims: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::args()
        .nth(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("onshi-uke-bench-{}.UKE", std::process::id()));
    let month = YearMonth::new(2025, 9).unwrap();
    let ir = Ir {
        payer: num(1),
        prefecture: Num::padded(13, 2),
        fee_table: num(1),
        facility_code: Num::parse("1312345").unwrap(),
        reserved: None,
        facility_name: Some("オンシ内科クリニック".into()),
        billing_month: month.next(),
        volume: Num::padded(0, 2),
        phone: Some("03-1234-5678".into()),
    };

    // write: build each claim and write it, streaming (the month is never held in memory)
    let t = Phase::start();
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut w = UkeWriter::new(BufWriter::with_capacity(
        1 << 16,
        File::create(&path).expect("create bench file"),
    ));
    w.write_record(&Record::Ir(ir)).expect("IR");
    let (mut parts, mut points) = (0u64, 0u64);
    for i in 0..claims {
        let c = claim(&mut g, i, month);
        parts += c.parts();
        points += c.total_points();
        w.write_claim(&c).expect("claim");
    }
    let go = onshi_formats::uke::Go {
        total_count: num(parts),
        total_points: num(points),
        volume: Num::padded(99, 2),
    };
    w.write_record(&Record::Go(go)).expect("GO");
    let records = w.records_written();
    w.finish().expect("finish");
    let (write_s, write_cpu) = t.end();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mb = bytes as f64 / 1e6;

    // read back, streaming, checking every field and the record order
    let t = Phase::start();
    let mut read_claims = 0u64;
    let mut read_points = 0u64;
    for item in ClaimReader::new(BufReader::with_capacity(
        1 << 16,
        File::open(&path).expect("open"),
    )) {
        match item {
            Ok(FileItem::Claim(c)) => {
                read_claims += 1;
                read_points += c.total_points();
            }
            Ok(_) => {}
            Err(e) => panic!("read error: {e}"),
        }
    }
    let (read_s, read_cpu) = t.end();
    assert_eq!((read_claims, read_points), (claims, points));

    // the records alone, without grouping them into claims
    let t = Phase::start();
    let mut read_records = 0u64;
    for r in RecordReader::new(BufReader::with_capacity(
        1 << 16,
        File::open(&path).expect("open"),
    )) {
        r.unwrap_or_else(|e| panic!("read error: {e}"));
        read_records += 1;
    }
    let (records_s, records_cpu) = t.end();
    assert_eq!(read_records, records);

    // peak memory so far (write and read), before the raw read below loads the whole file
    let peak_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        });

    // baseline: a plain line split of the same file (read each line, split on ',')
    let t = Phase::start();
    let mut lines = 0u64;
    let mut fields = 0u64;
    let mut r = BufReader::with_capacity(1 << 16, File::open(&path).expect("open"));
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {
                lines += 1;
                fields += buf.split(|&b| b == b',').count() as u64;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (base_s, base_cpu) = t.end();
    // and the raw read of the file, to see the disk / page cache part
    let t = Phase::start();
    let mut raw = Vec::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .expect("read");
    let (raw_s, raw_cpu) = t.end();
    if std::env::var_os("UKE_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_file(&path);
    }

    println!("UKE benchmark: {claims} claims, {records} records, {mb:.1} MB ({bytes} bytes)");
    println!(
        "write (build + check + encode):  {write_s:7.3} s (cpu {write_cpu:6.3} s)  {:>10.0} claims/s  {:7.1} MB/s",
        claims as f64 / write_s,
        mb / write_s
    );
    println!(
        "read  (decode + check + group):  {read_s:7.3} s (cpu {read_cpu:6.3} s)  {:>10.0} claims/s  {:7.1} MB/s",
        claims as f64 / read_s,
        mb / read_s
    );
    println!(
        "  of which records alone:        {records_s:7.3} s (cpu {records_cpu:6.3} s)  {:>10.0} claims/s  {:7.1} MB/s",
        claims as f64 / records_s,
        mb / records_s
    );
    println!(
        "baseline line split:             {base_s:7.3} s (cpu {base_cpu:6.3} s)  {:>10.0} claims/s  {:7.1} MB/s  ({lines} lines, {fields} fields)",
        claims as f64 / base_s,
        mb / base_s
    );
    if let Some(kb) = peak_kb {
        println!(
            "peak resident memory while writing and reading: {:.1} MB",
            kb as f64 / 1e3
        );
    }
    println!("raw read of the file:            {raw_s:7.3} s (cpu {raw_cpu:6.3} s)");
    println!(
        "read / baseline: {:.2}x (cpu {:.2}x); write / baseline: {:.2}x (cpu {:.2}x)",
        read_s / base_s,
        read_cpu / base_cpu,
        write_s / base_s,
        write_cpu / base_cpu
    );
}
