//! The `onshi` binary as a user runs it: real processes, real files, real HTTP.

use onshi_central::fixture;

mod support;

use support::{
    card_confirmation, central, history_counts, make_registry, run, start_server, write_fixture,
};

#[test]
fn registry_import_reports_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (q, c) = write_fixture(dir.path());
    let db = dir.path().join("c.sqlite");
    let args = [
        "registry",
        "import",
        "--db",
        db.to_str().unwrap(),
        "--qualifications",
        q.to_str().unwrap(),
        "--cards",
        c.to_str().unwrap(),
    ];
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("qualifications inserted 13"), "{s}");
    assert!(
        db.with_extension("sqlite.keys.json").exists(),
        "keys generated on first run"
    );
    let out = run(&args);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("inserted 0 updated 0 unchanged 13"), "{s}");
    // the My Number is nowhere in the database file in clear
    let raw = std::fs::read(&db).unwrap();
    let mn = fixture::my_number(1);
    assert!(
        !raw.windows(12).any(|w| w == mn.as_bytes()),
        "My Number stored in clear"
    );
}

#[test]
fn registry_import_refuses_a_bad_file_whole_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = write_fixture(dir.path());
    let mut text = std::fs::read_to_string(&q).unwrap();
    text = text.replacen(",19800402,", ",19800431,", 1); // impossible date on line 2
    std::fs::write(&q, text).unwrap();
    let db = dir.path().join("c.sqlite");
    let out = run(&[
        "registry",
        "import",
        "--db",
        db.to_str().unwrap(),
        "--qualifications",
        q.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("qualifications.csv:2: column birthdate"),
        "{err}"
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("nothing imported"), "{s}");
}

#[tokio::test]
async fn acknowledged_confirmations_survive_a_killed_central() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite");
    // the clinic's certified reader over the card emulation the import made, registered
    let (token, reader) = make_registry(
        dir.path(),
        db.to_str().unwrap(),
        None,
        &dir.path().join("c.cards.sqlite"),
    );
    // over TLS, with a certificate from a local CA the client trusts
    let ca = onshi_tls::make_local_ca(&["localhost", "127.0.0.1"]).unwrap();
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::write(&cert, &ca.cert_pem).unwrap();
    std::fs::write(&key, &ca.key_pem).unwrap();
    let (mut server, url) = start_server(&mut central(&[
        "--db",
        db.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]));
    assert!(url.starts_with("https://"), "{url}");
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let mut acked = Vec::new();
    for i in 0..40 {
        let serial = ["C0001", "C0002", "C0003", "C0004"][i % 4];
        let r = card_confirmation(&http, &url, &token, &reader, serial)
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["segment_of_result"], "1", "{v}");
        acked.push(v["confirmation_id"].as_i64().unwrap());
    }
    // kill -9: no chance to flush anything
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let (found, total) = history_counts(&db, &acked);
    for id in &acked {
        assert_eq!(
            found[id], 1,
            "acknowledged confirmation {id} lost or doubled"
        );
    }
    assert_eq!(total, 40);
}

