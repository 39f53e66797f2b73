//! The generator: households → insured units → rows.
//!
//! A household lives at one address and shares a family name. Its members are grouped into
//! insured units (a 本人 and the dependents insured with them): the head's unit; a spouse with a
//! job of their own, or 75 or older, has a unit of their own; everyone 75+ is alone in a
//! 後期高齢者医療 unit. Each unit gets its case (normal, job changer, nothing registered,
//! 異体字) and each member of a normal unit a card case, then the rows are written member by
//! member. Buffers (members, units, rows, the address) are reused from one household to the
//! next, so memory stays flat however many people are generated.
//!
//! Shares: the unit cases are kept on target by a quota (a unit is given a case while the
//! count of persons in that case is below its share of the persons generated so far), so they
//! are exact to a household at any size; the card cases are drawn independently for each
//! person. See `docs/formats/registry-csv.md` for the table of shares.

use std::io::Write;

use chrono::{Datelike, Days, NaiveDate};
use onshi_domain::codes::LimitClass;
use onshi_domain::cost_share::{self, AgeBracket};
use onshi_domain::numbers::{Sex, my_number_check_digit};
use onshi_formats::registry_csv::{
    CardCsvRow, CardCsvWriter, CardStatusCode, QualificationCsvRow, QualificationCsvWriter,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::insurers::{Insurers, Kind};
use crate::tables::{
    AGE_PYRAMID, BUILDINGS, BUSINESSES, COMPANY_PREFIXES, FAMILY_NAMES, GIVEN_FEMALE, GIVEN_MALE,
    GivenName, KOKKA_KYOSAI, KOKUHO_KUMIAI, KUMIAI_COMPANIES, PREFECTURES, TOWNS,
};
use crate::text::{push_date, push_fullwidth_num, push_num};
use crate::{MAX_PERSONS, SynthCase, SynthConfig, SynthError, SynthExample, SynthSummary};

/// Examples kept per case.
const EXAMPLES_PER_CASE: usize = 10;
/// How often (in persons) `progress` is called.
const PROGRESS_EVERY: u64 = 1 << 16;
/// Odd and prime to 5, so `i ↦ i·M + c mod 10^11` is a bijection (My Numbers).
const MY_NUMBER_MULTIPLIER: u64 = 7_140_576_283;
const MY_NUMBER_SPACE: u64 = 100_000_000_000;
/// The same for card serials, mod 10^12.
const SERIAL_MULTIPLIER: u64 = 281_474_976_713;
const SERIAL_SPACE: u64 = 1_000_000_000_000;

/// Writes a synthetic population: `cfg.persons` people to a qualifications file and a cards
/// file (`onshi_formats::registry_csv`), row by row. `progress` is called with the number of
/// persons written about every 65,536 persons (after the household that crosses the mark) and
/// once at the end. The cards' `cert_public_key` column is left empty (see
/// [`generate_with_keys`]).
pub fn generate<WQ: Write, WC: Write>(
    cfg: &SynthConfig,
    qualifications: WQ,
    cards: WC,
    progress: &mut dyn FnMut(u64),
) -> Result<SynthSummary, SynthError> {
    run(cfg, qualifications, cards, None, progress)
}

/// The certificate's public key of a card serial, as the card world that issues the cards
/// derives it.
pub type CardKeys<'a> = &'a (dyn Fn(&str) -> [u8; 32] + Sync);

/// [`generate`], with each card's `cert_public_key` filled from `keys` (the issuer's side):
/// the rows are the same, the keys computed on every core in batches, written in order.
pub fn generate_with_keys<WQ: Write, WC: Write>(
    cfg: &SynthConfig,
    qualifications: WQ,
    cards: WC,
    keys: CardKeys<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<SynthSummary, SynthError> {
    run(cfg, qualifications, cards, Some(keys), progress)
}

fn run<WQ: Write, WC: Write>(
    cfg: &SynthConfig,
    qualifications: WQ,
    cards: WC,
    keys: Option<CardKeys<'_>>,
    progress: &mut dyn FnMut(u64),
) -> Result<SynthSummary, SynthError> {
    if cfg.persons > MAX_PERSONS {
        return Err(SynthError::Config(format!(
            "at most {MAX_PERSONS} persons, asked for {}",
            cfg.persons
        )));
    }
    if !(2009..=2199).contains(&cfg.reference_date.year()) {
        return Err(SynthError::Config(format!(
            "the reference date must be in 2009–2199 (after 後期高齢者医療 began), got {}",
            cfg.reference_date
        )));
    }
    let mut g = Generator::new(cfg)?;
    let mut qw = QualificationCsvWriter::new(qualifications)?;
    let mut cw = CardOut::new(CardCsvWriter::new(cards)?, keys);
    let mut next_report = PROGRESS_EVERY;
    while g.emitted < cfg.persons {
        g.household(cfg.persons - g.emitted, &mut qw, &mut cw)?;
        if g.emitted >= next_report {
            progress(g.emitted);
            next_report = (g.emitted / PROGRESS_EVERY + 1) * PROGRESS_EVERY;
        }
    }
    qw.into_inner()?.flush()?;
    cw.into_inner()?.flush()?;
    progress(g.emitted);
    let mut summary = g.summary;
    summary.persons = g.emitted;
    summary.cases = SynthCase::ALL
        .iter()
        .map(|&c| (c, g.case_counts[case_slot(c)]))
        .collect();
    Ok(summary)
}

/// Card rows held to have their keys computed together.
const KEY_BATCH: usize = 8192;

/// The cards file's writer, with the certificates' keys filled in when asked: rows are held
/// in batches whose keys are computed on every core, then written in the order given.
struct CardOut<'k, W: Write> {
    w: CardCsvWriter<W>,
    keys: Option<CardKeys<'k>>,
    /// Rows held (the first `held`; the rest are spare allocations).
    rows: Vec<CardCsvRow>,
    held: usize,
    threads: usize,
}

impl<'k, W: Write> CardOut<'k, W> {
    fn new(w: CardCsvWriter<W>, keys: Option<CardKeys<'k>>) -> Self {
        CardOut {
            w,
            keys,
            rows: Vec::new(),
            held: 0,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    fn write(&mut self, row: &CardCsvRow) -> std::io::Result<()> {
        if self.keys.is_none() {
            return self.w.write(row);
        }
        if self.held == self.rows.len() {
            self.rows.push(CardCsvRow::default());
        }
        let slot = &mut self.rows[self.held];
        slot.clone_from(row);
        self.held += 1;
        if self.held == KEY_BATCH {
            self.write_held()?;
        }
        Ok(())
    }

    fn write_held(&mut self) -> std::io::Result<()> {
        let Some(keys) = self.keys else {
            return Ok(());
        };
        let held = &mut self.rows[..self.held];
        let per = held.len().div_ceil(self.threads).max(1);
        let fill = |rows: &mut [CardCsvRow]| {
            let mut hex = [0u8; 64];
            for r in rows {
                let key = keys(&r.card_serial);
                r.cert_public_key.clear();
                // hex of 32 bytes into 64 bytes always fits
                if hex::encode_to_slice(key, &mut hex).is_ok() {
                    r.cert_public_key
                        .push_str(std::str::from_utf8(&hex).unwrap_or_default());
                }
            }
        };
        std::thread::scope(|s| {
            let mut chunks = held.chunks_mut(per);
            let first = chunks.next();
            for c in chunks {
                s.spawn(|| fill(c));
            }
            if let Some(c) = first {
                fill(c);
            }
        });
        for r in &self.rows[..self.held] {
            self.w.write(r)?;
        }
        self.held = 0;
        Ok(())
    }

    fn into_inner(mut self) -> std::io::Result<W> {
        self.write_held()?;
        self.w.into_inner()
    }
}

fn case_slot(c: SynthCase) -> usize {
    SynthCase::ALL.iter().position(|&x| x == c).unwrap_or(0)
}

/// The case of an insured unit (every member shares it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum UnitCase {
    #[default]
    Normal,
    JobChanger,
    NoQualification,
    KanjiVariant,
}

impl UnitCase {
    fn synth_case(self) -> Option<SynthCase> {
        match self {
            UnitCase::Normal => None,
            UnitCase::JobChanger => Some(SynthCase::JobChangerUnregistered),
            UnitCase::NoQualification => Some(SynthCase::NoQualification),
            UnitCase::KanjiVariant => Some(SynthCase::KanjiVariant),
        }
    }
}

#[derive(Clone, Copy)]
struct Member {
    birth: NaiveDate,
    sex: Sex,
    given: GivenName,
    unit: usize,
    branch: u8,
}

/// One insured unit: a 本人 and their dependents under one insurer, symbol and number.
#[derive(Default)]
struct Unit {
    insurer: usize,
    /// The member who is the 本人.
    head: usize,
    symbol: String,
    number: String,
    employer: String,
    /// The unit's qualification date (the 本人's; a dependent's is the later of it and birth).
    qdate: NaiveDate,
    case: UnitCase,
    /// JobChanger: the day the qualification was lost.
    lost_on: NaiveDate,
    /// An older, lost qualification before the current one.
    history: bool,
    old_insurer: usize,
    old_from: NaiveDate,
    old_symbol: String,
    old_number: String,
    old_employer: String,
    /// 限度額適用区分 of the under-70 members (from the 本人's income).
    limit: Option<LimitClass>,
    card_classification: &'static str,
    next_branch: u8,
    size: u64,
}

struct Generator {
    rng: SmallRng,
    reference: NaiveDate,
    ins: Insurers,
    pref_weights: Vec<u32>,
    family_weights: Vec<u32>,
    head_age_weights: Vec<u32>,
    /// Cumulative probabilities of the card cases for a member of a normal unit (scaled up so
    /// that, with the unit cases taking their share, each reaches its target share of all).
    card_thresholds: [(f64, SynthCase); 7],
    /// The current 高齢受給者証 year, 1 August to 31 July.
    cycle_start: NaiveDate,
    cycle_end: NaiveDate,
    /// The earliest certificate expiry still usable on the reference date.
    grace_start: NaiveDate,
    my_number_offset: u64,
    serial_offset: u64,

    emitted: u64,
    case_counts: [u64; 11],
    summary: SynthSummary,
    examples_per_case: [usize; 11],

    // Reused buffers.
    members: Vec<Member>,
    units: Vec<Unit>,
    n_units: usize,
    pref: usize,
    city: usize,
    family: usize,
    /// Member 1 is the head's spouse.
    has_spouse: bool,
    address: String,
    post: String,
    my_number: String,
    qrow: QualificationCsvRow,
    crow: CardCsvRow,
}

/// `C` and 12 digits: a bijection of the person's index (in the order generated, from 0).
fn push_card_serial(out: &mut String, serial_offset: u64, index: u64) {
    out.push('C');
    let serial = ((u128::from(index) * u128::from(SERIAL_MULTIPLIER) + u128::from(serial_offset))
        % u128::from(SERIAL_SPACE)) as u64;
    push_num(out, serial, 12);
}

/// The card serial [`generate`] gives the person with this index (0-based, in the order
/// generated) under `seed`, whether or not that person has a card: lets a caller draw cards
/// uniformly from a whole synthetic registry without reading it.
pub fn card_serial(seed: u64, index: u64) -> String {
    let mut s = String::with_capacity(13);
    push_card_serial(&mut s, mix(seed ^ 0x5EED_CA4D) % SERIAL_SPACE, index);
    s
}

/// splitmix64: spreads a seed into independent-looking offsets.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn cumulative(weights: impl IntoIterator<Item = u32>) -> Vec<u32> {
    let mut acc = 0u32;
    weights
        .into_iter()
        .map(|w| {
            acc = acc.saturating_add(w);
            acc
        })
        .collect()
}

fn add_days(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).unwrap_or(d)
}

