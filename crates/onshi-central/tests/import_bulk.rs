//! The bulk import at scale, on both backends: an initial load (binary `COPY` on PostgreSQL,
//! secondary indexes built at commit, rows prepared on other threads) keeps every rule of the
//! row-by-row import — all or nothing in the registry and in the card emulation, the mislink
//! guard, the errors with their file, line and column — and so does a later import into the
//! loaded registry.

use onshi_card::{CardStore, PinHasher};
use onshi_central::fixture::{CARD_HEADER, QUAL_HEADER};
use onshi_central::import::{self, ImportReport, Input};
use onshi_domain::numbers::{InsurerNumber, MyNumber, MyNumberHasher};
use onshi_store::{ChipStore, ImportStore, SqliteStore, Store};

/// Persons in the files: more rows than several batches of every stage of the pipeline and of
/// the `COPY` buffers.
const PERSONS: u32 = 6000;

fn my_number(n: u32) -> String {
    let mut d = [0u8; 11];
    d[0] = 8;
    let mut v = n;
    for x in d[1..].iter_mut().rev() {
        *x = (v % 10) as u8;
        v /= 10;
    }
    MyNumber::from_first11(&d).unwrap().expose_digits()
}

const NAMES: [(&str, &str); 4] = [
    ("山田　一郎", "ヤマダ　イチロウ"),
    ("川口　明", "カワグチ　アキラ"),
    ("森　花", "モリ　ハナ"),
    ("高橋　一郎", "タカハシ　イチロウ"),
];

/// The card serial of person `n` (the file gives serials in no order).
fn serial(n: u32) -> String {
    format!("S{:010}", (u64::from(n) * 7919) % 1_000_000_007)
}

fn insurer() -> String {
    InsurerNumber::from_body("0613456").unwrap().to_string()
}

fn sex(n: u32) -> &'static str {
    if n.is_multiple_of(2) { "1" } else { "2" }
}

fn birth(n: u32) -> String {
    format!("19{:02}0{}1{}", 30 + n % 60, 1 + n % 9, n % 10)
}

/// A qualification row of person `n`, with `name` and `birthdate` as given.
fn qrow(n: u32, name: &str, birthdate: &str, number: u32, from: &str, to: &str) -> String {
    let kana = NAMES[(n % 4) as usize].1;
    let reason = if to.is_empty() { "" } else { "03" };
    format!(
        "{},{},テスト健康保険組合,01,10,{number},00,1,{name},{name},{kana},{},{birthdate},100{:04},,,{from},{to},{reason},030,,,,,",
        my_number(n),
        insurer(),
        sex(n),
        n % 10_000,
    )
}

/// The files: every third person has no card; every fifth has a second, earlier
/// qualification; person 7 is registered under the 異体字 of the card's name.
fn files() -> (Vec<String>, Vec<String>) {
    let mut cards = Vec::new();
    let mut quals = Vec::new();
    for n in 0..PERSONS {
        let (name, kana) = NAMES[(n % 4) as usize];
        let card_name = if n == 7 { "髙橋　一郎" } else { name };
        if n % 3 != 0 {
            let pin = if n % 11 == 0 { "" } else { "1234" };
            cards.push(format!(
                "{},{},{pin},20310101,active,{card_name},{kana},{},{},東京都",
                my_number(n),
                serial(n),
                sex(n),
                birth(n),
            ));
        }
        if n % 5 == 0 {
            quals.push(qrow(n, name, &birth(n), n, "20100401", "20150331"));
        }
        quals.push(qrow(n, name, &birth(n), n, "20200401", ""));
    }
    (cards, quals)
}

