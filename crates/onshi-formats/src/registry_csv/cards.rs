//! The cards file: one row per issued My Number card, with the holder's facts as on the card
//! and the state of its 利用者証明用電子証明書.
//!
//! Row rules (each names its [`rule`] id in the error):
//! - `my_number` with a matching check digit (`check_digit`);
//! - `card_serial` 1–32 ASCII letters or digits; `pin` empty (a PIN-less card,
//!   顔認証マイナンバーカード, R2) or exactly 4 digits (`format`);
//! - `cert_expiry` a `YYYYMMDD` date; `status` one of `active`, `revoked`, `chip_broken`,
//!   `pin_locked` (`unknown_code`); `pin_locked` only on a card with a PIN (`only_with`);
//! - `name`, `name_kana` (in kana), `sex` (OQSCD007), `birthdate` required; `address`
//!   optional;
//! - `cert_public_key` optional: the certificate's ed25519 public key as its issuer gives it,
//!   64 hex digits (`format`). A file may end before this column (the format before it was
//!   added); empty or absent, the importer derives the key from the card world's secret.
//!
//! The file holds PINs in clear because it sets up the emulated cards (the "physical" side,
//! where a real PIN lives on the chip). Messages never repeat a PIN or a 個人番号, and
//! [`CardRecord`]'s `Debug` hides both.

use std::fmt;
use std::io::{self, Read, Write};

use chrono::NaiveDate;
use onshi_domain::numbers::{MyNumber, Sex};

use super::fields::{self, Fault, Fields, Opt};
use super::source::{RecordSource, UnparsedRow, UnparsedRows, quote};
use super::{RowError, rule};

/// The cards file's header, in order.
pub const CARD_COLUMNS: [&str; 11] = [
    "my_number",
    "card_serial",
    "pin",
    "cert_expiry",
    "status",
    "name",
    "name_kana",
    "sex",
    "birthdate",
    "address",
    "cert_public_key",
];

/// The columns a cards file must have (the ones after are optional: a file may end before
/// them).
pub const CARD_COLUMNS_REQUIRED: usize = 10;

const MY_NUMBER: usize = 0;
const CARD_SERIAL: usize = 1;
const PIN: usize = 2;
const CERT_EXPIRY: usize = 3;
const STATUS: usize = 4;
const NAME: usize = 5;
const NAME_KANA: usize = 6;
const SEX: usize = 7;
const BIRTHDATE: usize = 8;
const ADDRESS: usize = 9;
const CERT_PUBLIC_KEY: usize = 10;

/// A card's state as the file gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardStatusCode {
    /// In use.
    Active,
    /// 失効: the certificate was revoked.
    Revoked,
    /// The IC chip cannot be read (R8).
    ChipBroken,
    /// Certificate active, but the chip's PIN locked after 3 wrong entries (reset only at the
    /// municipality). Only for a card with a PIN.
    PinLocked,
}

impl CardStatusCode {
    pub const ALL: [CardStatusCode; 4] = [
        CardStatusCode::Active,
        CardStatusCode::Revoked,
        CardStatusCode::ChipBroken,
        CardStatusCode::PinLocked,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CardStatusCode::Active => "active",
            CardStatusCode::Revoked => "revoked",
            CardStatusCode::ChipBroken => "chip_broken",
            CardStatusCode::PinLocked => "pin_locked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == s)
    }
}

/// One accepted row of the cards file.
#[derive(Clone, PartialEq, Eq)]
pub struct CardRecord {
    /// Physical line in the file.
    pub line: u64,
    pub my_number: MyNumber,
    pub card_serial: String,
    /// `None`: a PIN-less card (顔認証マイナンバーカード).
    pub pin: Option<String>,
    /// Expiry of the 利用者証明用電子証明書.
    pub cert_expiry: NaiveDate,
    pub status: CardStatusCode,
    pub name: String,
    pub name_kana: String,
    pub sex: Sex,
    pub birthdate: NaiveDate,
    pub address: Option<String>,
    /// The certificate's ed25519 public key as the issuer gives it; `None`: not in the file.
    pub cert_public_key: Option<[u8; 32]>,
}

