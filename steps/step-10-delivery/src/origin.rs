//! The origin check: which web pages may open a WebSocket to this server.
//!
//! A browser sends cookies with a WebSocket upgrade whatever page asked for
//! it, and the same-origin policy that protects `fetch` does not apply to
//! WebSockets. Without this check, any site a user visits could open a socket
//! to this server *as that user* (cross-site WebSocket hijacking). Browsers
//! always send an `Origin` header on the upgrade, and a page cannot forge it,
//! so the server checks it before upgrading. See `notes/08-production.md`.

use axum::{
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::config::AllowedOrigins;

/// Why an upgrade was refused; answered with `403 Forbidden`.
#[derive(Debug, PartialEq, Eq)]
pub struct OriginRefused {
    /// The `Origin` header as the browser sent it (lossily, if not text).
    pub origin: String,
}

impl IntoResponse for OriginRefused {
    fn into_response(self) -> Response {
        let body = format!(
            "403 Forbidden: a page from {} may not open a WebSocket to this server. \
             Only pages served by this server, or origins listed in ALLOWED_ORIGINS, may.\n",
            self.origin
        );
        (StatusCode::FORBIDDEN, body).into_response()
    }
}

/// Accepts the upgrade if its `Origin` is this server's own origin, or is in
/// `allowed`, or is absent; refuses it otherwise.
///
/// *Same origin* means the origin's `host[:port]` is the request's `Host`:
/// the page was served by the server it is now connecting to.
///
/// No `Origin` at all is accepted on purpose: browsers always send one, so a
/// request without it comes from a program (a test, `websocat`, the load
/// generator), which could write any `Origin` it liked anyway. The check
/// protects users' browsers, not the server from programs; that is what the
/// connection and rate limits are for.
pub fn check_origin(headers: &HeaderMap, allowed: &AllowedOrigins) -> Result<(), OriginRefused> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    if is_same_origin(&origin, host) || allowed.contains(&origin) {
        Ok(())
    } else {
        Err(OriginRefused { origin })
    }
}

/// Whether `origin` (`http://localhost:3000`) names the host the request was
/// sent to (`localhost:3000`). A default port may be written or left out on
/// either side (`https://example.com` is `example.com:443`).
fn is_same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // e.g. "null", sent by sandboxed pages and file:// pages
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let without_default = |text: &str| -> String {
        let text = text.to_ascii_lowercase();
        match text.strip_suffix(default_port) {
            Some(bare) => bare.to_owned(),
            None => text,
        }
    };
    !host.is_empty() && without_default(authority) == without_default(host)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    fn allowed(list: &str) -> AllowedOrigins {
        list.parse().expect("a valid list")
    }

    /// A page served by this server may connect; so may one on the list,
    /// and a program that sends no `Origin`.
    #[test]
    fn same_origin_listed_origin_and_no_origin_are_accepted() {
        let none = AllowedOrigins::default();
        let host = "localhost:3000";
        assert_eq!(
            check_origin(&headers(Some("http://localhost:3000"), host), &none),
            Ok(())
        );
        assert_eq!(
            check_origin(&headers(Some("HTTP://LocalHost:3000"), host), &none),
            Ok(())
        );
        assert_eq!(check_origin(&headers(None, host), &none), Ok(()));
        let list = allowed("https://chat.example.com");
        assert_eq!(
            check_origin(&headers(Some("https://chat.example.com"), host), &list),
            Ok(())
        );
    }

    /// Default ports may be written on one side and left out on the other.
    #[test]
    fn default_ports_are_the_same_origin() {
        let none = AllowedOrigins::default();
        assert!(
            check_origin(
                &headers(Some("https://example.com"), "example.com:443"),
                &none
            )
            .is_ok()
        );
        assert!(
            check_origin(
                &headers(Some("http://example.com:80"), "example.com"),
                &none
            )
            .is_ok()
        );
        assert!(
            check_origin(
                &headers(Some("https://example.com"), "example.com:80"),
                &none
            )
            .is_err()
        );
    }

    /// Another site, another port, and the opaque origin `null` are refused.
    #[test]
    fn other_origins_are_refused() {
        let none = AllowedOrigins::default();
        let host = "localhost:3000";
        for origin in [
            "http://evil.example",
            "http://localhost:3001",
            "null",
            "http://localhost:3000.evil.example",
        ] {
            assert_eq!(
                check_origin(&headers(Some(origin), host), &none),
                Err(OriginRefused {
                    origin: origin.to_owned()
                }),
                "{origin}"
            );
        }
    }
}
