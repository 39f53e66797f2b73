//! Registry reads on a streaming replica (a hot standby), everything else on the primary.
//!
//! What goes to the replica: the registry reads of the hot path — a card with its holder's
//! history, a person, the qualifications by insurance numbers, a card's public key, the outage
//! mode's person search. These rows are written only by the bulk import (on the primary,
//! offline from the central's flows), so no flow needs to read back a registry write of its
//! own; a replica some milliseconds behind answers a fresh import's rows that much later.
//!
//! What stays on the primary: every write, and every read that must see a write just made —
//! the history (a confirmation lists right after it is recorded), facility tokens and readers
//! (a revocation holds at once), outage requests and their audit, consents and medical views,
//! the schema and the counts (which include the history).
//!
//! When the replica fails — the connection refused or lost, no answer within
//! [`ReplicaPolicy::timeout`], the server shutting down or not yet accepting connections — the
//! read is done again on the primary, and the replica is left aside for
//! [`ReplicaPolicy::retry_after`]; then one read tries it again (the others keep to the
//! primary meanwhile), and so on until it answers. The change is logged once each way (warn
//! when it is left aside, info when it is back), not per request. A read cancelled by a
//! recovery conflict (SQLSTATE 40001 / 40P01 on a standby) is done again on the primary without
//! leaving the replica aside.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::{ClientWrapper, Object, Pool};

use crate::{Result, StoreError};

/// When the replica is left aside and tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaPolicy {
    /// a replica read without an answer within this is done on the primary
    pub timeout: Duration,
    /// how long a failed replica is left aside before one read tries it again
    pub retry_after: Duration,
}

impl Default for ReplicaPolicy {
    fn default() -> Self {
        ReplicaPolicy {
            timeout: Duration::from_secs(2),
            retry_after: Duration::from_secs(5),
        }
    }
}

/// Where the registry reads went since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaStats {
    /// answered by the replica
    pub served: u64,
    /// answered by the primary instead (the replica failed or was left aside)
    pub on_primary: u64,
    /// how many times the replica was left aside
    pub outages: u64,
    /// whether it is left aside now
    pub down: bool,
}

/// How a replica's error is taken.
#[derive(Debug, PartialEq, Eq)]
enum Fault {
    /// not the replica's doing (bad data, a bad query): returned as it is
    None,
    /// done again on the primary, the replica kept (a recovery conflict)
    Transient,
    /// done again on the primary, the replica left aside for a while
    Down,
}

/// Whether the connection of `pg` is gone: closed, I/O, a timeout of the driver (no
/// SQLSTATE), a connection exception (class 08) or the operator's intervention (class 57:
/// shutdown, cannot connect now, terminated by the administrator, statement cancelled). The
/// server's last message can come before the connection is seen closed.
pub(crate) fn connection_gone(pg: &tokio_postgres::Error) -> bool {
    pg.code()
        .is_none_or(|c| c.code().starts_with("08") || c.code().starts_with("57"))
}

/// Whether a read failed with `e` because its connection is gone (the server ended it while
/// it was idle, or the runtime that drove it is gone), `closed` telling whether the
/// connection is now seen closed: the read is then done again on another.
pub(crate) fn read_lost(e: &StoreError, closed: bool) -> bool {
    match e {
        StoreError::Pg(pg) => connection_gone(pg),
        _ => closed,
    }
}

fn classify(e: &StoreError) -> Fault {
    match e {
        StoreError::Pool(_) | StoreError::Io(_) => Fault::Down,
        StoreError::Pg(pg) if connection_gone(pg) => Fault::Down,
        StoreError::Pg(pg) => match pg.code().map(|c| c.code()) {
            Some("40001") | Some("40P01") => Fault::Transient,
            // insufficient resources, a schema behind the primary's
            Some(c) if c.starts_with("53") || c == "42P01" || c == "42703" => Fault::Down,
            _ => Fault::None,
        },
        _ => Fault::None,
    }
}

pub(crate) struct Replica {
    /// connections used by the store's own runtime (the synchronous calls)
    pool: Pool,
    /// connections made on the runtime of an async caller (the server's), shared by the async
    /// callers ([`super::shared`]): a connection's I/O runs on the runtime that made it, and a
    /// synchronous call blocking one of that runtime's threads must not wait on it
    async_conns: super::shared::SharedClients,
    url_redacted: String,
    policy: ReplicaPolicy,
    epoch: Instant,
    /// 0 while in use; else the millisecond (from `epoch`) from which it is tried again
    retry_at: AtomicU64,
    served: AtomicU64,
    on_primary: AtomicU64,
    outages: AtomicU64,
}

/// Whether this read uses the replica, and whether it is the one probing it after an outage.
pub(crate) enum Route {
    Replica { probe: bool },
    Primary,
}

