//! The bare server (`bench::bare_server`, the measuring stick of
//! `bench/compare.sh`) under the load generator: it must lose nothing, or its
//! figures would not be a fair floor for step 08's.
//!
//! Run: `cargo test -p bench --test against_the_bare_server`.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use bench::config::LoadConfig;
use bench::result::RunResult;

/// Starts a bare server on a free loopback port. Its accept loop runs on a
/// plain thread until the test process exits.
fn spawn_bare_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || bench::bare_server::serve(listener));
    address
}

async fn load(address: SocketAddr, traffic: &str) -> RunResult {
    let args = format!("--url ws://{address} --warmup 0.2 --duration 1 --drain 5 {traffic}");
    let config = LoadConfig::from_args(args.split_whitespace().map(String::from)).unwrap();
    tokio::time::timeout(Duration::from_secs(30), bench::run::run(&config))
        .await
        .expect("the run ends by itself")
        .expect("the run succeeds")
}

/// At a fixed rate, every message reaches every client once.
#[tokio::test]
async fn paced_run_loses_nothing() {
    let address = spawn_bare_server();

    let result = load(address, "--clients 20 --senders 4 --rate 100").await;

    assert_eq!(result.clients_connected, 20, "{result}");
    assert!(result.messages_sent_measured >= 80, "{result}");
    assert_eq!(
        result.deliveries_received,
        result.messages_sent_measured * 20,
        "{result}"
    );
    assert_eq!(result.deliveries_lost, 0, "{result}");
    assert_eq!(result.clients_ended_early, 0, "{result}");
}

/// Flat out, the one fan-out thread keeps up with the pipeline and loses nothing.
#[tokio::test]
async fn flat_out_run_loses_nothing() {
    let address = spawn_bare_server();

    let result = load(address, "--clients 50 --senders 5 --flat-out --in-flight 4").await;

    assert_eq!(result.clients_connected, 50, "{result}");
    // Without echoes coming back, no more than 5 × 4 could ever be sent.
    assert!(result.messages_sent_measured > 5 * 4, "{result}");
    assert_eq!(
        result.deliveries_received,
        result.messages_sent_measured * 50,
        "{result}"
    );
    assert_eq!(result.deliveries_lost, 0, "{result}");
    assert_eq!(result.clients_ended_early, 0, "{result}");
}
