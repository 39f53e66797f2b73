//! No PIN and no My Number in clear, anywhere onshi writes or sends (issue 10): a real central
//! and a real terminal process, with a recording proxy on the link between them. Cards are
//! read with their PINs (right and wrong) and by face; then the captured HTTP traffic, every
//! file under the central's and the terminal's folders (databases, their WAL files, histories,
//! journals, answers, keys) and the logs of both are searched.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TCP proxy to `target` that keeps every byte, both ways.
async fn recording_proxy(target: String) -> (String, Arc<Mutex<Vec<u8>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let rec = seen.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = l.accept().await {
            let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                continue;
            };
            let (mut ri, mut wi) = inbound.into_split();
            let (mut ro, mut wo) = outbound.into_split();
            let (r1, r2) = (rec.clone(), rec.clone());
            tokio::spawn(async move {
                let mut b = [0u8; 8192];
                while let Ok(n) = ri.read(&mut b).await {
                    if n == 0 || wo.write_all(&b[..n]).await.is_err() {
                        break;
                    }
                    r1.lock().unwrap().extend_from_slice(&b[..n]);
                }
            });
            tokio::spawn(async move {
                let mut b = [0u8; 8192];
                while let Ok(n) = ro.read(&mut b).await {
                    if n == 0 || wi.write_all(&b[..n]).await.is_err() {
                        break;
                    }
                    r2.lock().unwrap().extend_from_slice(&b[..n]);
                }
            });
        }
    });
    (format!("http://{addr}"), seen)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// `needle` in `hay` not inside a longer run of letters or digits (a 4-digit PIN would
/// otherwise be found by chance inside hex digests and signatures).
fn standalone(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).enumerate().any(|(i, w)| {
        w == needle
            && (i == 0 || !hay[i - 1].is_ascii_alphanumeric())
            && hay
                .get(i + needle.len())
                .is_none_or(|b| !b.is_ascii_alphanumeric())
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every value of every table of an SQLite file, as text.
fn sqlite_values(path: &Path) -> Vec<String> {
    let Ok(c) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for t in tables {
        let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = st.column_count();
        let mut rows = st.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            for i in 0..n {
                match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                        out.push(String::from_utf8_lossy(b).into_owned())
                    }
                    rusqlite::types::ValueRef::Integer(v) => out.push(v.to_string()),
                    _ => {}
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pin_or_my_number_in_clear_on_the_wire_in_any_file_or_log() {
    let c = start_central().await;
    let (proxy, traffic) = recording_proxy(c.base.trim_start_matches("http://").to_string()).await;
    let tdir = tempfile::tempdir().unwrap();
    let log = c.dir.join("terminal.log");
    let t = start_terminal_logged(&c, &proxy, tdir.path(), &[], Some(&log));
    let pins: Vec<&str> = c.fx.persons.iter().filter_map(|p| p.pin).collect();
    let my_numbers: Vec<String> = c.fx.persons.iter().map(|p| p.my_number.clone()).collect();
    assert!(pins.len() >= 2 && my_numbers.len() >= 10);
    for (body, outcome) in [
        (json!({"card_serial": "C0001", "pin": "1234"}), "confirmed"),
        (json!({"card_serial": "C0003", "pin": "2222"}), "confirmed"),
        (json!({"card_serial": "C0001", "pin": "9876"}), "refused"),
        (
            json!({"card_serial": "C0001", "pin": "9876", "face": "ok"}),
            "confirmed",
        ),
        (json!({"card_serial": "C0002", "face": "ok"}), "confirmed"),
        (
            json!({"card_serial": "C0004", "visual_staff_id": "S042"}),
            "confirmed",
        ),
    ] {
        let mut body = body;
        body["confirmation_date"] = json!("2026-11-25");
        let (s, v) = place(&t, body).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["outcome"], outcome, "{v}");
    }
    drop(t); // the terminal process ends; its files stay

    let traffic = traffic.lock().unwrap().clone();
    assert!(
        contains(&traffic, b"/v1/confirmations/card") && contains(&traffic, b"reader_signature"),
        "the proxy saw the confirmations"
    );
    assert!(!contains(&traffic, b"\"pin\":"), "a pin field on the wire");
    let mut places = vec![("the terminal-central traffic".to_string(), traffic)];
    let mut files = Vec::new();
    files_under(&c.dir, &mut files);
    files_under(tdir.path(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("cards.sqlite")));
    assert!(files.iter().any(|f| f.to_string_lossy().ends_with("-wal")));
    for f in &files {
        places.push((f.display().to_string(), std::fs::read(f).unwrap()));
    }
    for (what, bytes) in &places {
        for mn in &my_numbers {
            assert!(!contains(bytes, mn.as_bytes()), "a My Number in {what}");
        }
        for pin in pins.iter().chain(&["9876"]) {
            assert!(
                !standalone(bytes, pin.as_bytes()),
                "PIN {pin} in clear in {what}"
            );
        }
    }
    let mut checked = 0;
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "sqlite"))
    {
        for v in sqlite_values(f) {
            checked += 1;
            for pin in pins.iter().chain(&["9876"]) {
                assert_ne!(v, *pin, "PIN stored in clear in {}", f.display());
            }
            for mn in &my_numbers {
                assert!(!v.contains(mn.as_str()), "My Number in {}", f.display());
            }
        }
    }
    assert!(checked > 100, "only {checked} values read");
}

/// With TLS on the terminal–central link, what crosses the wire is ciphertext: the captured
/// bytes carry no PIN, no My Number, no card serial, not even the request path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_the_terminal_central_traffic_shows_nothing_in_clear() {
    let ca = onshi_tls::make_local_ca(&["localhost", "127.0.0.1"]).unwrap();
    let tls =
        onshi_tls::ServerTls::from_pem(ca.cert_pem.as_bytes(), ca.key_pem.as_bytes()).unwrap();
    let c = start_central_with(Some(tls)).await;
    let (proxy, traffic) = recording_proxy(c.base.trim_start_matches("https://").to_string()).await;
    let proxy = proxy.replace("http://", "https://");
    let ca_file = c.dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let tdir = tempfile::tempdir().unwrap();
    let t = start_terminal_at(
        &c,
        &proxy,
        tdir.path(),
        &["--central-ca", ca_file.to_str().unwrap()],
    );
    for body in [
        json!({"card_serial": "C0001", "pin": "1234"}),
        json!({"card_serial": "C0003", "pin": "2222"}),
        json!({"card_serial": "C0002", "face": "ok"}),
    ] {
        let mut body = body;
        body["confirmation_date"] = json!("2026-11-25");
        let (s, v) = place(&t, body).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["outcome"], "confirmed", "{v}");
    }
    drop(t);
    let traffic = traffic.lock().unwrap().clone();
    assert!(traffic.len() > 2_000, "the proxy carried the confirmations");
    for clear in [
        &b"/v1/confirmations"[..],
        b"reader_signature",
        b"C0001",
        b"C0003",
        b"Bearer",
    ] {
        assert!(
            !contains(&traffic, clear),
            "{} in clear on a TLS link",
            String::from_utf8_lossy(clear)
        );
    }
    for pin in ["1234", "2222"] {
        assert!(
            !standalone(&traffic, pin.as_bytes()),
            "PIN {pin} on the wire"
        );
    }
    for p in &c.fx.persons {
        assert!(!contains(&traffic, p.my_number.as_bytes()), "a My Number");
    }
}
