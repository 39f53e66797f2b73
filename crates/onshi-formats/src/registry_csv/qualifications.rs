//! The qualifications file: one row per registered qualification (資格) of a person.
//!
//! A person's history is several rows with the same `my_number` (an older, lost qualification
//! and the current one); a household insured together is several rows with the same insurer,
//! symbol and number and their own 枝番 (`branch`), the 本人 with `family_class` 1.
//!
//! Row rules (each names its [`rule`] id in the error):
//! - `my_number` and `insurer_number` with a matching check digit (`check_digit`);
//! - `insurer_name`, `name`, `name_kana`, `insured_name`, `number`, `branch`, `sex`,
//!   `birthdate`, `card_classification`, `family_class`, `qualification_date` required;
//! - `name_kana` in kana (`kana`);
//! - codes from OQSCD010 / 009 / 007 / 008 / 012 and `preschool` "1" or empty (`unknown_code`);
//! - `qualification_date` not before `birthdate` (a newborn's qualification starts at birth),
//!   `disqualification_date` after `qualification_date`, `elderly_valid_from` not after
//!   `elderly_valid_to` (`order`);
//! - `reason_of_loss` exactly when there is a `disqualification_date` (`required`,
//!   `only_with`);
//! - the three `elderly_*` fields together or not at all (`all_or_nothing`);
//! - ratios 10, 20 or 30 percent, "030" or "30" (`ratio`);
//! - `post_number` empty or 7 digits, "123-4567" accepted and stored as "1234567" (`format`);
//! - `card_valid_from` not after `card_valid_to`, `limit_valid_from` not after `limit_valid_to`
//!   (`order`); `elderly_certificate_date` only with the `elderly_*` fields (`only_with`);
//! - `name_of_other_kana` in kana, `sex2` OQSCD007, `limit_certificate_classification`
//!   OQSCD011, `preschool` OQSCD015 (1 未就学, 2 就学中), `specific_diseases` a `;`-list of
//!   `category:issued:valid_from:valid_to:self_pay`;
//! - `registration_date`, when the insurer registered the qualification in the OQS (R23): a
//!   date (`format`, `impossible_date`), in no order with the others — an insurer may register
//!   ahead of `qualification_date`, and a registration after `card_issuance_date` is what R23
//!   is about.
//!
//! The header is [`QUALIFICATION_COLUMNS`], or its first [`QUALIFICATION_COLUMNS_REQUIRED`] or
//! more columns: files of earlier versions stop before the card / 資格確認書 dates, before
//! the details (`name_of_other` …) or before `registration_date`.

use std::io::{self, Read, Write};

use chrono::NaiveDate;
use onshi_domain::codes::{
    CardClassification, FamilyClass, LimitCertificateClassification, LimitClass, PreschoolClass,
    ReasonOfLoss,
};
use onshi_domain::numbers::{BranchNumber, InsuredNumber, InsuredSymbol, MyNumber};
use onshi_domain::qualification::{
    CardDates, ElderlyInfo, LimitCertificate, Person, Qualification, QualificationDetails,
};

use super::fields::{self, Fault, Fields, Opt, code_fault, format_fault};
use super::source::{RecordSource, UnparsedRow, UnparsedRows};
use super::{RowError, rule};

/// The qualifications file's header, in order.
///
/// Columns after the first [`QUALIFICATION_COLUMNS_REQUIRED`] were added later: a file may end
/// its header (and rows) before any of them, as files of earlier versions do.
pub const QUALIFICATION_COLUMNS: [&str; 39] = [
    "my_number",
    "insurer_number",
    "insurer_name",
    "card_classification",
    "symbol",
    "number",
    "branch",
    "family_class",
    "insured_name",
    "name",
    "name_kana",
    "sex",
    "birthdate",
    "post_number",
    "address",
    "employer",
    "qualification_date",
    "disqualification_date",
    "reason_of_loss",
    "contribution_ratio",
    "elderly_ratio",
    "elderly_valid_from",
    "elderly_valid_to",
    "limit_class",
    "preschool",
    "card_issuance_date",
    "card_valid_from",
    "card_valid_to",
    "name_of_other",
    "name_of_other_kana",
    "sex2",
    "elderly_certificate_date",
    "limit_certificate_classification",
    "limit_certificate_date",
    "limit_valid_from",
    "limit_valid_to",
    "limit_long_term_date",
    "specific_diseases",
    "registration_date",
];

