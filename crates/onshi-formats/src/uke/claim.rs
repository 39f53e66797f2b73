//! Claims: the records of one claim grouped ([`UkeClaim`]), a whole file ([`UkeFile`]), and a
//! streaming reader that groups a file's records into claims and checks their order
//! ([`ClaimReader`]).
//!
//! Order of a file (SPEC "Electronic claims"): `IR`, then per claim `RE` `HO` `KO`×0–4 `SN`…
//! `JD`… `MF`×0–1 `SY`… then the 摘要 records `SI` `IY` `TO` `CO` `SJ`; last `GO`. Records onshi
//! does not model may stand anywhere after IR and are kept where they stand.

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, Write};

use chrono::NaiveDate;

use super::error::{Rule, UkeError, UkeErrors, UkeWriteError};
use super::field::{InsurerNo, Num, YearMonth};
use super::reader::RecordReader;
use super::writer::UkeWriter;
use super::{
    Co, FREE_COMMENT_CODE, FUSHOU_INSURER, FUSHOU_INSURER_CHECK_DIGIT, Go, Ho, Ir, Jd, Ko, Mf, Re,
    Record, Sn, Sy,
};

/// The records of one claim (one patient, one month, one insurer part), in file order.
///
/// Two claims are equal when their records are; where a claim was read from is not compared.
#[derive(Clone, Debug)]
pub struct UkeClaim {
    re: Re,
    body: Vec<Record>,
    /// Line of the RE in the file it was read from (0 for a claim built in memory).
    line: u64,
}

impl PartialEq for UkeClaim {
    fn eq(&self, other: &Self) -> bool {
        self.re == other.re && self.body == other.body
    }
}
impl Eq for UkeClaim {}

/// The pieces of a claim, for a claim builder; [`UkeClaim::from_parts`] lays them out in the
/// layout's order.
#[derive(Clone, Debug, Default)]
pub struct ClaimParts {
    pub ho: Option<Ho>,
    pub ko: Vec<Ko>,
    pub sn: Vec<Sn>,
    pub jd: Vec<Jd>,
    pub mf: Option<Mf>,
    pub sy: Vec<Sy>,
    /// The 摘要 records (SI, IY, TO, CO, SJ, or records onshi does not model), in order.
    pub tekiyou: Vec<Record>,
}

/// The person facts of a claim (from RE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Person<'a> {
    /// 氏名.
    pub name: &'a str,
    /// カタカナ氏名.
    pub kana_name: Option<&'a str>,
    /// 生年月日.
    pub birth_date: NaiveDate,
    /// 男女区分: `"1"` male, `"2"` female.
    pub sex: &'a str,
}

/// Where a record stands within a claim (RE is 0); `None` for records that may stand anywhere.
fn rank(r: &Record) -> Option<u8> {
    Some(match r {
        Record::Ho(_) => 1,
        Record::Ko(_) => 2,
        Record::Sn(_) => 3,
        Record::Jd(_) => 4,
        Record::Mf(_) => 5,
        Record::Sy(_) => 6,
        Record::Si(_) | Record::Iy(_) | Record::To(_) | Record::Co(_) | Record::Sj(_) => 7,
        _ => return None,
    })
}

fn belongs_to_claim(r: &Record) -> bool {
    !matches!(r, Record::Ir(_) | Record::Re(_) | Record::Go(_))
}

impl UkeClaim {
    /// A claim with its RE only.
    pub fn new(re: Re) -> Self {
        UkeClaim {
            re,
            body: Vec::with_capacity(12),
            line: 0,
        }
    }