#[test]
fn a_database_with_data_and_no_key_file_refuses_to_start_and_says_what_to_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (q, c) = write_fixture(dir.path());
    let db = dir.path().join("c.sqlite");
    let db_s = db.to_str().unwrap();
    let out = run(&[
        "registry",
        "import",
        "--db",
        db_s,
        "--qualifications",
        q.to_str().unwrap(),
        "--cards",
        c.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let keys = db.with_extension("sqlite.keys.json");
    std::fs::remove_file(&keys).unwrap();
    let out = run(&[
        "central",
        "--db",
        db_s,
        "--listen",
        "127.0.0.1:0",
        "--plain-http",
    ]);
    assert!(!out.status.success(), "started without its keys");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Restore the key file"), "{err}");
    assert!(err.contains("c.sqlite.keys.json"), "{err}");
    assert!(!keys.exists(), "no new keys were made");
    let out = run(&[
        "registry",
        "import",
        "--db",
        db_s,
        "--cards",
        c.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "import without its keys");
}

/// The whole CLI on PostgreSQL: `registry import`, `facility add`, `operator add`, `reader
/// register` and `central` all take a `postgres://…` URL, and the central confirms cards with
/// every acknowledged confirmation in the database's history (nothing lands in a file).
#[tokio::test]
async fn the_cli_runs_the_central_on_postgresql() {
    let pg = onshi_store::postgres::TestDatabase::create().unwrap();
    let url = pg.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (q, c) = write_fixture(dir.path());
    let keys = dir.path().join("central.keys.json");
    let keys_s = keys.to_str().unwrap();
    // without --keys a PostgreSQL database has nowhere to keep them: refused, nothing written
    let out = run(&[
        "registry",
        "import",
        "--db",
        &url,
        "--cards",
        c.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--keys"));
    let import = [
        "registry",
        "import",
        "--db",
        &url,
        "--keys",
        keys_s,
        "--qualifications",
        q.to_str().unwrap(),
        "--cards",
        c.to_str().unwrap(),
    ];
    let out = run(&import);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("qualifications inserted 13"), "{s}");
    let s = String::from_utf8_lossy(&run(&import).stdout).to_string();
    assert!(s.contains("inserted 0 updated 0 unchanged 13"), "{s}");
    assert!(
        !dir.path().join("postgres:").exists(),
        "the URL is not taken as a folder"
    );
    let out = run(&[
        "facility",
        "add",
        "--db",
        &url,
        "--code",
        "1311234567",
        "--name",
        "テスト医院",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = run(&["operator", "add", "--db", &url, "--name", "山田"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key =
        onshi_card::ReaderKey::load_or_create(&dir.path().join("reader.key.json"), "R1").unwrap();
    let out = run(&[
        "reader",
        "register",
        "--db",
        &url,
        "--facility",
        "1311234567",
        "--id",
        "R1",
        "--public-key",
        &key.public_key_hex(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the card emulation lives beside the key file
    let cards =
        onshi_card::CardStore::open_with_key_file(keys.with_extension("cards.sqlite")).unwrap();
    let reader = onshi_card::CertifiedReader::new(key, std::sync::Arc::new(cards));
    let (server, base) = start_server(&mut central(&[
        "--db",
        &url,
        "--keys",
        keys_s,
        "--plain-http",
    ]));
    let http = reqwest::Client::new();
    let mut acked = Vec::new();
    for serial in ["C0001", "C0002", "C0003"] {
        let v: serde_json::Value = card_confirmation(&http, &base, &token, &reader, serial)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["segment_of_result"], "1", "{v}");
        acked.push(v["confirmation_id"].as_i64().unwrap());
    }
    drop(server);
    use onshi_store::{HistoryStore, RegistryRead};
    let store = tokio::task::spawn_blocking(move || onshi_store::PostgresStore::open(&url))
        .await
        .unwrap()
        .unwrap();
    let c = store.counts().unwrap();
    assert_eq!((c.persons > 0, c.confirmations), (true, 3));
    let listed: Vec<i64> = store
        .list_confirmations("1311234567", &onshi_store::HistoryFilter::default())
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    acked.reverse();
    assert_eq!(
        listed, acked,
        "every acknowledged confirmation, newest first"
    );
    drop(store);
    drop(pg);
}

#[test]
fn the_central_serves_tls_unless_plain_http_is_asked_for_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite");
    let db_s = db.to_str().unwrap();
    let out = run(&["central", "--db", db_s, "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-cert"), "{err}");
    let out = run(&[
        "central",
        "--db",
        db_s,
        "--listen",
        "0.0.0.0:0",
        "--plain-http",
    ]);
    assert!(!out.status.success(), "plain HTTP off loopback");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only allowed on a loopback address"), "{err}");
    // the Web API over TLS asks for client certificates: their CA must be given
    let ca = onshi_tls::make_local_ca(&["127.0.0.1"]).unwrap();
    let (cert, key) = (dir.path().join("s.pem"), dir.path().join("s.key"));
    std::fs::write(&cert, &ca.cert_pem).unwrap();
    std::fs::write(&key, &ca.key_pem).unwrap();
    let out = run(&[
        "central",
        "--db",
        db_s,
        "--listen",
        "127.0.0.1:0",
        "--web-api-listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--web-api-client-ca"), "{err}");
}

#[test]
fn the_payer_serves_tls_unless_plain_http_is_asked_for_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.sqlite");
    let reg = dir.path().join("c.sqlite");
    let (db_s, reg_s) = (db.to_str().unwrap(), reg.to_str().unwrap());
    let payer = |extra: &[&str]| {
        let mut args = vec!["payer", "serve", "--db", db_s, "--registry", reg_s];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = payer(&["--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-cert"), "{err}");
    let out = payer(&["--listen", "0.0.0.0:0", "--plain-http"]);
    assert!(!out.status.success(), "plain HTTP off loopback");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only allowed on a loopback address"), "{err}");
}

#[test]
fn payer_key_prints_the_payers_public_key_made_once_beside_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("payer.sqlite");
    let first = support::onshi(&["payer", "key", "--db", db.to_str().unwrap()]);
    let key = first.trim();
    assert_eq!(key.len(), 64, "{first}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    let again = support::onshi(&["payer", "key", "--db", db.to_str().unwrap()]);
    assert_eq!(again.trim(), key, "the same key at every start");
    let file = dir.path().join("payer.sqlite.signing-key.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(key),
        "the file holds the secret, not the public key"
    );
}

#[test]
fn claims_settings_registers_the_payers_public_key_and_refuses_one_that_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let payer_db = dir.path().join("payer.sqlite");
    let key = support::onshi(&["payer", "key", "--db", payer_db.to_str().unwrap()]);
    let key = key.trim();
    // a terminal's data folder with its desk
    let data = dir.path().join("clinic.terminal");
    std::fs::create_dir_all(&data).unwrap();
    onshi_desk::VisitStore::open(&data.join(onshi_desk::VISITS_FILE)).unwrap();
    let at = [
        "claims",
        "settings",
        "--data",
        data.to_str().unwrap(),
        "--facility",
        support::FACILITY,
    ];
    let mut args = at.to_vec();
    let given = format!("1:{key}");
    args.extend(["--payer-key", &given]);
    let out: serde_json::Value = serde_json::from_str(&support::onshi(&args)).unwrap();
    assert_eq!(
        out["payer_keys"],
        serde_json::json!([{"payer": "1", "public_key": key}])
    );
    // the same key again is kept once; a key that is not one is refused and nothing stored
    let again: serde_json::Value = serde_json::from_str(&support::onshi(&args)).unwrap();
    assert_eq!(again["payer_keys"].as_array().unwrap().len(), 1);
    let mut bad = at.to_vec();
    bad.extend(["--payer-key", "2:abcd"]);
    let r = run(&bad);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("--payer-key.public_key"), "{err}");
    let now: serde_json::Value = serde_json::from_str(&support::onshi(&at)).unwrap();
    assert_eq!(now["payer_keys"], out["payer_keys"]);
}

/// `onshi registry synth --db` writes each card's certificate key into cards.csv; imported,
/// the central checks the card's signature (made after a PIN) against that key: a PIN
/// confirmation of a regular card succeeds, and a key written wrong in the file makes the
/// same card's signature fail.
#[tokio::test]
async fn synth_for_a_registry_writes_the_keys_the_central_then_checks_signatures_with() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite");
    let out = dir.path().join("pop");
    let summary = support::onshi(&[
        "registry",
        "synth",
        "--persons",
        "300",
        "--seed",
        "5",
        "--reference-date",
        "20261125",
        "--out",
        out.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let regular = summary["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["case"] == "regular")
        .expect("a regular card among the examples");
    let serial = regular["card_serial"].as_str().unwrap().to_string();
    let pin = onshi_card::Pin::parse(regular["pin"].as_str().unwrap()).unwrap();
    let by_pin = onshi_card::IdentityAttempt::Pin(pin);
    // the file carries the 11th column: 64 hex digits on the example's row
    let cards_csv = std::fs::read_to_string(out.join("cards.csv")).unwrap();
    let header = cards_csv.lines().next().unwrap();
    assert!(header.ends_with(",cert_public_key"), "{header}");
    let row = cards_csv
        .lines()
        .find(|l| l.split(',').nth(1) == Some(serial.as_str()))
        .expect("the example's card row");
    let key_hex = row.rsplit(',').next().unwrap();
    assert_eq!(key_hex.len(), 64, "{row}");
    assert!(key_hex.bytes().all(|b| b.is_ascii_hexdigit()), "{row}");
    // a second registry from a copy of the file whose key for that card is wrong
    let wrong = dir.path().join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    let flipped = if key_hex.starts_with('0') { "1" } else { "0" };
    let bad_row = format!("{}{}{}", &row[..row.len() - 64], flipped, &key_hex[1..]);
    std::fs::write(
        wrong.join("cards.csv"),
        cards_csv.replacen(row, &bad_row, 1),
    )
    .unwrap();
    std::fs::copy(
        out.join("qualifications.csv"),
        wrong.join("qualifications.csv"),
    )
    .unwrap();

    let mut results = Vec::new();
    for (name, files) in [("right", &out), ("wrong", &wrong)] {
        let db = if name == "right" {
            db.clone()
        } else {
            // another database whose card emulation has the same secret: the same cards
            std::fs::copy(
                dir.path().join("c.cards.sqlite.keys.json"),
                dir.path().join("w.cards.sqlite.keys.json"),
            )
            .unwrap();
            dir.path().join("w.sqlite")
        };
        let d = db.to_str().unwrap();
        let (token, reader) = support::make_registry_from(
            dir.path(),
            d,
            None,
            &db.with_extension("cards.sqlite"),
            &files.join("qualifications.csv"),
            &files.join("cards.csv"),
        );
        let (_server, url) = start_server(&mut central(&["--db", d, "--plain-http"]));
        let http = reqwest::Client::new();
        let r = support::card_confirmation_by(&http, &url, &token, &reader, &serial, &by_pin)
            .await
            .unwrap();
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap();
        results.push((status, body));
    }
    let (status, body) = &results[0];
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(body["segment_of_result"], "1", "{body}");
    let (status, body) = &results[1];
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(body["segment_of_result"], "9", "{body}");
    assert_eq!(body["error"]["class"], "card_signature_invalid", "{body}");
}