fn sub_days(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).unwrap_or(d)
}

/// The same day `years` later (29 February → 28 February).
fn years_after(d: NaiveDate, years: i32) -> NaiveDate {
    let y = d.year() + years;
    NaiveDate::from_ymd_opt(y, d.month(), d.day())
        .or_else(|| NaiveDate::from_ymd_opt(y, d.month(), 28))
        .unwrap_or(d)
}

fn days_between(a: NaiveDate, b: NaiveDate) -> u64 {
    u64::try_from((b - a).num_days()).unwrap_or(0)
}

/// Age on `on` counted by birthdays (for sampling and statistics; the share rules use
/// `cost_share`).
fn plain_age(birth: NaiveDate, on: NaiveDate) -> u32 {
    let mut a = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    u32::try_from(a).unwrap_or(0)
}

impl Generator {
    fn new(cfg: &SynthConfig) -> Result<Self, SynthError> {
        let r = cfg.reference_date;
        let ins = Insurers::build()?;
        let pref_weights = cumulative(PREFECTURES.iter().map(|p| p.population));
        let family_weights = cumulative((0..FAMILY_NAMES.len()).map(|i| 100_000 / (i as u32 + 8)));
        // Heads of household by age band (20+): the pyramid divided by the adults a household
        // headed at that age holds, so that the generated ages follow the pyramid.
        const ADULTS_PER_HEAD: [f64; 21] = [
            1.0, 1.0, 1.0, 1.0, 2.0, 1.4, 1.6, 1.62, 1.65, 1.68, 1.7, 1.72, 1.75, 1.72, 1.68, 1.55,
            1.5, 1.45, 1.4, 1.3, 1.2,
        ];
        let head_age_weights = cumulative(AGE_PYRAMID.iter().enumerate().map(|(band, &n)| {
            if band < 4 {
                0
            } else {
                (f64::from(n) / ADULTS_PER_HEAD[band] * 10.0) as u32
            }
        }));
        let special: f64 = [
            SynthCase::JobChangerUnregistered,
            SynthCase::NoQualification,
            SynthCase::KanjiVariant,
        ]
        .iter()
        .map(|c| c.target_share())
        .sum();
        let mut acc = 0.0;
        let card_thresholds = [
            SynthCase::NoCard,
            SynthCase::PinLess,
            SynthCase::CertExpiredInGrace,
            SynthCase::CertExpiredPastGrace,
            SynthCase::PinLocked,
            SynthCase::Revoked,
            SynthCase::ChipBroken,
        ]
        .map(|c| {
            acc += c.target_share() / (1.0 - special);
            (acc, c)
        });
        let cycle_year = if r.month() >= 8 {
            r.year()
        } else {
            r.year() - 1
        };
        let cycle_start = NaiveDate::from_ymd_opt(cycle_year, 8, 1).unwrap_or(r);
        let cycle_end = NaiveDate::from_ymd_opt(cycle_year + 1, 7, 31).unwrap_or(r);
        // The earliest expiry still usable on the reference date: the 1st of the month three
        // months before (usable to the end of the 3rd month after the expiry month).
        let months = r.year() * 12 + r.month0() as i32 - 3;
        let grace_start =
            NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1)
                .unwrap_or(r);
        Ok(Generator {
            rng: SmallRng::seed_from_u64(cfg.seed),
            reference: r,
            ins,
            pref_weights,
            family_weights,
            head_age_weights,
            card_thresholds,
            cycle_start,
            cycle_end,
            grace_start,
            my_number_offset: mix(cfg.seed) % MY_NUMBER_SPACE,
            serial_offset: mix(cfg.seed ^ 0x5EED_CA4D) % SERIAL_SPACE,
            emitted: 0,
            case_counts: [0; 11],
            summary: SynthSummary::default(),
            examples_per_case: [0; 11],
            members: Vec::with_capacity(8),
            units: Vec::new(),
            n_units: 0,
            pref: 0,
            city: 0,
            family: 0,
            has_spouse: false,
            address: String::with_capacity(128),
            post: String::with_capacity(8),
            my_number: String::with_capacity(12),
            qrow: QualificationCsvRow::default(),
            crow: CardCsvRow::default(),
        })
    }

    // ---- drawing ----

    fn weighted(&mut self, which: Weights) -> usize {
        let cum = match which {
            Weights::Pref => &self.pref_weights,
            Weights::Family => &self.family_weights,
            Weights::HeadAge => &self.head_age_weights,
        };
        let total = cum.last().copied().unwrap_or(1).max(1);
        let x = self.rng.random_range(0..total);
        cum.partition_point(|&c| c <= x).min(cum.len() - 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    /// A birth date such that the person is `age` (by birthdays) on the reference date; age 0
    /// is born at least a day before it.
    fn birth_for_age(&mut self, age: u32) -> NaiveDate {
        let age = i32::try_from(age).unwrap_or(0);
        let latest = if age == 0 {
            sub_days(self.reference, 1)
        } else {
            years_after(self.reference, -age)
        };
        let earliest = add_days(years_after(self.reference, -age - 1), 1);
        let span = days_between(earliest, latest);
        add_days(earliest, self.rng.random_range(0..=span))
    }

    fn given_name(&mut self, sex: Sex, birth: NaiveDate) -> GivenName {
        let era = match birth.year() {
            ..1955 => 0,
            1955..1990 => 1,
            _ => 2,
        };
        let list = if sex == Sex::Male {
            GIVEN_MALE[era]
        } else {
            GIVEN_FEMALE[era]
        };
        list[self.rng.random_range(0..list.len())]
    }

    fn add_member(&mut self, age: u32, sex: Sex) -> usize {
        let birth = self.birth_for_age(age);
        let given = self.given_name(sex, birth);
        self.members.push(Member {
            birth,
            sex,
            given,
            unit: usize::MAX,
            branch: 0,
        });
        self.members.len() - 1
    }

    fn is_koki(&self, birth: NaiveDate) -> bool {
        cost_share::koki_start(birth) <= self.reference
    }

    // ---- one household ----

    fn household<WQ: Write, WC: Write>(
        &mut self,
        room: u64,
        qw: &mut QualificationCsvWriter<WQ>,
        cw: &mut CardOut<'_, WC>,
    ) -> Result<(), SynthError> {
        self.members.clear();
        self.n_units = 0;
        self.pref = self.weighted(Weights::Pref);
        self.city = self
            .rng
            .random_range(0..PREFECTURES[self.pref].cities.len());
        self.family = self.weighted(Weights::Family);
        self.build_address();
        self.build_members();
        self.build_units();
        let n = self
            .members
            .len()
            .min(usize::try_from(room).unwrap_or(usize::MAX));
        for m in 0..n {
            self.emit_member(m, qw, cw)?;
        }
        Ok(())
    }

    fn build_address(&mut self) {
        let pref = &PREFECTURES[self.pref];
        let (city, post3) = pref.cities[self.city];
        let town = TOWNS[self.rng.random_range(0..TOWNS.len())];
        self.address.clear();
        self.address.push_str(pref.name);
        self.address.push_str(city);
        self.address.push_str(town);
        push_fullwidth_num(&mut self.address, self.rng.random_range(1..=9));
        self.address.push_str("丁目");
        push_fullwidth_num(&mut self.address, self.rng.random_range(1..=30));
        self.address.push('番');
        push_fullwidth_num(&mut self.address, self.rng.random_range(1..=20));
        self.address.push('号');
        if self.chance(0.3) {
            self.address.push('　');
            self.address
                .push_str(BUILDINGS[self.rng.random_range(0..BUILDINGS.len())]);
            self.address.push_str(town);
            push_fullwidth_num(
                &mut self.address,
                u64::from(self.rng.random_range(1..=8u32)) * 100 + self.rng.random_range(1..=12),
            );
            self.address.push_str("号室");
        }
        self.post.clear();
        self.post.push_str(post3);
        push_num(&mut self.post, self.rng.random_range(0..10_000), 4);
    }

    fn build_members(&mut self) {
        let band = self.weighted(Weights::HeadAge);
        let head_age = if band == 20 {
            100 + self.rng.random_range(0..6)
        } else {
            band as u32 * 5 + self.rng.random_range(0..5)
        };
        // single, couple, couple with children, single parent
        let (p_single, p_couple, p_kids) = match head_age {
            ..25 => (0.80, 0.12, 0.08),
            25..30 => (0.55, 0.22, 0.20),
            30..40 => (0.30, 0.15, 0.48),
            40..50 => (0.25, 0.12, 0.55),
            50..60 => (0.25, 0.30, 0.40),
            60..65 => (0.28, 0.55, 0.17),
            65..75 => (0.32, 0.68, 0.0),
            _ => (0.50, 0.50, 0.0),
        };
        let x: f64 = self.rng.random();
        let (couple, kids) = if x < p_single {
            (false, false)
        } else if x < p_single + p_couple {
            (true, false)
        } else if x < p_single + p_couple + p_kids {
            (true, true)
        } else {
            (false, true)
        };
        let head_sex = match (couple, kids, head_age) {
            (true, _, _) => {
                if self.chance(0.92) {
                    Sex::Male
                } else {
                    Sex::Female
                }
            }
            (false, true, _) => {
                if self.chance(0.15) {
                    Sex::Male
                } else {
                    Sex::Female
                }
            }
            (false, false, a) => {
                let p_male = match a {
                    ..65 => 0.55,
                    65..85 => 0.40,
                    _ => 0.25,
                };
                if self.chance(p_male) {
                    Sex::Male
                } else {
                    Sex::Female
                }
            }
        };
        self.add_member(head_age, head_sex);
        self.has_spouse = couple;
        if couple {
            let delta: i32 = if head_sex == Sex::Male {
                self.rng.random_range(-6..=2)
            } else {
                self.rng.random_range(-2..=6)
            };
            let age = (head_age as i32 + delta).max(18) as u32;
            let sex = if head_sex == Sex::Male {
                Sex::Female
            } else {
                Sex::Male
            };
            self.add_member(age, sex);
        }
        if kids {
            let n = match self.rng.random_range(0..100) {
                0..40 => 1,
                40..82 => 2,
                _ => 3,
            };
            for _ in 0..n {
                let age = head_age as i32 - self.rng.random_range(23..=42);
                if (0..=22).contains(&age) {
                    let sex = if self.chance(0.512) {
                        Sex::Male
                    } else {
                        Sex::Female
                    };
                    self.add_member(age as u32, sex);
                }
            }
            if (35..=55).contains(&head_age) && self.chance(0.10) {
                let age = head_age + self.rng.random_range(25..=35);
                let sex = if self.chance(0.35) {
                    Sex::Male
                } else {
                    Sex::Female
                };
                self.add_member(age, sex);
            }
        }
    }

    /// Groups the members into insured units and sets each unit up.
    fn build_units(&mut self) {
        let head_birth = self.members[0].birth;
        let head_unit = if self.is_koki(head_birth) {
            let koki = self.ins.koki[self.pref];
            self.new_unit(0, koki)
        } else {
            let age = plain_age(head_birth, self.reference);
            let insurer = self.choose_insurer(age);
            self.new_unit(0, insurer)
        };
        let head_employee = self.ins.list[self.units[head_unit].insurer]
            .kind
            .is_employee();
        let head_koki = self.ins.list[self.units[head_unit].insurer].kind == Kind::Koki;
        for m in 1..self.members.len() {
            let birth = self.members[m].birth;
            let age = plain_age(birth, self.reference);
            if self.is_koki(birth) {
                let koki = self.ins.koki[self.pref];
                self.new_unit(m, koki);
            } else if m == 1 && self.has_spouse && head_employee && age < 60 && self.chance(0.45) {
                // A spouse with a job of their own.
                let insurer = self.choose_insurer(age);
                self.new_unit(m, insurer);
            } else if head_koki {
                let kokuho = self.ins.kokuho[self.pref][self.city];
                self.new_unit(m, kokuho);
            } else {
                self.join(m, head_unit);
            }
        }
        for u in 0..self.n_units {
            self.setup_unit(u);
        }
    }

    /// Employee insurance or 国保 by age, then which insurer.
    fn choose_insurer(&mut self, age: u32) -> usize {
        let p_employee = match age {
            ..60 => 0.85,
            60..65 => 0.65,
            65..70 => 0.40,
            _ => 0.20,
        };
        let p = self.pref;
        if self.chance(p_employee) {
            let x: f64 = self.rng.random();
            if x < 0.52 {
                self.ins.kyokai[p]
            } else if x < 0.85 {
                let local = self.ins.kumiai[p].len();
                if local > 0 && self.chance(0.6) {
                    self.ins.kumiai[p][self.rng.random_range(0..local)]
                } else {
                    self.ins.kumiai_all[self.rng.random_range(0..self.ins.kumiai_all.len())]
                }
            } else {
                match self.rng.random_range(0..100) {
                    0..35 => self.ins.koritsu[p],
                    35..65 => self.ins.shichoson[p],
                    65..75 => self.ins.keisatsu[p],
                    75..90 => self.ins.kokka[self.rng.random_range(0..self.ins.kokka.len())],
                    _ => self.ins.shigaku,
                }
            }
        } else if self.chance(0.08) {
            let local = self.ins.kokuho_kumiai[p].len();
            if local > 0 && self.chance(0.7) {
                self.ins.kokuho_kumiai[p][self.rng.random_range(0..local)]
            } else {
                let any = self.ins.kokuho_kumiai_any.len();
                self.ins.kokuho_kumiai_any[self.rng.random_range(0..any)]
            }
        } else {
            self.ins.kokuho[p][self.city]
        }
    }

    fn new_unit(&mut self, head: usize, insurer: usize) -> usize {
        if self.n_units == self.units.len() {
            self.units.push(Unit::default());
        }
        let u = self.n_units;
        self.n_units += 1;
        let unit = &mut self.units[u];
        unit.insurer = insurer;
        unit.head = head;
        unit.case = UnitCase::Normal;
        unit.history = false;
        unit.next_branch = 0;
        unit.size = 0;
        self.join(head, u);
        u
    }

    fn join(&mut self, m: usize, u: usize) {
        let unit = &mut self.units[u];
        self.members[m].unit = u;
        self.members[m].branch = unit.next_branch;
        unit.next_branch = unit.next_branch.saturating_add(1);
        unit.size += 1;
    }

    /// Quota: whether to give a unit of `size` persons `case`, keeping the case's persons at
    /// its share of all persons so far.
    fn quota(&mut self, case: SynthCase, size: u64) -> bool {
        let have = self.case_counts[case_slot(case)] as f64 + size as f64 / 2.0;
        let target = case.target_share() * (self.emitted + size) as f64;
        have <= target && self.chance(0.5)
    }

    fn setup_unit(&mut self, u: usize) {
        let r = self.reference;
        let head = self.units[u].head;
        let head_birth = self.members[head].birth;
        let insurer = self.units[u].insurer;
        let kind = self.ins.list[insurer].kind;
        let size = self.units[u].size;

        // Numbers and 事業所.
        let (mut symbol, mut number, mut employer) = (
            std::mem::take(&mut self.units[u].symbol),
            std::mem::take(&mut self.units[u].number),
            std::mem::take(&mut self.units[u].employer),
        );
        self.assign_numbers(insurer, &mut symbol, &mut number, &mut employer);
        let unit = &mut self.units[u];
        unit.symbol = symbol;
        unit.number = number;
        unit.employer = employer;

        // Qualification date of the 本人.
        let qdate = match kind {
            Kind::Koki => cost_share::koki_start(head_birth).max(cost_share::TABLE_FROM),
            k if k.is_employee() => {
                let earliest = years_after(head_birth, 18).max(years_after(r, -40));
                let span = days_between(earliest, sub_days(r, 1));
                add_days(earliest, self.rng.random_range(0..=span))
            }
            _ => {
                let earliest = head_birth.max(years_after(r, -30));
                let span = days_between(earliest, sub_days(r, 1));
                add_days(earliest, self.rng.random_range(0..=span))
            }
        };
        self.units[u].qdate = qdate;

        // The unit's case.
        let all_born_before = |g: &Generator, d: NaiveDate| {
            (0..g.members.len()).all(|m| g.members[m].unit != u || g.members[m].birth < d)
        };
        let lost_on = sub_days(r, self.rng.random_range(1..=45));
        let job_change_possible = kind.is_employee()
            && plain_age(head_birth, r) < 65
            && years_after(head_birth, 18) < sub_days(lost_on, 30)
            && all_born_before(self, sub_days(r, 60));
        let has_variant = FAMILY_NAMES[self.family].variant.is_some();
        let case = if self.quota(SynthCase::NoQualification, size) {
            UnitCase::NoQualification
        } else if job_change_possible && self.quota(SynthCase::JobChangerUnregistered, size) {
            UnitCase::JobChanger
        } else if has_variant && self.quota(SynthCase::KanjiVariant, size) {
            UnitCase::KanjiVariant
        } else {
            UnitCase::Normal
        };
        self.units[u].case = case;
        if case == UnitCase::JobChanger {
            // The only registered qualification ended on `lost_on`.
            let earliest = years_after(head_birth, 18).max(years_after(r, -40));
            let latest = sub_days(lost_on, 30);
            let span = days_between(earliest, latest);
            self.units[u].qdate = add_days(earliest, self.rng.random_range(0..=span));
            self.units[u].lost_on = lost_on;
        }

        // Income: 限度額適用区分 of the under-70s.
        self.units[u].limit = if self.chance(0.4) {
            None
        } else {
            Some(match self.rng.random_range(0..100) {
                0..50 => LimitClass::A03,
                50..75 => LimitClass::A04,
                75..85 => LimitClass::A02,
                85..90 => LimitClass::A01,
                _ => LimitClass::A05,
            })
        };
        let head_age = plain_age(head_birth, r);
        self.units[u].card_classification =
            if matches!(kind, Kind::Kumiai(_)) && (60..75).contains(&head_age) && self.chance(0.05)
            {
                "06" // 特例退職
            } else {
                "01"
            };

        // History: an older qualification, lost (reason 03) when the current one began.
        let qdate = self.units[u].qdate;
        let p_history = if kind == Kind::Koki {
            if qdate >= NaiveDate::from_ymd_opt(2021, 10, 20).unwrap_or(qdate) {
                0.7
            } else {
                0.1
            }
        } else {
            0.1
        };
        let adult = years_after(head_birth, 18);
        if case != UnitCase::JobChanger
            && case != UnitCase::NoQualification
            && add_days(adult, 60) < qdate
            && self.chance(p_history)
        {
            let old = self.choose_old_insurer(insurer, kind);
            let span = days_between(adult, sub_days(qdate, 30)).min(15 * 365);
            let old_from = sub_days(qdate, 30 + self.rng.random_range(0..=span));
            let (mut s, mut n, mut e) = (
                std::mem::take(&mut self.units[u].old_symbol),
                std::mem::take(&mut self.units[u].old_number),
                std::mem::take(&mut self.units[u].old_employer),
            );
            self.assign_numbers(old, &mut s, &mut n, &mut e);
            let unit = &mut self.units[u];
            unit.old_symbol = s;
            unit.old_number = n;
            unit.old_employer = e;
            unit.old_insurer = old;
            unit.old_from = old_from.max(adult);
            unit.history = unit.old_from < qdate;
        }
    }

    fn choose_old_insurer(&mut self, current: usize, kind: Kind) -> usize {
        let p = self.pref;
        let kyokai = self.ins.kyokai[p];
        let kokuho = self.ins.kokuho[p][self.city];
        let kumiai = self.ins.kumiai_all[self.rng.random_range(0..self.ins.kumiai_all.len())];
        let pick = match kind {
            Kind::Koki => {
                if self.chance(0.85) {
                    kokuho
                } else {
                    kyokai
                }
            }
            Kind::Kokuho | Kind::KokuhoKumiai(_) => {
                if self.chance(0.7) {
                    kyokai
                } else {
                    kumiai
                }
            }
            _ => match self.rng.random_range(0..10) {
                0..5 => kyokai,
                5..8 => kumiai,
                _ => kokuho,
            },
        };
        if pick == current {
            if current == kyokai { kokuho } else { kyokai }
        } else {
            pick
        }
    }

    /// Hands out the next insured number of `insurer`, with a symbol and 事業所 of its kind.
    fn assign_numbers(
        &mut self,
        insurer: usize,
        symbol: &mut String,
        number: &mut String,
        employer: &mut String,
    ) {
        symbol.clear();
        number.clear();
        employer.clear();
        let pref = &PREFECTURES[self.pref];
        let (city, _) = pref.cities[self.city];
        let town = TOWNS[self.rng.random_range(0..TOWNS.len())];
        let ins = &mut self.ins.list[insurer];
        ins.issued += 1;
        let issued = ins.issued;
        let kind = ins.kind;
        match kind {
            Kind::Kyokai => {
                // 事業所記号 (8 digits) and name from a per-prefecture employer id.
                let id = self.rng.random_range(0..2400u64);
                push_num(symbol, 10_000_000 + id * 4099 % 9_000_000, 8);
                let form = id % 4;
                let biz = BUSINESSES[(id / 4 % 20) as usize];
                let pre = COMPANY_PREFIXES[(id / 80 % 30) as usize];
                match form {
                    0 | 1 => {
                        employer.push_str("株式会社");
                        employer.push_str(pre);
                        employer.push_str(biz);
                    }
                    2 => {
                        employer.push_str("有限会社");
                        employer.push_str(pre);
                        employer.push_str(biz);
                    }
                    _ => {
                        employer.push_str(pre);
                        employer.push_str(biz);
                        employer.push_str("株式会社");
                    }
                }
                push_num(number, issued, 1);
            }
            Kind::Kumiai(k) => {
                let office = self.rng.random_range(1..=40u64);
                push_num(symbol, office, 1);
                employer.push_str(KUMIAI_COMPANIES[k].0);
                employer.push_str("株式会社");
                if office == 1 || self.chance(0.4) {
                    employer.push_str("　本社");
                } else {
                    employer.push('　');
                    employer.push_str(city.trim_end_matches(['市', '区']));
                    employer.push_str("支店");
                }
                push_num(number, issued, 1);
            }
            Kind::KokkaKyosai(k) => {
                push_num(symbol, self.rng.random_range(100..1000), 3);
                employer.push_str(KOKKA_KYOSAI[k].1);
                push_num(number, issued, 6);
            }
            Kind::KoritsuGakko => {
                push_num(symbol, self.rng.random_range(100..1000), 3);
                match self.rng.random_range(0..3) {
                    0 => {
                        employer.push_str(city);
                        employer.push('立');
                        employer.push_str(town);
                        employer.push_str("小学校");
                    }
                    1 => {
                        employer.push_str(city);
                        employer.push('立');
                        employer.push_str(town);
                        employer.push_str("中学校");
                    }
                    _ => {
                        employer.push_str(pref.name);
                        employer.push('立');
                        employer.push_str(town);
                        employer.push_str("高等学校");
                    }
                }
                push_num(number, issued, 6);
            }
            Kind::Shichoson => {
                push_num(symbol, self.rng.random_range(100..1000), 3);
                employer.push_str(city);
                employer.push_str("役所");
                push_num(number, issued, 6);
            }
            Kind::Keisatsu => {
                push_num(symbol, self.rng.random_range(10..100), 2);
                if pref.code == 13 {
                    employer.push_str("警視庁");
                } else {
                    employer.push_str(pref.name);
                    employer.push_str("警察本部");
                }
                push_num(number, issued, 6);
            }
            Kind::Shigaku => {
                push_num(symbol, self.rng.random_range(1000..10000), 4);
                employer.push_str("学校法人");
                employer
                    .push_str(COMPANY_PREFIXES[self.rng.random_range(0..COMPANY_PREFIXES.len())]);
                employer.push_str("学園");
                push_num(number, issued, 6);
            }
            Kind::Koki => push_num(number, 10_000_000 + issued, 8),
            Kind::Kokuho => {
                // 国保 symbols are often printed in full width.
                symbol.push('０');
                push_fullwidth_num(symbol, self.rng.random_range(1..10));
                push_num(number, issued, 7);
            }
            Kind::KokuhoKumiai(k) => {
                push_num(symbol, self.rng.random_range(1..=30), 2);
                let family = FAMILY_NAMES[self.rng.random_range(0..FAMILY_NAMES.len())].kanji;
                let template = KOKUHO_KUMIAI[k].2;
                let (before, after) = template.split_once("{family}").unwrap_or((template, ""));
                employer.push_str(before);
                employer.push_str(family);
                employer.push_str(after);
                push_num(number, issued, 6);
            }
        }
    }

    // ---- writing ----

    fn emit_member<WQ: Write, WC: Write>(
        &mut self,
        m: usize,
        qw: &mut QualificationCsvWriter<WQ>,
        cw: &mut CardOut<'_, WC>,
    ) -> Result<(), SynthError> {
        let index = self.emitted;
        self.emitted += 1;
        let r = self.reference;
        let member = self.members[m];
        let u = member.unit;
        let unit_case = self.units[u].case;
        let case = match unit_case.synth_case() {
            Some(c) => c,
            None => {
                let x: f64 = self.rng.random();
                self.card_thresholds
                    .iter()
                    .find(|(t, _)| x < *t)
                    .map_or(SynthCase::Regular, |&(_, c)| c)
            }
        };
        self.case_counts[case_slot(case)] += 1;
        let age = plain_age(member.birth, r);
        if age == 0 {
            self.summary.newborns += 1;
        }
        if age >= 100 {
            self.summary.centenarians += 1;
        }
        self.set_my_number(index);
        if m == self.units[u].head && unit_case != UnitCase::NoQualification {
            self.summary.families += 1;
        }

        // Qualification rows.
        let has_card = case != SynthCase::NoCard;
        match unit_case {
            UnitCase::NoQualification => {}
            UnitCase::JobChanger => {
                let from = self.units[u].qdate.max(member.birth);
                let to = self.units[u].lost_on;
                self.write_row(m, RowKind::Lost { from, to }, has_card, qw)?;
            }
            UnitCase::Normal | UnitCase::KanjiVariant => {
                let qdate = self.units[u].qdate;
                if self.units[u].history && member.birth < qdate {
                    let from = self.units[u].old_from.max(member.birth);
                    if from < qdate {
                        self.write_row(m, RowKind::Old { from, to: qdate }, has_card, qw)?;
                        self.summary.persons_with_history += 1;
                    }
                }
                self.write_row(
                    m,
                    RowKind::Current {
                        from: qdate.max(member.birth),
                    },
                    has_card,
                    qw,
                )?;
            }
        }

        // Card.
        if case != SynthCase::NoCard {
            self.write_card(m, index, case, cw)?;
        }
        self.note_example(m, case);
        Ok(())
    }

    fn set_my_number(&mut self, index: u64) {
        let v = ((u128::from(index) * u128::from(MY_NUMBER_MULTIPLIER)
            + u128::from(self.my_number_offset))
            % u128::from(MY_NUMBER_SPACE)) as u64;
        let mut first = [0u8; 11];
        let mut x = v;
        for d in first.iter_mut().rev() {
            *d = (x % 10) as u8;
            x /= 10;
        }
        self.my_number.clear();
        for d in first {
            self.my_number.push(char::from(b'0' + d));
        }
        self.my_number
            .push(char::from(b'0' + my_number_check_digit(&first)));
    }

    fn push_name(&self, s: &mut String, m: usize, registered: bool) {
        let fam = &FAMILY_NAMES[self.family];
        let variant = registered && self.units[self.members[m].unit].case == UnitCase::KanjiVariant;
        s.push_str(if variant {
            fam.variant.unwrap_or(fam.kanji)
        } else {
            fam.kanji
        });
        s.push('　');
        s.push_str(self.members[m].given.0);
    }

    fn push_kana(&self, s: &mut String, m: usize) {
        s.push_str(FAMILY_NAMES[self.family].kana);
        s.push('　');
        s.push_str(self.members[m].given.1);
    }

    fn write_row<WQ: Write>(
        &mut self,
        m: usize,
        kind: RowKind,
        has_card: bool,
        qw: &mut QualificationCsvWriter<WQ>,
    ) -> Result<(), SynthError> {
        let r = self.reference;
        let member = self.members[m];
        let u = member.unit;
        let mut row = std::mem::take(&mut self.qrow);
        row.clear();
        let unit = &self.units[u];
        let (insurer, symbol, number, employer) = match kind {
            RowKind::Old { .. } => (
                unit.old_insurer,
                &unit.old_symbol,
                &unit.old_number,
                &unit.old_employer,
            ),
            _ => (unit.insurer, &unit.symbol, &unit.number, &unit.employer),
        };
        let ins = &self.ins.list[insurer];
        row.my_number.push_str(&self.my_number);
        row.insurer_number.push_str(&ins.number);
        row.insurer_name.push_str(&ins.name);
        row.card_classification.push_str(unit.card_classification);
        row.symbol.push_str(symbol);
        row.number.push_str(number);
        push_num(&mut row.branch, u64::from(member.branch), 2);
        row.family_class
            .push_str(if m == unit.head { "1" } else { "2" });
        self.push_name(&mut row.insured_name, unit.head, true);
        self.push_name(&mut row.name, m, true);
        self.push_kana(&mut row.name_kana, m);
        row.sex.push_str(member.sex.code());
        push_date(&mut row.birthdate, member.birth);
        row.post_number.push_str(&self.post);
        row.address.push_str(&self.address);
        row.employer.push_str(employer);

        let (from, to, at) = match kind {
            RowKind::Current { from } => (from, None, r),
            RowKind::Old { from, to } | RowKind::Lost { from, to } => {
                (from, Some(to), sub_days(to, 1))
            }
        };
        push_date(&mut row.qualification_date, from);
        if let Some(to) = to {
            push_date(&mut row.disqualification_date, to);
            row.reason_of_loss.push_str("03");
        }

        // Share, 高齢受給者, 限度額, 未就学 as on `at` (today, or the last day of a lost one).
        let bracket = cost_share::age_bracket(member.birth, at).unwrap_or(AgeBracket::School);
        let current = matches!(kind, RowKind::Current { .. });
        let limit = unit.limit;
        match bracket {
            AgeBracket::Preschool => {
                row.contribution_ratio.push_str("020");
                row.preschool.push('1');
                push_limit(&mut row.limit_class, limit);
            }
            AgeBracket::School => {
                row.contribution_ratio.push_str("030");
                push_limit(&mut row.limit_class, limit);
            }
            AgeBracket::Elderly70To74 => {
                let (ratio, class) = if self.chance(0.15) {
                    (
                        "030",
                        self.pick(&[LimitClass::B01, LimitClass::B02, LimitClass::B03]),
                    )
                } else {
                    let x = self.rng.random_range(0..100);
                    (
                        "020",
                        if x < 75 {
                            LimitClass::B04
                        } else if x < 90 {
                            LimitClass::B05
                        } else {
                            LimitClass::B06
                        },
                    )
                };
                row.contribution_ratio.push_str(ratio);
                if current {
                    row.elderly_ratio.push_str(ratio);
                    let from = cost_share::elderly_start(member.birth).max(self.cycle_start);
                    let to = sub_days(cost_share::koki_start(member.birth), 1).min(self.cycle_end);
                    push_date(&mut row.elderly_valid_from, from);
                    push_date(&mut row.elderly_valid_to, to.max(from));
                }
                row.limit_class.push_str(class.code());
            }
            AgeBracket::Koki75 => {
                let x = self.rng.random_range(0..100);
                let (ratio, class) = if x < 70 {
                    let y = self.rng.random_range(0..100);
                    (
                        "010",
                        if y < 70 {
                            LimitClass::B10
                        } else if y < 85 {
                            LimitClass::B05
                        } else if y < 97 {
                            LimitClass::B06
                        } else {
                            LimitClass::B07
                        },
                    )
                } else if x < 92 {
                    ("020", LimitClass::B09)
                } else {
                    (
                        "030",
                        self.pick(&[LimitClass::B01, LimitClass::B02, LimitClass::B03]),
                    )
                };
                row.contribution_ratio.push_str(ratio);
                row.limit_class.push_str(class.code());
            }
        }
        // Details, drawn from a hash of the row (not the random stream, so the rest of the
        // population does not change with them).
        let h = mix(self.emitted.wrapping_mul(0x9E37_79B9)
            ^ u64::from(member.branch)
            ^ u64::try_from(from.num_days_from_ce()).unwrap_or(0));
        let per_10k = h % 10_000;
        if current && per_10k < 30 {
            // 0.3 %: another registered name (a former family name used as 通称)
            let other = &FAMILY_NAMES[(h >> 16) as usize % FAMILY_NAMES.len()];
            row.name_of_other.push_str(other.kanji);
            row.name_of_other.push('　');
            row.name_of_other.push_str(self.members[m].given.0);
            row.name_of_other_kana.push_str(other.kana);
            row.name_of_other_kana.push('　');
            row.name_of_other_kana.push_str(self.members[m].given.1);
        }
        if current && (30..32).contains(&per_10k) {
            // 0.02 %: 性別2 registered
            row.sex2
                .push_str(if member.sex.code() == "1" { "2" } else { "1" });
        }
        if !row.elderly_valid_from.is_empty() {
            let valid_from =
                onshi_domain::wareki::parse_yyyymmdd(&row.elderly_valid_from).unwrap_or(from);
            push_date(
                &mut row.elderly_certificate_date,
                sub_days(valid_from, 14).max(from),
            );
        }
        let low_income = matches!(
            row.limit_class.as_str(),
            "B05" | "B06" | "B07" | "B08" | "A05" | "A06"
        );
        let certificate = if low_income && (h >> 20) % 100 < 60 {
            // a 限度額適用・標準負担額減額認定証 (meals at the reduced rate in hospital)
            Some("02")
        } else if !row.limit_class.is_empty() && (h >> 20) % 100 < 2 {
            Some("01")
        } else {
            None
        };
        if let Some(c) = certificate
            && current
        {
            // valid for the August–July year, issued a week before (not before the qualification)
            row.limit_certificate_classification.push_str(c);
            let valid_from = self.cycle_start.max(from);
            push_date(
                &mut row.limit_certificate_date,
                sub_days(valid_from, 7).max(from),
            );
            push_date(&mut row.limit_valid_from, valid_from);
            push_date(&mut row.limit_valid_to, self.cycle_end.max(valid_from));
        }
        // 特定疾病療養受療証: 人工透析 about 0.2 % of the young, 0.8 % of 70+; 血友病 0.005 %,
        // HIV 0.02 %
        let dialysis: u64 = if matches!(bracket, AgeBracket::Koki75 | AgeBracket::Elderly70To74) {
            800
        } else {
            200
        };
        let per_100k = (h >> 32) % 100_000;
        let disease = if per_100k < dialysis {
            Some((
                "1",
                if (h >> 8).is_multiple_of(10) {
                    20_000
                } else {
                    10_000
                },
            ))
        } else if per_100k < dialysis + 5 {
            Some(("2", 10_000))
        } else if per_100k < dialysis + 25 {
            Some(("3", 10_000))
        } else {
            None
        };
        if let Some((category, self_pay)) = disease
            && current
        {
            let since = add_days(from, (h >> 40) % 3000).min(r);
            let since = NaiveDate::from_ymd_opt(since.year(), since.month(), 1)
                .unwrap_or(since)
                .max(from);
            use std::fmt::Write as _;
            let _ = write!(row.specific_diseases, "{category}:");
            push_date(&mut row.specific_diseases, sub_days(since, 10).max(from));
            row.specific_diseases.push(':');
            push_date(&mut row.specific_diseases, since);
            let _ = write!(row.specific_diseases, "::{self_pay}");
        }

        let card = card_dates(
            self.ins.list[insurer].kind,
            from,
            at,
            has_card,
            self.emitted,
        );
        push_date(&mut row.card_issuance_date, card.issued_on);
        push_date(&mut row.card_valid_from, card.valid_from);
        if let Some(to) = card.valid_to {
            push_date(&mut row.card_valid_to, to);
        }
        // R23: when the insurer registered the qualification in the OQS. The registrations
        // began with the OQS (qualifications from before came with its initial load: no date
        // given); an insurer registers before it issues the card, except that after a job
        // change the new insurer sometimes registers late, days or weeks after the card was
        // sent. From the same row hash (not the random stream).
        if from >= ymd(OQS_REGISTRATIONS) {
            // the person's earlier qualification was written, ending the day this one began
            let job_change =
                current && self.units[u].history && self.units[u].old_from.max(member.birth) < from;
            let late = job_change && (h >> 52) % 100 < LATE_REGISTRATION_PERCENT;
            let registered = if late {
                add_days(card.issued_on, 3 + (h >> 44) % 38).min(r)
            } else {
                sub_days(card.issued_on, (h >> 44) % 5)
                    .max(sub_days(from, 10))
                    .min(r)
            };
            push_date(&mut row.registration_date, registered);
        }
        let res = qw.write(&row);
        self.qrow = row;
        res?;
        self.summary.qualification_rows += 1;
        Ok(())
    }

    fn pick(&mut self, from: &[LimitClass]) -> LimitClass {
        from[self.rng.random_range(0..from.len())]
    }

    fn write_card<WC: Write>(
        &mut self,
        m: usize,
        index: u64,
        case: SynthCase,
        cw: &mut CardOut<'_, WC>,
    ) -> Result<(), SynthError> {
        let r = self.reference;
        let member = self.members[m];
        let mut row = std::mem::take(&mut self.crow);
        row.clear();
        row.my_number.push_str(&self.my_number);
        push_card_serial(&mut row.card_serial, self.serial_offset, index);
        if case != SynthCase::PinLess {
            push_num(&mut row.pin, self.rng.random_range(0..10_000), 4);
        }
        let expiry = match case {
            SynthCase::CertExpiredInGrace => {
                let span = days_between(self.grace_start, sub_days(r, 1));
                add_days(self.grace_start, self.rng.random_range(0..=span))
            }
            SynthCase::CertExpiredPastGrace => {
                sub_days(self.grace_start, self.rng.random_range(1..=730))
            }
            _ => {
                // The certificate runs to a birthday within the next five years.
                let mut e = years_after(
                    member.birth,
                    r.year() - member.birth.year() + self.rng.random_range(0..5),
                );
                if e <= r {
                    e = years_after(e, 1);
                }
                e
            }
        };
        push_date(&mut row.cert_expiry, expiry);
        row.status.push_str(
            match case {
                SynthCase::Revoked => CardStatusCode::Revoked,
                SynthCase::ChipBroken => CardStatusCode::ChipBroken,
                SynthCase::PinLocked => CardStatusCode::PinLocked,
                _ => CardStatusCode::Active,
            }
            .code(),
        );
        self.push_name(&mut row.name, m, false);
        self.push_kana(&mut row.name_kana, m);
        row.sex.push_str(member.sex.code());
        push_date(&mut row.birthdate, member.birth);
        row.address.push_str(&self.address);
        let res = cw.write(&row);
        self.crow = row;
        res?;
        self.summary.card_rows += 1;
        Ok(())
    }

    fn note_example(&mut self, m: usize, case: SynthCase) {
        let slot = case_slot(case);
        if self.examples_per_case[slot] >= EXAMPLES_PER_CASE {
            return;
        }
        self.examples_per_case[slot] += 1;
        let member = self.members[m];
        let unit = &self.units[member.unit];
        let mut name = String::new();
        self.push_name(&mut name, m, false);
        let mut name_kana = String::new();
        self.push_kana(&mut name_kana, m);
        let registered = unit.case != UnitCase::NoQualification;
        let has_card = case != SynthCase::NoCard;
        self.summary.examples.push(SynthExample {
            case,
            card_serial: has_card.then(|| self.crow.card_serial.clone()),
            pin: (has_card && !self.crow.pin.is_empty()).then(|| self.crow.pin.clone()),
            name,
            name_kana,
            birthdate: member.birth,
            insurer_number: registered.then(|| self.ins.list[unit.insurer].number.clone()),
            symbol: if registered {
                unit.symbol.clone()
            } else {
                String::new()
            },
            number: if registered {
                unit.number.clone()
            } else {
                String::new()
            },
            branch: if registered {
                format!("{:02}", member.branch)
            } else {
                String::new()
            },
        });
    }
}

/// The first day of the insurers' registrations in the OQS (the initial load of the
/// qualifications then valid came with it).
const OQS_REGISTRATIONS: (i32, u32, u32) = (2021, 3, 1);
/// Of the qualifications begun on a job change, the percent the new insurer registered after
/// it had issued the card / 資格確認書 (R23).
const LATE_REGISTRATION_PERCENT: u64 = 40;

/// The day no new insurance cards were issued any more (資格確認書 instead).
const NO_NEW_CARDS: (i32, u32, u32) = (2024, 12, 2);
/// The first day without any valid insurance card (they were valid to 2025-12-01 at the
/// latest), and the day 後期高齢者 cards had expired (2025-07-31) and 資格確認書 were sent to
/// every 後期 insured ex officio.
const CARDS_GONE: (i32, u32, u32) = (2025, 12, 2);
const KOKI_KAKUNINSHO: (i32, u32, u32) = (2025, 8, 1);

fn ymd((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// The card / 資格確認書 dates of one synthetic qualification.
struct SynthCardDates {
    issued_on: NaiveDate,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
}

/// The dates the insurer registered for the card of a qualification from `from`, as on `at`
/// (today for a current one, its last day for a lost one), by the dated facts:
/// - begun before 2024-12-02: the insurance card issued then, valid from the qualification
///   date with no end printed — unless, by `at`, the cards had gone (2025-12-02; 後期
///   2025-08-01) and the person needs a 資格確認書 (no My Number card, or 後期 ex officio);
/// - a 資格確認書 is valid for one year to 31 July (後期, 国保) or five years (被用者保険) and is
///   issued two weeks before it is valid (sent by post);
/// - a holder of a My Number card gets the 資格情報のお知らせ: valid from the qualification
///   date, no end, issued a few days after it.
///
/// `salt` spreads the issue days (no draw from the random stream, so the rest of the
/// population does not change with this rule).
fn card_dates(
    kind: Kind,
    from: NaiveDate,
    at: NaiveDate,
    has_card: bool,
    salt: u64,
) -> SynthCardDates {
    let koki = matches!(kind, Kind::Koki);
    let yearly = koki || matches!(kind, Kind::Kokuho | Kind::KokuhoKumiai(_));
    let gone = if koki {
        ymd(KOKI_KAKUNINSHO)
    } else {
        ymd(CARDS_GONE)
    };
    let spread = salt % 14;
    let kakuninsho = (koki || !has_card) && (from >= ymd(NO_NEW_CARDS) || at >= gone);
    if kakuninsho {
        let start = if from >= ymd(NO_NEW_CARDS) {
            from
        } else {
            from.max(gone)
        };
        let (valid_from, valid_to) = if yearly {
            // renewed every August: the one valid on `at`
            let year = if at.month() >= 8 {
                at.year()
            } else {
                at.year() - 1
            };
            let cycle = NaiveDate::from_ymd_opt(year, 8, 1).unwrap_or(start);
            let end = NaiveDate::from_ymd_opt(year + 1, 7, 31).unwrap_or(start);
            (start.max(cycle), end)
        } else {
            (start, sub_days(years_after(start, 5), 1))
        };
        return SynthCardDates {
            issued_on: sub_days(valid_from, 14).max(from),
            valid_from,
            valid_to: Some(valid_to.max(valid_from)),
        };
    }
    let issued_on = if from >= ymd(NO_NEW_CARDS) {
        add_days(from, 3 + spread)
    } else {
        add_days(from, spread)
    };
    SynthCardDates {
        issued_on,
        valid_from: from,
        valid_to: None,
    }
}

fn push_limit(s: &mut String, limit: Option<LimitClass>) {
    if let Some(l) = limit {
        s.push_str(l.code());
    }
}

#[derive(Clone, Copy)]
enum RowKind {
    /// The current qualification.
    Current { from: NaiveDate },
    /// An older qualification, lost when the current one began.
    Old { from: NaiveDate, to: NaiveDate },
    /// A job changer's only qualification, lost recently.
    Lost { from: NaiveDate, to: NaiveDate },
}

#[derive(Clone, Copy)]
enum Weights {
    Pref,
    Family,
    HeadAge,
}
