//! Checks that `examples/hello_client.rs` prints what note 04 shows it printing: run
//! against the app on a free port, its output must be the note's transcript line for line,
//! with what changes from run to run (ids, milliseconds, the port) masked.

#[path = "../examples/hello_client.rs"]
#[allow(dead_code)]
mod hello_client;

use std::time::Duration;

use step_04_connect_logging::{app, public_folder};
use testkit::transcript::{block_after, masked};
use tokio::{net::TcpListener, time::timeout};

const DEADLINE: Duration = Duration::from_secs(20);

/// The line in the note just before the transcript this test checks.
const MARKER: &str = "<!-- the output of examples/hello_client.rs";

/// The example's session, run for real, is the transcript in `notes/04-connect-logging.md`.
#[tokio::test]
async fn the_example_prints_the_notes_transcript() {
    // Arrange
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app(public_folder())).await });
    let note = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../notes/04-connect-logging.md"
    ))
    .expect("the note is readable");

    // Act
    let mut out = Vec::new();
    timeout(
        DEADLINE,
        hello_client::run(&format!("ws://{addr}/ws"), &mut out),
    )
    .await
    .expect("the example finishes within the deadline")
    .expect("the example succeeds");

    // Assert
    let printed = String::from_utf8(out).expect("the example prints UTF-8");
    assert_eq!(masked(&printed), masked(&block_after(&note, MARKER)));
}
