//! One thread that does the work of many callers in batches: the pattern of the history's
//! group commit, the outage audit's group commit and the batched signature checks. A caller
//! hands its item to the thread and waits for its answer; the thread takes whatever has
//! queued up while it worked (up to a maximum), does the batch's work at once and answers
//! every caller.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

type Job<T, R> = (T, oneshot::Sender<R>);

/// Handle to the batching thread. Cloning shares the thread; the thread ends (and is joined)
/// when the last handle is dropped, after the work queued before.
pub struct Batcher<T, R> {
    tx: SyncSender<Job<T, R>>,
    _thread: Arc<Joined>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Batcher {
            tx: self.tx.clone(),
            _thread: self._thread.clone(),
        }
    }
}

struct Joined(Option<JoinHandle<()>>);

impl Drop for Joined {
    fn drop(&mut self) {
        // every sender is gone by now (each handle drops its sender before this), which ends
        // the thread's loop
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts the thread `name`. `work` gets each batch (1 to `max` items, in the order they
    /// were handed over) and returns one answer per item, in the same order; an item left
    /// without an answer gets `None` at its caller.
    pub fn start(
        name: &str,
        max: usize,
        queue: usize,
        mut work: impl FnMut(Vec<T>) -> Vec<R> + Send + 'static,
    ) -> Self {
        let (tx, rx) = sync_channel::<Job<T, R>>(queue);
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(rx, max.max(1), &mut work))
            .unwrap_or_else(|e| panic!("spawn the {name} thread: {e}"));
        Batcher {
            tx,
            _thread: Arc::new(Joined(Some(handle))),
        }
    }

    /// Hands `item` over and waits (asynchronously) for its answer; `None` if the thread has
    /// stopped.
    pub async fn submit(&self, item: T) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        let mut job = (item, reply);
        loop {
            match self.tx.try_send(job) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    job = back;
                    tokio::task::yield_now().await;
                }
                Err(TrySendError::Disconnected(_)) => return None,
            }
        }
        answer.await.ok()
    }

    /// Hands `item` over (blocking the calling thread while the queue is full) and returns
    /// the answer to await later, so that the caller may give up what it holds before it
    /// waits; `None` if the thread has stopped.
    pub fn hand_over(&self, item: T) -> Option<Pending<R>> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((item, reply)).ok()?;
        Some(Pending(answer))
    }

    /// As [`Batcher::submit`], blocking the calling thread (meant for threads that may block:
    /// `spawn_blocking`, plain threads; on an async worker it holds the worker for the wait).
    pub fn submit_blocking(&self, item: T) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((item, reply)).ok()?;
        futures_executor::block_on(answer).ok()
    }
}

/// An item handed over ([`Batcher::hand_over`]) whose answer is still to come.
pub struct Pending<R>(oneshot::Receiver<R>);

impl<R> Pending<R> {
    /// Waits for the answer; `None` if the thread stopped without giving one.
    pub async fn answer(self) -> Option<R> {
        self.0.await.ok()
    }

    /// As [`Pending::answer`], blocking the calling thread.
    pub fn answer_blocking(self) -> Option<R> {
        futures_executor::block_on(self.0).ok()
    }
}

/// The answers of a batch written in one transaction: every item's id, or — the whole
/// transaction having failed — the same error for every item (logged once, as `what`).
pub fn ids_or_error<E: std::fmt::Display>(
    what: &'static str,
    n: usize,
    written: Result<Vec<i64>, E>,
) -> Vec<Result<i64, String>> {
    match written {
        Ok(ids) => ids.into_iter().map(Ok).collect(),
        Err(err) => {
            tracing::error!(error = %err, n, "{what} failed");
            vec![Err(err.to_string()); n]
        }
    }
}

fn run<T, R>(rx: Receiver<Job<T, R>>, max: usize, work: &mut dyn FnMut(Vec<T>) -> Vec<R>) {
    let mut items = Vec::with_capacity(max);
    let mut replies = Vec::with_capacity(max);
    while let Ok((item, reply)) = rx.recv() {
        items.push(item);
        replies.push(reply);
        while items.len() < max {
            match rx.try_recv() {
                Ok((item, reply)) => {
                    items.push(item);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        let answers = work(std::mem::replace(&mut items, Vec::with_capacity(max)));
        for (reply, answer) in replies.drain(..).zip(answers) {
            let _ = reply.send(answer);
        }
        // replies beyond the answers are dropped here: their callers get None
        replies.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_caller_gets_its_own_answer_and_batches_form_under_concurrency() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let b: Batcher<u32, u32> = Batcher::start("test-batcher", 16, 64, move |xs| {
            seen.lock().unwrap().push(xs.len());
            std::thread::sleep(std::time::Duration::from_millis(1));
            xs.into_iter().map(|x| x * 2).collect()
        });
        let mut tasks = Vec::new();
        for i in 0..400u32 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move { (i, b.submit(i).await) }));
        }
        for t in tasks {
            let (i, r) = t.await.unwrap();
            assert_eq!(r, Some(i * 2));
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 400);
        assert!(sizes.iter().all(|&n| (1..=16).contains(&n)));
        assert!(sizes.iter().any(|&n| n > 1), "{sizes:?}");
        let blocking = b.clone();
        let r = tokio::task::spawn_blocking(move || blocking.submit_blocking(21))
            .await
            .unwrap();
        assert_eq!(r, Some(42));
    }

    #[test]
    fn an_item_left_without_an_answer_gets_none() {
        let b: Batcher<u32, u32> = Batcher::start("test-batcher", 4, 4, |_| Vec::new());
        assert_eq!(b.submit_blocking(1), None);
    }
}
