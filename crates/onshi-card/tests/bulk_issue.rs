//! A bulk issue of cards (the registry import's): into an empty card file the chips are held
//! and written sorted by serial when the issue ends, and are then what a card-by-card issue
//! would have written; a serial given twice fails the issue and leaves the file as it was;
//! into a file that holds chips, a re-issued card keeps its counter and lock.

use onshi_card::chips::NewChip;
use onshi_card::{CardStore, LOCK_AFTER, Pin, PinHasher};
use onshi_store::ChipStore;

const N: u32 = 3_000;

fn serial(n: u32) -> String {
    format!("C{:012}", (u64::from(n) * 7_919 + 5) % 1_000_000_007)
}

/// Card `n`: every fifth PIN-less, every eleventh (with a PIN) locked.
fn pin(n: u32) -> Option<Pin> {
    (!n.is_multiple_of(5)).then(|| Pin::parse(&format!("{:04}", n % 10_000)).unwrap())
}

fn locked(n: u32) -> bool {
    n.is_multiple_of(11) && pin(n).is_some()
}

fn store(dir: &tempfile::TempDir) -> (CardStore, PinHasher) {
    let secrets = PinHasher::new(b"bulk-issue-test-key-0001").unwrap();
    (
        CardStore::open(dir.path().join("cards.sqlite"), secrets.clone()).unwrap(),
        secrets,
    )
}

#[test]
fn chips_of_a_bulk_issue_are_written_sorted_and_read_back_as_issued() {
    let dir = tempfile::tempdir().unwrap();
    let (cards, secrets) = store(&dir);

    // a serial given twice: the issue fails when the chips are written, nothing is left
    let mut issue = cards.begin_issue().unwrap();
    for n in 0..N {
        let chip = secrets
            .new_chip(&serial(n), pin(n).as_ref(), locked(n))
            .unwrap();
        issue.issue_new(chip, locked(n)).unwrap();
    }
    let again = secrets.new_chip(&serial(0), None, false).unwrap();
    issue.issue_new(again, false).unwrap();
    assert!(issue.write_pending().is_err());
    drop(issue);
    assert_eq!(cards.count().unwrap(), 0, "nothing written");

    let mut issue = cards.begin_issue().unwrap();
    for n in 0..N {
        let chip = secrets
            .new_chip(&serial(n), pin(n).as_ref(), locked(n))
            .unwrap();
        assert_eq!(chip.serial(), serial(n));
        issue.issue_new(chip, locked(n)).unwrap();
    }
    issue.commit().unwrap();
    assert_eq!(cards.count().unwrap(), u64::from(N));
    for n in 0..N {
        let got = cards.chip(&serial(n)).unwrap().unwrap();
        assert_eq!(
            got,
            secrets.issue(&serial(n), pin(n).as_ref(), locked(n)),
            "card {n}"
        );
        assert_eq!(got.failures, if locked(n) { LOCK_AFTER } else { 0 });
    }
    // the compact form gives back the row it was made from
    let row = secrets.issue(&serial(7), pin(7).as_ref(), false);
    assert_eq!(NewChip::of(&row).unwrap().to_row(), row);
}

#[test]
fn a_bulk_issue_into_a_file_with_chips_keeps_their_counters() {
    let dir = tempfile::tempdir().unwrap();
    let (cards, secrets) = store(&dir);
    let p = Pin::parse("4821").unwrap();
    let mut issue = cards.begin_issue().unwrap();
    issue.issue("C1", Some(&p), false).unwrap();
    issue.commit().unwrap();
    let wrong = secrets.hash("C1", &Pin::parse("0000").unwrap());
    cards.try_pin("C1", &wrong, LOCK_AFTER).unwrap();

    let mut issue = cards.begin_issue().unwrap();
    issue
        .issue_new(secrets.new_chip("C1", Some(&p), false).unwrap(), false)
        .unwrap();
    issue
        .issue_new(secrets.new_chip("C2", None, false).unwrap(), false)
        .unwrap();
    issue.commit().unwrap();
    assert_eq!(cards.chip("C1").unwrap().unwrap().failures, 1, "kept");
    assert_eq!(cards.chip("C2").unwrap().unwrap().pin_hash, None);
}

#[test]
fn chips_taken_out_are_written_on_another_thread_or_the_issue_refuses_to_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (cards, secrets) = store(&dir);
    let fill = |issue: &mut onshi_card::chips::CardIssue<'_>| {
        for n in 0..N {
            let chip = secrets
                .new_chip(&serial(n), pin(n).as_ref(), locked(n))
                .unwrap();
            issue.issue_new(chip, locked(n)).unwrap();
        }
    };

    // taken out and dropped unwritten: the issue cannot commit, nothing is written
    let mut issue = cards.begin_issue().unwrap();
    fill(&mut issue);
    drop(issue.pending_chips());
    assert!(issue.commit().is_err(), "chips dropped unwritten");
    assert_eq!(cards.count().unwrap(), 0, "nothing written");

    // written on another thread, then committed: every chip as issued
    let mut issue = cards.begin_issue().unwrap();
    fill(&mut issue);
    let chips = issue.pending_chips();
    std::thread::scope(|s| s.spawn(move || chips.write()).join().unwrap()).unwrap();
    issue.commit().unwrap();
    assert_eq!(cards.count().unwrap(), u64::from(N));
    for n in (0..N).step_by(97) {
        assert_eq!(
            cards.chip(&serial(n)).unwrap().unwrap(),
            secrets.issue(&serial(n), pin(n).as_ref(), locked(n)),
            "card {n}"
        );
    }
}
