//! The central's signature checks, batched.
//!
//! Every card confirmation carries the certified reader's Ed25519 signature over the
//! central's nonce (and, for a PIN, the chip's). Checking one costs more CPU than everything
//! else a confirmation does, so the checks of concurrent confirmations are gathered by one
//! thread and verified together: a batch equation over n signatures costs about half of n
//! single checks (ed25519-dalek's `verify_batch`). The thread takes whatever has queued up
//! while it worked (up to [`MAX_BATCH`]), as the history's group commit does.
//!
//! What is accepted is what `verify_strict` accepts, with one exception (docs/security.md,
//! "Batched signature checks"):
//! - a signature goes into a batch only if its key is canonical, not of small order and
//!   torsion-free (checked once per key, when it enters the key cache) and its `R` is
//!   canonical and not one of the eight points of small order (checked on the bytes); every
//!   other signature is checked alone with `verify_strict`;
//! - the scalar `s` must be canonical on both paths (dalek checks it);
//! - a batch that fails is checked again signature by signature with `verify_strict`, so a
//!   forged signature never makes an honest one in its batch refused.
//!
//! The exception: an `R` carrying a small torsion component (a point of mixed order) is
//! refused by `verify_strict`, but the batch equation, which weighs each signature by a
//! random 128-bit scalar, may accept it. Such an `R` can only be made by the holder of the
//! private key (anyone else would have to solve the same equation as for a forgery), so a
//! batch-accepted signature is still one the registered key's holder made.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::{Signature, VerifyingKey};

use crate::batcher::Batcher;

/// The most signatures one batch equation takes.
pub const MAX_BATCH: usize = 64;
const QUEUE: usize = 4096;
/// Reader keys kept decompressed; the cache is emptied when it is full.
const KEY_CACHE: usize = 65_536;

/// A public key ready for checks: decompressed once, and whether its signatures may be
/// batched.
#[derive(Clone, Copy)]
pub struct PreparedKey {
    key: VerifyingKey,
    batchable: bool,
}

impl PreparedKey {
    /// `None` if the bytes are not a point of the curve.
    pub fn new(bytes: &[u8; 32]) -> Option<Self> {
        let key = VerifyingKey::from_bytes(bytes).ok()?;
        let batchable = canonical_y(bytes)
            && key.to_bytes() == *bytes
            && !key.is_weak()
            && key.to_edwards().is_torsion_free();
        Some(PreparedKey { key, batchable })
    }

    /// From 64 hex digits.
    pub fn from_hex(hex_key: &str) -> Option<Self> {
        Self::new(&hex_bytes(hex_key)?)
    }

    /// A key met once (a card's): decompressed, its signatures always checked alone with
    /// `verify_strict` (the torsion check a batch needs costs as much as the check itself).
    pub fn from_hex_alone(hex_key: &str) -> Option<Self> {
        let key = VerifyingKey::from_bytes(&hex_bytes(hex_key)?).ok()?;
        Some(PreparedKey {
            key,
            batchable: false,
        })
    }
}

fn hex_bytes(hex_key: &str) -> Option<[u8; 32]> {
    hex::decode(hex_key).ok()?.try_into().ok()
}

/// Is the field element of an encoded point (the low 255 bits) below p = 2^255 − 19?
fn canonical_y(b: &[u8; 32]) -> bool {
    // at or above p only if bits 8..255 are all ones and the lowest byte is ≥ 0xed
    !(b[31] & 0x7f == 0x7f && b[1..31].iter().all(|&x| x == 0xff) && b[0] >= 0xed)
}

/// The encodings of the eight points of small order, with either sign bit (a point with
/// x = 0 has two encodings that decompress to it; for the others the flipped bit is the
/// negated point, of small order too).
fn small_order_encodings() -> &'static [[u8; 32]; 16] {
    static SET: std::sync::OnceLock<[[u8; 32]; 16]> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let mut out = [[0u8; 32]; 16];
        for (i, p) in EIGHT_TORSION.iter().enumerate() {
            let b = p.compress().to_bytes();
            out[2 * i] = b;
            let mut flipped = b;
            flipped[31] ^= 0x80;
            out[2 * i + 1] = flipped;
        }
        out
    })
}

/// May this signature go into a batch (its `R` canonical and not of small order)?
fn batchable_r(sig: &Signature) -> bool {
    let r = sig.r_bytes();
    canonical_y(r) && !small_order_encodings().contains(r)
}

