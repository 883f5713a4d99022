//! Checks that `examples/silent_client.rs` prints what note 08 shows it printing: run
//! against the app on a free port, its output must be the note's transcript line for line,
//! with what changes from run to run (ids, milliseconds, the port) masked.

#[path = "../examples/silent_client.rs"]
#[allow(dead_code)]
mod silent_client;

use std::time::Duration;

use step_08_production::{AppState, app, config::Config, public_folder};
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

/// The fenced block that follows the line starting with `marker`.
fn block_after(note: &str, marker: &str) -> String {
    let after = note
        .lines()
        .skip_while(|line| !line.trim_start().starts_with(marker))
        .skip_while(|line| !line.trim_start().starts_with("```"))
        .skip(1);
    let block: Vec<&str> = after
        .take_while(|line| !line.trim_start().starts_with("```"))
        .collect();
    assert!(!block.is_empty(), "no block after {marker:?} in the note");
    block.join("\n")
}

/// `text` without what changes from run to run: connection ids (`3-b73f9aa8ac19fd`) become
/// `<id>`, a number of milliseconds `<n> ms`, a local port `127.0.0.1:<port>`, and runs of
/// spaces one space.
fn masked(text: &str) -> String {
    let lines = text.lines().map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let masked: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(at, word)| {
                let is_number = word.chars().all(|c| c.is_ascii_digit());
                let next_is_ms = words.get(at + 1).is_some_and(|next| next.starts_with("ms"));
                if is_number && next_is_ms {
                    "<n>".to_owned()
                } else {
                    masked_word(word)
                }
            })
            .collect();
        masked.join(" ")
    });
    lines.collect::<Vec<_>>().join("\n")
}

fn masked_word(word: &str) -> String {
    let word = match word.split_once("127.0.0.1:") {
        Some((before, after)) => {
            let rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{before}127.0.0.1:<port>{rest}")
        }
        None => word.to_owned(),
    };
    let is_id_char = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '-';
    let mut result = String::new();
    let mut token = String::new();
    for c in word.chars().chain(std::iter::once(' ')) {
        if is_id_char(c) {
            token.push(c);
            continue;
        }
        let is_id = matches!(token.split_once('-'), Some((count, random))
            if !count.is_empty() && random.len() == 14 && !random.contains('-'));
        result.push_str(if is_id { "<id>" } else { &token });
        token.clear();
        result.push(c);
    }
    result.pop();
    result
}
