//! R1's 3-try PIN lock under concurrency: many readers guessing at the same card at once
//! (the same chip file, real SQLite) count at most 3 wrong PINs, and once the card is locked
//! the right PIN is refused too.

use std::sync::{Arc, Barrier};

use onshi_card::{CardStore, IdentityAttempt, LOCK_AFTER, Pin, PinHasher, Reader};
use onshi_domain::card::{IdentityFailure, IdentityOutcome};
use onshi_store::ChipStore;

const RIGHT: &str = "4821";

fn issued() -> (tempfile::TempDir, Arc<CardStore>, Arc<PinHasher>) {
    let dir = tempfile::tempdir().unwrap();
    let hasher = PinHasher::new(b"a-test-key-of-32-bytes-for-pins!").unwrap();
    let store = CardStore::open(dir.path().join("cards.sqlite"), hasher.clone()).unwrap();
    let mut tx = store.begin_issue().unwrap();
    tx.issue("C1", Some(&Pin::parse(RIGHT).unwrap()), false)
        .unwrap();
    tx.commit().unwrap();
    (dir, Arc::new(store), Arc::new(hasher))
}

/// Runs `guesses` at once (a barrier releases every thread together); returns the outcomes.
fn guess_all(
    store: &Arc<CardStore>,
    hasher: &Arc<PinHasher>,
    guesses: Vec<String>,
) -> Vec<IdentityOutcome> {
    let barrier = Arc::new(Barrier::new(guesses.len()));
    let handles: Vec<_> = guesses
        .into_iter()
        .map(|g| {
            let (store, hasher, barrier) = (store.clone(), hasher.clone(), barrier.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let attempt = IdentityAttempt::Pin(Pin::parse(&g).unwrap());
                    barrier.wait();
                    Reader::new(store.as_ref(), &hasher)
                        .identify("C1", &attempt)
                        .unwrap()
                })
                .unwrap()
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn r1_thousand_concurrent_wrong_pins_count_three_and_then_the_right_pin_is_refused() {
    let (_dir, store, hasher) = issued();
    let guesses: Vec<String> = (0..1000u32)
        .map(|i| format!("{:04}", if i == 4821 { 9999 } else { i }))
        .collect();
    let out = guess_all(&store, &hasher, guesses);
    let wrong = out
        .iter()
        .filter(|o| {
            matches!(
                o,
                IdentityOutcome::Refused {
                    failure: IdentityFailure::PinWrong { .. }
                }
            )
        })
        .count();
    let locked = out
        .iter()
        .filter(|o| {
            matches!(
                o,
                IdentityOutcome::Refused {
                    failure: IdentityFailure::PinLocked
                }
            )
        })
        .count();
    // two answers "wrong, N left", the third locks, the other 997 find it locked
    assert_eq!(wrong, LOCK_AFTER as usize - 1);
    assert_eq!(locked, 1000 - wrong);
    let chip = store.chip("C1").unwrap().unwrap();
    assert_eq!(chip.failures, LOCK_AFTER, "at most 3 counted");
    assert!(chip.locked);
    let right = IdentityAttempt::Pin(Pin::parse(RIGHT).unwrap());
    assert_eq!(
        Reader::new(store.as_ref(), &hasher)
            .identify("C1", &right)
            .unwrap(),
        IdentityOutcome::Refused {
            failure: IdentityFailure::PinLocked
        }
    );
}

#[test]
fn r1_right_pin_racing_wrong_ones_never_gets_through_a_lock() {
    // 999 wrong guesses and the right one, all at once. Either the right one came before the
    // lock (accepted, the counter reset, so at most 3 wrong were counted after it and 2 before
    // it) or after (refused as locked). In no order is a right PIN accepted on a locked card.
    let (_dir, store, hasher) = issued();
    let mut guesses: Vec<String> = (0..999u32)
        .map(|i| format!("{:04}", if i == 4821 { 9999 } else { i }))
        .collect();
    guesses.insert(500, RIGHT.to_string());
    let out = guess_all(&store, &hasher, guesses);
    let accepted = out
        .iter()
        .filter(|o| matches!(o, IdentityOutcome::Verified { .. }))
        .count();
    let counted = out
        .iter()
        .filter(|o| {
            matches!(
                o,
                IdentityOutcome::Refused {
                    failure: IdentityFailure::PinWrong { .. }
                }
            )
        })
        .count()
        + 1; // the one that locked answers PinLocked
    assert!(accepted <= 1);
    assert!(counted <= 2 * LOCK_AFTER as usize, "counted {counted}");
    let chip = store.chip("C1").unwrap().unwrap();
    assert!(chip.locked && chip.failures == LOCK_AFTER);
    let right = IdentityAttempt::Pin(Pin::parse(RIGHT).unwrap());
    assert!(matches!(
        Reader::new(store.as_ref(), &hasher)
            .identify("C1", &right)
            .unwrap(),
        IdentityOutcome::Refused {
            failure: IdentityFailure::PinLocked
        }
    ));
}