impl fmt::Debug for CardRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardRecord")
            .field("line", &self.line)
            .field("my_number", &self.my_number)
            .field("card_serial", &self.card_serial)
            .field("pin", &self.pin.as_ref().map(|_| "****"))
            .field("cert_expiry", &self.cert_expiry)
            .field("status", &self.status)
            .field("name", &self.name)
            .field("name_kana", &self.name_kana)
            .field("sex", &self.sex)
            .field("birthdate", &self.birthdate)
            .field("address", &self.address)
            .field("cert_public_key", &self.cert_public_key.map(hex::encode))
            .finish()
    }
}

/// A row as text, fields in [`CARD_COLUMNS`] order; what the writer takes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CardCsvRow {
    pub my_number: String,
    pub card_serial: String,
    pub pin: String,
    pub cert_expiry: String,
    pub status: String,
    pub name: String,
    pub name_kana: String,
    pub sex: String,
    pub birthdate: String,
    pub address: String,
    /// 64 hex digits, or empty.
    pub cert_public_key: String,
}

impl fmt::Debug for CardCsvRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardCsvRow")
            .field("my_number", &"****")
            .field("card_serial", &self.card_serial)
            .field("pin", &if self.pin.is_empty() { "" } else { "****" })
            .field("cert_expiry", &self.cert_expiry)
            .field("status", &self.status)
            .field("name", &self.name)
            .field("name_kana", &self.name_kana)
            .field("sex", &self.sex)
            .field("birthdate", &self.birthdate)
            .field("address", &self.address)
            .field("cert_public_key", &self.cert_public_key)
            .finish()
    }
}

impl CardCsvRow {
    /// The fields in column order.
    pub fn fields(&self) -> [&str; 11] {
        [
            &self.my_number,
            &self.card_serial,
            &self.pin,
            &self.cert_expiry,
            &self.status,
            &self.name,
            &self.name_kana,
            &self.sex,
            &self.birthdate,
            &self.address,
            &self.cert_public_key,
        ]
    }

    /// Empties every field, keeping the allocations.
    pub fn clear(&mut self) {
        for s in [
            &mut self.my_number,
            &mut self.card_serial,
            &mut self.pin,
            &mut self.cert_expiry,
            &mut self.status,
            &mut self.name,
            &mut self.name_kana,
            &mut self.sex,
            &mut self.birthdate,
            &mut self.address,
            &mut self.cert_public_key,
        ] {
            s.clear();
        }
    }

    /// The row that reads back as `rec`.
    pub fn from_record(rec: &CardRecord) -> Self {
        CardCsvRow {
            my_number: rec.my_number.expose_digits(),
            card_serial: rec.card_serial.clone(),
            pin: rec.pin.clone().unwrap_or_default(),
            cert_expiry: onshi_domain::wareki::format_yyyymmdd(rec.cert_expiry),
            status: rec.status.code().to_string(),
            name: rec.name.clone(),
            name_kana: rec.name_kana.clone(),
            sex: rec.sex.code().to_string(),
            birthdate: onshi_domain::wareki::format_yyyymmdd(rec.birthdate),
            address: rec.address.clone().unwrap_or_default(),
            cert_public_key: rec.cert_public_key.map(hex::encode).unwrap_or_default(),
        }
    }
}

/// Writes a cards file: the header on creation, then one row per [`Self::write`]. Lines end
/// with LF.
pub struct CardCsvWriter<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> CardCsvWriter<W> {
    /// Starts the file with its header.
    pub fn new(w: W) -> io::Result<Self> {
        let mut w = csv::WriterBuilder::new()
            .buffer_capacity(256 * 1024)
            .from_writer(w);
        w.write_record(CARD_COLUMNS)?;
        Ok(CardCsvWriter { w })
    }

