//! Storage for onshi: the storage interface and its two implementations, SQLite (one file,
//! [`SqliteStore`]) and PostgreSQL ([`PostgresStore`], `postgres://…`). `tests/conformance.rs`
//! and `tests/outage_conformance.rs` are the suites every backend must pass.
//!
//! Boundary rules:
//! - the traits speak domain types (`onshi-domain`); no SQL leaks out;
//! - a method either does all it says or nothing (each write is one transaction);
//! - the confirmation history is append-only; `append_confirmations` takes a batch so the
//!   caller can group-commit (one durable commit for many confirmations);
//! - the chips of the emulated cards (PIN state) are not here: they live in the card
//!   emulation's own file (crate `onshi-card`), reached through [`ChipStore`]; the central
//!   keeps certificates only (the card's public key, serial, validity, revocation, person)
//!   and the certified readers' device keys (see [`trust`]).

use chrono::NaiveDate;
use onshi_domain::card::CertStatus;
use onshi_domain::codes::{IdentityMethod, ReferenceClassification};
use onshi_domain::numbers::{InsurerNumber, MedicalInstitutionCode, MyNumberHash};
use onshi_domain::qualification::{Person, Qualification};
use serde::{Deserialize, Serialize};

pub mod medinfo;
pub mod outage;
pub mod postgres;
pub mod sqlite;
mod sqlite_map;
pub mod trust;

pub use medinfo::{MedicalInfoStore, ViewsOf};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use trust::{ReaderRecord, Refusal, TrustStore};

thread_local! {
    static MAY_BLOCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the calling thread declared free to block on I/O that it drives itself: a
/// thread of `tokio::task::block_in_place` or `spawn_blocking`, which is in a runtime's
/// context without being one of its workers. A store that waits on the network
/// ([`PostgresStore`]) then does the round trips of `f`'s reads on this thread, instead of
/// handing them to its own runtime's threads and waiting to be woken. Without it, a thread
/// in a runtime's context is taken to be an async worker, which must not block that way.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            MAY_BLOCK.set(self.0);
        }
    }
    let _reset = Reset(MAY_BLOCK.replace(true));
    f()
}

/// Whether the calling thread may drive a connection's I/O itself (see [`blocking`]): it
/// said so, or it is in no runtime's context at all (a plain thread).
pub(crate) fn may_block_here() -> bool {
    MAY_BLOCK.get() || tokio::runtime::Handle::try_current().is_err()
}

pub type PersonId = i64;

/// Persons an initial load holds in memory until its end, at most (both backends). A card
/// holder's post number comes with their qualification rows, after the cards file: a person
/// still held gets it in place, one already written needs its row updated — on PostgreSQL that
/// rewrote 8 of 10 rows of `person` (12 of the 64 s of a 1 M import) when persons were sent
/// every 8,192 rows. A held person is a few hundred bytes: 16 M persons is ~5 GB.
pub(crate) const HOLD_PERSONS: usize = 16 << 20;

/// The answer of a store call made from async code (the card confirmation's hot path, e.g.
/// [`RegistryRead::card_with_history_async`]). An embedded store answers at once, inside the
/// call; one that waits on the network ([`PostgresStore`]) does the round trip on the
/// caller's runtime, with no thread parked for it.
pub type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'a>>;

/// A store call's answer given at once, as a [`StoreFuture`] (the traits' default).
pub fn ready<'a, T: Send + 'a>(answer: Result<T>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(answer))
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("PostgreSQL error: {0}")]
    Pg(#[from] tokio_postgres::Error),
    #[error("PostgreSQL connection: {0}")]
    Pool(String),
    #[error("schema migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A person as stored, with the keys searches use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRecord {
    pub id: PersonId,
    pub person: Person,
}

/// A stored qualification with the name the insurer registered it under (which may be an
/// 異体字 variant of the card holder's name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualificationRecord {
    pub id: i64,
    pub person_id: PersonId,
    pub registered_name: String,
    pub qualification: Qualification,
}

/// The certificate side of a card, as the central sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardCert {
    pub serial: String,
    pub person_id: PersonId,
    pub cert_expiry: NaiveDate,
    pub status: CertStatus,
}

/// The chip side of an emulated card: PIN state. Only `onshi-card` interprets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipRow {
    pub serial: String,
    /// keyed hash of the PIN; `None` for a PIN-less card
    pub pin_hash: Option<String>,
    pub failures: u32,
    pub locked: bool,
    pub photo_ref: Option<String>,
}

