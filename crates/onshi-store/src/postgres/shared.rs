//! The connections of the hot path's async reads, shared rather than checked out.
//!
//! A pooled connection serves one read at a time: with 64 requests in flight, 16 server
//! processes each woke for one statement, answered it and slept again, and on a machine of a
//! few cores the task switches and socket wake-ups of those processes were a large part of
//! what a confirmation cost. Here a few connections are shared by every caller: `tokio-postgres`
//! pipelines the statements that callers send on one connection at the same time, so a server
//! process reads several of them in one wake-up and writes their answers back together.
//!
//! Only single statements go this way (each read of the hot path is one statement and so one
//! snapshot); nothing here opens a transaction or changes a session setting, which would be
//! seen by every other caller of the connection.
//!
//! A connection is made on the runtime of the caller that first needs it, and its I/O is driven
//! there. When that runtime ends, or the server ends the session, the connection is found
//! closed and the next caller makes a new one in its place ([`SharedClients::discard`] for a
//! read that met the end first).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use deadpool_postgres::ClientWrapper;
use tokio_postgres::NoTls;

use crate::Result;

/// How many connections the hot path's reads share, per server: enough that the server's
/// processes can use every core of a small machine, few enough that each of them wakes for
/// several statements at a time under load.
pub const SHARED_CONNECTIONS: usize = 4;

/// A connection shared by callers ([`SharedClients::get`]).
pub(crate) type Shared = Arc<ClientWrapper>;

pub(crate) struct SharedClients {
    config: tokio_postgres::Config,
    /// "PostgreSQL" or "PostgreSQL replica", for messages
    what: &'static str,
    url_redacted: String,
    slots: Vec<Slot>,
    next: AtomicUsize,
}

/// One shared connection's place.
#[derive(Default)]
struct Slot {
    held: Mutex<Option<Shared>>,
    /// one at a time makes the slot's connection, so that a slot found empty by many callers
    /// at once gets one connection and not many
    connecting: tokio::sync::Mutex<()>,
}

impl SharedClients {
    /// The shared connections to `url`, named `application_name` on the server (as the
    /// pools' are, [`super::pg_config`]); `what` names the server in messages.
    pub(crate) fn new(url: &str, application_name: &str, what: &'static str) -> Result<Self> {
        Ok(SharedClients {
            config: super::pg_config(url, application_name)?,
            what,
            url_redacted: super::redact(url),
            slots: (0..SHARED_CONNECTIONS).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
        })
    }

    /// The open connection in `slot`, if any.
    fn open_in(&self, slot: usize) -> Option<Shared> {
        let g = self.slots[slot]
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        g.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// A connection for one statement: the next slot in turn, its connection made (on the
    /// caller's runtime) when it has none or the one it had is closed.
    pub(crate) async fn get(&self) -> Result<Shared> {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        self.in_slot(slot).await
    }

    /// A connection in place of `lost`, whose session a read found ended: a new one in its
    /// slot (the other slots may hold connections ended with it, not yet seen closed).
    pub(crate) async fn instead_of(&self, lost: &Shared) -> Result<Shared> {
        let slot = self.discard(lost).unwrap_or(0);
        self.in_slot(slot).await
    }

    async fn in_slot(&self, slot: usize) -> Result<Shared> {
        if let Some(c) = self.open_in(slot) {
            return Ok(c);
        }
        let _one = self.slots[slot].connecting.lock().await;
        if let Some(c) = self.open_in(slot) {
            return Ok(c);
        }
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| super::unreachable(self.what, &self.url_redacted, e))?;
        let task = tokio::spawn(async move {
            // the end of the session (the server's or the runtime's) shows as the client closed
            let _ = connection.await;
        });
        let c = Arc::new(ClientWrapper::new(client, task));
        *self.slots[slot]
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        Ok(c)
    }

    /// Takes `c` out of its slot (a read found it failed), so that the next caller of the
    /// slot makes a new connection; a slot already given a new one keeps it. Returns the slot
    /// that held it.
    pub(crate) fn discard(&self, c: &Shared) -> Option<usize> {
        let mut held_in = None;
        for (i, s) in self.slots.iter().enumerate() {
            let mut g = s.held.lock().unwrap_or_else(|p| p.into_inner());
            if g.as_ref().is_some_and(|held| Arc::ptr_eq(held, c)) {
                *g = None;
                held_in = Some(i);
            }
        }
        held_in
    }
}
