//! Connections whose I/O runs on the thread that uses them.
//!
//! A pooled connection of [`deadpool_postgres`] has its I/O task on the store's runtime: a
//! query wakes one of that runtime's threads to write it, and the answer wakes the caller
//! again — two hand-overs between threads for every round trip, on top of the server's. A
//! connection here owns a runtime of one thread that runs only while its user waits: the user
//! writes the query, sleeps in the poll of the socket and reads the answer itself. Only a
//! thread that may block so ([`crate::may_block_here`]) takes one; the others keep to the pool.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::ClientWrapper;
use tokio_postgres::NoTls;

use crate::{Result, StoreError};

/// At most this many connections are open at once, as many as the pooled ones (two cores do
/// not answer faster with more server processes at work; 32 were measured slower); a user
/// finding all of them taken goes through the pool.
const MAX_OPEN: usize = 16;

struct LocalConn {
    // the client first: dropping it stops the connection's task
    client: ClientWrapper,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for LocalConn {
    fn drop(&mut self) {
        // this may run in an async context (a store dropped at the end of a test), where a
        // runtime must not be dropped by waiting for it
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

struct State {
    idle: Vec<LocalConn>,
    open: usize,
}

pub(crate) struct LocalPool {
    /// reads run (diagnostics: which path a caller's reads took)
    runs: AtomicU64,
    config: tokio_postgres::Config,
    url_redacted: String,
    state: Mutex<State>,
}

impl LocalPool {
    pub(crate) fn new(config: tokio_postgres::Config, url_redacted: String) -> Self {
        LocalPool {
            runs: AtomicU64::new(0),
            config,
            url_redacted,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
        }
    }

    /// Runs `f` on one of the connections, on the calling thread (which
    /// [`crate::may_block_here`] allows); `None`, without running it, when all of them are
    /// in use: the caller then takes the pool's way, whose queue is fair (waiting here for a
    /// connection measured a doubled p99 under 64 connections). `f` is a read: when it fails
    /// on an idle connection because that connection is gone
    /// ([`super::replica::read_lost`]: the server restarted or ended it while it was
    /// idle, and nothing polls an idle connection here), it is run once more on a new one.
    pub(crate) fn try_run<T>(
        &self,
        f: &impl AsyncFn(&ClientWrapper) -> Result<T>,
    ) -> Option<Result<T>> {
        let (conn, reused) = self.take()?;
        self.runs.fetch_add(1, Ordering::Relaxed);
        let (out, conn) = self.once(f, conn);
        let stale = reused
            && match &out {
                Ok(_) => false,
                Err(e) => super::replica::read_lost(
                    e,
                    conn.as_ref().is_some_and(|c| c.client.is_closed()),
                ),
            };
        if !stale {
            self.give_back(conn, out.is_ok());
            return Some(out);
        }
        // the closed one's place goes to a new connection
        drop(conn);
        let (out, conn) = self.once(f, None);
        self.give_back(conn, out.is_ok());
        Some(out)
    }

    /// Reads run so far.
    pub(crate) fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// One run of `f` on `conn`, or on a new connection (whose place is taken already): its
    /// result and the connection it ran on.
    fn once<T>(
        &self,
        f: &impl AsyncFn(&ClientWrapper) -> Result<T>,
        conn: Option<LocalConn>,
    ) -> (Result<T>, Option<LocalConn>) {
        let conn = match conn {
            Some(c) => c,
            None => match self.connect() {
                Ok(c) => c,
                Err(e) => return (Err(e), None),
            },
        };
        let out = match conn.rt.as_ref() {
            Some(rt) => rt.block_on(f(&conn.client)),
            None => Err(StoreError::Pool(
                "a local connection without its runtime".into(),
            )),
        };
        (out, Some(conn))
    }

    /// A connection after use: kept when it is open and its work succeeded (an error may leave
    /// it in a state not worth finding out), else closed and its place given up.
    fn give_back(&self, conn: Option<LocalConn>, ok: bool) {
        let keep = conn.filter(|c| ok && !c.client.is_closed());
        self.release(keep);
    }

    /// An idle connection (`Some(c), true`), or the place of a new one to open (`None, false`:
    /// counted as open already); `None` when all are in use.
    fn take(&self) -> Option<(Option<LocalConn>, bool)> {
        let mut st = self.state.lock().ok()?;
        if let Some(c) = st.idle.pop() {
            return Some((Some(c), true));
        }
        if st.open < MAX_OPEN {
            st.open += 1;
            return Some((None, false));
        }
        None
    }

    /// Gives a connection back, or (`None`) gives up its place.
    fn release(&self, conn: Option<LocalConn>) {
        if let Ok(mut st) = self.state.lock() {
            match conn {
                Some(c) => st.idle.push(c),
                None => st.open = st.open.saturating_sub(1),
            }
        }
    }

    fn connect(&self) -> Result<LocalConn> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (client, connection) = rt
            .block_on(self.config.connect(NoTls))
            .map_err(|e| StoreError::Pool(format!("PostgreSQL at {}: {e}", self.url_redacted)))?;
        let task = rt.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a local PostgreSQL connection ended");
            }
        });
        Ok(LocalConn {
            client: ClientWrapper::new(client, task),
            rt: Some(rt),
        })
    }
}