struct Job {
    key: PreparedKey,
    msg: Vec<u8>,
    sig: Signature,
}

/// Handle to the checking thread. Cloning shares the thread and the key cache.
#[derive(Clone)]
pub struct SignatureChecker {
    batcher: Batcher<Job, bool>,
    keys: Arc<Mutex<HashMap<[u8; 32], PreparedKey>>>,
    stats: Arc<Stats>,
}

/// How the checks went since the start.
#[derive(Default)]
pub struct Stats {
    pub batches: AtomicU64,
    pub batched: AtomicU64,
    pub single: AtomicU64,
    pub batches_failed: AtomicU64,
}

/// [`Stats`] read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub batches: u64,
    pub batched: u64,
    pub single: u64,
    pub batches_failed: u64,
}

impl std::fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mean = if self.batches == 0 {
            0.0
        } else {
            self.batched as f64 / self.batches as f64
        };
        write!(
            f,
            "{} checked in {} batches (mean {mean:.1} per batch), {} alone, {} batches failed and were checked one by one",
            self.batched + self.single,
            self.batches,
            self.single,
            self.batches_failed
        )
    }
}

impl Default for SignatureChecker {
    fn default() -> Self {
        Self::start()
    }
}

impl SignatureChecker {
    /// Starts the checking thread; it ends when the last handle is dropped.
    pub fn start() -> Self {
        let stats = Arc::new(Stats::default());
        let s = stats.clone();
        SignatureChecker {
            batcher: Batcher::start("signature-checks", MAX_BATCH, QUEUE, move |jobs| {
                check_batch(jobs, &s)
            }),
            keys: Default::default(),
            stats,
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> StatsSnapshot {
        let s = &self.stats;
        StatsSnapshot {
            batches: s.batches.load(Relaxed),
            batched: s.batched.load(Relaxed),
            single: s.single.load(Relaxed),
            batches_failed: s.batches_failed.load(Relaxed),
        }
    }

    /// A registered key (a reader's), decompressed once and kept.
    pub fn cached_key(&self, hex_key: &str) -> Option<PreparedKey> {
        let b = hex_bytes(hex_key)?;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = keys.get(&b) {
            return Some(*k);
        }
        let k = PreparedKey::new(&b)?;
        if keys.len() >= KEY_CACHE {
            keys.clear();
        }
        keys.insert(b, k);
        Some(k)
    }

    /// Is `sig` a valid signature of `msg` under `key`? Resolves once the checking thread has
    /// checked it (alone or in a batch).
    pub async fn verify(&self, key: PreparedKey, msg: Vec<u8>, sig: Signature) -> bool {
        // a thread that stopped before answering accepted nothing
        let job = Job { key, msg, sig };
        self.batcher.submit(job).await.unwrap_or(false)
    }
}

fn strict(j: &Job) -> bool {
    j.key.key.verify_strict(&j.msg, &j.sig).is_ok()
}

/// The answers for one batch of queued checks, in their order.
fn check_batch(jobs: Vec<Job>, stats: &Stats) -> Vec<bool> {
    let mut answers = vec![false; jobs.len()];
    let (batch, alone): (Vec<usize>, Vec<usize>) =
        (0..jobs.len()).partition(|&i| jobs[i].key.batchable && batchable_r(&jobs[i].sig));
    for i in alone {
        stats.single.fetch_add(1, Relaxed);
        answers[i] = strict(&jobs[i]);
    }
    if batch.len() > 1 {
        stats.batches.fetch_add(1, Relaxed);
        stats.batched.fetch_add(batch.len() as u64, Relaxed);
        let msgs: Vec<&[u8]> = batch.iter().map(|&i| jobs[i].msg.as_slice()).collect();
        let sigs: Vec<Signature> = batch.iter().map(|&i| jobs[i].sig).collect();
        let keys: Vec<VerifyingKey> = batch.iter().map(|&i| jobs[i].key.key).collect();
        if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
            for i in batch {
                answers[i] = true;
            }
            return answers;
        }
        stats.batches_failed.fetch_add(1, Relaxed);
    } else {
        stats.single.fetch_add(batch.len() as u64, Relaxed);
    }
    // a single signature, or a batch with at least one bad one: each alone
    for i in batch {
        answers[i] = strict(&jobs[i]);
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use ed25519_dalek::{Signer, SigningKey};

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32])
    }

    #[test]
    fn the_small_order_encodings_are_exactly_those_that_decompress_to_small_order() {
        let set = small_order_encodings();
        for b in set {
            let p = CompressedEdwardsY(*b).decompress().expect("a curve point");
            assert!(p.is_small_order(), "{}", hex::encode(b));
        }
        // and no point of the prime-order group or of mixed order is in it
        for i in 1..=40u8 {
            let pk = key(i).verifying_key();
            assert!(!set.contains(pk.as_bytes()));
            let mixed = (pk.to_edwards() + EIGHT_TORSION[1]).compress().to_bytes();
            assert!(!set.contains(&mixed));
        }
        // the eight points' canonical encodings, plus the second encoding of the two with
        // x = 0 (the identity and the point of order 2); a flipped sign bit of any other
        // point is the encoding of its negation, which is in the set already
        let mut all: Vec<[u8; 32]> = set.to_vec();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 10);
        assert_eq!(
            all.iter()
                .filter(|b| {
                    canonical_y(b)
                        && CompressedEdwardsY(**b)
                            .decompress()
                            .is_some_and(|p| p.compress().to_bytes() == **b)
                })
                .count(),
            8
        );
    }

    #[test]
    fn canonical_y_is_false_only_for_the_19_values_at_or_above_p() {
        let mut b = [0xffu8; 32];
        b[31] = 0x7f;
        for low in 0..=255u8 {
            b[0] = low;
            assert_eq!(canonical_y(&b), low < 0xed, "{low:#x}");
            let mut signed = b;
            signed[31] |= 0x80;
            assert_eq!(canonical_y(&signed), low < 0xed);
        }
        let mut below = b;
        below[0] = 0xff;
        below[30] = 0xfe;
        assert!(canonical_y(&below));
    }

    async fn check(c: &SignatureChecker, k: &SigningKey, msg: &[u8], sig: Signature) -> bool {
        let key = c
            .cached_key(&hex::encode(k.verifying_key().as_bytes()))
            .unwrap();
        c.verify(key, msg.to_vec(), sig).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_accept_the_good_and_refuse_each_forged_one_in_a_batch() {
        let c = SignatureChecker::start();
        let mut tasks = Vec::new();
        for i in 0..600u32 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let k = key((i % 7) as u8 + 1);
                let msg = format!("nonce {i}").into_bytes();
                let mut sig = k.sign(&msg);
                let forged = i % 37 == 5;
                if forged {
                    // a signature of another message
                    sig = k.sign(b"another message");
                }
                (forged, check(&c, &k, &msg, sig).await)
            }));
        }
        let mut good = 0;
        for t in tasks {
            let (forged, ok) = t.await.unwrap();
            assert_eq!(ok, !forged);
            good += usize::from(ok);
        }
        assert_eq!(good, 600 - 600usize.div_ceil(37));
        let s = c.snapshot();
        assert!(s.batched + s.single >= 600, "every signature was checked");
        assert!(s.batches > 0, "concurrent checks were batched");
        assert!(s.batches_failed > 0, "a forged one failed its batch");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_order_r_or_a_weak_key_is_refused_as_verify_strict_refuses_it() {
        let c = SignatureChecker::start();
        // a weak key (small order): verify_strict refuses everything under it
        let weak = EIGHT_TORSION[2].compress().to_bytes();
        let wk = PreparedKey::new(&weak).unwrap();
        assert!(!wk.batchable);
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&weak);
        assert!(!c.verify(wk, b"m".to_vec(), Signature::from_bytes(&s)).await);
        // R of small order with an honest key: checked alone, refused
        let k = key(9);
        let good = k.sign(b"m");
        let mut bad = good.to_bytes();
        bad[..32].copy_from_slice(&EIGHT_TORSION[1].compress().to_bytes());
        let bad = Signature::from_bytes(&bad);
        assert!(!batchable_r(&bad));
        assert!(batchable_r(&good));
        let pk = PreparedKey::from_hex(&hex::encode(k.verifying_key().as_bytes())).unwrap();
        assert!(pk.batchable);
        let (a, b) = tokio::join!(
            c.verify(pk, b"m".to_vec(), bad),
            c.verify(pk, b"m".to_vec(), good)
        );
        assert!(!a);
        assert!(b);
    }
}