    /// A claim from its parts, in the layout's order: RE HO KO SN JD MF SY 摘要. Refuses (and
    /// gives back) an IR, RE or GO among the 摘要 records.
    #[allow(clippy::result_large_err)]
    pub fn from_parts(re: Re, parts: ClaimParts) -> Result<Self, Record> {
        let mut c = UkeClaim::new(re);
        let ClaimParts {
            ho,
            ko,
            sn,
            jd,
            mf,
            sy,
            tekiyou,
        } = parts;
        c.body.extend(ho.map(Record::Ho));
        c.body.extend(ko.into_iter().map(Record::Ko));
        c.body.extend(sn.into_iter().map(Record::Sn));
        c.body.extend(jd.into_iter().map(Record::Jd));
        c.body.extend(mf.map(Record::Mf));
        c.body.extend(sy.into_iter().map(Record::Sy));
        for r in tekiyou {
            c.push(r)?;
        }
        Ok(c)
    }

    /// Appends a record after the claim's last one. IR, RE and GO are refused (given back).
    #[allow(clippy::result_large_err)]
    pub fn push(&mut self, record: Record) -> Result<(), Record> {
        if belongs_to_claim(&record) {
            self.body.push(record);
            Ok(())
        } else {
            Err(record)
        }
    }

    pub fn re(&self) -> &Re {
        &self.re
    }

    /// The line of the claim's RE in the file it was read from (`None` for a claim built in
    /// memory). The claim's records are contiguous: `body()[i]` stood at line `first_line + 1 + i`.
    pub fn first_line(&self) -> Option<u64> {
        (self.line > 0).then_some(self.line)
    }

    pub fn re_mut(&mut self) -> &mut Re {
        &mut self.re
    }

    /// The records after RE, in file order.
    pub fn body(&self) -> &[Record] {
        &self.body
    }

    /// All records, RE first, as they are written.
    pub fn records(&self) -> impl Iterator<Item = RecordRef<'_>> {
        std::iter::once(RecordRef::Re(&self.re)).chain(self.body.iter().map(RecordRef::Record))
    }

    pub fn ho(&self) -> Option<&Ho> {
        self.body.iter().find_map(|r| match r {
            Record::Ho(h) => Some(h),
            _ => None,
        })
    }
    pub fn ko(&self) -> impl Iterator<Item = &Ko> {
        self.body.iter().filter_map(|r| match r {
            Record::Ko(k) => Some(k),
            _ => None,
        })
    }
    pub fn sn(&self) -> impl Iterator<Item = &Sn> {
        self.body.iter().filter_map(|r| match r {
            Record::Sn(s) => Some(s),
            _ => None,
        })
    }
    pub fn jd(&self) -> impl Iterator<Item = &Jd> {
        self.body.iter().filter_map(|r| match r {
            Record::Jd(j) => Some(j),
            _ => None,
        })
    }
    pub fn mf(&self) -> Option<&Mf> {
        self.body.iter().find_map(|r| match r {
            Record::Mf(m) => Some(m),
            _ => None,
        })
    }
    pub fn sy(&self) -> impl Iterator<Item = &Sy> {
        self.body.iter().filter_map(|r| match r {
            Record::Sy(s) => Some(s),
            _ => None,
        })
    }
    /// The 摘要 records (SI IY TO CO SJ and any others), in file order.
    pub fn tekiyou(&self) -> impl Iterator<Item = &Record> {
        self.body.iter().filter(|r| rank(r).is_none_or(|k| k == 7))
    }
    pub fn co(&self) -> impl Iterator<Item = &Co> {
        self.body.iter().filter_map(|r| match r {
            Record::Co(c) => Some(c),
            _ => None,
        })
    }

    /// The insurer number of the insurance part (HO), `None` for a public-fund-only claim.
    pub fn insurer_number(&self) -> Option<&InsurerNo> {
        self.ho().map(|h| &h.insurer_number)
    }

    /// 氏名, カタカナ氏名, 生年月日, 男女区分.
    pub fn person(&self) -> Person<'_> {
        Person {
            name: &self.re.name,
            kana_name: self.re.kana_name.as_deref(),
            birth_date: self.re.birth_date.0,
            sex: self.re.sex.as_str(),
        }
    }

    /// 診療年月.
    pub fn service_month(&self) -> YearMonth {
        self.re.service_month
    }

    /// The days of the month (1–31) with a counted visit: from JD (code `1`) when the claim has
    /// JD records, otherwise the days with a count in the SI / IY / TO 算定日 fields.
    pub fn service_days(&self) -> Vec<u32> {
        let mut days = BTreeSet::new();
        let mut any_jd = false;
        for jd in self.jd() {
            any_jd = true;
            days.extend(
                jd.days
                    .iter()
                    .filter(|(_, v)| v.as_str() == super::jd::JD_COUNTED)
                    .map(|(d, _)| d),
            );
        }
        if !any_jd {
            for r in &self.body {
                let d = match r {
                    Record::Si(s) => &s.days,
                    Record::Iy(i) => &i.days,
                    Record::To(t) => &t.days,
                    _ => continue,
                };
                days.extend(d.iter().filter(|(_, v)| v.value() > 0).map(|(d, _)| d));
            }
        }
        days.into_iter().collect()
    }

    /// 合計点数 of the claim: the insurance part's (HO), or the first public fund's (KO) for a
    /// public-fund-only claim.
    pub fn total_points(&self) -> u64 {
        match (self.ho(), self.ko().next()) {
            (Some(h), _) => h.total_points.value(),
            (None, Some(k)) => k.total_points.value(),
            (None, None) => 0,
        }
    }

    /// 一部負担金: HO 負担金額 (医療保険), when written.
    pub fn ichibu_futankin(&self) -> Option<u64> {
        self.ho()
            .and_then(|h| h.share_amount.as_ref())
            .map(Num::value)
    }

    /// The texts of the free comments (CO 810000001), in order.
    pub fn free_comments(&self) -> Vec<&str> {
        self.co()
            .filter(|c| c.code.as_str() == FREE_COMMENT_CODE)
            .filter_map(|c| c.text.as_deref())
            .collect()
    }

    /// 確認区分 of the insurance part's SN (負担者種別 1), if any.
    pub fn confirmation(&self) -> Option<&str> {
        self.sn()
            .find(|s| s.payer_kind.as_str() == "1")
            .map(|s| s.confirmation.as_str())
    }

    /// A 不詳 claim (R20): 保険者番号 77777777 or 77777779.
    pub fn is_fushou(&self) -> bool {
        self.insurer_number().is_some_and(|n| {
            n.digits() == FUSHOU_INSURER || n.digits() == FUSHOU_INSURER_CHECK_DIGIT
        })
    }

    /// The parts that count in GO 総件数: HO and each KO.
    pub fn parts(&self) -> u64 {
        self.body
            .iter()
            .filter(|r| matches!(r, Record::Ho(_) | Record::Ko(_)))
            .count() as u64
    }
}