fn csv(header: &str, rows: &[String]) -> String {
    let mut s = format!("{header}\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

struct Env {
    store: Box<dyn Store>,
    hasher: MyNumberHasher,
    cards: CardStore,
    _keep: Box<dyn std::any::Any>,
}

impl Env {
    fn run(&self, q: Option<&str>, c: Option<&str>) -> ImportReport {
        import::import(
            self.store.as_ref() as &dyn ImportStore,
            &self.hasher,
            &self.cards,
            q.map(|s| Input {
                name: "q.csv".into(),
                reader: s.as_bytes(),
            }),
            c.map(|s| Input {
                name: "c.csv".into(),
                reader: s.as_bytes(),
            }),
            &mut |_| {},
        )
        .unwrap()
    }
}

fn sqlite() -> Env {
    let dir = tempfile::tempdir().unwrap();
    Env {
        store: Box::new(SqliteStore::open(dir.path().join("b.sqlite")).unwrap()),
        hasher: MyNumberHasher::new(b"bulk-import-key-0001").unwrap(),
        cards: CardStore::open(
            dir.path().join("b.cards.sqlite"),
            PinHasher::new(b"bulk-import-pin-0001").unwrap(),
        )
        .unwrap(),
        _keep: Box::new(dir),
    }
}

fn postgres() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let db = onshi_store::postgres::TestDatabase::create().unwrap();
    Env {
        store: Box::new(onshi_store::PostgresStore::open(db.url()).unwrap()),
        hasher: MyNumberHasher::new(b"bulk-import-key-0001").unwrap(),
        cards: CardStore::open(
            dir.path().join("b.cards.sqlite"),
            PinHasher::new(b"bulk-import-pin-0001").unwrap(),
        )
        .unwrap(),
        _keep: Box::new((db, dir)),
    }
}

fn initial_load_and_later_imports_keep_every_rule(e: Env) {
    let (cards, quals) = files();
    let indexes = e.store.registry_indexes().unwrap();

    // An initial load whose last row is a mislink commits nothing, anywhere.
    let mut bad = quals.clone();
    let last = PERSONS - 1;
    bad.push(qrow(
        last,
        NAMES[(last % 4) as usize].0,
        "19990101",
        1,
        "20240401",
        "",
    ));
    let r = e.run(
        Some(&csv(QUAL_HEADER, &bad)),
        Some(&csv(CARD_HEADER, &cards)),
    );
    assert!(!r.committed);
    assert_eq!(r.errors_total, 1, "{:?}", r.errors);
    let err = &r.errors[0];
    assert_eq!((err.rule, err.column.as_str()), ("mislink", "birthdate"));
    assert_eq!(err.line, bad.len() as u64 + 1, "header is line 1");
    assert_eq!(
        r.rows_read,
        (cards.len() + bad.len()) as u64,
        "every row was read"
    );
    assert_eq!(
        e.store.counts().unwrap().persons,
        0,
        "nothing in the registry"
    );
    assert_eq!(e.cards.count().unwrap(), 0, "nothing in the card emulation");
    assert_eq!(
        e.store.registry_indexes().unwrap(),
        indexes,
        "indexes as before"
    );

    // The good files load whole.
    let r = e.run(
        Some(&csv(QUAL_HEADER, &quals)),
        Some(&csv(CARD_HEADER, &cards)),
    );
    assert!(r.committed, "{:?}", r.errors);
    assert_eq!(r.persons_created, u64::from(PERSONS));
    assert_eq!(r.qualifications.inserted, quals.len() as u64);
    assert_eq!(r.cards.inserted, cards.len() as u64);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert_eq!(r.warnings[0].rule, "kanji_variant");
    assert_eq!(
        e.store.registry_indexes().unwrap(),
        indexes,
        "indexes built again"
    );
    let c = e.store.counts().unwrap();
    assert_eq!(
        (c.persons, c.qualifications, c.cards),
        (u64::from(PERSONS), quals.len() as u64, cards.len() as u64)
    );
    assert_eq!(e.cards.count().unwrap(), cards.len() as u64);
    // a card holder: the card's facts, the qualification's post number, the card world's key
    let serial = serial(5);
    let card = e.store.card(&serial).unwrap().unwrap();
    let (p, h) = e
        .store
        .person_with_history(card.person_id)
        .unwrap()
        .unwrap();
    assert_eq!(p.person.birthdate.format("%Y%m%d").to_string(), birth(5));
    assert_eq!(p.person.post_number.as_deref(), Some("1000005"));
    assert_eq!(h.len(), 2, "two qualifications");
    assert_eq!(
        e.store.card_public_key(&serial).unwrap(),
        Some(e.cards.secrets().public_key_hex(&serial))
    );
    let (p7, _) = e
        .store
        .person_with_history(e.store.card(&self::serial(7)).unwrap().unwrap().person_id)
        .unwrap()
        .unwrap();
    assert_eq!(
        p7.person.name, "髙橋　一郎",
        "the card holder's name is the reference"
    );

    // every card: found by serial, with its holder, its chip and its key
    for (n, row) in (0..PERSONS).filter(|n| n % 3 != 0).zip(&cards) {
        assert!(row.contains(&self::serial(n)));
        let card = e.store.card(&self::serial(n)).unwrap().unwrap();
        let p = e.store.person(card.person_id).unwrap().unwrap();
        assert_eq!(
            p.person.birthdate.format("%Y%m%d").to_string(),
            birth(n),
            "holder of card {n}"
        );
        assert_eq!(
            p.person.post_number.as_deref(),
            Some(format!("100{:04}", n % 10_000).as_str())
        );
        assert_eq!(
            e.store.card_public_key(&self::serial(n)).unwrap(),
            Some(e.cards.secrets().public_key_hex(&self::serial(n))),
            "key of card {n}"
        );
        let chip = e.cards.chip(&self::serial(n)).unwrap().unwrap();
        let pin = (n % 11 != 0).then(|| onshi_card::Pin::parse("1234").unwrap());
        assert_eq!(
            chip,
            e.cards
                .secrets()
                .issue(&self::serial(n), pin.as_ref(), false),
            "chip of card {n}"
        );
    }

    // A later import is held against the loaded persons: a mislink is refused whole.
    let other_sex = qrow(10, NAMES[2].0, &birth(10), 10, "20250401", "").replace(
        &format!(",{},{},100", sex(10), birth(10)),
        &format!(",2,{},100", birth(10)),
    );
    let fine = qrow(11, NAMES[3].0, &birth(11), 11, "20200401", "");
    let r = e.run(Some(&csv(QUAL_HEADER, &[fine.clone(), other_sex])), None);
    assert!(!r.committed);
    assert_eq!(
        (r.errors[0].rule, r.errors[0].column.as_str()),
        ("mislink", "sex")
    );
    assert_eq!(r.errors[0].line, 3);
    assert_eq!(e.store.counts().unwrap(), c, "nothing changed");

    // Re-importing the same files changes nothing.
    let r = e.run(
        Some(&csv(QUAL_HEADER, &quals)),
        Some(&csv(CARD_HEADER, &cards)),
    );
    assert!(r.committed, "{:?}", r.errors);
    assert_eq!(r.persons_created, 0);
    assert_eq!(r.qualifications.unchanged, quals.len() as u64);
    assert_eq!(r.cards.unchanged, cards.len() as u64);
    assert_eq!(e.store.counts().unwrap(), c);
}

/// An initial load refused by its last card row — a serial given twice, a card whose holder
/// contradicts an earlier card of the same My Number, a PIN of the wrong form — writes
/// nothing in the registry nor in the card emulation, and names the row.
fn initial_load_refused_by_its_last_card_writes_nothing(e: Env) {
    let (cards, quals) = files();
    let n = 1; // a card holder
    let twice = cards[cards.len() / 2].clone();
    let other_birth = cards[0].replace(&birth(n), "19990101");
    let bad_pin = cards[0]
        .replace(&self::serial(n), "S9999999999")
        .replace(",1234,", ",12a4,");
    for (last, rule, column) in [
        (twice, "duplicate", "card_serial"),
        (
            other_birth.replace(&self::serial(n), "S9999999998"),
            "mislink",
            "birthdate",
        ),
        (bad_pin, "format", "pin"),
    ] {
        let mut bad = cards.clone();
        bad.push(last);
        let r = e.run(
            Some(&csv(QUAL_HEADER, &quals)),
            Some(&csv(CARD_HEADER, &bad)),
        );
        assert!(!r.committed, "{rule}");
        assert_eq!(r.errors_total, 1, "{:?}", r.errors);
        let err = &r.errors[0];
        assert_eq!((err.rule, err.column.as_str()), (rule, column));
        assert_eq!(err.line, bad.len() as u64 + 1, "the last row");
        let c = e.store.counts().unwrap();
        assert_eq!((c.persons, c.cards), (0, 0), "nothing in the registry");
        assert_eq!(e.cards.count().unwrap(), 0, "nothing in the card emulation");
    }
}

#[test]
fn sqlite_initial_load_refused_by_its_last_card_writes_nothing() {
    initial_load_refused_by_its_last_card_writes_nothing(sqlite());
}

#[test]
fn sqlite_initial_load_and_later_imports_keep_every_rule() {
    initial_load_and_later_imports_keep_every_rule(sqlite());
}

#[test]
fn postgres_initial_load_and_later_imports_keep_every_rule() {
    initial_load_and_later_imports_keep_every_rule(postgres());
}

/// The cards of [`files`] with the certificate's key column: where `key` gives one, it is the
/// row's; else the column is empty.
fn with_keys(cards: &[String], key: impl Fn(u32) -> Option<String>) -> Vec<String> {
    (0..PERSONS)
        .filter(|n| n % 3 != 0)
        .zip(cards)
        .map(|(n, row)| format!("{row},{}", key(n).unwrap_or_default()))
        .collect()
}

fn issuers_keys_are_registered_and_missing_ones_derived(e: Env) {
    let (cards, quals) = files();
    // keys of another secret than the card world's: a key registered from the file cannot be
    // mistaken for one derived here
    let issuer = PinHasher::new(b"another-issuers-secret").unwrap();
    let given = |n: u32| {
        n.is_multiple_of(2)
            .then(|| issuer.public_key_hex(&serial(n)))
    };
    let header = format!("{CARD_HEADER},cert_public_key");

    // a key that is not 64 hex digits refuses the load, with its line and column
    let mut bad = with_keys(&cards, given);
    let last = bad.len() - 1;
    bad[last] = format!("{},{}", cards[last], "12ab");
    let r = e.run(Some(&csv(QUAL_HEADER, &quals)), Some(&csv(&header, &bad)));
    assert!(!r.committed);
    assert_eq!(r.errors_total, 1, "{:?}", r.errors);
    let err = &r.errors[0];
    assert_eq!(
        (err.rule, err.column.as_str(), err.line),
        ("format", "cert_public_key", bad.len() as u64 + 1)
    );
    assert_eq!(e.store.counts().unwrap().cards, 0);
    assert_eq!(e.cards.count().unwrap(), 0);

    let keyed = with_keys(&cards, given);
    let r = e.run(Some(&csv(QUAL_HEADER, &quals)), Some(&csv(&header, &keyed)));
    assert!(r.committed, "{:?}", r.errors);
    for n in (0..PERSONS).filter(|n| n % 3 != 0) {
        let s = serial(n);
        let want = given(n).unwrap_or_else(|| e.cards.secrets().public_key_hex(&s));
        assert_eq!(
            e.store.card_public_key(&s).unwrap(),
            Some(want),
            "key of card {n}"
        );
        assert!(e.cards.chip(&s).unwrap().is_some(), "chip of card {n}");
    }

    // a later import (row by row) takes the file's key for card 1 (derived before) and
    // derives the key of card 2 (the issuer's before), whose column is empty
    let later = vec![
        format!("{},{}", cards[0], issuer.public_key_hex(&serial(1))),
        format!("{},", cards[1]),
    ];
    let r = e.run(None, Some(&csv(&header, &later)));
    assert!(r.committed, "{:?}", r.errors);
    assert_eq!(r.cards.unchanged, 2, "the cards' facts are as before");
    assert_eq!(
        e.store.card_public_key(&serial(1)).unwrap(),
        Some(issuer.public_key_hex(&serial(1)))
    );
    assert_eq!(
        e.store.card_public_key(&serial(2)).unwrap(),
        Some(e.cards.secrets().public_key_hex(&serial(2)))
    );
    assert_ne!(
        issuer.public_key_hex(&serial(2)),
        e.cards.secrets().public_key_hex(&serial(2))
    );
}

#[test]
fn sqlite_issuers_keys_are_registered_and_missing_ones_derived() {
    issuers_keys_are_registered_and_missing_ones_derived(sqlite());
}

#[test]
fn postgres_issuers_keys_are_registered_and_missing_ones_derived() {
    issuers_keys_are_registered_and_missing_ones_derived(postgres());
}
