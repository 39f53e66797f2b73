//! Where the PostgreSQL store's hot-path reads do their round trips: on the calling thread's
//! own connection when the thread may block (a plain thread, or one inside
//! `onshi_store::blocking`), else through the pool — and an async worker never blocks that way;
//! the `_async` calls of the hot path on connections driven by the caller's own runtime.

use chrono::NaiveDate;
use onshi_domain::card::CertStatus;
use onshi_domain::numbers::{MyNumber, MyNumberHasher, Sex};
use onshi_domain::qualification::Person;
use onshi_store::postgres::TestDatabase;
use onshi_store::*;

#[path = "support/qualification.rs"]
mod qualification;
use qualification::qual;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A store with one person and the person's card `C1`.
fn store_with_a_card(db: &TestDatabase) -> PostgresStore {
    let s = PostgresStore::open(db.url()).unwrap();
    let hasher = MyNumberHasher::new(b"thread-test-key-1").unwrap();
    let mut tx = s.begin_import().unwrap();
    let id = tx
        .insert_person(
            &hasher.hash(&MyNumber::parse("123456789018").unwrap()),
            &Person {
                name: "佐藤　花子".into(),
                name_kana: "サトウ　ハナコ".into(),
                sex: Sex::Female,
                birthdate: d("1990-05-06"),
                post_number: None,
                address: None,
            },
        )
        .unwrap();
    tx.upsert_card(&CardCert {
        serial: "C1".into(),
        person_id: id,
        cert_expiry: d("2031-01-01"),
        status: CertStatus::Active,
    })
    .unwrap();
    tx.commit().unwrap();
    s
}

fn card_found(s: &PostgresStore) -> bool {
    let (card, holder) = s.card_with_history("C1").unwrap().unwrap();
    card.serial == "C1" && holder.is_some_and(|(p, _)| p.person.name == "佐藤　花子")
}

/// The server ends every session of the test's database but the asking one (as a restart
/// would); at least one was open.
fn end_every_session(db: &TestDatabase) {
    let ended = onshi_store::postgres::simple_query(
        db.url(),
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .unwrap();
    let n: i64 = ended[0][0].as_deref().unwrap().parse().unwrap();
    assert!(n >= 1, "sessions ended: {n}");
}

#[test]
fn postgres_reads_take_the_thread_s_own_connection_only_where_the_thread_may_block() {
    let db = TestDatabase::create().unwrap();
    let s = std::sync::Arc::new(store_with_a_card(&db));
    let before = s.thread_driven_reads();

    // a plain thread (this one): its own connection
    assert!(card_found(&s));
    assert_eq!(s.thread_driven_reads(), before + 1);

    // an async worker of a current-thread runtime, called directly: through the pool (a
    // runtime of its own started here would panic)
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s2 = s.clone();
    assert!(rt.block_on(async move { card_found(&s2) }));
    assert_eq!(
        s.thread_driven_reads(),
        before + 1,
        "the pool, not the thread"
    );

    // a multi-thread runtime: inside block_in_place without the declaration, the pool;
    // with it (as the central's store calls and the outage search do), the thread's own
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s3 = s.clone();
    let (plain, declared, spawned) = mt.block_on(async move {
        let h = tokio::spawn(async move {
            let plain = tokio::task::block_in_place(|| card_found(&s3));
            let declared =
                tokio::task::block_in_place(|| onshi_store::blocking(|| card_found(&s3)));
            let s4 = s3.clone();
            let spawned =
                tokio::task::spawn_blocking(move || onshi_store::blocking(|| card_found(&s4)))
                    .await
                    .unwrap();
            (plain, declared, spawned)
        });
        h.await.unwrap()
    });
    assert!(plain && declared && spawned);
    assert_eq!(s.thread_driven_reads(), before + 3);
    // the store is dropped inside an async context without a panic
    let s5 = s.clone();
    drop(s);
    rt.block_on(async move { drop(s5) });
}

#[test]
fn postgres_a_read_on_a_connection_the_server_closed_is_done_again_on_a_new_one() {
    let db = TestDatabase::create().unwrap();
    let s = store_with_a_card(&db);
    assert!(card_found(&s));
    let reads = s.thread_driven_reads();
    // the server ends every session of the database (as a restart would), the idle
    // connection of this thread among them
    end_every_session(&db);
    // the next read finds its connection closed and is done on a new one, unnoticed
    assert!(card_found(&s));
    assert!(card_found(&s));
    assert_eq!(s.thread_driven_reads(), reads + 2);
}

async fn card_found_async(s: &PostgresStore) -> bool {
    let (card, holder) = s.card_with_history_async("C1").await.unwrap().unwrap();
    card.serial == "C1" && holder.is_some_and(|(p, _)| p.person.name == "佐藤　花子")
}

#[test]
fn postgres_async_reads_are_driven_by_the_caller_s_runtime_and_outlive_it() {
    let db = TestDatabase::create().unwrap();
    let s = std::sync::Arc::new(store_with_a_card(&db));
    let (threads, runtime) = (s.thread_driven_reads(), s.runtime_driven_reads());
    let mt = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };

    // on an async worker, awaited: the pool whose connections this runtime drives, the
    // reader and the card key as well as the card
    let first = mt();
    let s1 = s.clone();
    let (found, reader, key) = first.block_on(async move {
        tokio::spawn(async move {
            let found = card_found_async(&s1).await;
            let reader = s1.reader_async("R-unknown").await.unwrap();
            let key = s1.card_public_key_async("C1").await.unwrap();
            (found, reader, key)
        })
        .await
        .unwrap()
    });
    assert!(found);
    assert_eq!(reader, None);
    assert_eq!(key, None, "no key was registered for C1");
    assert_eq!(s.runtime_driven_reads(), runtime + 3);
    assert_eq!(
        s.thread_driven_reads(),
        threads,
        "no thread blocked for them"
    );

    // that runtime ends, and with it the tasks that drove its connections: a read from
    // another runtime finds them closed and makes its own
    first.shutdown_timeout(std::time::Duration::from_secs(5));
    let s2 = s.clone();
    assert!(mt().block_on(async move {
        tokio::spawn(async move { card_found_async(&s2).await })
            .await
            .unwrap()
    }));
    assert_eq!(s.runtime_driven_reads(), runtime + 4);

    // outside any runtime the same call answers as the synchronous one does, on the thread
    assert!(futures_executor::block_on(card_found_async(&s)));
    assert_eq!(s.thread_driven_reads(), threads + 1);
    assert_eq!(s.runtime_driven_reads(), runtime + 4);
}