/// A record of a claim as the writer sees it.
#[derive(Clone, Copy, Debug)]
pub enum RecordRef<'a> {
    Re(&'a Re),
    Record(&'a Record),
}

impl Go {
    /// The GO of these claims: 総件数 = the HO and KO parts, 総合計点数 = the claims' 合計点数,
    /// マルチボリューム `99`.
    pub fn for_claims<'a>(claims: impl IntoIterator<Item = &'a UkeClaim>) -> Go {
        let (mut count, mut points) = (0u64, 0u64);
        for c in claims {
            count += c.parts();
            points += c.total_points();
        }
        Go {
            total_count: Num::from(count),
            total_points: Num::from(points),
            volume: Num::padded(99, 2),
        }
    }
}

/// A whole UKE file in memory: for writing a month's claims, or for a caller that wants every
/// claim of a file at once. Large files are better read with [`ClaimReader`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UkeFile {
    pub ir: Ir,
    /// Records between IR and the first claim that onshi does not model (KH …).
    pub before_claims: Vec<Record>,
    pub claims: Vec<UkeClaim>,
    pub go: Go,
    /// The file ends with 0x1A (always written by onshi; other files may lack it).
    pub eof_mark: bool,
}

impl UkeFile {
    /// A file of these claims, with its GO computed and the 0x1A mark.
    pub fn new(ir: Ir, claims: Vec<UkeClaim>) -> Self {
        let go = Go::for_claims(&claims);
        UkeFile {
            ir,
            before_claims: Vec::new(),
            claims,
            go,
            eof_mark: true,
        }
    }

