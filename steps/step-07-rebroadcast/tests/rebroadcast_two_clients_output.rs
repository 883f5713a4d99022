//! Checks that `examples/rebroadcast_two_clients.rs` prints what note 07 shows it printing: run
//! against the app on a free port, its output must be the note's transcript line for line,
//! with what changes from run to run (ids, milliseconds, the port) masked.

#[path = "../examples/rebroadcast_two_clients.rs"]
#[allow(dead_code)]
mod rebroadcast_two_clients;

use std::time::Duration;

use step_07_rebroadcast::{AppState, app, public_folder};
use testkit::transcript::{block_after, masked};
use tokio::{net::TcpListener, time::timeout};

const DEADLINE: Duration = Duration::from_secs(20);

/// The line in the note just before the transcript this test checks.
const MARKER: &str = "<!-- the output of examples/rebroadcast_two_clients.rs";

/// Alice and Bob's session is the transcript in `notes/07-rebroadcast.md`.
#[tokio::test]
async fn the_example_prints_the_notes_transcript() {
    // Arrange
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("a bound address");
    let state = AppState::new();
    tokio::spawn(async move { axum::serve(listener, app(public_folder(), state)).await });
    let note = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../notes/07-rebroadcast.md"
    ))
    .expect("the note is readable");

    // Act
    let mut out = Vec::new();
    timeout(
        DEADLINE,
        rebroadcast_two_clients::run(&format!("ws://{addr}/ws"), &mut out),
    )
    .await
    .expect("the example finishes within the deadline")
    .expect("the example succeeds");

    // Assert
    let printed = String::from_utf8(out).expect("the example prints UTF-8");
    assert_eq!(masked(&printed), masked(&block_after(&note, MARKER)));
}
