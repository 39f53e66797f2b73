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
        &t.api,
        json!({"card_serial": "C0001", "pin": "1234", "confirmation_date": "2026-11-25"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "confirmed", "{v}");
    drop(t);

    let other = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, other.path(), &["--central-timeout-ms", "3000"]);
    let (s, v) = place(
        &t.api,
        json!({"card_serial": "C0001", "face": "ok", "confirmation_date": "2026-11-25"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "unreachable", "{v}");
}
