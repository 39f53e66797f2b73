//! Benchmark (not a timed test; ignored by default): time from a request file appearing in
//! `req` to its complete answer in `res`, against a real central over HTTP and a real
//! terminal process. Run:
//!
//! `cargo test --release -p onshi-terminal --test latency -- --ignored --nocapture`

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_request_to_answer_latency() {
    let n: usize = std::env::var("ONSHI_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let req = single_request(
        c.fx.kyokai.as_str(),
        "1001",
        "2001",
        "00",
        "19800402",
        false,
    );
    let d = t.dir.clone();
    let lat = tokio::task::spawn_blocking(move || {
        let ex = exchange(&d);
        let mut lat = Vec::with_capacity(n);
        for i in 0..n + 20 {
            let name = format!("OQSsiquc01req_b{i:05}.xml");
            let res = ex
                .res
                .join(onshi_formats::terminal_xml::response_file_name(&name).unwrap());
            let start = Instant::now();
            put_request(&d, &name, &req);
            while !res.exists() {
                assert!(start.elapsed() < Duration::from_secs(20), "no answer");
                std::thread::sleep(Duration::from_micros(100));
            }
            if i >= 20 {
                lat.push(start.elapsed());
            }
            let _ = std::fs::remove_file(&res);
        }
        lat
    })
    .await
    .unwrap();
    let mut ms: Vec<f64> = lat.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() as f64 * q) as usize).min(ms.len() - 1)];
    println!(
        "terminal latency, request file written → answer file complete, {} requests one at a time (HTTP central, SQLite fixture): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        ms[ms.len() - 1]
    );
}
