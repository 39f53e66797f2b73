//! Group commit for the confirmation history: every confirmation is durably in the history
//! before it is acknowledged, without one fsync per confirmation. Callers hand an entry to
//! the writer thread and wait; the thread takes whatever has queued up (up to
//! [`MAX_BATCH`]), writes it in one transaction, and answers every waiter with its id. The
//! medical-information consents a confirmation carries (R2) go in the same transaction.

use std::sync::Arc;

use onshi_domain::medinfo::ConsentGrant;
use onshi_store::{ConfirmationEntry, HistoryStore};

use crate::batcher::{Batcher, ids_or_error};

pub const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("the confirmation history could not be written: {0}")]
    Write(String),
    #[error("the confirmation history writer has stopped")]
    Stopped,
}

/// Handle to the writer thread. Cloning shares the thread.
#[derive(Clone)]
pub struct HistoryWriter {
    batcher: Batcher<(ConfirmationEntry, Vec<ConsentGrant>), Result<i64, String>>,
}

impl HistoryWriter {
    pub fn start(store: Arc<dyn HistoryStore>) -> Self {
        let batcher = Batcher::start("history-writer", MAX_BATCH, QUEUE, move |items| {
            let mut entries = Vec::with_capacity(items.len());
            let mut consents = Vec::new();
            for (e, c) in items {
                entries.push(e);
                consents.extend(c);
            }
            let written = store.append_confirmations_with_consents(&entries, &consents);
            ids_or_error("history batch", entries.len(), written)
        });
        HistoryWriter { batcher }
    }

    /// Appends one entry; resolves once it is committed.
    pub async fn append(&self, e: ConfirmationEntry) -> Result<i64, HistoryError> {
        self.append_with_consents(e, Vec::new()).await
    }

    /// Appends one entry with the consents given in that confirmation; resolves once both
    /// are committed (in the same transaction).
    pub async fn append_with_consents(
        &self,
        e: ConfirmationEntry,
        consents: Vec<ConsentGrant>,
    ) -> Result<i64, HistoryError> {
        answer(self.batcher.submit((e, consents)).await)
    }

    /// Blocking form for non-async callers.
    pub fn append_blocking(&self, e: ConfirmationEntry) -> Result<i64, HistoryError> {
        answer(self.batcher.submit_blocking((e, Vec::new())))
    }
}

fn answer(a: Option<Result<i64, String>>) -> Result<i64, HistoryError> {
    match a {
        Some(Ok(id)) => Ok(id),
        Some(Err(m)) => Err(HistoryError::Write(m)),
        None => Err(HistoryError::Stopped),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onshi_store::{HistoryFilter, StoreError};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts batches and can be told to fail (fault injection).
    #[derive(Default)]
    struct Recorder {
        batches: AtomicUsize,
        rows: Mutex<Vec<String>>,
        fail: std::sync::atomic::AtomicBool,
    }

    impl HistoryStore for Recorder {
        fn append_confirmations_with_consents(
            &self,
            batch: &[ConfirmationEntry],
            _: &[ConsentGrant],
        ) -> Result<Vec<i64>, StoreError> {
            std::thread::sleep(std::time::Duration::from_millis(2)); // an fsync's worth
            if self.fail.load(Ordering::Relaxed) {
                return Err(StoreError::Conflict("disk full".into()));
            }
            self.batches.fetch_add(1, Ordering::Relaxed);
            let mut rows = self.rows.lock().unwrap();
            let start = rows.len() as i64;
            rows.extend(batch.iter().map(|e| e.outcome.clone()));
            Ok((0..batch.len() as i64).map(|i| start + i + 1).collect())
        }
        fn list_confirmations(
            &self,
            _: &str,
            _: &HistoryFilter,
        ) -> Result<Vec<ConfirmationEntry>, StoreError> {
            Ok(Vec::new())
        }
    }

    fn entry(i: usize) -> ConfirmationEntry {
        ConfirmationEntry {
            id: 0,
            facility: "1311234567".into(),
            processed_at: String::new(),
            confirmation_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            reference_classification: onshi_domain::codes::ReferenceClassification::Card,
            identity_method: None,
            staff_id: None,
            card_serial: None,
            person_id: None,
            birthdate: None,
            kana_key: None,
            outcome: i.to_string(),
            result: serde_json::value::to_raw_value(&serde_json::Value::Null).unwrap(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_are_group_committed_and_each_acknowledged_once() {
        let rec = Arc::new(Recorder::default());
        let w = HistoryWriter::start(rec.clone());
        let mut tasks = Vec::new();
        for i in 0..400 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move { w.append(entry(i)).await }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap().unwrap());
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 400, "every append acknowledged with its own id");
        assert_eq!(
            rec.rows.lock().unwrap().len(),
            400,
            "nothing lost, nothing doubled"
        );
        let batches = rec.batches.load(Ordering::Relaxed);
        assert!(
            batches < 400,
            "appends share commits ({batches} batches for 400)"
        );
    }

    #[tokio::test]
    async fn a_failed_commit_is_reported_to_every_waiter_not_acknowledged() {
        let rec = Arc::new(Recorder::default());
        rec.fail.store(true, Ordering::Relaxed);
        let w = HistoryWriter::start(rec.clone());
        let e = w.append(entry(1)).await.unwrap_err();
        assert!(matches!(e, HistoryError::Write(m) if m.contains("disk full")));
    }
}