#[test]
fn postgres_an_async_read_on_a_connection_the_server_closed_is_done_again_on_a_new_one() {
    let db = TestDatabase::create().unwrap();
    let s = store_with_a_card(&db);
    // one thread for the runtime: while the task below blocks, nothing polls the idle
    // connections, so none is seen closed before a read meets it (on a runtime whose threads
    // are free, a connection's task sees the end at once and the next read makes a new one
    // without meeting it)
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (first, before, second, after) = rt.block_on(async {
        // a read on every shared connection, so that each is open when the sessions end
        let mut first = true;
        for _ in 0..onshi_store::postgres::SHARED_CONNECTIONS {
            first &= card_found_async(&s).await;
        }
        let before = s.runtime_driven_reads();
        end_every_session(&db);
        let second = card_found_async(&s).await;
        (first, before, second, s.runtime_driven_reads())
    });
    assert!(first && second);
    // the read met an ended connection and was done again on a new one: two connections asked for
    assert_eq!(after, before + 2);
}

#[test]
fn postgres_the_card_s_key_and_history_are_one_read_that_agrees_with_the_two_it_replaces() {
    let db = TestDatabase::create().unwrap();
    let s = store_with_a_card(&db);
    let mut tx = s.begin_import().unwrap();
    let holder = tx.card_by_serial("C1").unwrap().unwrap().person_id;
    // a history of two qualifications, the later one first
    for (number, from, to) in [
        ("7", "2024-07-01", None),
        ("3", "2019-04-01", Some("2024-07-01")),
    ] {
        tx.upsert_qualification(holder, "佐藤　花子", &qual(number, from, to))
            .unwrap();
    }
    tx.set_card_key("C1", "ab".repeat(32).as_str()).unwrap();
    // a key registered for a serial that has no card (yet)
    tx.set_card_key("K-only", "cd".repeat(32).as_str()).unwrap();
    tx.commit().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for serial in ["C1", "K-only", "C-unknown"] {
        let (key, card) = (
            s.card_public_key(serial).unwrap(),
            s.card_with_history(serial).unwrap(),
        );
        let before = s.runtime_driven_reads();
        let both = rt.block_on(async {
            s.card_key_and_history_async(serial)
                .expect("PostgreSQL reads the two together")
                .await
                .unwrap()
        });
        assert_eq!(s.runtime_driven_reads(), before + 1, "{serial}: one read");
        assert_eq!(both.0, key, "{serial}: the key");
        assert_eq!(
            format!("{:?}", both.1),
            format!("{card:?}"),
            "{serial}: the card with its history"
        );
    }
    // what the two reads found, to show the cases differ
    let (_, holder) = s.card_with_history("C1").unwrap().unwrap();
    let numbers: Vec<String> = holder
        .unwrap()
        .1
        .iter()
        .map(|q| q.qualification.number.as_str().to_string())
        .collect();
    assert_eq!(numbers, ["3", "7"], "the history in date order");
    assert!(s.card_public_key("C1").unwrap().is_some());
    assert!(s.card_public_key("K-only").unwrap().is_some());
    assert!(s.card_with_history("K-only").unwrap().is_none());
    assert!(s.card_public_key("C-unknown").unwrap().is_none());
    // outside a runtime there is no such read: the caller makes the two
    assert!(s.card_key_and_history_async("C1").is_none());
}

/// The server sessions of this test's database, other than the one asking.
fn sessions(db: &TestDatabase) -> i64 {
    let n = onshi_store::postgres::simple_query(
        db.url(),
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .unwrap();
    n[0][0].as_deref().unwrap().parse().unwrap()
}

#[test]
fn postgres_async_reads_in_flight_together_share_a_few_connections() {
    let db = TestDatabase::create().unwrap();
    let s = std::sync::Arc::new(store_with_a_card(&db));
    let before = sessions(&db);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // 64 reads at once, as 64 requests of the central would make them
    let found = rt.block_on(async {
        let reads: Vec<_> = (0..64)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { card_found_async(&s).await })
            })
            .collect();
        let mut all = Vec::new();
        for r in reads {
            all.push(r.await.unwrap());
        }
        all
    });
    assert_eq!(found.len(), 64);
    assert!(found.iter().all(|&f| f), "every read found the card");
    let added = sessions(&db) - before;
    assert!(
        (1..=onshi_store::postgres::SHARED_CONNECTIONS as i64).contains(&added),
        "{added} sessions for 64 reads in flight"
    );
}
