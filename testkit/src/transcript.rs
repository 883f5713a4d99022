//! Checking a note's transcript against what an example really prints.
//!
//! A note shows a session — what an example client printed — in a fenced
//! block right after a marker line (`<!-- the output of examples/... -->`).
//! A step's test runs the example against its app and compares: the two
//! must agree line for line once what changes from run to run is masked.
//! [`block_after`] finds the block, [`masked`] hides connection ids,
//! milliseconds and ports.

/// The fenced block that follows the line starting with `marker`.
pub fn block_after(note: &str, marker: &str) -> String {
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
pub fn masked(text: &str) -> String {
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
