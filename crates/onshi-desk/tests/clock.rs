//! The desk reads time from one clock, the terminal's: with the clock pinned, a new visit's
//! day of service and the time of each step are the pinned ones, whatever the machine's date.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use onshi_central::Clock;
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_terminal::client::{CentralClient, HttpCentral};

struct Pinned(DateTime<Utc>);

impl Clock for Pinned {
    fn now_utc(&self) -> DateTime<Utc> {
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_dates_visits_and_steps_by_the_terminals_pinned_clock() {
    let dir = tempfile::tempdir().unwrap();
    let facility = MedicalInstitutionCode::parse("1311234567").unwrap();
    let cfg = onshi_terminal::Config::new(facility, dir.path());
    // no central is needed to start a visit
    let client: Arc<dyn CentralClient> =
        Arc::new(HttpCentral::new("http://127.0.0.1:9", "unused").unwrap());
    // 2026-11-25 10:15:00 JST
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 1, 15, 0).unwrap();
    let t = onshi_terminal::Terminal::open(cfg, client, Arc::new(Pinned(at))).unwrap();
    let desk = onshi_desk::Desk::open(t).unwrap();
    common::add_staff(&desk);
    assert_eq!(desk.today().to_string(), "2026-11-25");
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let visits = desk.visits.clone();
    tokio::spawn(async move {
        let _ = axum::serve(l, onshi_desk::router(desk)).await;
    });
    let http = common::signed_in(&base, "S01").await;
    let r = http
        .post(format!("{base}/desk/visits"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("presence=at_desk&staff=S01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let id = visits.list(1).unwrap().remove(0).id;
    let v = visits.get(id).unwrap();
    assert_eq!(v.service_date.to_string(), "2026-11-25");
    assert_eq!(v.steps[0].at, "2026-11-25T10:15:00+09:00");
    let home = http
        .get(format!("{base}/desk/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("name=\"service_date\" value=\"2026-11-25\""),
        "{home}"
    );
}
