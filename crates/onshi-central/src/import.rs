//! Insurer bulk import of the registry CSV files (docs/formats/registry-csv.md), with the
//! mislink guard.
//!
//! The whole import is one transaction: if any row of either file is refused, nothing is
//! written. Re-importing the same files changes nothing.
//!
//! Mislink guard — every qualification row is held against the facts of the person its My
//! Number belongs to (the card holder's facts from the cards file, or, for a My Number with no
//! card, the facts of the first accepted row):
//! - birth date different → refused (`mislink`, column `birthdate`);
//! - sex different → refused (`mislink`, column `sex`);
//! - kana name different after `kana::kana_key` → refused (`mislink`, column `name_kana`);
//! - only the kanji name different after `kana::name_key` (異体字 such as 髙/高) → accepted
//!   with a warning (`kanji_variant`, column `name`).
//!
//! A card row whose holder facts contradict an already registered person (birth date, sex or
//! kana) is refused the same way.

use std::collections::HashSet;
use std::io::Read;

use onshi_card::chips::{CardIssue, NewChip};
use onshi_card::{CardStore, Pin};
use onshi_domain::card::CertStatus;
use onshi_domain::kana;
use onshi_domain::numbers::{MyNumberHash, MyNumberHasher};
use onshi_domain::qualification::Person;
use onshi_formats::registry_csv::{self, CardStatusCode, RowError};
use onshi_store::{CardCert, ImportStore, ImportTx, PersonId, StoreError, UpsertOutcome};
use serde::Serialize;

/// Errors kept in full; beyond this only counted.
pub const MAX_REPORTED_ERRORS: usize = 1000;

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl Counts {
    fn add(&mut self, o: UpsertOutcome) {
        match o {
            UpsertOutcome::Inserted => self.inserted += 1,
            UpsertOutcome::Updated => self.updated += 1,
            UpsertOutcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// A row accepted with a remark.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowWarning {
    pub file: String,
    pub line: u64,
    pub column: String,
    pub rule: &'static str,
    pub message: String,
}

impl std::fmt::Display for RowWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: column {}: warning: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub committed: bool,
    pub rows_read: u64,
    pub persons_created: u64,
    pub qualifications: Counts,
    pub cards: Counts,
    pub warnings: Vec<RowWarning>,
    #[serde(serialize_with = "ser_errors")]
    pub errors: Vec<RowError>,
    pub errors_total: u64,
}

fn ser_errors<S: serde::Serializer>(v: &[RowError], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|e| e.to_string()))
}

/// How many rows read between two calls of the import's progress.
const PROGRESS_EVERY: u64 = 10_000;

