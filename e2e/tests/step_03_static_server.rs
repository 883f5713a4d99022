//! Step 03 in a real browser: `public/step-03-static-server/` served by the
//! step's app and opened in headless Chromium.
//!
//! Step 03's own tests prove the server sends the right bytes; this proves a
//! browser makes a page of them: it follows the `<link>` to `style.css` and
//! applies it. Run with `cargo test -p e2e --test step_03_static_server`;
//! the page is explained in `notes/03-static-server.md`.

use e2e::WAIT;
use step_03_static_server::{app, public_folder};

/// The page opens with its title and heading, and the body has the
/// background colour `style.css` gives it — so the stylesheet was requested,
/// served with a CSS content type, and applied.
#[tokio::test]
async fn page_loads_with_its_text_and_stylesheet() {
    let Some(browser) = e2e::browser().await else {
        return;
    };
    let addr = e2e::serve(app(public_folder())).await;
    let stylesheet = std::fs::read_to_string(public_folder().join("style.css"))
        .expect("read public/step-03-static-server/style.css");
    let expected_background = css_hex_to_rgb(body_background(&stylesheet));

    browser.goto(&format!("http://{addr}/")).await;

    assert_eq!(browser.title().await, "Step 03 · Static files");
    browser
        .wait_for_text("h1", |text| text == "Hello from a static file", WAIT)
        .await;
    browser
        .wait_for_text("main p", |text| text.contains("served as it is"), WAIT)
        .await;
    // `goto` returns after the `load` event, and a stylesheet in `<head>`
    // blocks it, so the style is already applied here: no waiting needed.
    let background = browser
        .execute(
            "return getComputedStyle(document.body).backgroundColor",
            vec![],
        )
        .await;
    assert_eq!(background, expected_background);
    browser.close().await;
}

/// The value of `background:` inside the `body { … }` rule of `css`.
fn body_background(css: &str) -> &str {
    let body_rule = css
        .split("body {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("style.css has a `body { … }` rule");
    body_rule
        .lines()
        .find_map(|line| line.trim().strip_prefix("background:"))
        .map(|value| value.trim().trim_end_matches(';'))
        .expect("the body rule sets `background:`")
}

/// `#0b2545` as the browser reports a computed colour: `rgb(11, 37, 69)`.
fn css_hex_to_rgb(hex: &str) -> String {
    let digits = hex
        .strip_prefix('#')
        .filter(|digits| digits.len() == 6)
        .unwrap_or_else(|| panic!("expected a #rrggbb colour, found {hex:?}"));
    let channel = |at: usize| {
        u8::from_str_radix(&digits[at..at + 2], 16)
            .unwrap_or_else(|_| panic!("expected a #rrggbb colour, found {hex:?}"))
    };
    format!("rgb({}, {}, {})", channel(0), channel(2), channel(4))
}