impl Replica {
    pub(crate) fn new(
        pool: Pool,
        async_conns: super::shared::SharedClients,
        url_redacted: String,
        policy: ReplicaPolicy,
    ) -> Self {
        Replica {
            pool,
            async_conns,
            url_redacted,
            policy,
            epoch: Instant::now(),
            retry_at: AtomicU64::new(0),
            served: AtomicU64::new(0),
            on_primary: AtomicU64::new(0),
            outages: AtomicU64::new(0),
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url_redacted
    }

    pub(crate) fn policy(&self) -> ReplicaPolicy {
        self.policy
    }

    fn now_ms(&self) -> u64 {
        // +1: never 0, which means "in use"
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn later(&self) -> u64 {
        let ms = u64::try_from(self.policy.retry_after.as_millis()).unwrap_or(u64::MAX / 2);
        self.now_ms().saturating_add(ms)
    }

    pub(crate) fn route(&self) -> Route {
        let at = self.retry_at.load(Ordering::Acquire);
        if at == 0 {
            return Route::Replica { probe: false };
        }
        if self.now_ms() >= at
            && self
                .retry_at
                .compare_exchange(at, self.later(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // this read tries the replica; the others keep to the primary meanwhile
            return Route::Replica { probe: true };
        }
        self.on_primary.fetch_add(1, Ordering::Relaxed);
        Route::Primary
    }

    pub(crate) async fn conn(&self) -> Result<Object> {
        super::checkout(&self.pool, "PostgreSQL replica", &self.url_redacted).await
    }

    /// A connection for one statement of an async caller (see the field `async_conns`).
    pub(crate) async fn async_conn(&self) -> Result<super::shared::Shared> {
        self.async_conns.get().await
    }

    /// Puts aside a connection of [`Replica::async_conn`] that failed.
    pub(crate) fn discard_async_conn(&self, c: &super::shared::Shared) {
        let _ = self.async_conns.discard(c);
    }

    /// Runs `f` on a replica connection within the policy's timeout.
    pub(crate) async fn run<T>(&self, f: &impl AsyncFn(&ClientWrapper) -> Result<T>) -> Result<T> {
        self.timed(async {
            let c = self.conn().await?;
            f(&c).await
        })
        .await
    }

    /// `work` (a read on a replica connection) within the policy's timeout.
    pub(crate) async fn timed<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.policy.timeout, work).await {
            Ok(out) => out,
            Err(_) => Err(StoreError::Pool(format!(
                "PostgreSQL replica at {}: no answer within {} ms",
                self.url_redacted,
                self.policy.timeout.as_millis()
            ))),
        }
    }

    /// The outcome `out` of a read on the replica: the answer to give, or `None` when the
    /// read is to be done on the primary.
    pub(crate) fn settle<T>(&self, out: Result<T>, probe: bool) -> Option<Result<T>> {
        match out {
            Ok(v) => {
                self.answered(probe);
                Some(Ok(v))
            }
            Err(e) if self.failed(&e, probe) => None,
            Err(e) => Some(Err(e)),
        }
    }

    fn answered(&self, probe: bool) {
        self.served.fetch_add(1, Ordering::Relaxed);
        if probe {
            self.back();
        }
    }

    fn back(&self) {
        self.retry_at.store(0, Ordering::Release);
        tracing::info!(replica = %self.url_redacted, "the PostgreSQL replica answers again: registry reads go to it");
    }

    /// The replica failed with `e`: whether the read is to be done on the primary.
    fn failed(&self, e: &StoreError, probe: bool) -> bool {
        match classify(e) {
            // it answered, if with an error: it is back
            Fault::None => {
                if probe {
                    self.back();
                }
                return false;
            }
            Fault::Transient => {
                if probe {
                    self.back();
                }
            }
            Fault::Down => {
                if probe {
                    // still down; `route` has already set the next try
                    tracing::debug!(replica = %self.url_redacted, error = %e, "the PostgreSQL replica still fails");
                } else {
                    self.leave_aside(e);
                }
            }
        }
        self.on_primary.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Leaves the replica aside for the policy's delay, logging it (once: not when it already
    /// is).
    pub(crate) fn leave_aside(&self, e: &StoreError) {
        if self
            .retry_at
            .compare_exchange(0, self.later(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                replica = %self.url_redacted,
                error = %e,
                retry_in_s = self.policy.retry_after.as_secs_f64(),
                "the PostgreSQL replica failed: registry reads go to the primary until it answers again"
            );
        }
    }

    pub(crate) fn stats(&self) -> ReplicaStats {
        ReplicaStats {
            served: self.served.load(Ordering::Relaxed),
            on_primary: self.on_primary.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
            down: self.retry_at.load(Ordering::Acquire) != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_faults_leave_the_replica_aside_and_bad_data_does_not() {
        assert_eq!(classify(&StoreError::Pool("refused".into())), Fault::Down);
        assert_eq!(classify(&StoreError::Corrupt("x".into())), Fault::None);
        assert_eq!(classify(&StoreError::Conflict("x".into())), Fault::None);
    }
}
