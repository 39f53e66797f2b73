//! The card emulation's own file (`cards.sqlite`): the chips of every emulated card — PIN
//! under a keyed hash, failure counter, lock, photo reference. It is the "physical" world
//! the patients carry from facility to facility: every terminal's reader opens this file
//! (SQLite serialises the writers of several processes), the central never does.

use std::path::Path;
use std::sync::Mutex;

use onshi_store::{ChipRow, ChipStore, PinTry, StoreError, UpsertOutcome};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{CardError, LOCK_AFTER, Pin, PinHasher};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS chip (
    serial    TEXT PRIMARY KEY,
    pin_hash  TEXT,
    failures  INTEGER NOT NULL DEFAULT 0,
    locked    INTEGER NOT NULL DEFAULT 0,
    photo_ref TEXT
) WITHOUT ROWID;
";

/// The chips of the emulated cards, with the secret their PIN hashes and card keys come from.
pub struct CardStore {
    conn: Mutex<Connection>,
    secrets: PinHasher,
}

fn db(e: rusqlite::Error) -> CardError {
    CardError::Store(StoreError::Db(e))
}

fn poisoned() -> StoreError {
    StoreError::Conflict("card store lock poisoned".into())
}

impl CardStore {
    /// Opens (creating if needed) the card emulation's file.
    pub fn open(path: impl AsRef<Path>, secrets: PinHasher) -> Result<Self, CardError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| CardError::Store(e.into()))?;
        }
        let c = Connection::open(path).map_err(db)?;
        c.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        let _: String = c
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(db)?;
        c.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        c.execute_batch(SCHEMA).map_err(db)?;
        Ok(CardStore {
            conn: Mutex::new(c),
            secrets,
        })
    }

    /// Opens the card emulation's file with its own secret, kept in `<path>.keys.json`
    /// (mode 0600), made on first use. A card file that holds chips but whose key file is
    /// missing refuses to open: new keys would make every PIN hash unmatchable.
    pub fn open_with_key_file(path: impl AsRef<Path>) -> Result<Self, CardError> {
        let path = path.as_ref();
        let mut kp = path.as_os_str().to_owned();
        kp.push(".keys.json");
        let key_path = std::path::PathBuf::from(kp);
        let key_err = |e: String| CardError::Key(format!("{}: {e}", key_path.display()));
        if !key_path.exists() {
            if path.exists() {
                let probe = CardStore::open(path, PinHasher::new(&[0u8; 32])?)?;
                if probe.count()? > 0 {
                    return Err(key_err(format!(
                        "missing, but the card file {} holds chips hashed with it; restore                          the key file from your backup (no new key is made)",
                        path.display()
                    )));
                }
            }
            let mut b = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(b.as_mut()).map_err(|e| key_err(e.to_string()))?;
            let body = zeroize::Zeroizing::new(format!(
                "{{\n  \"card_key\": \"{}\"\n}}\n",
                hex::encode(b.as_ref())
            ));
            crate::assertion::write_private(&key_path, body.as_bytes())
                .map_err(|e| key_err(e.to_string()))?;
        }
        let raw =
            zeroize::Zeroizing::new(std::fs::read(&key_path).map_err(|e| key_err(e.to_string()))?);
        #[derive(serde::Deserialize)]
        struct KeyFile {
            card_key: zeroize::Zeroizing<String>,
        }
        let kf: KeyFile = serde_json::from_slice(&raw).map_err(|e| key_err(e.to_string()))?;
        let key = zeroize::Zeroizing::new(
            hex::decode(kf.card_key.as_str()).map_err(|e| key_err(e.to_string()))?,
        );
        CardStore::open(path, PinHasher::new(&key)?)
    }

    /// The secret of this card world (PIN hashes, card keys).
    pub fn secrets(&self) -> &PinHasher {
        &self.secrets
    }

    /// Starts issuing cards in one transaction (all or nothing; dropped = rolled back).
    pub fn begin_issue(&self) -> Result<CardIssue<'_>, CardError> {
        let guard = self.conn.lock().map_err(|_| poisoned())?;
        // a bulk issue inserts chips in serial order, which is random: keep the pages in memory
        guard
            .pragma_update(None, "cache_size", ISSUE_CACHE_KIB)
            .map_err(db)?;
        let mut issue = CardIssue {
            guard,
            secrets: &self.secrets,
            done: false,
            was_empty: false,
            pending: Vec::new(),
            unwritten: false,
        };
        issue.guard.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
        issue.was_empty = issue
            .guard
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM chip)", [], |r| r.get(0))
            .map_err(db)?;
        Ok(issue)
    }

    /// Number of cards in the emulation.
    pub fn count(&self) -> Result<u64, CardError> {
        let c = self.conn.lock().map_err(|_| poisoned())?;
        c.query_row("SELECT count(*) FROM chip", [], |r| r.get(0))
            .map_err(db)
    }
}