    /// Reads a whole file and returns it, or every error found in it (records, order, GO
    /// totals).
    pub fn read<R: BufRead>(input: R) -> Result<UkeFile, UkeErrors> {
        let mut reader = ClaimReader::new(input);
        let mut errors = Vec::new();
        let (mut ir, mut go) = (None, None);
        let mut before_claims = Vec::new();
        let mut claims = Vec::new();
        let mut go_line = 0;
        for item in reader.by_ref() {
            match item {
                Ok(FileItem::Ir(r)) => ir = Some(r),
                Ok(FileItem::Other(r)) => before_claims.push(r),
                Ok(FileItem::Claim(c)) => claims.push(c),
                Ok(FileItem::Go(g, line)) => {
                    go = Some(g);
                    go_line = line;
                }
                Err(e) => errors.extend(e.0),
            }
        }
        let eof_mark = reader.saw_eof_mark();
        if let (Some(g), true) = (&go, errors.is_empty()) {
            let want = Go::for_claims(&claims);
            if want.total_count.value() != g.total_count.value() {
                errors.push(total_error(
                    go_line,
                    2,
                    "総件数",
                    "total count",
                    &want.total_count,
                    &g.total_count,
                ));
            }
            if want.total_points.value() != g.total_points.value() {
                errors.push(total_error(
                    go_line,
                    3,
                    "総合計点数",
                    "total points",
                    &want.total_points,
                    &g.total_points,
                ));
            }
        }
        match (ir, go) {
            (Some(ir), Some(go)) if errors.is_empty() => Ok(UkeFile {
                ir,
                before_claims,
                claims,
                go,
                eof_mark,
            }),
            _ => Err(UkeErrors(errors)),
        }
    }

    /// Writes the file; the 0x1A mark when `eof_mark` is set.
    pub fn write<W: Write>(&self, out: W) -> Result<W, UkeWriteError> {
        let mut w = UkeWriter::new(out);
        w.write_record(&Record::Ir(self.ir.clone()))?;
        for r in &self.before_claims {
            w.write_record(r)?;
        }
        for c in &self.claims {
            w.write_claim(c)?;
        }
        w.write_record(&Record::Go(self.go.clone()))?;
        if self.eof_mark {
            w.finish()
        } else {
            w.finish_without_eof_mark()
        }
    }

    /// The file as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, UkeWriteError> {
        self.write(Vec::new())
    }
}

fn total_error(line: u64, number: usize, ja: &str, en: &str, want: &Num, found: &Num) -> UkeError {
    UkeError {
        line,
        record: "GO".into(),
        field: Some(super::FieldRef {
            number,
            ja: ja.into(),
            en: en.into(),
        }),
        rule: Rule::Total {
            expected: want.value(),
            found: found.value(),
        },
    }
}

/// What a [`ClaimReader`] yields.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileItem {
    Ir(Ir),
    /// A record onshi does not model, before the first claim.
    Other(Record),
    Claim(UkeClaim),
    /// GO and its line number.
    Go(Go, u64),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Body,
    AfterGo,
    Done,
}

/// Reads a file as IR, claims and GO, one claim at a time, checking the record order.
///
/// A claim with an error in any of its records is not yielded (its errors are); reading goes
/// on with the next claim, so a caller can keep the good claims or collect every error.
pub struct ClaimReader<R> {
    records: RecordReader<R>,
    state: State,
    current: Option<Current>,
    /// The RE of the current claim could not be read: drop its records quietly.
    skipping: bool,
    out: VecDeque<Result<FileItem, UkeErrors>>,
}

struct Current {
    claim: UkeClaim,
    line: u64,
    broken: bool,
    rank: u8,
    ko: usize,
}

impl<R: BufRead> ClaimReader<R> {
    pub fn new(input: R) -> Self {
        ClaimReader {
            records: RecordReader::new(input),
            state: State::Start,
            current: None,
            skipping: false,
            out: VecDeque::new(),
        }
    }