impl ImportReport {
    fn error(&mut self, e: RowError) {
        self.errors_total += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
        }
    }

    /// Counts one row read from a file, and reports the rows read so far every
    /// [`PROGRESS_EVERY`] rows.
    fn row_read(&mut self, progress: &mut dyn FnMut(u64)) {
        self.rows_read += 1;
        if self.rows_read.is_multiple_of(PROGRESS_EVERY) {
            progress(self.rows_read);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One input file.
pub struct Input<R> {
    pub name: String,
    pub reader: R,
}

fn mislink(file: &str, line: u64, column: &str, message: String) -> RowError {
    RowError {
        file: file.to_string(),
        line,
        column: column.to_string(),
        rule: "mislink",
        message,
    }
}

/// Compares the facts of a row against the registered person. Returns the refusal, or a
/// warning when only the kanji name differs.
fn cross_check(
    file: &str,
    line: u64,
    registered: &Person,
    row: &Person,
) -> Result<Option<RowWarning>, RowError> {
    if registered.birthdate != row.birthdate {
        return Err(mislink(
            file,
            line,
            "birthdate",
            format!(
                "suspected mislink (紐付け誤り): birth date {} differs from {} registered for this My Number",
                row.birthdate, registered.birthdate
            ),
        ));
    }
    if registered.sex != row.sex {
        return Err(mislink(
            file,
            line,
            "sex",
            format!(
                "suspected mislink (紐付け誤り): sex {} differs from {} registered for this My Number",
                row.sex.code(),
                registered.sex.code()
            ),
        ));
    }
    if kana::kana_key(&registered.name_kana) != kana::kana_key(&row.name_kana) {
        return Err(mislink(
            file,
            line,
            "name_kana",
            format!(
                "suspected mislink (紐付け誤り): kana name {:?} differs from {:?} registered for this My Number",
                row.name_kana, registered.name_kana
            ),
        ));
    }
    if kana::name_key(&registered.name) != kana::name_key(&row.name) {
        return Ok(Some(RowWarning {
            file: file.to_string(),
            line,
            column: "name".into(),
            rule: "kanji_variant",
            message: format!(
                "name {:?} differs from {:?} only in kanji (異体字?); accepted — birth date, sex and kana agree",
                row.name, registered.name
            ),
        }));
    }
    Ok(None)
}

/// The persons this import has already met, so that each row needs no database lookup for
/// its person. Only fingerprints of the compared facts are kept (memory stays small at 10
/// million persons); when a fingerprint differs, the person is read back from the database to
/// run [`cross_check`] with its full messages.
struct Known {
    map: std::collections::HashMap<u128, KnownPerson, std::hash::BuildHasherDefault<KeyHasher>>,
    /// the registry had no person when the import began: a person not met in this import is new
    initial_load: bool,
}

struct KnownPerson {
    id: PersonId,
    /// created by this import: its qualifications are all in `quals`, nothing to look up
    new: bool,
    birthdate: chrono::NaiveDate,
    sex: onshi_domain::numbers::Sex,
    kana: u64,
    name: u64,
    /// fingerprint of the registered post number (the cards file carries none)
    post: Option<u64>,
    /// (insurer number, qualification date, disqualification date) of a new person
    quals: Vec<(String, chrono::NaiveDate, Option<chrono::NaiveDate>)>,
}

/// Hashes the [`Known`] map's keys, the first 128 bits of a My Number's keyed hash ([`key_of`]):
/// spread evenly already, and not to be steered by anyone without the key, so their two
/// halves folded are the hash (instead of SipHash on each of the millions of lookups).
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // not used by `u128` keys; folds anything else in, to stay a hasher
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn fingerprint(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn key_of(h: &MyNumberHash) -> u128 {
    let hex = h.as_str();
    u128::from_str_radix(hex.get(..32).unwrap_or(hex), 16)
        .unwrap_or_else(|_| u128::from(fingerprint(hex)))
}

/// Fingerprints of the compared facts of a row's person, computed with the row (off the
/// main thread).
#[derive(Clone, Copy)]
struct Facts {
    kana: u64,
    name: u64,
}

impl Facts {
    fn of(p: &Person) -> Self {
        Facts {
            kana: fingerprint(&kana::kana_key(&p.name_kana)),
            name: fingerprint(&kana::name_key(&p.name)),
        }
    }
}

impl KnownPerson {
    fn of(id: PersonId, new: bool, p: &Person) -> Self {
        Self::with(id, new, p, Facts::of(p))
    }

    fn with(id: PersonId, new: bool, p: &Person, f: Facts) -> Self {
        KnownPerson {
            id,
            new,
            birthdate: p.birthdate,
            sex: p.sex,
            kana: f.kana,
            name: f.name,
            post: p.post_number.as_deref().map(fingerprint),
            quals: Vec::new(),
        }
    }

    fn same_facts(&self, p: &Person, f: Facts) -> bool {
        self.birthdate == p.birthdate
            && self.sex == p.sex
            && self.kana == f.kana
            && self.name == f.name
    }
}

/// Rows handed from one thread to the next at a time, and batches in flight per worker.
const BATCH_ROWS: usize = 1024;
const BATCHES_IN_FLIGHT: usize = 4;

/// Pipelines an import over the machine's cores: one thread of the scope `s` reads `rows`,
/// worker threads run `prepare` on batches of them (parsing, hashing, deriving keys), and the
/// results come out of the returned iterator in the file's order on the calling thread, which
/// does the checks and the writes. When the caller stops early, the threads stop too.
///
/// The batches of results go back to their worker once emptied and are filled again: a batch
/// is large (a prepared row is several hundred bytes), and allocating and freeing one per
/// batch on different threads made glibc's allocator consolidate its free lists every time.
fn off_thread<'scope, I, T, F>(
    s: &'scope std::thread::Scope<'scope, '_>,
    rows: I,
    prepare: F,
) -> impl Iterator<Item = T> + 'scope
where
    I: Iterator + Send + 'scope,
    I::Item: Send + 'scope,
    F: Fn(I::Item) -> T + Send + Sync + 'scope,
    T: Send + 'scope,
{
    use std::sync::mpsc::sync_channel;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let prepare = std::sync::Arc::new(prepare);
    let mut to_workers = Vec::with_capacity(workers);
    let mut from_workers = Vec::with_capacity(workers);
    let mut back_to_workers = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (in_tx, in_rx) = sync_channel::<Vec<I::Item>>(BATCHES_IN_FLIGHT);
        let (out_tx, out_rx) = sync_channel::<Vec<Option<T>>>(BATCHES_IN_FLIGHT);
        // every batch a worker has out can come back without blocking the importing thread
        let (back_tx, back_rx) = sync_channel::<Vec<Option<T>>>(2 * BATCHES_IN_FLIGHT + 2);
        let prepare = prepare.clone();
        s.spawn(move || {
            for batch in in_rx {
                let mut done = back_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(BATCH_ROWS));
                done.extend(batch.into_iter().map(|r| Some(prepare(r))));
                if out_tx.send(done).is_err() {
                    return; // the importing side stopped
                }
            }
        });
        to_workers.push(in_tx);
        from_workers.push(out_rx);
        back_to_workers.push(back_tx);
    }
    // batch k goes to worker k mod n, and is taken back from it in the same turn
    s.spawn(move || {
        let mut k = 0;
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        for row in rows {
            batch.push(row);
            if batch.len() == BATCH_ROWS {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                if to_workers[k % workers].send(full).is_err() {
                    return;
                }
                k += 1;
            }
        }
        if !batch.is_empty() {
            let _ = to_workers[k % workers].send(batch);
        }
    });
    let mut k = 0;
    let mut current: Vec<Option<T>> = Vec::new();
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            if let Some(t) = current.get_mut(at).and_then(Option::take) {
                at += 1;
                return Some(t);
            }
            if k > 0 {
                // emptied: back to the worker it came from, to be filled again
                current.clear();
                let _ = back_to_workers[(k - 1) % workers].try_send(std::mem::take(&mut current));
            }
            // a worker with nothing more to give means the rows are over
            current = from_workers[k % workers].recv().ok()?;
            at = 0;
            k += 1;
        }
    })
}

