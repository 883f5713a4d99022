//! Checks that `examples/silent_client.rs` prints what note 08 shows it printing: run
//! against the app on a free port, its output must be the note's transcript line for line,
//! with what changes from run to run (ids, milliseconds, the port) masked.

#[path = "../examples/silent_client.rs"]
#[allow(dead_code)]
mod silent_client;

use std::time::Duration;

use step_08_production::{AppState, app, config::Config, public_folder};
use testkit::transcript::{block_after, masked};
use tokio::{net::TcpListener, time::timeout};

const DEADLINE: Duration = Duration::from_secs(20);

/// The line in the note just before the transcript this test checks.
const MARKER: &str = "<!-- the output of examples/silent_client.rs";

/// A client that stops answering pings is dropped, as note 08's transcript shows (a 100 ms
/// heartbeat and 1 s of silence here, to be quick).
#[tokio::test]
async fn the_example_prints_the_notes_transcript() {
    // Arrange
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("a bound address");
    let config = Config {
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_timeout: Duration::from_millis(200),
        ..Config::default()
    };
    let state = AppState::new(config);
    tokio::spawn(async move { axum::serve(listener, app(public_folder(), state)).await });
    let note = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../notes/08-production.md"
    ))
    .expect("the note is readable");

    // Act
    let mut out = Vec::new();
    timeout(
        DEADLINE,
        silent_client::run(&format!("ws://{addr}/ws"), Duration::from_secs(1), &mut out),
    )
    .await
    .expect("the example finishes within the deadline")
    .expect("the example succeeds");

    // Assert
    let printed = String::from_utf8(out).expect("the example prints UTF-8");
    assert_eq!(masked(&printed), masked(&block_after(&note, MARKER)));
}
