//! Group commit for the confirmation history: every confirmation is durably in the history
//! before it is acknowledged, without one fsync per confirmation. Callers hand an entry to
//! the writer thread and wait; the thread takes whatever has queued up (up to
//! [`MAX_BATCH`]), writes it in one transaction, and answers every waiter with its id.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use onshi_store::{ConfirmationEntry, HistoryStore, StoreError};
use tokio::sync::oneshot;

pub const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;

type Reply = oneshot::Sender<Result<i64, String>>;

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
    tx: SyncSender<(ConfirmationEntry, Reply)>,
    _thread: Arc<WriterThread>,
}

struct WriterThread(Option<JoinHandle<()>>);

impl Drop for WriterThread {
    fn drop(&mut self) {
        // The sender side is dropped with the last HistoryWriter, which ends the loop.
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

impl HistoryWriter {
    pub fn start(store: Arc<dyn HistoryStore>) -> Self {
        let (tx, rx) = sync_channel::<(ConfirmationEntry, Reply)>(QUEUE);
        let handle = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || run(store, rx))
            .expect("spawn the history writer thread");
        HistoryWriter {
            tx,
            _thread: Arc::new(WriterThread(Some(handle))),
        }
    }

    /// Appends one entry; resolves once it is committed.
    pub async fn append(&self, e: ConfirmationEntry) -> Result<i64, HistoryError> {
        let (rtx, rrx) = oneshot::channel();
        let mut item = (e, rtx);
        loop {
            match self.tx.try_send(item) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    item = back;
                    tokio::task::yield_now().await;
                }
                Err(TrySendError::Disconnected(_)) => return Err(HistoryError::Stopped),
            }
        }
        match rrx.await {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(m)) => Err(HistoryError::Write(m)),
            Err(_) => Err(HistoryError::Stopped),
        }
    }

    /// Blocking form for non-async callers.
    pub fn append_blocking(&self, e: ConfirmationEntry) -> Result<i64, HistoryError> {
        let (rtx, rrx) = oneshot::channel();
        self.tx.send((e, rtx)).map_err(|_| HistoryError::Stopped)?;
        match rrx.blocking_recv() {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(m)) => Err(HistoryError::Write(m)),
            Err(_) => Err(HistoryError::Stopped),
        }
    }
}

fn run(store: Arc<dyn HistoryStore>, rx: Receiver<(ConfirmationEntry, Reply)>) {
    let mut entries = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while let Ok((e, r)) = rx.recv() {
        entries.push(e);
        replies.push(r);
        while entries.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((e, r)) => {
                    entries.push(e);
                    replies.push(r);
                }
                Err(_) => break,
            }
        }
        let res: Result<Vec<i64>, StoreError> = store.append_confirmations(&entries);
        match res {
            Ok(ids) => {
                for (r, id) in replies.drain(..).zip(ids) {
                    let _ = r.send(Ok(id));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, n = entries.len(), "history batch failed");
                let m = err.to_string();
                for r in replies.drain(..) {
                    let _ = r.send(Err(m.clone()));
                }
            }
        }
        entries.clear();
    }
}
