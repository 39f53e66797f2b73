//! Exactly once across crashes: the terminal process is killed (SIGKILL) while requests are in
//! flight and restarted; a receipt computer keeps taking answers out of `res` as they appear.
//! Every request must get exactly one answer: none lost, none doubled.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_terminal_answers_every_request_exactly_once_after_restart() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let ex = exchange(dir.path());
    let taken: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // the receipt computer: takes each answer away as soon as it is complete
    let consumer = {
        let taken = taken.clone();
        let stop = stop.clone();
        let res = ex.res.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(rd) = std::fs::read_dir(&res) {
                    for e in rd.flatten() {
                        let name = e.file_name().to_string_lossy().to_string();
                        if name.starts_with('.') {
                            continue;
                        }
                        let b = std::fs::read(e.path()).unwrap_or_default();
                        onshi_formats::terminal_xml::siquc01::QualificationResponse::read(&b)
                            .unwrap_or_else(|err| panic!("{name} incomplete or bad: {err}"));
                        let _ = std::fs::remove_file(e.path());
                        *taken.lock().unwrap().entry(name).or_default() += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let req = single_request(
        c.fx.kyokai.as_str(),
        "1001",
        "2001",
        "00",
        "19800402",
        false,
    );
    let mut names = Vec::new();
    let mut term = start_terminal(&c, dir.path(), &[]);
    for round in 0..4 {
        for i in 0..40 {
            let name = format!("OQSsiquc01req_r{round}_{i:03}.xml");
            put_request(dir.path(), &name, &req);
            names.push(name);
        }
        // kill it mid-flight, after a varying head start
        tokio::time::sleep(Duration::from_millis(5 + 20 * round as u64)).await;
        term.child.kill().unwrap();
        term.child.wait().unwrap();
        term = start_terminal(&c, dir.path(), &[]);
    }
    // wait until every request has been answered and taken
    let start = Instant::now();
    loop {
        let n = taken.lock().unwrap().len();
        if n == names.len() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "only {n} of {} answered",
            names.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // give a restart's rescan time to (wrongly) answer again, then check
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    consumer.join().unwrap();
    let taken = taken.lock().unwrap();
    for n in &names {
        let res = onshi_formats::terminal_xml::response_file_name(n).unwrap();
        assert_eq!(
            taken.get(&res),
            Some(&1),
            "{res} answered {:?} times",
            taken.get(&res)
        );
    }
    assert_eq!(taken.len(), names.len());
    let left: Vec<_> = std::fs::read_dir(&ex.req)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "requests left: {left:?}");
    drop(term);
}