fn chip_row(c: &Connection, serial: &str) -> rusqlite::Result<Option<ChipRow>> {
    c.prepare_cached(
        "SELECT serial, pin_hash, failures, locked, photo_ref FROM chip WHERE serial = ?1",
    )?
    .query_row([serial], |r| {
        Ok(ChipRow {
            serial: r.get(0)?,
            pin_hash: r.get(1)?,
            failures: r.get(2)?,
            locked: r.get(3)?,
            photo_ref: r.get(4)?,
        })
    })
    .optional()
}

impl ChipStore for CardStore {
    fn chip(&self, serial: &str) -> onshi_store::Result<Option<ChipRow>> {
        let c = self.conn.lock().map_err(|_| poisoned())?;
        Ok(chip_row(&c, serial)?)
    }

    fn try_pin(
        &self,
        serial: &str,
        candidate_hash: &str,
        lock_after: u32,
    ) -> onshi_store::Result<Option<PinTry>> {
        use subtle::ConstantTimeEq;
        let mut c = self.conn.lock().map_err(|_| poisoned())?;
        // IMMEDIATE: the write lock is taken before the row is read, so a reader in another
        // process sharing this file cannot interleave either (R1: the lock holds at 3).
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let row: Option<(Option<String>, u32, bool)> = tx
            .query_row(
                "SELECT pin_hash, failures, locked FROM chip WHERE serial = ?1",
                [serial],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((stored, failures, locked)) = row else {
            return Ok(None);
        };
        let Some(stored) = stored else {
            return Ok(Some(PinTry::NotSet));
        };
        if locked || failures >= lock_after {
            return Ok(Some(PinTry::Locked));
        }
        let right: bool = stored.as_bytes().ct_eq(candidate_hash.as_bytes()).into();
        let out = if right {
            if failures != 0 {
                tx.execute("UPDATE chip SET failures = 0 WHERE serial = ?1", [serial])?;
            }
            PinTry::Accepted
        } else {
            let failures = failures + 1;
            let locked = failures >= lock_after;
            tx.execute(
                "UPDATE chip SET failures = ?2, locked = ?3 WHERE serial = ?1",
                params![serial, failures, locked],
            )?;
            PinTry::Rejected { failures, locked }
        };
        tx.commit()?;
        Ok(Some(out))
    }
}

/// Page cache of the card file's connection while cards are issued (KiB, negative for
/// SQLite), and in normal use (SQLite's default).
const ISSUE_CACHE_KIB: i64 = -1_048_576;
const NORMAL_CACHE_KIB: i64 = -2000;

/// Cards being issued, in one transaction of the card file.
pub struct CardIssue<'a> {
    guard: std::sync::MutexGuard<'a, Connection>,
    secrets: &'a PinHasher,
    done: bool,
    /// the file held no chip when the transaction began: a chip is new unless this
    /// transaction issued its serial already
    was_empty: bool,
    /// chips of [`CardIssue::issue_new`] not written yet (see [`NewChip`])
    pending: Vec<NewChip>,
    /// chips taken out by [`CardIssue::pending_chips`] and not written: the issue may not
    /// commit
    unwritten: bool,
}

/// The chip of a newly issued card in a fixed-size form (no allocation per card), made by
/// [`PinHasher::new_chip`] or [`NewChip::of`].
///
/// When the card file was empty, [`CardIssue::issue_new`] holds these and writes them sorted
/// by serial when the issue ends ([`CardIssue::write_pending`]): a bulk issue gives the
/// serials in random order, and random keys inserted one by one into the `chip` B-tree cost
/// a page search and often a page split each once it outgrows the cache; sorted, it is
/// filled from left to right.
#[derive(Clone, Copy)]
pub struct NewChip {
    serial: [u8; NewChip::SERIAL_MAX],
    serial_len: u8,
    failures: u32,
    locked: bool,
    /// the PIN's keyed hash as bytes (written as lowercase hex, as [`PinHasher::hash`] gives it)
    pin_hash: Option<[u8; 32]>,
    /// the photo reference is `photo:{serial}` (else none)
    photo: bool,
}

impl NewChip {
    /// The card file's serials are at most 32 ASCII letters or digits.
    pub const SERIAL_MAX: usize = 32;