    pub fn write(&mut self, row: &CardCsvRow) -> io::Result<()> {
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

/// Iterator over the rows of a cards file; see [`read_cards`].
pub struct CardRows<R> {
    src: RecordSource<R>,
}

impl<R: Read> Iterator for CardRows<R> {
    type Item = Result<CardRecord, Vec<RowError>>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = match self.src.advance()? {
            Ok(line) => line,
            Err(e) => return Some(Err(vec![e])),
        };
        Some(
            Fields::split(
                self.src.file(),
                line,
                &CARD_COLUMNS,
                self.src.width(),
                self.src.record(),
            )
            .and_then(parse_row),
        )
    }
}

impl<R: Read> CardRows<R> {
    /// The rows read but not parsed, and the parser of their file: to parse on other threads
    /// than the reading. `parser.parse(row)` of each row gives what this iterator gives.
    pub fn unparsed(self) -> (UnparsedRows<R>, CardParser) {
        let parser = CardParser {
            file: self.src.file().to_string(),
            width: self.src.width(),
        };
        (UnparsedRows { src: self.src }, parser)
    }
}

/// Parses the rows of one cards file read by [`CardRows::unparsed`].
#[derive(Debug, Clone)]
pub struct CardParser {
    file: String,
    width: usize,
}

impl CardParser {
    pub fn parse(&self, row: &UnparsedRow) -> Result<CardRecord, Vec<RowError>> {
        Fields::split(&self.file, row.line, &CARD_COLUMNS, self.width, &row.record)
            .and_then(parse_row)
    }
}

/// Reads a cards file row by row. The outer `Err` is a header that is not
/// [`CARD_COLUMNS`] (or its first [`CARD_COLUMNS_REQUIRED`] or more); then each item is a
/// record or all the errors of its row.
pub fn read_cards<R: Read>(file_name: &str, r: R) -> Result<CardRows<R>, RowError> {
    Ok(CardRows {
        src: RecordSource::open(file_name, r, &CARD_COLUMNS, CARD_COLUMNS_REQUIRED)?,
    })
}

fn public_key(s: &str) -> Result<[u8; 32], Fault> {
    let mut key = [0u8; 32];
    match hex::decode_to_slice(s, &mut key) {
        Ok(()) => Ok(key),
        Err(_) => Err(Fault::new(
            rule::FORMAT,
            format!(
                "a certificate's public key is 64 hex digits (its 32 bytes), or empty, got {}",
                quote(s)
            ),
        )),
    }
}

fn card_serial(s: &str) -> Result<String, Fault> {
    if s.len() > 32 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Fault::new(
            rule::FORMAT,
            format!(
                "a card serial is 1 to 32 ASCII letters or digits, got {}",
                quote(s)
            ),
        ));
    }
    Ok(s.to_string())
}

fn pin(s: &str) -> Result<String, Fault> {
    if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fault::new(
            rule::FORMAT,
            "a PIN is exactly 4 digits, or empty for a PIN-less card (PIN not shown)",
        ));
    }
    Ok(s.to_string())
}

fn status(s: &str) -> Result<CardStatusCode, Fault> {
    CardStatusCode::parse(s).ok_or_else(|| {
        Fault::new(
            rule::UNKNOWN_CODE,
            format!(
                "status must be one of active, revoked, chip_broken, pin_locked, got {}",
                quote(s)
            ),
        )
    })
}

fn parse_row(mut f: Fields<'_, 11>) -> Result<CardRecord, Vec<RowError>> {
    let my_number = f.req(MY_NUMBER, fields::my_number);
    let card_serial = f.req(CARD_SERIAL, card_serial);
    let pin = f.opt(PIN, pin);
    let cert_expiry = f.req(CERT_EXPIRY, fields::date);
    let status = f.req(STATUS, status);
    let name = f.req(NAME, fields::text);
    let name_kana = f.req(NAME_KANA, fields::kana_name);
    let sex = f.req(SEX, fields::sex);
    let birthdate = f.req(BIRTHDATE, fields::date);
    let address = f.opt(ADDRESS, fields::text);
    let cert_public_key = f.opt(CERT_PUBLIC_KEY, public_key);

    if status == Some(CardStatusCode::PinLocked) && pin.is_empty() {
        f.fault(
            STATUS,
            Fault::new(
                rule::ONLY_WITH,
                "pin_locked is possible only on a card with a PIN (this one is PIN-less)",
            ),
        );
    }
    if f.has_errors() {
        return f.finish(None);
    }
    let line = f.line();
    let pin = match pin {
        Opt::Value(p) => Some(p),
        _ => None,
    };
    let built = (|| {
        Some(CardRecord {
            line,
            my_number: my_number?,
            card_serial: card_serial?,
            pin,
            cert_expiry: cert_expiry?,
            status: status?,
            name: name?,
            name_kana: name_kana?,
            sex: sex?,
            birthdate: birthdate?,
            address: address.value(),
            cert_public_key: cert_public_key.value(),
        })
    })();
    f.finish(built)
}
