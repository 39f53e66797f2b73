//! A synthetic population for onshi: the two registry files (`docs/formats/registry-csv.md`)
//! for any number of people, written row by row.
//!
//! [`generate`] streams households — an insured person (本人) with dependents (家族) sharing
//! insurer, symbol and number with 枝番 00, 01, 02 …, spouses with their own job and insurer,
//! the 75+ each in their prefecture's 後期高齢者医療広域連合 — to a qualifications writer and a
//! cards writer. Memory does not depend on the number of people; the same seed gives
//! byte-identical files.
//!
//! The population is built around a reference date (the "today" of a demo) and holds, in
//! documented shares, the cases the notices are about ([`SynthCase`]): job changers whose new
//! insurer has not registered yet (資格（無効）, R5/R6), cardholders with nothing registered
//! (資格情報なし), PIN-less cards (R2), expired certificates inside and past the 3-month grace,
//! locked PINs, revoked cards, broken chips, people without a card, and qualification rows that
//! spell the family name with an 異体字 (髙/高, 﨑/崎, 邊/辺, 齋/斎) so that the importer's
//! name-mismatch warning has something to find. [`SynthSummary::examples`] lists a few cards per
//! case to try at the emulated reader.
//!
//! Randomness comes from `rand`'s `SmallRng` seeded with [`SynthConfig::seed`]. That algorithm
//! is not promised to stay the same across `rand` versions: the same seed gives the same files
//! with the same build, not necessarily after a dependency upgrade.

mod generator;
mod insurers;
pub mod medinfo;
mod tables;
mod text;

use std::collections::BTreeMap;

use chrono::NaiveDate;

pub use generator::{CardKeys, card_serial, generate, generate_with_keys};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthConfig {
    /// Number of people (every person is one or more qualification rows and at most one card).
    pub persons: u64,
    pub seed: u64,
    /// The "today" the population is designed around (ages, the recent job changes, the
    /// certificates that just expired), e.g. 2026-11-25.
    pub reference_date: NaiveDate,
}

/// The situation a person is in, as seen at the reception desk on the reference date. Each
/// person is in exactly one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SynthCase {
    /// A card with a PIN, a valid qualification: 資格（有効）.
    Regular,
    /// Qualification rows only, no card (confirmation by the numbers of the 資格確認書).
    NoCard,
    /// A card with no PIN set (顔認証マイナンバーカード, R2).
    PinLess,
    /// 利用者証明用電子証明書 expired, but within the grace to the end of the 3rd month after
    /// the expiry month: confirmation still works.
    CertExpiredInGrace,
    /// Certificate expired and past the grace: the card cannot be used (R8).
    CertExpiredPastGrace,
    /// PIN locked after 3 wrong entries: face or visual confirmation only.
    PinLocked,
    /// Certificate revoked.
    Revoked,
    /// IC chip unreadable (R8).
    ChipBroken,
    /// Changed jobs; the only registered qualification was lost recently (reason 03) and the
    /// new insurer has not registered yet: 資格（無効） with the old numbers (R5, R6).
    JobChangerUnregistered,
    /// A card but nothing registered: 資格情報なし (R5).
    NoQualification,
    /// The insurer registered the family name with an 異体字 (髙橋 where the card says 高橋):
    /// the import warns, the confirmation works.
    KanjiVariant,
}

impl SynthCase {
    pub const ALL: [SynthCase; 11] = [
        SynthCase::Regular,
        SynthCase::NoCard,
        SynthCase::PinLess,
        SynthCase::CertExpiredInGrace,
        SynthCase::CertExpiredPastGrace,
        SynthCase::PinLocked,
        SynthCase::Revoked,
        SynthCase::ChipBroken,
        SynthCase::JobChangerUnregistered,
        SynthCase::NoQualification,
        SynthCase::KanjiVariant,
    ];