/// A card row with what can be computed from it alone: the My Number's keyed hash, the
/// fingerprints of the holder's facts, the PIN and the chip (its keyed hash) and the
/// certificate's public key (the file's, or derived).
struct PreparedCard {
    rec: registry_csv::CardRecord,
    hash: MyNumberHash,
    facts: Facts,
    /// the chip to issue and the public key, or the PIN's format error
    chip: Result<(Chip, [u8; 32]), String>,
}

/// A chip to issue: in the compact form a bulk issue holds, or (a serial too long for it) as
/// a row.
enum Chip {
    New(NewChip),
    Row(onshi_store::ChipRow),
}

fn prepare_card(
    rec: registry_csv::CardRecord,
    hasher: &MyNumberHasher,
    secrets: &onshi_card::PinHasher,
) -> PreparedCard {
    let hash = hasher.hash(&rec.my_number);
    let facts = Facts {
        kana: fingerprint(&kana::kana_key(&rec.name_kana)),
        name: fingerprint(&kana::name_key(&rec.name)),
    };
    let (_, pin_locked) = cert_status(rec.status);
    let chip = match rec.pin.as_deref().map(Pin::parse).transpose() {
        Ok(pin) => {
            let serial = rec.card_serial.as_str();
            let chip = match secrets.new_chip(serial, pin.as_ref(), pin_locked) {
                Some(c) => Chip::New(c),
                None => Chip::Row(secrets.issue(serial, pin.as_ref(), pin_locked)),
            };
            // the issuer's key where the file brings it; else derived from the card world's
            // secret (the one elliptic-curve multiplication of the import)
            let key = rec
                .cert_public_key
                .unwrap_or_else(|| secrets.public_key(serial));
            Ok((chip, key))
        }
        Err(e) => Err(e.to_string()),
    };
    PreparedCard {
        rec,
        hash,
        facts,
        chip,
    }
}

