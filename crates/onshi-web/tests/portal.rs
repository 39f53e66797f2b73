//! The patient-portal view (R9) over the real server: sign-in with card + PIN through the
//! chip emulation and a server-side session (cookie flags, logout), one answer for every
//! refused login (unknown card, wrong PIN, PIN-less card R2, locked card R1) with one timing,
//! the rate limits per client and per card, the Origin and CSRF checks, and the R9 caveat
//! when there is no current qualification.

use std::sync::Arc;
use std::time::{Duration, Instant};

use onshi_card::{CardStore, PinHasher};
use onshi_central::fixture;
use onshi_central::import::{self, Input};
use onshi_central::{Central, SystemClock};
use onshi_domain::numbers::MyNumberHasher;
use onshi_store::{ChipStore, SqliteStore};
use onshi_web::portal::{ANSWER_FLOOR, PER_CARD, PER_CLIENT, REFUSED};

struct Portal {
    base: String,
    cards: Arc<CardStore>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn spawn_with(tls: bool) -> Portal {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).unwrap());
    let hasher = MyNumberHasher::new(b"test-key-0123456789").unwrap();
    let pins = PinHasher::new(b"test-pin-key-0123456789").unwrap();
    let cards = Arc::new(CardStore::open(dir.path().join("cards.sqlite"), pins.clone()).unwrap());
    let fx = fixture::build();
    let report = import::import(
        store.as_ref(),
        &hasher,
        &cards,
        Some(Input {
            name: "q.csv".into(),
            reader: fx.qualifications_csv.as_bytes(),
        }),
        Some(Input {
            name: "c.csv".into(),
            reader: fx.cards_csv.as_bytes(),
        }),
        &mut |_| {},
    )
    .unwrap();
    assert!(report.committed);
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    let state = onshi_web::AppState::new(central, store.clone(), cards.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    let (base, client) = if tls {
        let ca = onshi_tls::make_local_ca(&["localhost", "127.0.0.1"]).unwrap();
        let server =
            onshi_tls::ServerTls::from_pem(ca.cert_pem.as_bytes(), ca.key_pem.as_bytes()).unwrap();
        tokio::spawn(onshi_web::serve_tls(
            listener,
            state,
            server,
            std::future::pending(),
        ));
        let client = builder
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        (format!("https://{addr}"), client)
    } else {
        tokio::spawn(onshi_web::serve(listener, state, std::future::pending()));
        (format!("http://{addr}"), builder.build().unwrap())
    };
    Portal {
        base,
        cards,
        client,
        _dir: dir,
    }
}

async fn spawn() -> Portal {
    spawn_with(false).await
}

/// An answer: status, `Set-Cookie`, `Location`, `Retry-After`, body.
struct Answer {
    status: u16,
    cookie: Option<String>,
    location: Option<String>,
    retry_after: Option<String>,
    body: String,
}

async fn answer(r: reqwest::Response) -> Answer {
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (cookie, location, retry_after) = (h("set-cookie"), h("location"), h("retry-after"));
    Answer {
        status: r.status().as_u16(),
        cookie,
        location,
        retry_after,
        body: r.text().await.unwrap(),
    }
}

impl Portal {
    async fn post(&self, path: &str, body: &str, cookie: Option<&str>, origin: bool) -> Answer {
        let mut rq = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if origin {
            rq = rq.header("Origin", &self.base);
        }
        if let Some(c) = cookie {
            rq = rq.header("Cookie", c);
        }
        answer(rq.send().await.unwrap()).await
    }

    async fn sign_in(&self, serial: &str, pin: &str) -> Answer {
        self.post(
            "/portal/login",
            &format!("card_serial={serial}&pin={pin}"),
            None,
            true,
        )
        .await
    }

    async fn get(&self, cookie: Option<&str>) -> Answer {
        let mut rq = self.client.get(format!("{}/portal", self.base));
        if let Some(c) = cookie {
            rq = rq.header("Cookie", c);
        }
        answer(rq.send().await.unwrap()).await
    }

    /// Signs in and returns the session cookie (`name=value`) and the whole `Set-Cookie`.
    async fn session(&self, serial: &str, pin: &str) -> (String, String) {
        let a = self.sign_in(serial, pin).await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(a.location.as_deref(), Some("/portal"));
        let set = a.cookie.expect("a session cookie");
        let pair = set.split(';').next().unwrap().trim().to_string();
        (pair, set)
    }