/// The columns every qualifications file has (the format's first version ends there).
pub const QUALIFICATION_COLUMNS_REQUIRED: usize = 25;

const MY_NUMBER: usize = 0;
const INSURER_NUMBER: usize = 1;
const INSURER_NAME: usize = 2;
const CARD_CLASSIFICATION: usize = 3;
const SYMBOL: usize = 4;
const NUMBER: usize = 5;
const BRANCH: usize = 6;
const FAMILY_CLASS: usize = 7;
const INSURED_NAME: usize = 8;
const NAME: usize = 9;
const NAME_KANA: usize = 10;
const SEX: usize = 11;
const BIRTHDATE: usize = 12;
const POST_NUMBER: usize = 13;
const ADDRESS: usize = 14;
const EMPLOYER: usize = 15;
const QUALIFICATION_DATE: usize = 16;
const DISQUALIFICATION_DATE: usize = 17;
const REASON_OF_LOSS: usize = 18;
const CONTRIBUTION_RATIO: usize = 19;
const ELDERLY_RATIO: usize = 20;
const ELDERLY_VALID_FROM: usize = 21;
const ELDERLY_VALID_TO: usize = 22;
const LIMIT_CLASS: usize = 23;
const PRESCHOOL: usize = 24;
const CARD_ISSUANCE_DATE: usize = 25;
const CARD_VALID_FROM: usize = 26;
const CARD_VALID_TO: usize = 27;
const NAME_OF_OTHER: usize = 28;
const NAME_OF_OTHER_KANA: usize = 29;
const SEX2: usize = 30;
const ELDERLY_CERTIFICATE_DATE: usize = 31;
const LIMIT_CERTIFICATE_CLASSIFICATION: usize = 32;
const LIMIT_CERTIFICATE_DATE: usize = 33;
const LIMIT_VALID_FROM: usize = 34;
const LIMIT_VALID_TO: usize = 35;
const LIMIT_LONG_TERM_DATE: usize = 36;
const SPECIFIC_DISEASES: usize = 37;
const REGISTRATION_DATE: usize = 38;

/// One accepted row of the qualifications file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualificationRecord {
    /// Physical line in the file.
    pub line: u64,
    pub my_number: MyNumber,
    pub person: Person,
    pub qualification: Qualification,
}

/// A row as text, fields in [`QUALIFICATION_COLUMNS`] order; what the writer takes. Dates are
/// `YYYYMMDD`, codes as in the code tables, empty for none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QualificationCsvRow {
    pub my_number: String,
    pub insurer_number: String,
    pub insurer_name: String,
    pub card_classification: String,
    pub symbol: String,
    pub number: String,
    pub branch: String,
    pub family_class: String,
    pub insured_name: String,
    pub name: String,
    pub name_kana: String,
    pub sex: String,
    pub birthdate: String,
    pub post_number: String,
    pub address: String,
    pub employer: String,
    pub qualification_date: String,
    pub disqualification_date: String,
    pub reason_of_loss: String,
    pub contribution_ratio: String,
    pub elderly_ratio: String,
    pub elderly_valid_from: String,
    pub elderly_valid_to: String,
    pub limit_class: String,
    pub preschool: String,
    pub card_issuance_date: String,
    pub card_valid_from: String,
    pub card_valid_to: String,
    pub name_of_other: String,
    pub name_of_other_kana: String,
    pub sex2: String,
    pub elderly_certificate_date: String,
    pub limit_certificate_classification: String,
    pub limit_certificate_date: String,
    pub limit_valid_from: String,
    pub limit_valid_to: String,
    pub limit_long_term_date: String,
    pub specific_diseases: String,
    pub registration_date: String,
}

