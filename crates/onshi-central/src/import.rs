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

use onshi_card::{Pin, PinHasher};
use onshi_domain::card::CertStatus;
use onshi_domain::kana;
use onshi_domain::numbers::MyNumberHasher;
use onshi_domain::qualification::Person;
use onshi_formats::registry_csv::{self, CardStatusCode, RowError};
use onshi_store::{CardCert, ChipRow, ImportStore, ImportTx, PersonId, StoreError, UpsertOutcome};
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

impl ImportReport {
    fn error(&mut self, e: RowError) {
        self.errors_total += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
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

fn cert_status(s: CardStatusCode) -> (CertStatus, bool) {
    match s {
        CardStatusCode::Active => (CertStatus::Active, false),
        CardStatusCode::Revoked => (CertStatus::Revoked, false),
        CardStatusCode::ChipBroken => (CertStatus::ChipBroken, false),
        CardStatusCode::PinLocked => (CertStatus::Active, true),
    }
}

/// Imports the files in one transaction. `progress` is called with the rows read so far.
pub fn import<Q: Read, C: Read>(
    store: &dyn ImportStore,
    hasher: &MyNumberHasher,
    pins: &PinHasher,
    qualifications: Option<Input<Q>>,
    cards: Option<Input<C>>,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let mut tx = store.begin_import()?;
    if let Some(input) = cards {
        import_cards(tx.as_mut(), hasher, pins, input, &mut report, progress)?;
    }
    if let Some(input) = qualifications {
        import_qualifications(tx.as_mut(), hasher, input, &mut report, progress)?;
    }
    if report.errors_total == 0 {
        tx.commit()?;
        report.committed = true;
    }
    // otherwise the transaction is dropped, which rolls it back
    Ok(report)
}

fn import_cards<C: Read>(
    tx: &mut dyn ImportTx,
    hasher: &MyNumberHasher,
    pins: &PinHasher,
    input: Input<C>,
    report: &mut ImportReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ImportError> {
    let file = input.name.clone();
    let rows = match registry_csv::read_cards(&file, input.reader) {
        Ok(r) => r,
        Err(e) => {
            report.error(e);
            return Ok(());
        }
    };
    let mut serials = HashSet::new();
    for row in rows {
        report.rows_read += 1;
        if report.rows_read.is_multiple_of(10_000) {
            progress(report.rows_read);
        }
        let rec = match row {
            Ok(r) => r,
            Err(errs) => {
                errs.into_iter().for_each(|e| report.error(e));
                continue;
            }
        };
        if !serials.insert(rec.card_serial.clone()) {
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
            name: rec.name.clone(),
            name_kana: rec.name_kana.clone(),
            sex: rec.sex,
            birthdate: rec.birthdate,
            post_number: None,
            address: rec.address.clone(),
        };
        let h = hasher.hash(&rec.my_number);
        let person_id = match tx.person_by_hash(&h)? {
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
                tx.insert_person(&h, &facts)?
            }
        };
        if let Some(existing) = tx.card_by_serial(&rec.card_serial)?
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
        report.cards.add(tx.upsert_card(&CardCert {
            serial: rec.card_serial.clone(),
            person_id,
            cert_expiry: rec.cert_expiry,
            status,
        })?);
        let pin = match rec.pin.as_deref().map(Pin::parse).transpose() {
            Ok(p) => p,
            Err(e) => {
                report.error(RowError {
                    file: file.clone(),
                    line: rec.line,
                    column: "pin".into(),
                    rule: "format",
                    message: e.to_string(),
                });
                continue;
            }
        };
        let mut chip: ChipRow = pins.issue(&rec.card_serial, pin.as_ref(), pin_locked);
        if let Some(existing) = tx_chip(tx, &rec.card_serial)?
            && existing.pin_hash == chip.pin_hash
        {
            // Same card re-imported: keep the chip's own counter and lock, unless the file
            // says the PIN is locked.
            chip.failures = existing.failures;
            chip.locked = existing.locked || pin_locked;
            if chip.locked {
                chip.failures = chip.failures.max(onshi_card::LOCK_AFTER);
            }
        }
        tx.upsert_chip(&chip)?;
    }
    progress(report.rows_read);
    Ok(())
}

fn tx_chip(tx: &mut dyn ImportTx, serial: &str) -> Result<Option<ChipRow>, StoreError> {
    tx.chip_by_serial(serial)
}

fn import_qualifications<Q: Read>(
    tx: &mut dyn ImportTx,
    hasher: &MyNumberHasher,
    input: Input<Q>,
    report: &mut ImportReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ImportError> {
    let file = input.name.clone();
    let rows = match registry_csv::read_qualifications(&file, input.reader) {
        Ok(r) => r,
        Err(e) => {
            report.error(e);
            return Ok(());
        }
    };
    let mut seen: HashSet<(PersonId, String, chrono::NaiveDate)> = HashSet::new();
    let mut insurers: std::collections::HashMap<String, String> = Default::default();
    for row in rows {
        report.rows_read += 1;
        if report.rows_read.is_multiple_of(10_000) {
            progress(report.rows_read);
        }
        let rec = match row {
            Ok(r) => r,
            Err(errs) => {
                errs.into_iter().for_each(|e| report.error(e));
                continue;
            }
        };
        let h = hasher.hash(&rec.my_number);
        let person_id = match tx.person_by_hash(&h)? {
            Some(existing) => match cross_check(&file, rec.line, &existing.person, &rec.person) {
                Err(e) => {
                    report.error(e);
                    continue;
                }
                Ok(w) => {
                    if let Some(w) = w {
                        report.warnings.push(w);
                    }
                    existing.id
                }
            },
            None => {
                report.persons_created += 1;
                tx.insert_person(&h, &rec.person)?
            }
        };
        let q = &rec.qualification;
        let key = (
            person_id,
            q.insurer_number.as_str().to_string(),
            q.qualification_date,
        );
        if !seen.insert(key) {
            report.error(RowError {
                file: file.clone(),
                line: rec.line,
                column: "qualification_date".into(),
                rule: "duplicate",
                message: format!(
                    "this person already has a row for insurer {} from {} in this file",
                    q.insurer_number, q.qualification_date
                ),
            });
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
            report.error(RowError {
                file: file.clone(),
                line: rec.line,
                column: "qualification_date".into(),
                rule: "overlap",
                message: format!(
                    "overlaps the qualification under insurer {} from {} to {} of the same person",
                    q.insurer_number,
                    o.qualification.qualification_date,
                    o.qualification
                        .disqualification_date
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "(open)".into())
                ),
            });
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
    progress(report.rows_read);
    Ok(())
}