    /// A chip with the photo reference `photo:{serial}`; `None` for a serial longer than
    /// [`NewChip::SERIAL_MAX`].
    pub(crate) fn new(
        serial: &str,
        pin_hash: Option<[u8; 32]>,
        failures: u32,
        locked: bool,
    ) -> Option<Self> {
        let s = serial.as_bytes();
        if s.len() > Self::SERIAL_MAX {
            return None;
        }
        let mut bytes = [0u8; Self::SERIAL_MAX];
        bytes[..s.len()].copy_from_slice(s);
        Some(NewChip {
            serial: bytes,
            serial_len: s.len() as u8,
            failures,
            locked,
            pin_hash,
            photo: true,
        })
    }

    /// The compact form of `row`, or `None` if it has none (a longer serial, a PIN hash that is
    /// not 64 lowercase hex digits, another kind of photo reference).
    pub fn of(row: &ChipRow) -> Option<Self> {
        let s = row.serial.as_bytes();
        if s.len() > Self::SERIAL_MAX {
            return None;
        }
        let pin_hash = match &row.pin_hash {
            None => None,
            Some(h) => Some(hex32(h)?),
        };
        let photo = match &row.photo_ref {
            None => false,
            Some(p) if p.strip_prefix("photo:") == Some(row.serial.as_str()) => true,
            Some(_) => return None,
        };
        let mut chip = Self::new(&row.serial, pin_hash, row.failures, row.locked)?;
        chip.photo = photo;
        Some(chip)
    }

    /// The serial's bytes: sorted as bytes, serials sort as text (and as SQLite's `BINARY`
    /// collation sorts them), without checking UTF-8 at each comparison.
    pub fn serial_bytes(&self) -> &[u8] {
        &self.serial[..usize::from(self.serial_len)]
    }

    pub fn serial(&self) -> &str {
        // copied from a `&str`, cut at its end
        std::str::from_utf8(self.serial_bytes()).unwrap_or_default()
    }

    /// The chip row this stands for.
    pub fn to_row(&self) -> ChipRow {
        ChipRow {
            serial: self.serial().to_string(),
            pin_hash: self.pin_hash.map(hex::encode),
            failures: self.failures,
            locked: self.locked,
            photo_ref: self.photo.then(|| format!("photo:{}", self.serial())),
        }
    }
}

/// 64 lowercase hex digits as bytes; `None` for anything else (so that the bytes written back
/// as lowercase hex give the same text).
fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