impl QualificationCsvRow {
    /// The fields in column order.
    pub fn fields(&self) -> [&str; 39] {
        [
            &self.my_number,
            &self.insurer_number,
            &self.insurer_name,
            &self.card_classification,
            &self.symbol,
            &self.number,
            &self.branch,
            &self.family_class,
            &self.insured_name,
            &self.name,
            &self.name_kana,
            &self.sex,
            &self.birthdate,
            &self.post_number,
            &self.address,
            &self.employer,
            &self.qualification_date,
            &self.disqualification_date,
            &self.reason_of_loss,
            &self.contribution_ratio,
            &self.elderly_ratio,
            &self.elderly_valid_from,
            &self.elderly_valid_to,
            &self.limit_class,
            &self.preschool,
            &self.card_issuance_date,
            &self.card_valid_from,
            &self.card_valid_to,
            &self.name_of_other,
            &self.name_of_other_kana,
            &self.sex2,
            &self.elderly_certificate_date,
            &self.limit_certificate_classification,
            &self.limit_certificate_date,
            &self.limit_valid_from,
            &self.limit_valid_to,
            &self.limit_long_term_date,
            &self.specific_diseases,
            &self.registration_date,
        ]
    }

    /// Empties every field, keeping the allocations (for reuse row after row).
    pub fn clear(&mut self) {
        for s in [
            &mut self.my_number,
            &mut self.insurer_number,
            &mut self.insurer_name,
            &mut self.card_classification,
            &mut self.symbol,
            &mut self.number,
            &mut self.branch,
            &mut self.family_class,
            &mut self.insured_name,
            &mut self.name,
            &mut self.name_kana,
            &mut self.sex,
            &mut self.birthdate,
            &mut self.post_number,
            &mut self.address,
            &mut self.employer,
            &mut self.qualification_date,
            &mut self.disqualification_date,
            &mut self.reason_of_loss,
            &mut self.contribution_ratio,
            &mut self.elderly_ratio,
            &mut self.elderly_valid_from,
            &mut self.elderly_valid_to,
            &mut self.limit_class,
            &mut self.preschool,
            &mut self.card_issuance_date,
            &mut self.card_valid_from,
            &mut self.card_valid_to,
            &mut self.name_of_other,
            &mut self.name_of_other_kana,
            &mut self.sex2,
            &mut self.elderly_certificate_date,
            &mut self.limit_certificate_classification,
            &mut self.limit_certificate_date,
            &mut self.limit_valid_from,
            &mut self.limit_valid_to,
            &mut self.limit_long_term_date,
            &mut self.specific_diseases,
            &mut self.registration_date,
        ] {
            s.clear();
        }
    }