    /// A stable snake_case id.
    pub fn id(self) -> &'static str {
        match self {
            SynthCase::Regular => "regular",
            SynthCase::NoCard => "no_card",
            SynthCase::PinLess => "pin_less",
            SynthCase::CertExpiredInGrace => "cert_expired_in_grace",
            SynthCase::CertExpiredPastGrace => "cert_expired_past_grace",
            SynthCase::PinLocked => "pin_locked",
            SynthCase::Revoked => "revoked",
            SynthCase::ChipBroken => "chip_broken",
            SynthCase::JobChangerUnregistered => "job_changer_unregistered",
            SynthCase::NoQualification => "no_qualification",
            SynthCase::KanjiVariant => "kanji_variant",
        }
    }

    /// What the desk should see, in a few words.
    pub fn expectation(self) -> &'static str {
        match self {
            SynthCase::Regular => "資格（有効）; PIN or face authentication",
            SynthCase::NoCard => "no card: confirm by the numbers (照会区分 2)",
            SynthCase::PinLess => "PIN-less card: face or visual confirmation only (R2)",
            SynthCase::CertExpiredInGrace => {
                "certificate expired, still usable within the 3-month grace"
            }
            SynthCase::CertExpiredPastGrace => {
                "certificate expired past the grace: card unusable (R8)"
            }
            SynthCase::PinLocked => "PIN locked: face or visual confirmation",
            SynthCase::Revoked => "certificate revoked: card unusable",
            SynthCase::ChipBroken => "IC chip unreadable (R8)",
            SynthCase::JobChangerUnregistered => {
                "資格（無効） with the lost qualification (R5, R6)"
            }
            SynthCase::NoQualification => "資格情報なし (R5)",
            SynthCase::KanjiVariant => {
                "資格（有効）; registered name uses an 異体字 (import warning)"
            }
        }
    }

    /// The share of persons aimed at (the rest is [`SynthCase::Regular`]).
    pub fn target_share(self) -> f64 {
        match self {
            SynthCase::Regular => {
                1.0 - SynthCase::ALL[1..]
                    .iter()
                    .map(|c| c.target_share())
                    .sum::<f64>()
            }
            SynthCase::NoCard => 0.20,
            SynthCase::PinLess => 0.05,
            SynthCase::CertExpiredInGrace => 0.012,
            SynthCase::CertExpiredPastGrace => 0.008,
            SynthCase::PinLocked => 0.005,
            SynthCase::Revoked => 0.002,
            SynthCase::ChipBroken => 0.002,
            SynthCase::JobChangerUnregistered => 0.01,
            SynthCase::NoQualification => 0.005,
            SynthCase::KanjiVariant => 0.001,
        }
    }
}

/// A person to try at the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthExample {
    pub case: SynthCase,
    /// `None` for [`SynthCase::NoCard`].
    pub card_serial: Option<String>,
    /// `None` for a PIN-less card or no card.
    pub pin: Option<String>,
    pub name: String,
    pub name_kana: String,
    pub birthdate: NaiveDate,
    /// The qualification the desk should get (the lost one for a job changer); `None` when
    /// nothing is registered.
    pub insurer_number: Option<String>,
    pub symbol: String,
    pub number: String,
    pub branch: String,
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthSummary {
    pub persons: u64,
    pub qualification_rows: u64,
    pub card_rows: u64,
    /// Insured units (a 本人 and their dependents) with at least one registered row.
    pub families: u64,
    /// Persons with an older, lost qualification before the current one.
    pub persons_with_history: u64,
    /// Persons per case; every case is present, possibly with 0.
    pub cases: BTreeMap<SynthCase, u64>,
    /// Persons under one year old on the reference date.
    pub newborns: u64,
    /// Persons 100 or older on the reference date.
    pub centenarians: u64,
    /// Up to 10 examples per case, the first ones generated.
    pub examples: Vec<SynthExample>,
}

impl SynthSummary {
    pub fn count(&self, case: SynthCase) -> u64 {
        self.cases.get(&case).copied().unwrap_or(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("writing the generated files: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Most persons [`generate`] accepts (the My Numbers and card serials are bijections of the
/// person's index and need room).
pub const MAX_PERSONS: u64 = 10_000_000_000;
