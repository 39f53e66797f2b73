//! A full disk (item of issue 11): the answer that cannot be written is an error and a retry,
//! never a rescan loop that asks the central again — the central's history holds the request
//! once, and the answer appears once there is room. The `res` folder is a tmpfs of 64 KiB,
//! filled up (the tests run as root, as scripts/test does).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use onshi_store::{HistoryFilter, HistoryStore};

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_never_makes_the_terminal_ask_the_central_again() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("res");
    std::fs::create_dir_all(&res).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&res)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "mounting a small tmpfs needs root (scripts/test runs as root)"
    );
    let _m = Mount(res.clone());
    // fill it to the last byte
    let filler = res.join(".filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![b'x'; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(b"x");
        let _ = f.sync_all();
    }
    let t = start_terminal(&c, dir.path(), &[]);
    let name = "OQSsiquc01req_full.xml";
    put_request(
        dir.path(),
        name,
        &single_request("01130012", "1001", "2001", "00", "19800402", false),
    );
    // several rescans (every second) while the disk is full
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let answer = res.join(onshi_formats::terminal_xml::response_file_name(name).unwrap());
    assert!(!answer.exists(), "no room for the answer");
    assert!(
        exchange(dir.path()).req.join(name).exists(),
        "the request stays"
    );
    let asked = || {
        c.store
            .list_confirmations(CLINIC, &HistoryFilter::default())
            .unwrap()
            .len()
    };
    assert_eq!(
        asked(),
        1,
        "the central was asked once, not once per rescan"
    );
    // room again: the kept answer is written, still without a second confirmation
    std::fs::remove_file(&filler).unwrap();
    let b = wait_answer(dir.path(), name, Duration::from_secs(10)).await;
    let (_, r) = onshi_formats::terminal_xml::siquc01::QualificationResponse::read(&b).unwrap();
    assert_eq!(r.body.qualification_validity.as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(asked(), 1);
    drop(t);
}
