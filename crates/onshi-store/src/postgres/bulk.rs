//! The initial load of an empty registry on PostgreSQL: binary `COPY … FROM STDIN` instead of
//! one statement per row, the secondary indexes and constraints built after the load — all in
//! the import's one transaction, so a refused file leaves nothing, indexes included.
//!
//! At the start ([`Bulk::start`]) the registry's tables are locked, found empty, and the
//! constraints and indexes whose B-trees would take random keys are dropped after their
//! definitions are read from the catalogue (`pg_get_constraintdef`, `pg_get_indexdef`): the
//! unique My Number hash, the qualification keys, the card serials, the foreign keys and
//! the search indexes. Only `person`'s primary key stays (ids are handed out in order here, so
//! its B-tree is appended to, and other tables refer to it). Persons get their ids from the
//! identity sequence up front. Rows are buffered and sent with `COPY (FORMAT binary)` in
//! batches; the few reads an import makes on the way (a person met before, to word a
//! message) are answered from the buffer or by primary key. The persons are held until the
//! end (up to [`crate::HOLD_PERSONS`]), so that a card holder's post number, which comes with their
//! qualification rows after the cards file, is set before the row is sent. At commit
//! ([`Bulk::finish`]) the last rows go, the post numbers set on persons already sent (beyond
//! that bound) are applied in one `UPDATE`, the sort memory is raised for the transaction,
//! the sequence is moved past the ids used, every dropped constraint and index is built again
//! from its saved definition (a foreign key checks every row then), and the tables are
//! analysed.

use std::collections::HashMap;

use deadpool_postgres::Object;
use onshi_domain::numbers::MyNumberHash;
use onshi_domain::qualification::{Person, Qualification};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use crate::{CardCert, PersonId, PersonRecord, Result, StoreError};

/// Rows of qualifications and cards buffered before they are sent.
const FLUSH_ROWS: usize = 8192;

/// The sort memory of the import's transaction (`SET LOCAL`), for the index and key builds at
/// its end and the foreign-key checks' joins: the server's defaults (64 MB / 4 MB) spill
/// every sort of a 10 M-row index to temporary files.
const SORT_MEMORY: &str = "SET LOCAL maintenance_work_mem = '1GB'; SET LOCAL work_mem = '256MB'";

/// The registry tables an initial load writes.
const TABLES: &str = "person, qualification, card, card_key";

/// A person waiting to be sent.
struct PersonRow {
    hash: String,
    person: Person,
}

/// The initial load in progress on the import's connection.
pub(super) struct Bulk {
    /// persons held at most ([`crate::HOLD_PERSONS`] unless the store says otherwise)
    hold: usize,
    /// id of `pending[0]`
    first_pending: PersonId,
    pending: Vec<PersonRow>,
    quals: Vec<(PersonId, String, Qualification)>,
    cards: Vec<(CardCert, String)>,
    /// post numbers set on persons already sent (applied at the end)
    posts: HashMap<PersonId, String>,
    /// `ALTER TABLE … ADD CONSTRAINT …` and `CREATE INDEX …` to run at the end, in order
    rebuild: Vec<String>,
}

