//! `onshi payer …` on PostgreSQL, end to end through the binary: the payer's own database and
//! the registry it reads are fresh databases on the test server (`ONSHI_TEST_PG` or the local
//! one; without a server this fails, it does not skip). A facility and a staff token are made,
//! a UKE file is taken (twice: one submission), a payment past is written, the file is read
//! back over the API and the month settled; the signing key lives in the file `--signing-key`
//! names, never in the database.

mod support;

use std::process::Command;

use onshi_store::postgres::TestDatabase;
use support::{Running, onshi, run, spawn_reading};

const FACILITY: &str = "1310000017";

/// A UKE file (医科) of 支払基金 for the billing month 2026-12 with `n` 不詳 claims, written
/// from the public layout in Windows-31J.
fn uke(n: u32) -> Vec<u8> {
    let mut lines = vec![format!(
        "IR,1,{},{},{},,オンシ診療所,202612,00,0312345678",
        &FACILITY[..2],
        &FACILITY[2..3],
        &FACILITY[3..]
    )];
    for no in 1..=n {
        let mut re: Vec<String> = vec![
            "RE".into(),
            no.to_string(),
            "1112".into(),
            "202611".into(),
            "不明者".into(),
            "2".into(),
            "19990909".into(),
        ];
        re.extend(std::iter::repeat_n(String::new(), 29));
        re.push("フメイシャ".into());
        re.push(String::new());
        lines.push(re.join(","));
        lines.push("HO,77777777,,777777777,1,1234,,,,,,3700,,,".into());
        lines.push("SN,1,01,,,,00,,".into());
        let days: Vec<&str> = (1..=31).map(|d| if d == 3 { "1" } else { "" }).collect();
        lines.push(format!("JD,1,{}", days.join(",")));
        lines.push("CO,01,1,810000001,不詳".into());
        lines.push("CO,01,1,810000001,住所：秘密県秘密市一丁目".into());
    }
    lines.push(format!("GO,{n},{},99", 1234 * n));
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push_str("\r\n");
    }
    let (bytes, _, bad) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!bad);
    let mut v = bytes.into_owned();
    v.push(0x1A);
    v
}

