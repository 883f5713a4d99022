//! The two parts of the WebSocket opening handshake (RFC 6455 §4.2.1) that
//! axum's `WebSocketUpgrade` extractor lets through or answers vaguely.
//!
//! - **`Sec-WebSocket-Key`** must be 16 random bytes in base64. axum only
//!   checks that the header is there, so an empty key, or any text at all,
//!   got a 101. Here it is a 400.
//! - **A version other than 13** gets axum's plain 400. RFC 6455 §4.4 wants
//!   the answer to say which versions the server speaks, in a
//!   `Sec-WebSocket-Version` header; the status it suggests, `426 Upgrade
//!   Required`, must also carry an `Upgrade` header (RFC 9110 §15.5.22).
//!   Here it is that 426 with both.
//!
//! Browsers always send a good key and version 13; these answers are for
//! the programs that do not, so they can tell what is wrong.

use axum::{
    extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// The one WebSocket version there is (RFC 6455), and the one this server
/// speaks.
pub const WEBSOCKET_VERSION: &str = "13";

/// Why an upgrade request was refused before the origin was even looked at.
#[derive(Debug)]
pub enum HandshakeRefused {
    /// Not an upgrade at all (a plain GET, a POST): axum's answer says which
    /// header is missing.
    NotAnUpgrade(WebSocketUpgradeRejection),
    /// `Sec-WebSocket-Version` is not 13: 426, naming the version.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing, repeated, or not 16 bytes of base64.
    BadKey,
}

impl IntoResponse for HandshakeRefused {
    fn into_response(self) -> Response {
        match self {
            HandshakeRefused::NotAnUpgrade(rejection) => rejection.into_response(),
            HandshakeRefused::UnsupportedVersion => {
                let body = format!(
                    "426 Upgrade Required: this server speaks WebSocket version \
                     {WEBSOCKET_VERSION} only (Sec-WebSocket-Version: {WEBSOCKET_VERSION}).\n"
                );
                let versions = HeaderValue::from_static(WEBSOCKET_VERSION);
                let protocol = HeaderValue::from_static("websocket");
                let headers = [
                    (header::SEC_WEBSOCKET_VERSION, versions),
                    (header::UPGRADE, protocol),
                ];
                (StatusCode::UPGRADE_REQUIRED, headers, body).into_response()
            }
            HandshakeRefused::BadKey => (
                StatusCode::BAD_REQUEST,
                "400 Bad Request: Sec-WebSocket-Key must be sent once, and be 16 random bytes \
                 in base64 (24 characters ending in ==), as RFC 6455 asks.\n",
            )
                .into_response(),
        }
    }
}

/// The upgrade axum extracted, if the handshake is one RFC 6455 allows;
/// otherwise why not.
pub fn check_handshake(
    headers: &HeaderMap,
    extracted: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade, HandshakeRefused> {
    let upgrade = extracted.map_err(|rejection| match rejection {
        WebSocketUpgradeRejection::InvalidWebSocketVersionHeader(_) => {
            HandshakeRefused::UnsupportedVersion
        }
        other => HandshakeRefused::NotAnUpgrade(other),
    })?;
    let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
    match (keys.next(), keys.next()) {
        (Some(key), None) if is_base64_of_16_bytes(key.as_bytes()) => Ok(upgrade),
        _ => Err(HandshakeRefused::BadKey),
    }
}

/// Whether `key` is what base64 makes of 16 bytes: 22 characters of the
/// base64 alphabet, then `==` (16 bytes are 128 bits; 22 characters carry
/// 132, and the padding fills the last group of four). The same rule as
/// Node's `ws` library, the server under socket.io.
fn is_base64_of_16_bytes(key: &[u8]) -> bool {
    let is_base64 = |byte: &u8| byte.is_ascii_alphanumeric() || *byte == b'+' || *byte == b'/';
    match key.strip_suffix(b"==") {
        Some(digits) => digits.len() == 22 && digits.iter().all(is_base64),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of RFC 6455's example passes; keys that are not 16 bytes of
    /// base64 do not.
    #[test]
    fn only_base64_of_16_bytes_is_a_key() {
        assert!(is_base64_of_16_bytes(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_base64_of_16_bytes(b"AQIDBAUGBwgJCgsMDQ4PEC=="));
        for key in [
            "",
            "x",
            "dGhlIHNhbXBsZSBub25jZQ",                         // no padding
            "dGhlIHNhbXBsZSBub25jZQ=",                        // one = short
            "dGhlIHNhbXBsZSBub25jZQ===",                      // too long
            "dGhlIHNhbXBsZSBub25jZ!==",                       // not the alphabet
            "dGhlIHNhbXBsZSBub25jZQ+c=",                      // 17 bytes
            "dGhlIHNhbXBsZSBub25jZQdGhlIHNhbXBsZSBub25jZQ==", // 32 bytes
        ] {
            assert!(!is_base64_of_16_bytes(key.as_bytes()), "{key:?}");
        }
    }
}
