//! Memory: a 200 MB DLQ page fails with BODY_TOO_LARGE while the client's peak RSS stays
//! within twice the 32 MiB page cap. Measured in a child process (this test binary run again
//! for this one test, with the server's URL in the environment), reading `VmHWM` from
//! `/proc/self/status` (Linux), as the engine's memory bench does. A control run with a cap
//! above the page size shows that the measurement sees a page read whole.

use cxone_eventbridge::{Client, DEFAULT_MAX_PAGE_BODY};
use cxone_hostile_server::{HostileServer, Huge, Mode, Route};
use futures::TryStreamExt;
use secrecy::SecretString;
use std::process::Command;

const NAME: &str = "memory::a_200_mb_page_fails_with_body_too_large_in_bounded_memory";
const URL_ENV: &str = "CXONE_BODY_CAP_PROBE_URL";
const CAP_ENV: &str = "CXONE_BODY_CAP_PROBE_CAP";
const PAGE: u64 = 200 * 1000 * 1000;
const MIB: u64 = 1024 * 1024;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The child: reads the first page with the given cap, prints the class and the peak RSS.
async fn probe(url: &str, cap: usize) {
    let client = Client::builder()
        .base_url(url)
        .client_credentials("probe", SecretString::from("probe-secret"))
        .max_page_body(cap)
        .build()
        .unwrap();
    let mut pages = std::pin::pin!(client.dlq("t").pages());
    let class = match pages.try_next().await {
        Ok(_) => "OK".to_string(),
        Err(e) => e.class().to_string(),
    };
    println!("probe: {class} {}", vm_hwm_kib());
}

/// Runs the child with `cap`; returns its class and peak RSS in KiB.
fn child(url: &str, cap: u64) -> (String, u64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(URL_ENV, url)
        .env(CAP_ENV, cap.to_string())
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("probe: ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no probe line:\n{stdout}"));
    let (class, kib) = line.trim().split_once(' ').unwrap();
    (class.to_string(), kib.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_200_mb_page_fails_with_body_too_large_in_bounded_memory() {
    if let Ok(url) = std::env::var(URL_ENV) {
        let cap = std::env::var(CAP_ENV).unwrap().parse().unwrap();
        return probe(&url, cap).await;
    }
    if !std::path::Path::new("/proc/self/status").exists() {
        return; // VmHWM is Linux's: nothing to measure elsewhere
    }
    let server = HostileServer::builder()
        .mode(Mode::HugeBody(Huge {
            route: Route::Dlq,
            status: 200,
            len: Some(PAGE),
            declare_length: false,
        }))
        .start()
        .await
        .unwrap();
    let url = server.base_url().to_string();
    let cap = DEFAULT_MAX_PAGE_BODY as u64;
    let (class, kib) = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || child(&url, cap))
            .await
            .unwrap()
    };
    println!(
        "200 MB page, {} MiB cap: {class}, peak RSS {:.1} MiB",
        cap / MIB,
        kib as f64 / 1024.0
    );
    assert_eq!(class, "BODY_TOO_LARGE");
    assert!(
        kib * 1024 <= 2 * cap,
        "peak RSS {kib} KiB is over twice the {cap}-byte cap"
    );

    // Control: with a cap above the page, the page is read whole and the peak shows it.
    let (class, kib) = tokio::task::spawn_blocking(move || child(&url, 256 * MIB))
        .await
        .unwrap();
    println!(
        "200 MB page, 256 MiB cap: {class}, peak RSS {:.1} MiB",
        kib as f64 / 1024.0
    );
    assert_eq!(class, "UNKNOWN_FAILURE", "filler, not JSON: undecodable");
    assert!(
        kib * 1024 >= PAGE,
        "the control read the page whole: {kib} KiB"
    );
}