    fn chip(&self, serial: &str) -> onshi_store::ChipRow {
        self.cards.chip(serial).unwrap().unwrap()
    }
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a logout form") + 19;
    page[at..at + 64].to_string()
}

#[tokio::test]
async fn r9_portal_shows_the_qualification_screen_after_card_and_pin() {
    let p = spawn().await;
    let form = p.get(None).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("action=\"/portal/login\""));
    let (cookie, _) = p.session("C0001", "1234").await;
    let page = p.get(Some(&cookie)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("健康保険証の資格情報"), "{}", page.body);
    assert!(page.body.contains("01130012"));
    assert!(page.body.contains("田中　太郎"));
    // without the cookie: the sign-in form again, not the screen
    let anon = p.get(None).await;
    assert!(!anon.body.contains("01130012"));
}

#[tokio::test]
async fn portal_session_cookie_is_httponly_samesite_strict_scoped_and_secure_on_tls() {
    let p = spawn().await;
    let (_, set) = p.session("C0001", "1234").await;
    let flags: Vec<String> = set.split(';').map(|s| s.trim().to_lowercase()).collect();
    assert!(set.starts_with("onshi_portal="), "{set}");
    assert!(flags.contains(&"httponly".to_string()), "{set}");
    assert!(flags.contains(&"samesite=strict".to_string()), "{set}");
    assert!(flags.contains(&"path=/portal".to_string()), "{set}");
    assert!(
        flags
            .iter()
            .any(|f| f.starts_with("max-age=") || f.starts_with("expires=")),
        "the session expires: {set}"
    );
    assert!(!flags.contains(&"secure".to_string()), "plain HTTP: {set}");
    let t = spawn_with(true).await;
    assert!(t.base.starts_with("https://"));
    let (_, set) = t.session("C0001", "1234").await;
    let flags: Vec<String> = set.split(';').map(|s| s.trim().to_lowercase()).collect();
    assert!(flags.contains(&"secure".to_string()), "TLS: {set}");
    assert!(flags.contains(&"httponly".to_string()), "{set}");
}

#[tokio::test]
async fn portal_logout_ends_the_session_and_needs_the_sessions_csrf_token() {
    let p = spawn().await;
    let (cookie, _) = p.session("C0001", "1234").await;
    let page = p.get(Some(&cookie)).await;
    let csrf = csrf_of(&page.body);
    // without the token, or with another: refused, still signed in
    for body in [String::new(), format!("csrf={}", "0".repeat(64))] {
        let r = p.post("/portal/logout", &body, Some(&cookie), true).await;
        assert_eq!(r.status, 403, "{body}");
    }
    // from another site (no Origin of ours): refused
    let r = p
        .post(
            "/portal/logout",
            &format!("csrf={csrf}"),
            Some(&cookie),
            false,
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(p.get(Some(&cookie)).await.body.contains("01130012"));
    let out = p
        .post(
            "/portal/logout",
            &format!("csrf={csrf}"),
            Some(&cookie),
            true,
        )
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/portal?bye=1"));
    let after = p.get(Some(&cookie)).await;
    assert_eq!(after.status, 200);
    assert!(
        !after.body.contains("01130012"),
        "the old cookie opens nothing"
    );
    assert!(after.body.contains("action=\"/portal/login\""));
}

#[tokio::test]
async fn portal_does_not_tell_an_unknown_card_from_a_wrong_pin() {
    let p = spawn().await;
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for (serial, pin, times) in [
        ("C9999", "1234", &mut unknown),
        ("C0001", "0000", &mut wrong),
    ] {
        for _ in 0..2 {
            let t0 = Instant::now();
            let a = p.sign_in(serial, pin).await;
            times.push((t0.elapsed(), a));
        }
    }
    assert_eq!(
        p.chip("C0001").failures,
        2,
        "the wrong PINs were counted by the chip"
    );
    let first = &unknown[0].1;
    assert_eq!(first.status, 401);
    assert!(first.body.contains(REFUSED));
    assert!(first.cookie.is_none());
    for (took, a) in unknown.iter().chain(&wrong) {
        assert_eq!(a.status, first.status);
        assert_eq!(a.body, first.body, "the same page byte for byte");
        assert!(*took >= ANSWER_FLOOR, "{took:?}");
        assert!(
            *took < ANSWER_FLOOR + Duration::from_millis(200),
            "answers take the floor, not the work: {took:?}"
        );
    }
}

#[tokio::test]
async fn r2_portal_refuses_a_pinless_card_with_the_one_answer() {
    let p = spawn().await;
    let a = p.sign_in("C0002", "1234").await;
    let unknown = p.sign_in("C9998", "1234").await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body, unknown.body);
    assert!(a.body.contains("暗証番号を設定していないカード"));
    assert!(a.body.contains("ログインできません"));
    assert!(!a.body.contains("健康保険証の資格情報</h2>"));
}