/// A facility known to the central, with the hash of its API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Facility {
    pub code: MedicalInstitutionCode,
    pub name: String,
}

/// One entry of a facility's confirmation history (資格確認履歴, R6).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfirmationEntry {
    /// assigned by the store
    pub id: i64,
    pub facility: String,
    /// when the central processed it, `YYYY-MM-DDTHH:MM:SS.sssZ`
    pub processed_at: String,
    pub confirmation_date: NaiveDate,
    pub reference_classification: ReferenceClassification,
    pub identity_method: Option<IdentityMethod>,
    /// who ticked 目視で本人確認完了 (R3), or who typed the numbers
    pub staff_id: Option<String>,
    pub card_serial: Option<String>,
    #[schema(value_type = Option<i64>)]
    pub person_id: Option<PersonId>,
    pub birthdate: Option<NaiveDate>,
    /// kana_key of the patient's name, for filtering
    pub kana_key: Option<String>,
    /// "1".."5" (資格有効性) or an error class such as "pin_locked"
    pub outcome: String,
    /// the response as returned, JSON (serialized once, by the caller): a
    /// `ConfirmationResponse`
    #[schema(value_type = Object)]
    pub result: Box<serde_json::value::RawValue>,
}

/// Filter for listing a facility's history. `facility` is mandatory: a facility never sees
/// another's history.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistoryFilter {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub birthdate: Option<NaiveDate>,
    pub kana_key: Option<String>,
    pub card_serial: Option<String>,
    pub outcome: Option<String>,
    pub limit: Option<u32>,
    pub before_id: Option<i64>,
}

/// A card, and its holder with the holder's full history (`None` if the holder is missing).
pub type CardWithHistory = (CardCert, Option<(PersonRecord, Vec<QualificationRecord>)>);

/// The card's certificate key (hex, `None` when none is registered) and the card with its
/// holder and history (`None` when no such card): [`RegistryRead::card_key_and_history_async`].
pub type CardKeyAndHistory = (Option<String>, Option<CardWithHistory>);

/// Read side of the registry, used on the confirmation path.
pub trait RegistryRead: Send + Sync {
    /// Does a call wait on the network (a database server), rather than on local files? The
    /// central then lets its async worker hand its other work to another thread while a call
    /// waits (`Central::store_call`).
    fn waits_on_network(&self) -> bool {
        false
    }
    fn card(&self, serial: &str) -> Result<Option<CardCert>>;
    fn person(&self, id: PersonId) -> Result<Option<PersonRecord>>;
    fn qualifications(&self, person: PersonId) -> Result<Vec<QualificationRecord>>;
    /// Person and full history in one call (the hot path).
    fn person_with_history(
        &self,
        id: PersonId,
    ) -> Result<Option<(PersonRecord, Vec<QualificationRecord>)>>;
    /// A card with its holder and the holder's full history, in one call: the card
    /// confirmation's hot path. Backends should answer it with one query.
    fn card_with_history(&self, serial: &str) -> Result<Option<CardWithHistory>> {
        let Some(card) = self.card(serial)? else {
            return Ok(None);
        };
        let h = self.person_with_history(card.person_id)?;
        Ok(Some((card, h)))
    }
    /// [`RegistryRead::card_with_history`] for async callers (see [`StoreFuture`]).
    fn card_with_history_async<'a>(
        &'a self,
        serial: &'a str,
    ) -> StoreFuture<'a, Option<CardWithHistory>> {
        ready(self.card_with_history(serial))
    }
    /// The card confirmation's two registry reads for a PIN check as one: the public key of
    /// the card's certificate (what [`trust::TrustStore::card_public_key`] answers) and
    /// [`RegistryRead::card_with_history`], from one snapshot. For a backend where each read
    /// is a round trip to a server (PostgreSQL: one statement instead of two). `None`: the
    /// backend has no such read, and the caller makes the two reads (SQLite, whose reads are
    /// local). The card's data is read before its signature is checked; the caller drops it
    /// when the check fails.
    fn card_key_and_history_async<'a>(
        &'a self,
        _serial: &'a str,
    ) -> Option<StoreFuture<'a, CardKeyAndHistory>> {
        None
    }
    /// Qualifications registered under `insurer` with this number key (width-folded).
    fn qualifications_by_number(
        &self,
        insurer: &InsurerNumber,
        number_key: &str,
    ) -> Result<Vec<QualificationRecord>>;
    /// R23: the qualifications under `insurer` not lost by `as_of` whose card / 資格確認書 was
    /// issued by `as_of` and which the insurer registered in the OQS only after that issuance
    /// (rows without either date are not among them), in qualification-date order.
    fn registered_after_issuance(
        &self,
        insurer: &InsurerNumber,
        as_of: NaiveDate,
    ) -> Result<Vec<QualificationRecord>>;
    fn counts(&self) -> Result<RegistryCounts>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryCounts {
    pub persons: u64,
    pub qualifications: u64,
    pub cards: u64,
    pub insurers: u64,
    pub confirmations: u64,
}

