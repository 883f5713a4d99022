//! Step 05 in a real browser: `public/step-05-server-ticks/` adds a line for
//! every `fromServer` event the server's ticker sends.
//!
//! Step 05's own tests read the ticks with a Rust client; this proves the
//! page listens for the right event name and turns each tick into a line.
//! The tick is set to 100 ms through the step's `AppState`, so the check
//! takes a fraction of a second instead of the default two seconds a tick.
//! Run with `cargo test -p e2e --test step_05_server_ticks`; the page is
//! explained in `notes/05-server-ticks.md`.

use std::time::Duration;

use e2e::WAIT;
use step_05_server_ticks::{AppState, app, public_folder};

/// With a tick every 100 ms, "New Event from server" lines appear under the
/// connected status, one per `fromServer` event, each with its number, its
/// time and the interval the page measured; once they overflow their box, the
/// newest is still the one in view.
#[tokio::test]
async fn server_ticks_become_lines_on_the_page() {
    // Arrange
    let Some(browser) = e2e::browser().await else {
        return;
    };
    let state = AppState::new(Duration::from_millis(100));
    let addr = e2e::serve(app(public_folder(), state)).await;

    // Act
    browser.goto(&format!("http://{addr}/")).await;
    browser.wait_until_connected().await;

    // Assert: 25 lines arrive (at 100 ms a tick, well within WAIT), more than
    // the box shows at once.
    browser
        .wait_for_count("#events > div", |count| count >= 25, WAIT)
        .await;
    let page = browser
        .execute(
            "const events = document.getElementById('events');
             const lines = [...events.children];
             const newest = lines[lines.length - 1].getBoundingClientRect();
             const box = events.getBoundingClientRect();
             return {
               lines: lines.map(div => ({
                 count: div.querySelector('.count').textContent,
                 time: div.querySelector('.time').textContent,
                 text: div.querySelector('.text').textContent,
                 interval: div.querySelector('.interval').textContent,
               })),
               overflows: events.scrollHeight > events.clientHeight,
               newestInView: newest.top >= box.top && newest.bottom <= box.bottom + 1
                 && newest.bottom <= window.innerHeight,
             };",
            vec![],
        )
        .await;
    let lines = page["lines"]
        .as_array()
        .expect("the script returns the lines");
    assert!(lines.len() >= 25, "{lines:?}");
    for (at, line) in lines.iter().enumerate() {
        assert_eq!(line["text"], "New Event from server", "{line}");
        assert_eq!(line["count"], format!("#{}", at + 1), "{line}");
        let time = line["time"].as_str().unwrap_or_default();
        assert_eq!(
            time.len(),
            "20:28:35.044".len(),
            "an hh:mm:ss.mmm time: {line}"
        );
        let interval = line["interval"].as_str().unwrap_or_default();
        assert!(
            interval.starts_with('+') && interval.contains(" ms "),
            "a measured interval such as \"+100 ms after the last\": {line}"
        );
    }
    assert_eq!(page["overflows"], true, "25 lines overflow the box");
    assert_eq!(page["newestInView"], true, "the newest line is in view");
    browser.close().await;
}