/// Every row of the payer's tables as text.
fn all_rows(url: &str) -> String {
    let mut out = String::new();
    for t in onshi_payer::store_pg::TABLES {
        let rows = onshi_store::postgres::simple_query(url, &format!("SELECT t::text FROM {t} t"))
            .unwrap();
        for r in rows {
            out.push_str(r[0].as_deref().unwrap_or(""));
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_payer_on_postgresql_takes_a_file_reads_it_back_and_settles_with_its_key_outside_the_database()
 {
    let payer_db = TestDatabase::create().expect("a PostgreSQL server for the CLI's tests");
    let registry = TestDatabase::create().expect("a PostgreSQL server for the CLI's tests");
    // the registry's schema, as the central makes it (the payer only reads it)
    drop(onshi_store::PostgresStore::open(registry.url()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (db, reg) = (payer_db.url(), registry.url());
    let key = dir.path().join("payer.signing-key.json");
    let key_s = key.to_str().unwrap();
    // the folder of the keys that seal the 申立書 details (R27), outside the database
    let form_keys = dir.path().join("form-keys");
    let fk = form_keys.to_str().unwrap();

    // the signing key: a PostgreSQL database has no "beside", the file must be named
    let out = run(&["payer", "key", "--db", db]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--signing-key"), "{err}");
    let public = onshi(&["payer", "key", "--db", db, "--signing-key", key_s]);
    let public = public.trim().to_string();
    assert_eq!(public.len(), 64, "{public}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    onshi(&[
        "payer",
        "facility",
        "--db",
        db,
        "--form-keys",
        fk,
        "--payer",
        "1",
        "--code",
        FACILITY,
        "--name",
        "オンシ診療所",
    ]);
    let token = onshi(&[
        "payer",
        "principal",
        "--db",
        db,
        "--form-keys",
        fk,
        "--role",
        "staff",
        "--payer",
        "1",
        "--subject",
        "審査担当A",
    ]);
    let token = token.trim().to_string();

    // intake: the file whole, the same file again is the same submission
    let file = dir.path().join("RECEIPTC.UKE");
    std::fs::write(&file, uke(3)).unwrap();
    let submit = [
        "payer",
        "submit",
        "--db",
        db,
        "--form-keys",
        fk,
        "--registry",
        reg,
        "--payer",
        "1",
        "--facility",
        FACILITY,
        "--file",
        file.to_str().unwrap(),
    ];
    let first: serde_json::Value = serde_json::from_str(&onshi(&submit)).unwrap();
    assert_eq!(first["duplicate"], false, "{first}");
    assert_eq!(first["submission"]["claims"], 3, "{first}");
    assert_eq!(
        first["by_status"]["pool"], 3,
        "no candidate in the registry: {first}"
    );
    // the details went to the database sealed: no row holds them, one key file for the file
    assert!(!all_rows(db).contains("秘密県"), "sealed before payment");
    assert_eq!(std::fs::read_dir(&form_keys).unwrap().count(), 1);
    let again: serde_json::Value = serde_json::from_str(&onshi(&submit)).unwrap();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["submission"]["id"], first["submission"]["id"]);

    // a payment past to share the pool on
    onshi(&[
        "payer",
        "synth-past",
        "--db",
        db,
        "--form-keys",
        fk,
        "--payer",
        "1",
        "--facilities",
        FACILITY,
        "--insurers",
        "06134563,01130012",
        "--from",
        "202605",
        "--to",
        "202610",
    ]);

    // the file read back over the API of `onshi payer serve` on the same database
    let mut cmd = Command::new(support::BIN);
    cmd.args([
        "payer",
        "serve",
        "--db",
        db,
        "--form-keys",
        fk,
        "--registry",
        reg,
        "--signing-key",
        key_s,
        "--listen",
        "127.0.0.1:0",
        "--plain-http",
    ]);
    let (server, lines): (Running, _) = spawn_reading(&mut cmd);
    let banner = lines
        .recv_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    let url = support::url_in(&banner).unwrap_or_else(|| panic!("no URL in {banner:?}"));
    let base = url.trim_end_matches("/payer/login").to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (subs, worklist) = rt.block_on(async {
        let http = reqwest::Client::new();
        let get = |path: &str| http.get(format!("{base}{path}")).bearer_auth(&token).send();
        let subs: serde_json::Value = get("/v1/payer/submissions")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = subs["submissions"][0]["id"].as_i64().unwrap();
        let one: serde_json::Value = get(&format!("/v1/payer/submissions/{id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one["claims"].as_array().unwrap().len(), 3, "{one}");
        assert_eq!(one["claims"][0]["status"], "pool", "{one}");
        let wl: serde_json::Value = get("/v1/payer/worklist")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (subs, wl)
    });
    drop(server);
    assert_eq!(subs["submissions"].as_array().unwrap().len(), 1, "{subs}");
    assert_eq!(subs["submissions"][0]["file_name"], "RECEIPTC.UKE");
    assert_eq!(worklist["items"], serde_json::json!([]), "{worklist}");

    // settlement from the shell: the pool shared, the statement stored
    let settle = run(&[
        "payer",
        "settle",
        "--db",
        db,
        "--form-keys",
        fk,
        "--registry",
        reg,
        "--signing-key",
        key_s,
        "--payer",
        "1",
        "--month",
        "202612",
    ]);
    let out = String::from_utf8_lossy(&settle.stdout);
    assert!(
        settle.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&settle.stderr)
    );
    assert!(out.contains(FACILITY), "{out}");

    // the database holds neither the signing key nor the 申立書 details after payment (R27)
    let secret: serde_json::Value = serde_json::from_slice(&std::fs::read(&key).unwrap()).unwrap();
    let secret = secret["secret_key"].as_str().unwrap().to_string();
    let rows = all_rows(db);
    assert!(rows.contains(FACILITY), "the rows are read");
    assert!(!rows.contains(&secret) && !rows.contains(&public));
    assert!(!rows.contains("秘密県"), "R27: scrubbed once paid");
    assert_eq!(
        std::fs::read_dir(&form_keys).unwrap().count(),
        0,
        "R27: the settled file's key deleted"
    );
}

#[test]
fn the_payer_on_postgresql_needs_its_form_keys_folder_and_an_sqlite_file_takes_none() {
    // `payer facility` on a database, with the extra arguments: it must fail, saying why
    let refused = |db: &str, extra: &[&str]| {
        let mut args = vec!["payer", "facility", "--db", db];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--payer", "1", "--code", FACILITY, "--name", "オンシ診療所"]);
        let out = run(&args);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let payer_db = TestDatabase::create().expect("a PostgreSQL server for the CLI's tests");
    let err = refused(payer_db.url(), &[]);
    assert!(err.contains("--form-keys") && err.contains("R27"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payer.sqlite");
    let keys = dir.path().join("k");
    let err = refused(
        file.to_str().unwrap(),
        &["--form-keys", keys.to_str().unwrap()],
    );
    assert!(
        err.contains("--form-keys") && err.contains("SQLite"),
        "{err}"
    );
    assert!(!file.exists() && !keys.exists(), "nothing made");
}
