//! The rules for nicknames and room names, checked when a client joins.
//!
//! A nickname is shown in everyone's page and a room name in everyone's
//! address of a conversation, so both are checked by the server, and a
//! refusal says which rule was broken, in words the page can show as they
//! are.

use std::fmt;

/// The longest nickname, in characters.
pub const MAX_NICKNAME_CHARS: usize = 24;

/// The longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 32;

/// The room a `join` without a room goes to.
pub const DEFAULT_ROOM: &str = "general";

/// A nickname that follows the rules, kept as the person typed it (trimmed).
///
/// Two nicknames are the same person's if they are equal ignoring case:
/// [`Nickname::key`] is what uniqueness is checked on, so "Alice" and
/// "alice" cannot both be online.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nickname(String);

/// A room name that follows the rules: 1 to 32 of `a-z`, `0-9` and `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(String);

/// Which rule a name broke; its `Display` is the sentence the client gets.
#[derive(Debug, PartialEq, Eq)]
pub enum NameRefused {
    EmptyNickname,
    LongNickname { chars: usize },
    InvisibleInNickname { found: char },
    BadRoom { room: String },
}

impl Nickname {
    /// Checks `typed`: trimmed, it must be 1 to [`MAX_NICKNAME_CHARS`]
    /// characters, none of them a control or formatting character.
    ///
    /// Control characters (Unicode's Cc: newlines, escape sequences) would
    /// break the page's layout or a terminal's; formatting characters (Cf:
    /// zero-width spaces, the right-to-left override U+202E) would let one
    /// nickname look like another, or reverse the text shown after it.
    pub fn parse(typed: &str) -> Result<Nickname, NameRefused> {
        let trimmed = typed.trim();
        if trimmed.is_empty() {
            return Err(NameRefused::EmptyNickname);
        }
        let chars = trimmed.chars().count();
        if chars > MAX_NICKNAME_CHARS {
            return Err(NameRefused::LongNickname { chars });
        }
        if let Some(found) = trimmed.chars().find(|c| is_control_or_format(*c)) {
            return Err(NameRefused::InvisibleInNickname { found });
        }
        Ok(Nickname(trimmed.to_owned()))
    }

    /// The nickname as it is shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What uniqueness is checked on: the nickname in lower case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl RoomName {
    /// Checks `typed`; a missing room is [`DEFAULT_ROOM`].
    pub fn parse(typed: Option<&str>) -> Result<RoomName, NameRefused> {
        let room = typed.unwrap_or(DEFAULT_ROOM);
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if room.is_empty() || room.chars().count() > MAX_ROOM_CHARS || !room.chars().all(allowed) {
            return Err(NameRefused::BadRoom {
                room: room.chars().take(MAX_ROOM_CHARS + 8).collect(),
            });
        }
        Ok(RoomName(room.to_owned()))
    }

    /// The room's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NameRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameRefused::EmptyNickname => f.write_str("a nickname cannot be empty"),
            NameRefused::LongNickname { chars } => write!(
                f,
                "a nickname can be at most {MAX_NICKNAME_CHARS} characters; this one has {chars}"
            ),
            NameRefused::InvisibleInNickname { found } => write!(
                f,
                "a nickname cannot hold control or formatting characters such as U+{:04X}",
                u32::from(*found)
            ),
            NameRefused::BadRoom { room } => write!(
                f,
                "a room name is 1 to {MAX_ROOM_CHARS} characters of a-z, 0-9 and -; {room:?} is not"
            ),
        }
    }
}

/// Whether `c` is a control character (Unicode category Cc) or a formatting
/// character (Cf).
///
/// Rust's standard library knows Cc (`char::is_control`) but not Cf, so the
/// Cf characters are listed here, from Unicode 16's `UnicodeData.txt`: a
/// short, stable list (about 170 characters in 19 ranges).
pub fn is_control_or_format(c: char) -> bool {
    const FORMAT: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    let code = u32::from(c);
    c.is_control()
        || FORMAT
            .iter()
            .any(|&(low, high)| (low..=high).contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A nickname is kept as typed, trimmed; its key ignores case.
    #[test]
    fn a_nickname_is_trimmed_and_keyed_without_case() {
        let alice = Nickname::parse("  Alice ").expect("a fine nickname");
        assert_eq!(alice.as_str(), "Alice");
        assert_eq!(alice.key(), "alice");
        assert!(Nickname::parse("Zoë 🦀").is_ok());
        assert!(Nickname::parse(&"x".repeat(24)).is_ok());
    }

    /// Each rule has its own sentence.
    #[test]
    fn each_broken_rule_is_named() {
        let cases = [
            (" \t ", "a nickname cannot be empty"),
            (
                &"x".repeat(25)[..],
                "a nickname can be at most 24 characters; this one has 25",
            ),
            (
                "evil\u{202E}gnp",
                "a nickname cannot hold control or formatting characters such as U+202E",
            ),
            (
                "zero\u{200B}width",
                "a nickname cannot hold control or formatting characters such as U+200B",
            ),
            (
                "line\nbreak",
                "a nickname cannot hold control or formatting characters such as U+000A",
            ),
        ];
        for (typed, sentence) in cases {
            let refused = Nickname::parse(typed).expect_err(typed);
            assert_eq!(refused.to_string(), sentence, "{typed:?}");
        }
    }

    /// Room names: lowercase letters, digits and dashes, 1 to 32 of them;
    /// none given means "general".
    #[test]
    fn room_names_follow_the_rule() {
        assert_eq!(RoomName::parse(None).map(|r| r.0), Ok("general".to_owned()));
        for good in ["random", "room-42", &"a".repeat(32)] {
            assert!(RoomName::parse(Some(good)).is_ok(), "{good}");
        }
        for bad in ["", "Random", "two words", "émigré", &"a".repeat(33), "a/b"] {
            let refused = RoomName::parse(Some(bad)).expect_err(bad);
            assert!(
                refused.to_string().starts_with("a room name is 1 to 32"),
                "{refused}"
            );
        }
    }
}