impl Bulk {
    /// Locks the registry's tables, checks they are empty, drops the deferred constraints and
    /// indexes (their definitions kept) and reserves the ids from the sequence.
    /// `None` when a card key is registered without its card (the rows are then written one
    /// by one, as upserts).
    pub(super) async fn start(c: &Object, hold: usize) -> Result<Option<Bulk>> {
        c.batch_execute(&format!("LOCK TABLE {TABLES} IN ACCESS EXCLUSIVE MODE"))
            .await?;
        let r = c
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM person), NOT EXISTS (SELECT 1 FROM card_key)",
                &[],
            )
            .await?;
        let (empty, no_keys): (bool, bool) = (r.try_get(0)?, r.try_get(1)?);
        if !empty {
            return Err(StoreError::Conflict(
                "an initial load needs an empty registry".into(),
            ));
        }
        if !no_keys {
            return Ok(None);
        }
        // every unique, primary and foreign key of the four tables but person's primary key
        // (ids come in order; the medical information refers to it)
        let constraints = c
            .query(
                "SELECT c.conrelid::regclass::text, c.conname::text, \
                 pg_get_constraintdef(c.oid), c.contype::text \
                 FROM pg_constraint c \
                 WHERE c.conrelid = ANY (ARRAY['person', 'qualification', 'card', \
                 'card_key']::regclass[]) \
                 AND c.contype IN ('p', 'u', 'f') \
                 AND NOT (c.conrelid = 'person'::regclass AND c.contype = 'p') \
                 ORDER BY c.contype = 'f' DESC, c.conname",
                &[],
            )
            .await?;
        // the plain indexes (not behind a constraint)
        let indexes = c
            .query(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) \
                 FROM pg_index i \
                 WHERE i.indrelid = ANY (ARRAY['person', 'qualification', 'card', \
                 'card_key']::regclass[]) \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) \
                 ORDER BY 1",
                &[],
            )
            .await?;
        let mut drops = Vec::new();
        let mut keys = Vec::new();
        let mut foreign = Vec::new();
        for r in &constraints {
            let (table, name, def, kind): (String, String, String, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            // foreign keys go first (nothing else depends on them) and come back last
            drops.push(format!("ALTER TABLE {table} DROP CONSTRAINT {name}"));
            let add = format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}");
            if kind == "f" {
                foreign.push(add);
            } else {
                keys.push(add);
            }
        }
        let mut plain = Vec::new();
        for r in &indexes {
            let (name, def): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            drops.push(format!("DROP INDEX {name}"));
            plain.push(def);
        }
        if !drops.is_empty() {
            c.batch_execute(&drops.join(";\n")).await?;
        }
        let first: PersonId = c
            .query_one(
                "SELECT nextval(pg_get_serial_sequence('person', 'id'))",
                &[],
            )
            .await?
            .try_get(0)?;
        let mut rebuild = keys;
        rebuild.extend(plain);
        rebuild.extend(foreign);
        Ok(Some(Bulk {
            hold,
            first_pending: first,
            pending: Vec::new(),
            quals: Vec::new(),
            cards: Vec::new(),
            posts: HashMap::new(),
            rebuild,
        }))
    }

    fn next_id(&self) -> PersonId {
        self.first_pending + self.pending.len() as PersonId
    }

    fn pending_mut(&mut self, id: PersonId) -> Option<&mut PersonRow> {
        let i = usize::try_from(id - self.first_pending).ok()?;
        self.pending.get_mut(i)
    }

    /// Sends the buffered qualifications and cards when [`FLUSH_ROWS`] are buffered, and the
    /// held persons too when as many as it may hold are held.
    async fn flush_if_full(&mut self, c: &Object) -> Result<()> {
        let persons_too = self.pending.len() >= self.hold;
        if persons_too || self.quals.len() + self.cards.len() >= FLUSH_ROWS {
            self.flush(c, persons_too).await?;
        }
        Ok(())
    }

    pub(super) async fn insert_person(
        &mut self,
        c: &Object,
        h: &MyNumberHash,
        p: &Person,
    ) -> Result<PersonId> {
        let id = self.next_id();
        self.pending.push(PersonRow {
            hash: h.as_str().to_string(),
            person: p.clone(),
        });
        self.flush_if_full(c).await?;
        Ok(id)
    }

    pub(super) async fn insert_qualification(
        &mut self,
        c: &Object,
        person: PersonId,
        registered_name: &str,
        q: &Qualification,
    ) -> Result<()> {
        self.quals
            .push((person, registered_name.to_string(), q.clone()));
        self.flush_if_full(c).await?;
        Ok(())
    }

    pub(super) async fn insert_card(
        &mut self,
        c: &Object,
        card: &CardCert,
        public_key: &str,
    ) -> Result<()> {
        self.cards.push((card.clone(), public_key.to_string()));
        self.flush_if_full(c).await?;
        Ok(())
    }

    /// The person as this transaction sees it: from the buffer, or by primary key with a post
    /// number set since it was sent.
    pub(super) async fn person(&self, c: &Object, id: PersonId) -> Result<Option<PersonRecord>> {
        if id >= self.first_pending {
            return Ok(usize::try_from(id - self.first_pending)
                .ok()
                .and_then(|i| self.pending.get(i))
                .map(|p| PersonRecord {
                    id,
                    person: p.person.clone(),
                }));
        }
        let mut found = super::person_by_id(c, id).await?;
        if let (Some(r), Some(post)) = (found.as_mut(), self.posts.get(&id)) {
            r.person.post_number = Some(post.clone());
        }
        Ok(found)
    }

    /// Sets the post number of a person of this load.
    pub(super) fn set_post_number(&mut self, id: PersonId, post: &str) {
        match self.pending_mut(id) {
            Some(p) => p.person.post_number = Some(post.to_string()),
            None => {
                self.posts.insert(id, post.to_string());
            }
        }
    }

    /// Replaces a person of this load; `false` if it was sent already (the caller updates the
    /// row, and a post number set since is superseded).
    pub(super) fn replace_pending(&mut self, id: PersonId, p: &Person) -> bool {
        match self.pending_mut(id) {
            Some(row) => {
                row.person = p.clone();
                true
            }
            None => {
                self.posts.remove(&id);
                false
            }
        }
    }

    /// Sends the buffered rows, one binary `COPY` per table; the held persons only when
    /// `persons_too` (at the end, or when as many as it may hold are held).
    async fn flush(&mut self, c: &Object, persons_too: bool) -> Result<()> {
        if persons_too && !self.pending.is_empty() {
            let sink = c
                .copy_in(&format!(
                    "COPY person (id, my_number_hash, {}) FROM STDIN (FORMAT binary)",
                    super::PERSON_WRITE_COLS
                ))
                .await?;
            let w = BinaryCopyInWriter::new(
                sink,
                &[
                    Type::INT8,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::DATE,
                    Type::TEXT,
                    Type::TEXT,
                ],
            );
            let mut w = std::pin::pin!(w);
            for (i, row) in self.pending.iter().enumerate() {
                let id = self.first_pending + i as PersonId;
                let v = super::PersonValues::of(&row.person);
                w.as_mut().write(&v.params(&[&id, &row.hash])).await?;
            }
            w.finish().await?;
            self.first_pending = self.next_id();
            self.pending.clear();
        }
        if !self.quals.is_empty() {
            let sink = c
                .copy_in(&format!(
                    "COPY qualification ({}) FROM STDIN (FORMAT binary)",
                    super::QUAL_INSERT_COLS
                ))
                .await?;
            let w = BinaryCopyInWriter::new(sink, &super::QUAL_INSERT_TYPES);
            let mut w = std::pin::pin!(w);
            for (person, name, q) in &self.quals {
                let v = super::QualValues::of(q)?;
                w.as_mut().write(&v.params(person, name)).await?;
            }
            w.finish().await?;
            self.quals.clear();
        }
        if !self.cards.is_empty() {
            let sink = c
                .copy_in(
                    "COPY card (serial, person_id, cert_expiry, status) FROM STDIN \
                     (FORMAT binary)",
                )
                .await?;
            let w =
                BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::INT8, Type::DATE, Type::TEXT]);
            let mut w = std::pin::pin!(w);
            for (card, _) in &self.cards {
                w.as_mut()
                    .write(&[
                        &card.serial,
                        &card.person_id,
                        &card.cert_expiry,
                        &card.status.code(),
                    ])
                    .await?;
            }
            w.finish().await?;
            let sink = c
                .copy_in("COPY card_key (serial, public_key) FROM STDIN (FORMAT binary)")
                .await?;
            let w = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::TEXT]);
            let mut w = std::pin::pin!(w);
            for (card, key) in &self.cards {
                let values: [&(dyn ToSql + Sync); 2] = [&card.serial, key];
                w.as_mut().write(&values).await?;
            }
            w.finish().await?;
            self.cards.clear();
        }
        Ok(())
    }

    /// Sends the rest, applies the post numbers, moves the sequence on and builds the
    /// constraints and indexes again. The caller commits.
    pub(super) async fn finish(mut self, c: &Object) -> Result<()> {
        self.flush(c, true).await?;
        c.batch_execute(SORT_MEMORY).await?;
        if !self.posts.is_empty() {
            c.batch_execute(
                "CREATE TEMPORARY TABLE onshi_import_post (id bigint NOT NULL, \
                 post_number text NOT NULL) ON COMMIT DROP",
            )
            .await?;
            let sink = c
                .copy_in("COPY onshi_import_post (id, post_number) FROM STDIN (FORMAT binary)")
                .await?;
            let w = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::TEXT]);
            let mut w = std::pin::pin!(w);
            for (id, post) in &self.posts {
                let values: [&(dyn ToSql + Sync); 2] = [id, post];
                w.as_mut().write(&values).await?;
            }
            w.finish().await?;
            c.batch_execute(
                "UPDATE person p SET post_number = t.post_number FROM onshi_import_post t \
                 WHERE p.id = t.id",
            )
            .await?;
        }
        c.execute(
            "SELECT setval(pg_get_serial_sequence('person', 'id'), $1, false)",
            &[&self.next_id()],
        )
        .await?;
        for sql in &self.rebuild {
            c.batch_execute(sql).await?;
        }
        c.batch_execute(&format!("ANALYZE {TABLES}")).await?;
        Ok(())
    }
}
