//! Desk login: staff accounts (argon2), server-side sessions with logout and expiry, CSRF
//! tokens on every form post, and the Host / Origin checks. Real HTTP server, real files.

mod common;

use std::sync::Arc;
use std::time::Duration;

use onshi_central::SystemClock;
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_terminal::client::{CentralClient, HttpCentral};

/// A desk (its central unreachable: not needed to sign in) with a given idle limit.
async fn desk(idle: Duration) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = onshi_terminal::Config::new(
        MedicalInstitutionCode::parse(common::CLINIC).unwrap(),
        dir.path(),
    );
    let client: Arc<dyn CentralClient> =
        Arc::new(HttpCentral::new("http://127.0.0.1:9", "unused").unwrap());
    let t = onshi_terminal::Terminal::open(cfg, client, Arc::new(SystemClock)).unwrap();
    let mut d = onshi_desk::Desk::open(t).unwrap();
    d.session_idle = idle;
    common::add_staff(&d);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(l, onshi_desk::router(d)).await;
    });
    (base, dir)
}

fn no_redirects() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let c = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (c, jar)
}

async fn login(c: &reqwest::Client, base: &str, password: &str) -> reqwest::Response {
    c.post(format!("{base}/desk/login"))
        .header("Origin", base)
        .form(&[("staff_id", "S01"), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_the_staff_password_then_logout_ends_the_session() {
    let (base, _dir) = desk(onshi_desk::SESSION_IDLE).await;
    let (c, _) = no_redirects();
    // nobody signed in: the screens send to the login page
    let r = c.get(format!("{base}/desk/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/desk/login?next=")
    );
    // a wrong password is refused, and says nothing about which part was wrong
    let r = login(&c, &base, "not-the-password").await;
    assert_eq!(r.status().as_u16(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("職員IDまたはパスワードが違います")
    );
    // the right one: a session cookie (HttpOnly, SameSite=Strict) and the desk
    let r = login(&c, &base, common::PASSWORD).await;
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("onshi_desk_1311234567="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let page = c.get(format!("{base}/desk/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("受付 一郎（S01）") && page.contains("id=\"logout\""),
        "{page}"
    );
    let token = common::csrf_of(&page).unwrap();
    // logout (a form post with the token) ends it: the same cookie opens nothing
    let r = c
        .post(format!("{base}/desk/logout"))
        .header("Origin", &base)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/desk/login?bye=1");
    let r = c.get(format!("{base}/desk/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303, "signed out");
    let (stale, _) = no_redirects();
    let r = stale
        .get(format!("{base}/desk/"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        303,
        "the old session id is dead on the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_expires_after_the_idle_limit() {
    let (base, _dir) = desk(Duration::from_secs(1)).await;
    let (c, _) = no_redirects();
    assert_eq!(
        login(&c, &base, common::PASSWORD).await.status().as_u16(),
        303
    );
    let r = c.get(format!("{base}/desk/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = c.get(format!("{base}/desk/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303, "expired");
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/desk/login")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_a_cross_site_form_post_is_refused_even_with_the_session_cookie() {
    let (base, _dir) = desk(onshi_desk::SESSION_IDLE).await;
    let (c, _) = no_redirects();
    login(&c, &base, common::PASSWORD).await;
    let page = c
        .get(format!("{base}/desk/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = common::csrf_of(&page).unwrap();
    let start = |origin: Option<&str>, csrf: Option<&str>| {
        let mut r = c
            .post(format!("{base}/desk/visits"))
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some(o) = origin {
            r = r.header("Origin", o);
        }
        let body = match csrf {
            Some(t) => format!("presence=at_desk&csrf={t}"),
            None => "presence=at_desk".to_string(),
        };
        r.body(body).send()
    };
    // another site's page posting the desk's form: the browser sends the cookie (were it not
    // SameSite) and its own Origin, but cannot know the token
    let r = start(Some("http://evil.example"), None).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = start(Some("http://evil.example"), Some(&token))
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        403,
        "a foreign Origin is refused even with the token"
    );
    // no Origin at all
    let r = start(None, Some(&token)).await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "a missing Origin is refused");
    let r = start(Some(&base), None).await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "no token");
    let r = start(Some(&base), Some("00ff")).await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "a wrong token");
    assert!(r.text().await.unwrap().contains("確認用トークン"));
    // nothing was recorded by the refused posts; the desk's own form works
    let r = start(Some(&base), Some(&token)).await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/desk/visits/1");
    // the login form itself refuses another site's Origin (login CSRF)
    let (other, _) = no_redirects();
    let r = other
        .post(format!("{base}/desk/login"))
        .header("Origin", "http://evil.example")
        .form(&[("staff_id", "S01"), ("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_is_not_this_machine_is_refused() {
    let (base, _dir) = desk(onshi_desk::SESSION_IDLE).await;
    let (c, _) = no_redirects();
    let r = c
        .get(format!("{base}/desk/login"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        421,
        "DNS rebinding: a name that only points here"
    );
    let r = c.get(format!("{base}/desk/login")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
