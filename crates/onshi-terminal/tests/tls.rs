//! The terminal reaches the central over TLS (rustls): a terminal process that trusts the
//! central's CA confirms cards; one that does not trust it gets no answer, and so no result.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_trusting_the_central_ca_confirms_over_tls_and_one_that_does_not_cannot() {
    let ca = onshi_tls::make_local_ca(&["localhost", "127.0.0.1"]).unwrap();
    let tls =
        onshi_tls::ServerTls::from_pem(ca.cert_pem.as_bytes(), ca.key_pem.as_bytes()).unwrap();
    let c = start_central_with(Some(tls)).await;
    assert!(c.base.starts_with("https://"), "{}", c.base);
    let ca_file = c.dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &["--central-ca", ca_file.to_str().unwrap()]);
    let (s, v) = place(
        &t,
        json!({"card_serial": "C0001", "pin": "1234", "confirmation_date": "2026-11-25"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "confirmed", "{v}");
    drop(t);

    let other = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, other.path(), &["--central-timeout-ms", "3000"]);
    let (s, v) = place(
        &t,
        json!({"card_serial": "C0001", "face": "ok", "confirmation_date": "2026-11-25"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "unreachable", "{v}");
}

/// The terminal's own API (and the desk beside it) over TLS: a client trusting the CA is
/// served, a plain-HTTP client on the same port gets nothing, and a client that does not
/// trust the CA gets no connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_api_serves_tls_and_refuses_plain_http_and_strangers() {
    let c = start_central().await;
    let ca = onshi_tls::make_local_ca(&["localhost", "127.0.0.1"]).unwrap();
    let files = tempfile::tempdir().unwrap();
    let (cert, key, ca_file) = (
        files.path().join("t.pem"),
        files.path().join("t.key"),
        files.path().join("ca.pem"),
    );
    std::fs::write(&cert, &ca.cert_pem).unwrap();
    std::fs::write(&key, &ca.key_pem).unwrap();
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal_api_tls(&c, dir.path(), &cert, &key, &ca_file, &[]);
    assert!(t.api.starts_with("https://"), "{}", t.api);
    let (s, v) = place(
        &t,
        json!({"card_serial": "C0001", "face": "ok", "confirmation_date": "2026-11-25"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "confirmed", "{v}");
    let plain = t.api.replace("https://", "http://");
    assert!(
        reqwest::get(format!("{plain}/healthz")).await.is_err(),
        "no plain HTTP on the terminal's TLS port"
    );
    let stranger = reqwest::Client::builder().use_rustls_tls().build().unwrap();
    assert!(
        stranger
            .get(format!("{}/healthz", t.api))
            .send()
            .await
            .is_err(),
        "a client that does not trust the CA gets no connection"
    );
}

/// The terminal refuses to serve its API in plain HTTP unless asked, and never off loopback.
#[test]
fn the_terminal_api_is_plain_http_only_when_asked_for_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_onshi-terminal"))
            .args(["terminal", "--central", "http://127.0.0.1:9"])
            .args(["--facility", CLINIC, "--token", TOKEN, "--exchange"])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-cert"), "{err}");
    let out = run(&["--listen", "0.0.0.0:0", "--plain-http"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only allowed on a loopback address"), "{err}");
}

/// The terminal's API authenticates its callers: no token, a wrong token → 401; the token
/// of the terminal's data folder (mode 0600) → served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_api_refuses_callers_without_its_token() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let body = json!({"card_serial": "C0001", "face": "ok", "confirmation_date": "2026-11-25"});
    let anon = reqwest::Client::new();
    for (path, post) in [
        ("/v1/reader/place", true),
        ("/v1/history", false),
        ("/v1/terminal", false),
    ] {
        let url = format!("{}{path}", t.api);
        let rq = if post {
            anon.post(&url).json(&body)
        } else {
            anon.get(&url)
        };
        assert_eq!(rq.send().await.unwrap().status().as_u16(), 401, "{path}");
        let rq = if post {
            anon.post(&url).json(&body)
        } else {
            anon.get(&url)
        };
        let wrong = rq.bearer_auth("0".repeat(48)).send().await.unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "{path} with a wrong token");
    }
    let (s, h) = t.get_json("/v1/history").await;
    assert_eq!(s, 200);
    assert_eq!(
        h["confirmations"].as_array().unwrap().len(),
        0,
        "nothing placed"
    );
    let health = anon.get(format!("{}/healthz", t.api)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "health needs no token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let token_file = exchange(dir.path())
            .data
            .join(onshi_terminal::api::TOKEN_FILE);
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{token_file:?}");
    }
}