    /// Whether the file ended with the 0x1A mark (known once the reader returned `None`).
    pub fn saw_eof_mark(&self) -> bool {
        self.records.saw_eof_mark()
    }

    fn order_error(&mut self, line: u64, id: &str, what: &str) {
        self.out.push_back(Err(
            UkeError::line(line, id, Rule::Order(what.into())).into()
        ));
    }

    fn finish_claim(&mut self) {
        if let Some(c) = self.current.take() {
            if c.broken {
                return;
            }
            if c.claim.parts() == 0 {
                self.order_error(c.line, "RE", "a claim needs an HO or a KO record");
                return;
            }
            self.out.push_back(Ok(FileItem::Claim(c.claim)));
        }
    }

    fn take(&mut self, record: Record, line: u64) {
        let id = record.id().to_owned();
        if self.state == State::AfterGo {
            self.order_error(line, &id, "no record may follow GO");
            return;
        }
        if self.state == State::Start {
            self.state = State::Body;
            if let Record::Ir(ir) = record {
                self.out.push_back(Ok(FileItem::Ir(ir)));
                return;
            }
            self.order_error(line, &id, "the file must begin with IR");
        }
        match record {
            Record::Ir(_) => self.order_error(line, "IR", "only one IR, at the start of the file"),
            Record::Re(re) => {
                self.finish_claim();
                self.skipping = false;
                let mut claim = UkeClaim::new(re);
                claim.line = line;
                self.current = Some(Current {
                    claim,
                    line,
                    broken: false,
                    rank: 0,
                    ko: 0,
                });
            }
            Record::Go(go) => {
                self.finish_claim();
                self.skipping = false;
                self.state = State::AfterGo;
                self.out.push_back(Ok(FileItem::Go(go, line)));
            }
            other => {
                if self.skipping {
                    return;
                }
                let Some(cur) = self.current.as_mut() else {
                    if rank(&other).is_some() {
                        self.order_error(line, &id, "claim record before any RE");
                    } else {
                        self.out.push_back(Ok(FileItem::Other(other)));
                    }
                    return;
                };
                let mut problem = None;
                if let Some(k) = rank(&other) {
                    if k < cur.rank {
                        problem = Some(format!(
                            "{id} after a later record of the claim (order RE HO KO SN JD MF SY, then SI IY TO CO SJ)"
                        ));
                    } else if k == cur.rank && (k == 1 || k == 5) {
                        problem = Some(format!("more than one {id} in a claim"));
                    } else if k == 2 && cur.ko == 4 {
                        problem = Some("more than four KO in a claim".into());
                    }
                    cur.rank = cur.rank.max(k);
                    if k == 2 {
                        cur.ko += 1;
                    }
                }
                match problem {
                    Some(p) => {
                        cur.broken = true;
                        self.order_error(line, &id, &p);
                    }
                    None => cur.claim.body.push(other),
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for ClaimReader<R> {
    type Item = Result<FileItem, UkeErrors>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Some(item);
            }
            if self.state == State::Done {
                return None;
            }
            match self.records.next() {
                None => {
                    let line = self.records.line();
                    match self.state {
                        State::Start => self.order_error(line, "", "empty file: IR … GO expected"),
                        State::Body => {
                            self.finish_claim();
                            self.order_error(line, "", "the file must end with GO");
                        }
                        _ => {}
                    }
                    self.state = State::Done;
                }
                Some(Ok(record)) => {
                    let line = self.records.line();
                    self.take(record, line);
                }
                Some(Err(errors)) => {
                    if self.state == State::Start {
                        self.state = State::Body;
                    }
                    let id = errors.0.first().map(|e| e.record.as_str()).unwrap_or("");
                    if id == "GO" {
                        self.finish_claim();
                        self.state = State::AfterGo;
                    } else if id == "RE" {
                        self.finish_claim();
                        self.skipping = true;
                    } else if let Some(c) = self.current.as_mut() {
                        c.broken = true;
                    }
                    return Some(Err(errors));
                }
            }
        }
    }
}