impl CardIssue<'_> {
    /// The secrets of the card world these cards are issued in (see
    /// [`CardIssue::issue_prepared`]).
    pub fn secrets(&self) -> &PinHasher {
        self.secrets
    }

    /// Issues (or re-issues) a card: its chip with the PIN's keyed hash (none for a PIN-less
    /// card, R2), locked if the municipality's file says so. A card re-issued with the same
    /// PIN keeps its own failure counter and lock. Returns the public key (hex) of the card's
    /// 利用者証明用電子証明書, for the central's certificate record, and what happened.
    pub fn issue(
        &mut self,
        serial: &str,
        pin: Option<&Pin>,
        pin_locked: bool,
    ) -> Result<(String, UpsertOutcome), CardError> {
        let chip = self.secrets.issue(serial, pin, pin_locked);
        let outcome = self.issue_prepared(chip, pin_locked)?;
        Ok((self.secrets.public_key_hex(serial), outcome))
    }

    /// As [`CardIssue::issue`], with the chip row already made by [`PinHasher::issue`] of this
    /// card world's secrets (so that the keyed hashing can run on another thread); the
    /// certificate's public key is [`PinHasher::public_key_hex`].
    pub fn issue_prepared(
        &mut self,
        mut chip: ChipRow,
        pin_locked: bool,
    ) -> Result<UpsertOutcome, CardError> {
        self.write_pending()?;
        if self.was_empty {
            // nothing to compare with unless this transaction issued the serial before: a
            // plain insert, which the primary key refuses in that case
            let inserted = self
                .guard
                .prepare_cached(
                    "INSERT INTO chip (serial, pin_hash, failures, locked, photo_ref) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        chip.serial,
                        chip.pin_hash,
                        chip.failures,
                        chip.locked,
                        chip.photo_ref
                    ])
                });
            match inserted {
                Ok(_) => return Ok(UpsertOutcome::Inserted),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation => {}
                Err(e) => return Err(db(e)),
            }
        }
        let serial = chip.serial.clone();
        let existing = chip_row(&self.guard, &serial).map_err(db)?;
        if let Some(e) = &existing
            && e.pin_hash == chip.pin_hash
        {
            chip.failures = e.failures;
            chip.locked = e.locked || pin_locked;
            if chip.locked {
                chip.failures = chip.failures.max(LOCK_AFTER);
            }
        }
        let outcome = match &existing {
            Some(e) if *e == chip => UpsertOutcome::Unchanged,
            Some(_) => UpsertOutcome::Updated,
            None => UpsertOutcome::Inserted,
        };
        if outcome != UpsertOutcome::Unchanged {
            self.guard
                .prepare_cached(
                    "INSERT INTO chip (serial, pin_hash, failures, locked, photo_ref) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(serial) DO UPDATE SET \
                     pin_hash = excluded.pin_hash, failures = excluded.failures, \
                     locked = excluded.locked, photo_ref = excluded.photo_ref",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        chip.serial,
                        chip.pin_hash,
                        chip.failures,
                        chip.locked,
                        chip.photo_ref
                    ])
                })
                .map_err(db)?;
        }
        Ok(outcome)
    }

    /// Issues a card whose serial the caller knows to be new in this issue (a bulk issue that
    /// checked its serials are distinct), as [`CardIssue::issue_prepared`] would. When the
    /// file held no chip, the chip is held and written with the others, in serial order, by
    /// [`CardIssue::write_pending`] (a serial given twice then fails there); otherwise it is
    /// written at once.
    pub fn issue_new(&mut self, chip: NewChip, pin_locked: bool) -> Result<(), CardError> {
        if self.was_empty {
            self.pending.push(chip);
            return Ok(());
        }
        self.issue_prepared(chip.to_row(), pin_locked).map(|_| ())
    }

    /// Writes the chips [`CardIssue::issue_new`] holds, sorted by serial, in this issue's
    /// transaction (not committed yet). [`CardIssue::commit`] does it too; a caller that must
    /// know the chips can be written before it commits something else calls it first.
    pub fn write_pending(&mut self) -> Result<(), CardError> {
        self.pending_chips().write()
    }

    /// The chips [`CardIssue::issue_new`] holds, taken out to be written on another thread
    /// ([`PendingChips::write`]) while the caller does other work; this issue cannot be used
    /// until they are. Dropped unwritten (or failing), the issue refuses to commit.
    pub fn pending_chips(&mut self) -> PendingChips<'_> {
        let CardIssue {
            guard,
            pending,
            unwritten,
            ..
        } = self;
        let chips = std::mem::take(pending);
        *unwritten |= !chips.is_empty();
        PendingChips {
            conn: guard,
            chips,
            unwritten,
        }
    }

    pub fn commit(mut self) -> Result<(), CardError> {
        self.write_pending()?;
        if self.unwritten {
            return Err(CardError::Store(StoreError::Conflict(
                "chips of this issue were not written: it cannot commit".into(),
            )));
        }
        self.guard.execute_batch("COMMIT").map_err(db)?;
        self.done = true;
        Ok(())
    }
}

/// Chips of a [`CardIssue`] to be written in its transaction, on any thread
/// ([`CardIssue::pending_chips`]).
pub struct PendingChips<'a> {
    conn: &'a mut Connection,
    chips: Vec<NewChip>,
    /// the issue's flag, cleared once the chips are written
    unwritten: &'a mut bool,
}

impl PendingChips<'_> {
    /// Writes the chips, sorted by serial (see [`NewChip`]), in the issue's transaction.
    pub fn write(mut self) -> Result<(), CardError> {
        if self.chips.is_empty() {
            return Ok(());
        }
        self.chips
            .sort_unstable_by(|a, b| a.serial_bytes().cmp(b.serial_bytes()));
        let mut st = self
            .conn
            .prepare_cached(
                "INSERT INTO chip (serial, pin_hash, failures, locked, photo_ref) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db)?;
        let mut hash = [0u8; 64];
        let mut photo = String::new();
        for c in &self.chips {
            let pin_hash = match &c.pin_hash {
                Some(h) => {
                    hex::encode_to_slice(h, &mut hash)
                        .map_err(|e| CardError::Key(e.to_string()))?;
                    Some(std::str::from_utf8(&hash).unwrap_or_default())
                }
                None => None,
            };
            let photo_ref = if c.photo {
                photo.clear();
                photo.push_str("photo:");
                photo.push_str(c.serial());
                Some(photo.as_str())
            } else {
                None
            };
            st.execute(params![
                c.serial(),
                pin_hash,
                c.failures,
                c.locked,
                photo_ref
            ])
            .map_err(db)?;
        }
        *self.unwritten = false;
        Ok(())
    }
}

impl Drop for CardIssue<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.guard.execute_batch("ROLLBACK");
        }
        let _ = self
            .guard
            .pragma_update(None, "cache_size", NORMAL_CACHE_KIB);
    }
}