/// A qualification row with its My Number's keyed hash and the fingerprints of its person's
/// facts.
struct PreparedQualification {
    rec: registry_csv::QualificationRecord,
    hash: MyNumberHash,
    facts: Facts,
}

fn cert_status(s: CardStatusCode) -> (CertStatus, bool) {
    match s {
        CardStatusCode::Active => (CertStatus::Active, false),
        CardStatusCode::Revoked => (CertStatus::Revoked, false),
        CardStatusCode::ChipBroken => (CertStatus::ChipBroken, false),
        CardStatusCode::PinLocked => (CertStatus::Active, true),
    }
}

/// Imports the files in one transaction. `progress` is called with the rows read so far.
///
/// The cards file sets up both worlds: the emulated physical cards (chips, with the PIN under
/// a keyed hash) in the card emulation `cards`, and the certificates (public key, serial,
/// validity, status, person) in the central's registry. The chips are committed only after
/// the registry's transaction is.
pub fn import<Q: Read + Send, C: Read + Send>(
    store: &dyn ImportStore,
    hasher: &MyNumberHasher,
    cards_world: &CardStore,
    qualifications: Option<Input<Q>>,
    cards: Option<Input<C>>,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let mut tx = store.begin_import()?;
    let mut known = Known {
        map: Default::default(),
        initial_load: tx.registry_is_empty()?,
    };
    if known.initial_load {
        tx.start_initial_load()?;
    }
    let mut issue = None;
    if let Some(input) = cards {
        let issue = issue.insert(cards_world.begin_issue().map_err(card_store)?);
        import_cards(
            tx.as_mut(),
            hasher,
            issue,
            input,
            &mut known,
            &mut report,
            progress,
        )?;
    }
    if let Some(input) = qualifications {
        import_qualifications(
            tx.as_mut(),
            hasher,
            input,
            &mut known,
            &mut report,
            progress,
        )?;
    }
    if report.errors_total == 0 {
        // the chips the card world holds are written (not committed) before the registry
        // commits, so that a failure to write them still leaves both files as they were; on a
        // thread of their own, while the registry prepares its commit (an initial load builds
        // its indexes then): two files, two connections
        std::thread::scope(|s| -> Result<(), ImportError> {
            let chips = issue
                .as_mut()
                .map(|i| i.pending_chips())
                .map(|c| s.spawn(move || c.write()));
            let registry = tx.prepare_commit();
            let chips = match chips.map(|h| h.join()) {
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                Some(Ok(r)) => r,
                None => Ok(()),
            };
            registry?;
            chips.map_err(card_store)?;
            Ok(())
        })?;
        tx.commit()?;
        if let Some(issue) = issue {
            issue.commit().map_err(card_store)?;
        }
        report.committed = true;
    }
    // otherwise the transaction is dropped, which rolls it back
    Ok(report)
}