/// The confirmation history.
pub trait HistoryStore: Send + Sync {
    /// Appends a batch durably in one commit; returns the ids in order.
    fn append_confirmations(&self, batch: &[ConfirmationEntry]) -> Result<Vec<i64>> {
        self.append_confirmations_with_consents(batch, &[])
    }
    /// Appends a batch together with the medical-information consents given at the reader in
    /// those confirmations (R2), durably in one commit: a consent is never kept without the
    /// confirmation that carried it, nor that confirmation without its consents. Returns the
    /// confirmations' ids in order.
    fn append_confirmations_with_consents(
        &self,
        batch: &[ConfirmationEntry],
        consents: &[onshi_domain::medinfo::ConsentGrant],
    ) -> Result<Vec<i64>>;
    fn list_confirmations(
        &self,
        facility: &str,
        filter: &HistoryFilter,
    ) -> Result<Vec<ConfirmationEntry>>;
}

/// Facilities and their API tokens.
pub trait FacilityStore: Send + Sync {
    fn upsert_facility(&self, f: &Facility, token_hash: &str) -> Result<()>;
    fn facility_by_token_hash(&self, token_hash: &str) -> Result<Option<Facility>>;
    /// [`FacilityStore::facility_by_token_hash`] for async callers (see [`StoreFuture`]):
    /// every request of the API asks it.
    fn facility_by_token_hash_async<'a>(
        &'a self,
        token_hash: &'a str,
    ) -> StoreFuture<'a, Option<Facility>> {
        ready(self.facility_by_token_hash(token_hash))
    }
    /// Removes the facility's token: no token authenticates it any more until it is re-keyed
    /// with [`FacilityStore::upsert_facility`]. Returns whether the facility exists.
    fn revoke_facility_token(&self, code: &MedicalInstitutionCode) -> Result<bool>;
}

/// PIN state of the emulated cards, for `onshi-card` only (implemented there, over the card
/// emulation's own file).
pub trait ChipStore: Send + Sync {
    fn chip(&self, serial: &str) -> Result<Option<ChipRow>>;
    /// One PIN attempt, checked and counted atomically (R1, the 3-try lock): in a single
    /// write transaction the lock is read, `candidate_hash` is compared in constant time with
    /// the stored hash, and the counter is reset (right) or incremented and the card locked at
    /// `lock_after` (wrong). A locked card refuses every attempt, the right PIN too, whatever
    /// the concurrency. `None` if the card is unknown.
    fn try_pin(
        &self,
        serial: &str,
        candidate_hash: &str,
        lock_after: u32,
    ) -> Result<Option<PinTry>>;
}

/// What one PIN attempt came to, as decided inside the chip's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinTry {
    /// The card has no PIN (PIN-less card, R2); nothing was counted.
    NotSet,
    /// The card was already locked; nothing was counted and the PIN was not compared.
    Locked,
    /// Right PIN: the counter is back at 0.
    Accepted,
    /// Wrong PIN: `failures` in a row now, `locked` if this one locked the card.
    Rejected { failures: u32, locked: bool },
}