#[tokio::test]
async fn r1_portal_counts_wrong_pins_and_locks_at_three() {
    let p = spawn().await;
    for _ in 0..3 {
        let a = p.sign_in("C0001", "0000").await;
        assert_eq!(a.status, 401);
    }
    assert!(p.chip("C0001").locked, "the chip locked at 3");
    let a = p.sign_in("C0001", "1234").await;
    assert_eq!(a.status, 401, "the right PIN no longer opens a locked card");
    assert!(a.cookie.is_none());
    assert!(a.body.contains(REFUSED));
}

#[tokio::test]
async fn portal_rate_limits_logins_per_card() {
    let p = spawn().await;
    let (burst, _) = PER_CARD;
    for i in 0..burst {
        let a = p.sign_in("C9999", "1234").await;
        assert_eq!(a.status, 401, "try {i}");
    }
    let a = p.sign_in("C9999", "1234").await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert!(
        a.retry_after
            .is_some_and(|s| s.parse::<u64>().unwrap() >= 1)
    );
    // over the limit even a right PIN is not tried (the chip counts nothing)
    for _ in 0..burst {
        let _ = p.sign_in("C0003", "0000").await;
    }
    let before = p.chip("C0003").failures;
    let a = p.sign_in("C0003", "2222").await;
    assert_eq!(a.status, 429);
    assert_eq!(p.chip("C0003").failures, before);
}

#[tokio::test]
async fn portal_rate_limits_logins_per_client_address() {
    let p = spawn().await;
    let (burst, _) = PER_CLIENT;
    for i in 0..burst {
        let a = p.sign_in(&format!("X{i:04}"), "1234").await;
        assert_eq!(a.status, 401, "try {i}");
    }
    let a = p.sign_in("X9999", "1234").await;
    assert_eq!(a.status, 429, "{}", a.body);
    let a = p.sign_in("C0001", "1234").await;
    assert_eq!(a.status, 429, "the right card and PIN wait too");
    assert!(a.cookie.is_none());
}

#[tokio::test]
async fn r9_portal_has_no_current_qualification_for_a_lost_one() {
    let p = spawn().await;
    let (cookie, _) = p.session("C0003", "2222").await;
    let page = p.get(Some(&cookie)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("現在有効な医療保険の資格情報はありません"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn portal_login_from_another_site_is_refused() {
    let p = spawn().await;
    let a = p
        .post("/portal/login", "card_serial=C0001&pin=1234", None, false)
        .await;
    assert_eq!(a.status, 403);
    assert!(a.cookie.is_none());
    let mut rq = p
        .client
        .post(format!("{}/portal/login", p.base))
        .header("Origin", "https://evil.example")
        .body("card_serial=C0001&pin=1234");
    rq = rq.header("Content-Type", "application/x-www-form-urlencoded");
    assert_eq!(rq.send().await.unwrap().status().as_u16(), 403);
}

#[tokio::test]
async fn portal_input_that_is_not_a_form_is_refused_not_a_panic() {
    let p = spawn().await;
    for body in [
        "",
        "%",
        "card_serial=%ff%fe",
        "pin=12345678&card_serial=C0001",
        "card_serial=",
    ] {
        let a = p.post("/portal/login", body, None, true).await;
        assert_eq!(a.status, 401, "{body}");
        assert!(a.body.contains(REFUSED));
    }
}

#[tokio::test]
async fn xss_portal_never_echoes_a_hostile_card_serial() {
    let p = spawn().await;
    let a = p
        .sign_in(
            "%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%22%26%27",
            "1234",
        )
        .await;
    assert_eq!(a.status, 401);
    assert!(!a.body.contains("<script>alert"), "{}", a.body);
    assert!(!a.body.contains("alert("), "{}", a.body);
}