    /// The row that reads back as `rec` (ratios written in the OQS's 3-digit form).
    pub fn from_record(rec: &QualificationRecord) -> Self {
        let p = &rec.person;
        let q = &rec.qualification;
        let d = &q.details;
        let date = |d: Option<NaiveDate>| {
            d.map(onshi_domain::wareki::format_yyyymmdd)
                .unwrap_or_default()
        };
        let ratio = |r: Option<u8>| r.map(|r| format!("{r:03}")).unwrap_or_default();
        QualificationCsvRow {
            my_number: rec.my_number.expose_digits(),
            insurer_number: q.insurer_number.as_str().to_string(),
            insurer_name: q.insurer_name.clone(),
            card_classification: q.card_classification.code().to_string(),
            symbol: q.symbol.as_str().to_string(),
            number: q.number.as_str().to_string(),
            branch: q.branch.as_str().to_string(),
            family_class: q.family_class.code().to_string(),
            insured_name: q.insured_name.clone(),
            name: p.name.clone(),
            name_kana: p.name_kana.clone(),
            sex: p.sex.code().to_string(),
            birthdate: date(Some(p.birthdate)),
            post_number: p.post_number.clone().unwrap_or_default(),
            address: p.address.clone().unwrap_or_default(),
            employer: q.employer.clone().unwrap_or_default(),
            qualification_date: date(Some(q.qualification_date)),
            disqualification_date: date(q.disqualification_date),
            reason_of_loss: q
                .reason_of_loss
                .map(|r| r.code().to_string())
                .unwrap_or_default(),
            contribution_ratio: ratio(q.contribution_ratio),
            elderly_ratio: ratio(q.elderly.as_ref().map(|e| e.ratio)),
            elderly_valid_from: date(q.elderly.as_ref().map(|e| e.valid_from)),
            elderly_valid_to: date(q.elderly.as_ref().and_then(|e| e.valid_to)),
            limit_class: q
                .limit_class
                .map(|l| l.code().to_string())
                .unwrap_or_default(),
            preschool: if q.preschool {
                "1".into()
            } else if q.details.in_school {
                "2".into()
            } else {
                String::new()
            },
            card_issuance_date: date(q.card_dates.issued_on),
            card_valid_from: date(q.card_dates.valid_from),
            card_valid_to: date(q.card_dates.valid_to),
            name_of_other: d.name_of_other.clone().unwrap_or_default(),
            name_of_other_kana: d.name_of_other_kana.clone().unwrap_or_default(),
            sex2: d.sex2.map(|x| x.code().to_string()).unwrap_or_default(),
            elderly_certificate_date: date(d.elderly_certificate_date),
            limit_certificate_classification: d
                .limit_certificate
                .classification
                .map(|c| c.code().to_string())
                .unwrap_or_default(),
            limit_certificate_date: date(d.limit_certificate.issued_on),
            limit_valid_from: date(d.limit_certificate.valid_from),
            limit_valid_to: date(d.limit_certificate.valid_to),
            limit_long_term_date: date(d.limit_certificate.long_term_date),
            specific_diseases: fields::specific_diseases_field(&d.specific_diseases),
            registration_date: date(d.registered_on),
        }
    }
}

/// Writes a qualifications file: the header on creation, then one row per [`Self::write`].
/// Lines end with LF.
pub struct QualificationCsvWriter<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> QualificationCsvWriter<W> {
    /// Starts the file with its header.
    pub fn new(w: W) -> io::Result<Self> {
        let mut w = csv::WriterBuilder::new()
            .buffer_capacity(256 * 1024)
            .from_writer(w);
        w.write_record(QUALIFICATION_COLUMNS)?;
        Ok(QualificationCsvWriter { w })
    }