/// Everything written by one bulk import, in one transaction: all or nothing.
pub trait ImportTx {
    /// Whether the registry had no person when the import began (an initial load can skip
    /// looking up what cannot be there).
    fn registry_is_empty(&mut self) -> Result<bool>;
    /// Declares an initial load into the empty registry (refused otherwise): the backend may
    /// defer its secondary indexes and constraints and build them, still inside this
    /// transaction, when it commits; the caller then only inserts (`insert_new_*`) and reads
    /// back what it inserted. Nothing is deferred past the commit: a refused or dropped
    /// import leaves the registry as it was, indexes included.
    fn start_initial_load(&mut self) -> Result<()> {
        Ok(())
    }
    /// Inserts a person known not to exist yet (the caller has checked).
    fn insert_new_person(&mut self, h: &MyNumberHash, p: &Person) -> Result<PersonId>;
    /// Inserts a qualification of a person created in this import (nothing to compare with).
    fn insert_new_qualification(
        &mut self,
        person: PersonId,
        registered_name: &str,
        q: &Qualification,
    ) -> Result<()>;
    fn person_by_hash(&mut self, h: &MyNumberHash) -> Result<Option<PersonRecord>>;
    /// A person by id, as this transaction sees it (also one inserted by it).
    fn person_by_id(&mut self, id: PersonId) -> Result<Option<PersonRecord>>;
    /// Inserts the person, or returns the existing id if the hash is known (facts unchanged).
    fn insert_person(&mut self, h: &MyNumberHash, p: &Person) -> Result<PersonId>;
    fn update_person(&mut self, id: PersonId, p: &Person) -> Result<()>;
    /// Sets the person's post number (it comes with the qualification rows, not the card).
    fn update_post_number(&mut self, id: PersonId, post_number: &str) -> Result<()>;
    fn upsert_insurer(&mut self, number: &InsurerNumber, name: &str) -> Result<()>;
    /// Inserts or updates the qualification keyed by (person, insurer, qualification date).
    /// Returns what happened.
    fn upsert_qualification(
        &mut self,
        person: PersonId,
        registered_name: &str,
        q: &Qualification,
    ) -> Result<UpsertOutcome>;
    fn qualifications_of(
        &mut self,
        person: PersonId,
        insurer: &InsurerNumber,
    ) -> Result<Vec<QualificationRecord>>;
    fn upsert_card(&mut self, c: &CardCert) -> Result<UpsertOutcome>;
    fn card_by_serial(&mut self, serial: &str) -> Result<Option<CardCert>>;
    /// The public key (hex ed25519) of the card's 利用者証明用電子証明書.
    fn set_card_key(&mut self, serial: &str, public_key: &str) -> Result<()>;
    /// Inserts a card known not to exist yet (the caller has checked: an initial load, a
    /// serial met once) with its public key. A serial that exists is an error.
    fn insert_new_card(&mut self, c: &CardCert, public_key: &str) -> Result<()> {
        if self.upsert_card(c)? != UpsertOutcome::Inserted {
            return Err(StoreError::Conflict(format!(
                "card {} already registered",
                c.serial
            )));
        }
        self.set_card_key(&c.serial, public_key)
    }
    /// Does the work of the commit short of the commit itself — rows the backend holds,
    /// checks, the indexes an initial load deferred — so that the caller can do other work
    /// meanwhile and commit only when that succeeded too. What fails here fails the import as
    /// a failed commit would; [`ImportTx::commit`] does it if it was not done.
    fn prepare_commit(&mut self) -> Result<()> {
        Ok(())
    }
    fn commit(self: Box<Self>) -> Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Inserted,
    Updated,
    Unchanged,
}

pub trait ImportStore {
    fn begin_import(&self) -> Result<Box<dyn ImportTx + '_>>;
    /// The names of the registry tables' indexes and constraints, sorted: what an initial load
    /// drops and builds again (for checks that it left them all).
    fn registry_indexes(&self) -> Result<Vec<String>>;
}

/// The whole storage interface.
pub trait Store:
    RegistryRead + HistoryStore + FacilityStore + TrustStore + ImportStore + MedicalInfoStore
{
}
impl<T: RegistryRead + HistoryStore + FacilityStore + TrustStore + ImportStore + MedicalInfoStore>
    Store for T
{
}

/// Everything the central keeps: the storage interface and the outage-mode tables.
pub trait CentralStore: Store + outage::OutageStore {}
impl<T: Store + outage::OutageStore> CentralStore for T {}

/// Opens the store `db` names: a `postgres://…` (or `postgresql://…`) URL opens the
/// PostgreSQL store, anything else is an SQLite file path.
pub fn open(db: &str) -> Result<std::sync::Arc<dyn CentralStore>> {
    if postgres::is_url(db) {
        Ok(std::sync::Arc::new(PostgresStore::open(db)?))
    } else {
        Ok(std::sync::Arc::new(SqliteStore::open(db)?))
    }
}