#[allow(clippy::too_many_arguments)] // the import's shared state, passed down explicitly
fn import_cards<C: Read + Send>(
    tx: &mut dyn ImportTx,
    hasher: &MyNumberHasher,
    issue: &mut CardIssue<'_>,
    input: Input<C>,
    known: &mut Known,
    report: &mut ImportReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ImportError> {
    let file = input.name.clone();
    let (rows, parser) = match registry_csv::read_cards(&file, input.reader) {
        Ok(r) => r.unparsed(),
        Err(e) => {
            report.error(e);
            return Ok(());
        }
    };
    let mut serials = Serials::default();
    let secrets = issue.secrets().clone();
    std::thread::scope(|s| -> Result<(), ImportError> {
        // the rows are parsed on the preparing threads; the reading thread only splits them
        let prepared = off_thread(s, rows, |row| {
            row.and_then(|raw| parser.parse(&raw))
                .map(|rec| prepare_card(rec, hasher, &secrets))
        });
        for row in prepared {
            report.row_read(progress);
            let PreparedCard {
                rec,
                hash: h,
                facts: fp,
                chip,
            } = match row {
                Ok(r) => r,
                Err(errs) => {
                    errs.into_iter().for_each(|e| report.error(e));
                    continue;
                }
            };
            if !serials.insert(&rec.card_serial) {
                report.error(RowError {
                    file: file.clone(),
                    line: rec.line,
                    column: "card_serial".into(),
                    rule: "duplicate",
                    message: format!("card serial {} appears twice in the file", rec.card_serial),
                });
                continue;
            }
            let facts = Person {
                name: rec.name,
                name_kana: rec.name_kana,
                sex: rec.sex,
                birthdate: rec.birthdate,
                post_number: None,
                address: rec.address,
            };
            let key = key_of(&h);
            let fresh = known.initial_load && !known.map.contains_key(&key);
            let person_id = if fresh {
                // an initial load: a person not met yet cannot be in the registry
                report.persons_created += 1;
                let id = tx.insert_new_person(&h, &facts)?;
                known
                    .map
                    .insert(key, KnownPerson::with(id, true, &facts, fp));
                id
            } else {
                // a person met before in this import is read back by id (its key is known)
                let existing = match known.map.get(&key) {
                    Some(k) => Some(tx.person_by_id(k.id)?.ok_or_else(vanished)?),
                    None => tx.person_by_hash(&h)?,
                };
                match existing {
                    Some(existing) => {
                        let mut registered = existing.person.clone();
                        match cross_check(&file, rec.line, &registered, &facts) {
                            Err(e) => {
                                report.error(e);
                                continue;
                            }
                            Ok(w) => {
                                // The card and the resident register are the reference for the
                                // holder's facts.
                                let changed = w.is_some() || registered.address != facts.address;
                                if let Some(w) = w {
                                    report.warnings.push(w);
                                }
                                if changed {
                                    registered.name = facts.name.clone();
                                    registered.address = facts.address.clone();
                                    tx.update_person(existing.id, &registered)?;
                                }
                            }
                        }
                        existing.id
                    }
                    None => {
                        report.persons_created += 1;
                        let id = tx.insert_person(&h, &facts)?;
                        known
                            .map
                            .insert(key, KnownPerson::with(id, true, &facts, fp));
                        id
                    }
                }
            };
            // On an initial load the registry holds no card (a card belongs to a person) and
            // the serial is new in this file: nothing to look up.
            if !known.initial_load
                && let Some(existing) = tx.card_by_serial(&rec.card_serial)?
                && existing.person_id != person_id
            {
                report.error(mislink(
                    &file,
                    rec.line,
                    "card_serial",
                    format!(
                        "card serial {} already belongs to another person",
                        rec.card_serial
                    ),
                ));
                continue;
            }
            let (status, pin_locked) = cert_status(rec.status);
            let cert = CardCert {
                serial: rec.card_serial,
                person_id,
                cert_expiry: rec.cert_expiry,
                status,
            };
            let (chip, public_key) = match chip {
                Ok(c) => c,
                Err(message) => {
                    if known.initial_load {
                        report.cards.inserted += 1;
                    } else {
                        report.cards.add(tx.upsert_card(&cert)?);
                    }
                    report.error(RowError {
                        file: file.clone(),
                        line: rec.line,
                        column: "pin".into(),
                        rule: "format",
                        message,
                    });
                    continue;
                }
            };
            // the serial is new in this file: the card world may hold it to write it sorted
            match chip {
                Chip::New(c) => issue.issue_new(c, pin_locked),
                Chip::Row(r) => issue.issue_prepared(r, pin_locked).map(|_| ()),
            }
            .map_err(card_store)?;
            let mut hex = [0u8; 64];
            let public_key = hex_key(&public_key, &mut hex);
            if known.initial_load {
                tx.insert_new_card(&cert, public_key)?;
                report.cards.inserted += 1;
            } else {
                report.cards.add(tx.upsert_card(&cert)?);
                tx.set_card_key(&cert.serial, public_key)?;
            }
        }
        Ok(())
    })?;
    progress(report.rows_read);
    Ok(())
}

/// The card serials met in a file: each held in place (no allocation) when it has at most 32
/// bytes, as the file's format says.
#[derive(Default)]
struct Serials {
    short: HashSet<[u8; 32]>,
    long: HashSet<String>,
}

impl Serials {
    /// Notes `serial`; false if it was met before.
    fn insert(&mut self, serial: &str) -> bool {
        let b = serial.as_bytes();
        // a serial is letters and digits: padding with NUL keeps distinct serials distinct
        if b.len() <= 32 && !b.contains(&0) {
            let mut k = [0u8; 32];
            k[..b.len()].copy_from_slice(b);
            self.short.insert(k)
        } else {
            self.long.insert(serial.to_string())
        }
    }
}

/// A public key in lowercase hex, written into `buf`.
fn hex_key<'b>(key: &[u8; 32], buf: &'b mut [u8; 64]) -> &'b str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, &x) in buf.chunks_exact_mut(2).zip(key) {
        pair[0] = DIGITS[usize::from(x >> 4)];
        pair[1] = DIGITS[usize::from(x & 15)];
    }
    std::str::from_utf8(buf).unwrap_or_default()
}

