//! `onshi demo` as a user starts it: the real binary on free loopback ports with a small
//! synthetic population; the central answers, each demo terminal serves its desk and 請求 screen,
//! and the Web API gives an idToken for a demo facility's token. Stopped after the checks.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first `https://…` or `http://…` in a line, up to the next blank.
fn url_in(line: &str) -> Option<String> {
    let start = line.find("https://").or_else(|| line.find("http://"))?;
    Some(
        line[start..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_end_matches([')', ','])
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_the_central_the_desks_the_claims_screen_and_the_web_api() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(["demo", "--persons", "300", "--listen", "127.0.0.1:0"])
        .args(["--web-api-listen", "127.0.0.1:0", "--data"])
        .arg(data.path().join("demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("onshi demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let demo = Demo(child);
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut api, mut desk, mut web_api, mut token) = (None, None, None, None);
    let mut seen = Vec::new();
    while Instant::now() < deadline && (api.is_none() || desk.is_none() || web_api.is_none()) {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        let t = line.trim_start();
        if t.starts_with("API:") {
            api = url_in(t);
        } else if t.contains("Web API:") {
            web_api = url_in(t);
        } else if desk.is_none() && t.contains("/desk/") && !t.contains("claims") {
            desk = url_in(t);
        } else if token.is_none()
            && t.starts_with("1311234567")
            && let Some(tok) = t.split("token ").nth(1)
        {
            token = Some(tok.trim().to_string());
        }
        seen.push(line);
    }
    let seen = seen.join("\n");
    let api = api.unwrap_or_else(|| panic!("the banner names the API:\n{seen}"));
    let desk = desk.unwrap_or_else(|| panic!("the banner names a desk:\n{seen}"));
    let web_api = web_api.unwrap_or_else(|| panic!("the banner names the Web API:\n{seen}"));
    let http = reqwest::Client::new();
    // the central speaks TLS with a certificate of the demo's local CA
    assert!(api.starts_with("https://"), "{api}");
    let ca = std::fs::read(data.path().join("demo/tls/ca.pem")).expect("the demo's CA");
    let trusting = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let base = api.trim_end_matches("/v1");
    let health = trusting
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "a client that does not trust the CA gets no answer"
    );
    // the desks (and the terminals' API beside them) speak TLS from the same CA
    assert!(desk.starts_with("https://"), "{desk}");
    let desk_base = desk.trim_end_matches("/desk/");
    assert!(
        http.get(format!("{desk_base}/healthz"))
            .send()
            .await
            .is_err(),
        "a client that does not trust the CA gets no desk"
    );
    for path in ["/desk/", "/desk/claims"] {
        let r = trusting
            .get(format!("{desk_base}{path}"))
            .send()
            .await
            .unwrap();
        // the screens may ask the clerk to log in first; either way they are served
        assert!(
            r.status().is_success() || r.status().is_redirection(),
            "{path}: {}",
            r.status()
        );
    }
    let token = token.unwrap_or_else(|| panic!("the banner prints the clinic's token:\n{seen}"));
    {
        // over TLS with the clinic's client certificate from the demo's CA; none: no answer
        assert!(web_api.starts_with("https://"), "{web_api}");
        let auth = web_api.split("/oqs-api-pro").next().unwrap_or_default();
        let tls_dir = data.path().join("demo/tls");
        let mut identity = std::fs::read(tls_dir.join("client-1311234567.pem")).unwrap();
        identity.extend(std::fs::read(tls_dir.join("client-1311234567.key")).unwrap());
        let clinic = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .identity(reqwest::Identity::from_pem(&identity).unwrap())
            .build()
            .unwrap();
        let without = trusting
            .post(format!("{auth}/oqs-api-pro/MSA12020/ILI12020SV01/auth"))
            .json(&serde_json::json!({"medicalInstitutionCode": "1311234567", "apiKey": token}))
            .send()
            .await;
        let answered = match without {
            Ok(r) => r.text().await.is_ok(),
            Err(_) => false,
        };
        assert!(!answered, "no client certificate, no Web API");
        let r = clinic
            .post(format!("{auth}/oqs-api-pro/MSA12020/ILI12020SV01/auth"))
            .json(&serde_json::json!({"medicalInstitutionCode": "1311234567", "apiKey": token}))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["result"]["idToken"].is_string(), "{v}\n{seen}");
    }
    drop(demo);
}