    pub fn write(&mut self, row: &QualificationCsvRow) -> io::Result<()> {
        self.w.write_record(row.fields())?;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// Flushes and gives back the inner writer.
    pub fn into_inner(self) -> io::Result<W> {
        self.w
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Iterator over the rows of a qualifications file; see [`read_qualifications`].
pub struct QualificationRows<R> {
    src: RecordSource<R>,
}

impl<R: Read> Iterator for QualificationRows<R> {
    type Item = Result<QualificationRecord, Vec<RowError>>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = match self.src.advance()? {
            Ok(line) => line,
            Err(e) => return Some(Err(vec![e])),
        };
        Some(
            Fields::split(
                self.src.file(),
                line,
                &QUALIFICATION_COLUMNS,
                self.src.width(),
                self.src.record(),
            )
            .and_then(parse_row),
        )
    }
}

impl<R: Read> QualificationRows<R> {
    /// The rows read but not parsed, and the parser of their file: to parse on other threads
    /// than the reading. `parser.parse(row)` of each row gives what this iterator gives.
    pub fn unparsed(self) -> (UnparsedRows<R>, QualificationParser) {
        let parser = QualificationParser {
            file: self.src.file().to_string(),
            width: self.src.width(),
        };
        (UnparsedRows { src: self.src }, parser)
    }
}

/// Parses the rows of one qualifications file read by [`QualificationRows::unparsed`].
#[derive(Debug, Clone)]
pub struct QualificationParser {
    file: String,
    width: usize,
}

impl QualificationParser {
    pub fn parse(&self, row: &UnparsedRow) -> Result<QualificationRecord, Vec<RowError>> {
        Fields::split(
            &self.file,
            row.line,
            &QUALIFICATION_COLUMNS,
            self.width,
            &row.record,
        )
        .and_then(parse_row)
    }
}

/// Reads a qualifications file row by row. The outer `Err` is a header that is not exactly
/// [`QUALIFICATION_COLUMNS`]; then each item is a record or all the errors of its row.
/// `file_name` only labels the errors.
pub fn read_qualifications<R: Read>(
    file_name: &str,
    r: R,
) -> Result<QualificationRows<R>, RowError> {
    Ok(QualificationRows {
        src: RecordSource::open(
            file_name,
            r,
            &QUALIFICATION_COLUMNS,
            QUALIFICATION_COLUMNS_REQUIRED,
        )?,
    })
}

fn parse_row(mut f: Fields<'_, 39>) -> Result<QualificationRecord, Vec<RowError>> {
    let my_number = f.req(MY_NUMBER, fields::my_number);
    let insurer_number = f.req(INSURER_NUMBER, fields::insurer_number);
    let insurer_name = f.req(INSURER_NAME, fields::text);
    let card_classification = f.req(CARD_CLASSIFICATION, |s| {
        CardClassification::parse_for(QUALIFICATION_COLUMNS[CARD_CLASSIFICATION], s)
            .map_err(code_fault)
    });
    let symbol = match f.opt(SYMBOL, |s| InsuredSymbol::parse(s).map_err(format_fault)) {
        Opt::Empty => Some(InsuredSymbol::default()),
        o => o.value(),
    };
    let number = f.req(NUMBER, |s| InsuredNumber::parse(s).map_err(format_fault));
    let branch = f.req(BRANCH, |s| BranchNumber::parse(s).map_err(format_fault));
    let family_class = f.req(FAMILY_CLASS, |s| {
        FamilyClass::parse_for(QUALIFICATION_COLUMNS[FAMILY_CLASS], s).map_err(code_fault)
    });
    let insured_name = f.req(INSURED_NAME, fields::text);
    let name = f.req(NAME, fields::text);
    let name_kana = f.req(NAME_KANA, fields::kana_name);
    let sex = f.req(SEX, fields::sex);
    let birthdate = f.req(BIRTHDATE, fields::date);
    let post_number = f.opt(POST_NUMBER, fields::post_number);
    let address = f.opt(ADDRESS, fields::text);
    let employer = f.opt(EMPLOYER, fields::text);
    let qualification_date = f.req(QUALIFICATION_DATE, fields::date);
    let disqualification_date = f.opt(DISQUALIFICATION_DATE, fields::date);
    let reason_of_loss = f.opt(REASON_OF_LOSS, |s| {
        ReasonOfLoss::parse_for(QUALIFICATION_COLUMNS[REASON_OF_LOSS], s).map_err(code_fault)
    });
    let contribution_ratio = f.opt(CONTRIBUTION_RATIO, fields::ratio);
    let elderly_ratio = f.opt(ELDERLY_RATIO, fields::ratio);
    let elderly_valid_from = f.opt(ELDERLY_VALID_FROM, fields::date);
    let elderly_valid_to = f.opt(ELDERLY_VALID_TO, fields::date);
    let limit_class = f.opt(LIMIT_CLASS, |s| {
        LimitClass::parse_for(QUALIFICATION_COLUMNS[LIMIT_CLASS], s).map_err(code_fault)
    });
    let preschool = f.opt(PRESCHOOL, |s| {
        PreschoolClass::parse_for(QUALIFICATION_COLUMNS[PRESCHOOL], s).map_err(code_fault)
    });
    let card_issuance_date = f.opt(CARD_ISSUANCE_DATE, fields::date);
    let card_valid_from = f.opt(CARD_VALID_FROM, fields::date);
    let card_valid_to = f.opt(CARD_VALID_TO, fields::date);
    let name_of_other = f.opt(NAME_OF_OTHER, fields::text);
    let name_of_other_kana = f.opt(NAME_OF_OTHER_KANA, fields::kana_name);
    let sex2 = f.opt(SEX2, fields::sex);
    let elderly_certificate_date = f.opt(ELDERLY_CERTIFICATE_DATE, fields::date);
    let limit_certificate_classification = f.opt(LIMIT_CERTIFICATE_CLASSIFICATION, |s| {
        LimitCertificateClassification::parse_for(
            QUALIFICATION_COLUMNS[LIMIT_CERTIFICATE_CLASSIFICATION],
            s,
        )
        .map_err(code_fault)
    });
    let limit_certificate_date = f.opt(LIMIT_CERTIFICATE_DATE, fields::date);
    let limit_valid_from = f.opt(LIMIT_VALID_FROM, fields::date);
    let limit_valid_to = f.opt(LIMIT_VALID_TO, fields::date);
    let limit_long_term_date = f.opt(LIMIT_LONG_TERM_DATE, fields::date);
    let specific_diseases = f.opt(SPECIFIC_DISEASES, fields::specific_diseases);
    let registration_date = f.opt(REGISTRATION_DATE, fields::date);

    // Dates in order.
    if let (Some(b), Some(q)) = (birthdate, qualification_date)
        && q < b
    {
        f.fault(
            QUALIFICATION_DATE,
            Fault::new(
                rule::ORDER,
                format!(
                    "qualification_date {} is before birthdate {}",
                    ymd(q),
                    ymd(b)
                ),
            ),
        );
    }
    if let (Some(q), Opt::Value(d)) = (qualification_date, disqualification_date.as_ref())
        && *d <= q
    {
        f.fault(
            DISQUALIFICATION_DATE,
            Fault::new(
                rule::ORDER,
                format!(
                    "disqualification_date {} must be after qualification_date {} (資格喪失日 is the first day without the qualification)",
                    ymd(*d),
                    ymd(q)
                ),
            ),
        );
    }

    // reason_of_loss exactly when lost.
    match (disqualification_date.as_ref(), reason_of_loss.as_ref()) {
        (Opt::Value(_), Opt::Empty) => f.fault(
            REASON_OF_LOSS,
            Fault::new(
                rule::REQUIRED,
                "required when disqualification_date is set (OQSCD008 01 死亡, 02 生活保護受給開始, 03 医療保険等の資格取得, 99 その他)",
            ),
        ),
        (Opt::Empty, Opt::Value(_)) => f.fault(
            REASON_OF_LOSS,
            Fault::new(rule::ONLY_WITH, "allowed only with a disqualification_date"),
        ),
        _ => {}
    }

    // The 高齢受給者 fields come together.
    let elderly_empty = [
        elderly_ratio.is_empty(),
        elderly_valid_from.is_empty(),
        elderly_valid_to.is_empty(),
    ];
    if elderly_empty.contains(&true) && elderly_empty.contains(&false) {
        for (col, empty) in [ELDERLY_RATIO, ELDERLY_VALID_FROM, ELDERLY_VALID_TO]
            .into_iter()
            .zip(elderly_empty)
        {
            if empty {
                f.fault(
                    col,
                    Fault::new(
                        rule::ALL_OR_NOTHING,
                        "elderly_ratio, elderly_valid_from and elderly_valid_to come together: all or none",
                    ),
                );
            }
        }
    }
    if let (Opt::Value(from), Opt::Value(to)) =
        (elderly_valid_from.as_ref(), elderly_valid_to.as_ref())
        && from > to
    {
        f.fault(
            ELDERLY_VALID_TO,
            Fault::new(
                rule::ORDER,
                format!(
                    "elderly_valid_to {} is before elderly_valid_from {}",
                    ymd(*to),
                    ymd(*from)
                ),
            ),
        );
    }

    if let (Opt::Value(from), Opt::Value(to)) = (limit_valid_from.as_ref(), limit_valid_to.as_ref())
        && from > to
    {
        f.fault(
            LIMIT_VALID_TO,
            Fault::new(
                rule::ORDER,
                format!(
                    "limit_valid_to {} is before limit_valid_from {}",
                    ymd(*to),
                    ymd(*from)
                ),
            ),
        );
    }
    if !elderly_certificate_date.is_empty() && elderly_ratio.is_empty() {
        f.fault(
            ELDERLY_CERTIFICATE_DATE,
            Fault::new(
                rule::ONLY_WITH,
                "allowed only with the elderly_* fields (a 高齢受給者証)",
            ),
        );
    }
    if let (Opt::Value(from), Opt::Value(to)) = (card_valid_from.as_ref(), card_valid_to.as_ref())
        && from > to
    {
        f.fault(
            CARD_VALID_TO,
            Fault::new(
                rule::ORDER,
                format!(
                    "card_valid_to {} is before card_valid_from {}",
                    ymd(*to),
                    ymd(*from)
                ),
            ),
        );
    }

    if f.has_errors() {
        return f.finish(None);
    }
    let line = f.line();
    let elderly = match (elderly_ratio, elderly_valid_from, elderly_valid_to) {
        (Opt::Value(ratio), Opt::Value(valid_from), Opt::Value(to)) => Some(ElderlyInfo {
            ratio,
            valid_from,
            valid_to: Some(to),
        }),
        _ => None,
    };
    let built = (|| {
        Some(QualificationRecord {
            line,
            my_number: my_number?,
            person: Person {
                name: name?,
                name_kana: name_kana?,
                sex: sex?,
                birthdate: birthdate?,
                post_number: post_number.value(),
                address: address.value(),
            },
            qualification: Qualification {
                insurer_number: insurer_number?,
                insurer_name: insurer_name?,
                card_classification: card_classification?,
                symbol: symbol?,
                number: number?,
                branch: branch?,
                family_class: family_class?,
                insured_name: insured_name?,
                employer: employer.value(),
                qualification_date: qualification_date?,
                disqualification_date: disqualification_date.value(),
                reason_of_loss: reason_of_loss.value(),
                contribution_ratio: contribution_ratio.value(),
                elderly,
                limit_class: limit_class.value(),
                preschool: preschool.as_ref().value() == Some(&PreschoolClass::Preschool),
                card_dates: CardDates {
                    issued_on: card_issuance_date.value(),
                    valid_from: card_valid_from.value(),
                    valid_to: card_valid_to.value(),
                },
                details: QualificationDetails {
                    name_of_other: name_of_other.value(),
                    name_of_other_kana: name_of_other_kana.value(),
                    sex2: sex2.value(),
                    elderly_certificate_date: elderly_certificate_date.value(),
                    limit_certificate: LimitCertificate {
                        classification: limit_certificate_classification.value(),
                        issued_on: limit_certificate_date.value(),
                        valid_from: limit_valid_from.value(),
                        valid_to: limit_valid_to.value(),
                        long_term_date: limit_long_term_date.value(),
                    },
                    specific_diseases: specific_diseases.value().unwrap_or_default(),
                    in_school: preschool.value() == Some(PreschoolClass::InSchool),
                    registered_on: registration_date.value(),
                },
            },
        })
    })();
    f.finish(built)
}

fn ymd(d: NaiveDate) -> String {
    onshi_domain::wareki::format_yyyymmdd(d)
}
