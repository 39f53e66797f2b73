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

/// A central that asks for client certificates: the terminal presenting its facility's
/// certificate confirms; without one, with another facility's, or with one of a foreign CA it
/// confirms nothing (the facility token alone is not enough). The patient portal on the same
/// listener needs no client certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_central_asking_for_client_certificates_serves_only_the_facilitys_own() {
    let ca =
        onshi_tls::make_local_ca_with_clients(&["localhost", "127.0.0.1"], &[CLINIC, "1341234567"])
            .unwrap();
    let foreign = onshi_tls::make_local_ca_with_clients(&["127.0.0.1"], &[CLINIC]).unwrap();
    let tls = onshi_tls::ServerTls::from_pem_with_optional_clients(
        ca.cert_pem.as_bytes(),
        ca.key_pem.as_bytes(),
        ca.ca_pem.as_bytes(),
    )
    .unwrap();
    let c = start_central_with_client_certificates(tls).await;
    let ca_file = c.dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let write_client = |name: &str, cc: &onshi_tls::ClientCert| {
        let (cert, key) = (
            c.dir.join(format!("{name}.pem")),
            c.dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, &cc.cert_pem).unwrap();
        std::fs::write(&key, &cc.key_pem).unwrap();
        (
            cert.to_str().unwrap().to_string(),
            key.to_str().unwrap().to_string(),
        )
    };
    let clinic = write_client("clinic", &ca.clients[0]);
    let pharmacy = write_client("pharmacy", &ca.clients[1]);
    let stranger = write_client("stranger", &foreign.clients[0]);
    let card = json!({"card_serial": "C0001", "face": "ok", "confirmation_date": "2026-11-25"});
    let ca_arg = ca_file.to_str().unwrap();
    for (what, cert, expect_confirmed) in [
        ("the clinic's certificate", Some(&clinic), true),
        ("no certificate", None, false),
        ("the pharmacy's certificate", Some(&pharmacy), false),
        ("a foreign CA's certificate", Some(&stranger), false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--central-ca", ca_arg, "--central-timeout-ms", "3000"];
        if let Some((cert, key)) = cert {
            args.extend(["--client-cert", cert.as_str(), "--client-key", key.as_str()]);
        }
        let t = start_terminal(&c, dir.path(), &args);
        let (s, v) = place(&t, card.clone()).await;
        assert_eq!(s, 200, "{what}: {v}");
        assert_eq!(v["outcome"] == "confirmed", expect_confirmed, "{what}: {v}");
    }
    let browser = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let portal = browser
        .get(format!("{}/portal", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        portal.status().as_u16(),
        200,
        "the portal needs no client certificate"
    );
    // a facility token alone, without the certificate: refused
    let r = browser
        .post(format!("{}/v1/confirmations/card/nonce", c.base))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}