fn duplicate_row(
    file: &str,
    line: u64,
    q: &onshi_domain::qualification::Qualification,
) -> RowError {
    RowError {
        file: file.to_string(),
        line,
        column: "qualification_date".into(),
        rule: "duplicate",
        message: format!(
            "this person already has a row for insurer {} from {} in this file",
            q.insurer_number, q.qualification_date
        ),
    }
}

fn overlap_row(
    file: &str,
    line: u64,
    q: &onshi_domain::qualification::Qualification,
    from: chrono::NaiveDate,
    to: Option<chrono::NaiveDate>,
) -> RowError {
    RowError {
        file: file.to_string(),
        line,
        column: "qualification_date".into(),
        rule: "overlap",
        message: format!(
            "overlaps the qualification under insurer {} from {} to {} of the same person",
            q.insurer_number,
            from,
            to.map(|d| d.to_string()).unwrap_or_else(|| "(open)".into())
        ),
    }
}

fn vanished() -> StoreError {
    StoreError::Corrupt("a person met in this import vanished".into())
}

fn card_store(e: onshi_card::CardError) -> StoreError {
    match e {
        onshi_card::CardError::Store(e) => e,
        other => StoreError::Conflict(other.to_string()),
    }
}

fn import_qualifications<Q: Read + Send>(
    tx: &mut dyn ImportTx,
    hasher: &MyNumberHasher,
    input: Input<Q>,
    known: &mut Known,
    report: &mut ImportReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ImportError> {
    let file = input.name.clone();
    let (rows, parser) = match registry_csv::read_qualifications(&file, input.reader) {
        Ok(r) => r.unparsed(),
        Err(e) => {
            report.error(e);
            return Ok(());
        }
    };
    let mut seen: HashSet<(PersonId, String, chrono::NaiveDate)> = HashSet::new();
    let mut insurers: std::collections::HashMap<String, String> = Default::default();
    std::thread::scope(|s| -> Result<(), ImportError> {
        let prepared = off_thread(s, rows, |row| {
            row.and_then(|raw| parser.parse(&raw))
                .map(|rec| PreparedQualification {
                    hash: hasher.hash(&rec.my_number),
                    facts: Facts::of(&rec.person),
                    rec,
                })
        });
        for row in prepared {
            report.row_read(progress);
            let PreparedQualification {
                rec,
                hash: h,
                facts: fp,
            } = match row {
                Ok(r) => r,
                Err(errs) => {
                    errs.into_iter().for_each(|e| report.error(e));
                    continue;
                }
            };
            let key = key_of(&h);
            let q = &rec.qualification;
            // Who the row's person is, held against what is registered (the mislink guard).
            let met = match known.map.get(&key) {
                Some(k) if k.same_facts(&rec.person, fp) => Some((k.id, k.new)),
                Some(k) => {
                    // A fingerprint differs: read the person back for the exact check and message.
                    let (id, new) = (k.id, k.new);
                    let existing = tx.person_by_id(id)?.ok_or_else(vanished)?;
                    match cross_check(&file, rec.line, &existing.person, &rec.person) {
                        Err(e) => {
                            report.error(e);
                            continue;
                        }
                        Ok(w) => {
                            if let Some(w) = w {
                                report.warnings.push(w);
                            }
                            Some((id, new))
                        }
                    }
                }
                None => None,
            };
            let (person_id, new) = match met {
                Some(m) => m,
                None if known.initial_load => {
                    report.persons_created += 1;
                    let id = tx.insert_new_person(&h, &rec.person)?;
                    known
                        .map
                        .insert(key, KnownPerson::with(id, true, &rec.person, fp));
                    (id, true)
                }
                None => match tx.person_by_hash(&h)? {
                    Some(existing) => {
                        match cross_check(&file, rec.line, &existing.person, &rec.person) {
                            Err(e) => {
                                report.error(e);
                                continue;
                            }
                            Ok(w) => {
                                if let Some(w) = w {
                                    report.warnings.push(w);
                                }
                                known.map.insert(
                                    key,
                                    KnownPerson::of(existing.id, false, &existing.person),
                                );
                                (existing.id, false)
                            }
                        }
                    }
                    None => {
                        report.persons_created += 1;
                        let id = tx.insert_new_person(&h, &rec.person)?;
                        known
                            .map
                            .insert(key, KnownPerson::of(id, true, &rec.person));
                        (id, true)
                    }
                },
            };
            // The post number comes with the qualification rows (a My Number card and the cards
            // file carry none): the person keeps the latest one a row gives.
            if let Some(post) = rec.person.post_number.as_deref()
                && let Some(k) = known.map.get_mut(&key)
                && k.post != Some(fingerprint(post))
            {
                tx.update_post_number(person_id, post)?;
                k.post = Some(fingerprint(post));
            }
            if new {
                // Everything this person has is in memory: check duplicates and overlaps there.
                let Some(k) = known.map.get_mut(&key) else {
                    continue;
                };
                let ins = q.insurer_number.as_str();
                if k.quals
                    .iter()
                    .any(|(i, from, _)| i == ins && *from == q.qualification_date)
                {
                    report.error(duplicate_row(&file, rec.line, q));
                    continue;
                }
                let end = |to: Option<chrono::NaiveDate>| to.unwrap_or(chrono::NaiveDate::MAX);
                if let Some((_, from, to)) = k.quals.iter().find(|(i, from, to)| {
                    i == ins
                        && *from < end(q.disqualification_date)
                        && q.qualification_date < end(*to)
                }) {
                    report.error(overlap_row(&file, rec.line, q, *from, *to));
                    continue;
                }
                k.quals.push((
                    ins.to_string(),
                    q.qualification_date,
                    q.disqualification_date,
                ));
                if insurers.get(ins) != Some(&q.insurer_name) {
                    tx.upsert_insurer(&q.insurer_number, &q.insurer_name)?;
                    insurers.insert(ins.to_string(), q.insurer_name.clone());
                }
                tx.insert_new_qualification(person_id, &rec.person.name, q)?;
                report.qualifications.inserted += 1;
                continue;
            }
            let key = (
                person_id,
                q.insurer_number.as_str().to_string(),
                q.qualification_date,
            );
            if !seen.insert(key) {
                report.error(duplicate_row(&file, rec.line, q));
                continue;
            }
            let overlapping = tx
                .qualifications_of(person_id, &q.insurer_number)?
                .into_iter()
                .find(|o| {
                    o.qualification.qualification_date != q.qualification_date
                        && o.qualification.overlaps(q)
                });
            if let Some(o) = overlapping {
                report.error(overlap_row(
                    &file,
                    rec.line,
                    q,
                    o.qualification.qualification_date,
                    o.qualification.disqualification_date,
                ));
                continue;
            }
            if insurers.get(q.insurer_number.as_str()) != Some(&q.insurer_name) {
                tx.upsert_insurer(&q.insurer_number, &q.insurer_name)?;
                insurers.insert(
                    q.insurer_number.as_str().to_string(),
                    q.insurer_name.clone(),
                );
            }
            report
                .qualifications
                .add(tx.upsert_qualification(person_id, &rec.person.name, q)?);
        }
        Ok(())
    })?;
    progress(report.rows_read);
    Ok(())
}
