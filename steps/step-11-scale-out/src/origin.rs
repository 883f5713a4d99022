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

use crate::{
    config::{AllowedHosts, AllowedOrigins},
    quiet_log::truncated,
};

/// At most this many characters of a refused `Origin` are written into the
/// log line and the 403's body.
///
/// A real origin is a scheme, a host name and a port, well under this; the
/// header itself is the client's to choose, and a 100 KB one logged whole,
/// 2,000 times, was 200 MB of log.
pub const MAX_ORIGIN_CHARS: usize = 100;

/// Why an upgrade was refused; answered with `403 Forbidden`.
#[derive(Debug, PartialEq, Eq)]
pub struct OriginRefused {
    /// The `Origin` header as the browser sent it (lossily, if not text),
    /// cut to [`MAX_ORIGIN_CHARS`].
    pub origin: String,
}

impl IntoResponse for OriginRefused {
    fn into_response(self) -> Response {
        let body = format!(
            "403 Forbidden: a page from {} may not open a WebSocket to this server. \
             Only pages served by this server under one of its host names (ALLOWED_HOSTS), \
             or from origins listed in ALLOWED_ORIGINS, may.\n",
            self.origin
        );
        (StatusCode::FORBIDDEN, body).into_response()
    }
}

/// Accepts the upgrade if its `Origin` is a page of this server, or is in
/// `allowed_origins`, or is absent; refuses it otherwise.
///
/// *A page of this server* means: the request was sent to one of
/// `allowed_hosts` (its `Host`, with any port), and the page came from
/// exactly there, `http://` + that `Host` — the same scheme, host and port.
/// Trusting `Host` alone is not enough: a page at `http://evil.example:3000`
/// whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) sends
/// `Host: evil.example:3000` and the matching `Origin`. And the scheme is
/// `http` because this server speaks plain HTTP: an `https://` page was not
/// served by it. (Behind a TLS proxy, list the public origin in
/// `ALLOWED_ORIGINS`.)
///
/// No `Origin` at all is accepted on purpose: browsers always send one, so a
/// request without it comes from a program (a test, `websocat`, the load
/// generator), which could write any `Origin` it liked anyway. The check
/// protects users' browsers, not the server from programs; that is what the
/// connection and rate limits are for.
pub fn check_origin(
    headers: &HeaderMap,
    allowed_origins: &AllowedOrigins,
    allowed_hosts: &AllowedHosts,
) -> Result<(), OriginRefused> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = String::from_utf8_lossy(origin.as_bytes());
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    if is_own_page(&origin, host, allowed_hosts) || allowed_origins.contains(&origin) {
        Ok(())
    } else {
        Err(OriginRefused {
            origin: truncated(&origin, MAX_ORIGIN_CHARS),
        })
    }
}

/// Whether `origin` (`http://localhost:3000`) is a page served by this
/// server at `host` (the request's `Host`, `localhost:3000`): `host` names
/// one of `allowed_hosts`, and `origin` is `http://` + `host`. The default
/// port may be written or left out on either side (`http://localhost` is
/// `localhost:80`).
fn is_own_page(origin: &str, host: &str, allowed_hosts: &AllowedHosts) -> bool {
    // "null" (sandboxed and file:// pages) and https:// pages are not ours.
    let Some(authority) = origin
        .get(.."http://".len())
        .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
        .and_then(|_| origin.get("http://".len()..))
    else {
        return false;
    };
    let without_default_port = |text: &str| -> String {
        let text = text.to_ascii_lowercase();
        match text.strip_suffix(":80") {
            Some(bare) => bare.to_owned(),
            None => text,
        }
    };
    allowed_hosts.contains(host_name(host))
        && without_default_port(authority) == without_default_port(host)
}

/// The name in a `Host` header, without its port: `localhost` for
/// `localhost:3000`, `[::1]` for `[::1]:3000`.
fn host_name(host: &str) -> &str {
    match host.find(']') {
        Some(end) if host.starts_with('[') => &host[..=end],
        _ => host.split_once(':').map_or(host, |(name, _)| name),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let value = |text: &str| HeaderValue::from_str(text).expect("a valid header value");
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, value(origin));
        }
        headers
    }

    /// The check with the default hosts and no listed origins, or `list`.
    fn check(origin: &str, host: &str, list: &str) -> Result<(), OriginRefused> {
        let origins: AllowedOrigins = list.parse().expect("a valid list");
        check_origin(
            &headers(Some(origin), host),
            &origins,
            &AllowedHosts::default(),
        )
    }

    /// A page served by this server may connect; so may one on the list,
    /// and a program that sends no `Origin`.
    #[test]
    fn own_page_listed_origin_and_no_origin_are_accepted() {
        let host = "localhost:3000";
        assert_eq!(check("http://localhost:3000", host, ""), Ok(()));
        assert_eq!(check("HTTP://LocalHost:3000", host, ""), Ok(()));
        assert_eq!(check("http://[::1]:3000", "[::1]:3000", ""), Ok(()));
        assert_eq!(check("http://127.0.0.1:3000", "127.0.0.1:3000", ""), Ok(()));
        let none = AllowedOrigins::default();
        let hosts = AllowedHosts::default();
        assert_eq!(check_origin(&headers(None, host), &none, &hosts), Ok(()));
        let listed = "https://chat.example.com";
        assert_eq!(check(listed, host, listed), Ok(()));
    }

    /// The default port may be written on one side and left out on the
    /// other; any other port is another origin.
    #[test]
    fn the_default_port_is_the_same_origin() {
        assert!(check("http://localhost", "localhost:80", "").is_ok());
        assert!(check("http://localhost:80", "localhost", "").is_ok());
        assert!(check("http://localhost:8080", "localhost", "").is_err());
    }

    /// Another site, another port, the opaque origin `null`, and an
    /// `https://` page (this server speaks plain HTTP) are refused.
    #[test]
    fn other_origins_are_refused() {
        let host = "localhost:3000";
        for origin in [
            "http://evil.example",
            "http://localhost:3001",
            "null",
            "http://localhost:3000.evil.example",
            "https://localhost:3000",
            "ws://localhost:3000",
        ] {
            assert_eq!(
                check(origin, host, ""),
                Err(OriginRefused {
                    origin: origin.to_owned()
                }),
                "{origin}"
            );
        }
    }

    /// DNS rebinding: `Host` and `Origin` agree, but name a host this
    /// server does not answer for — until `ALLOWED_HOSTS` lists it.
    #[test]
    fn a_host_that_is_not_allowed_is_not_same_origin() {
        // Arrange
        let rebound = headers(Some("http://evil.example:3000"), "evil.example:3000");
        let none = AllowedOrigins::default();
        let listed: AllowedHosts = "evil.example".parse().expect("a valid list");

        // Act
        let by_default = check_origin(&rebound, &none, &AllowedHosts::default());
        let when_listed = check_origin(&rebound, &none, &listed);

        // Assert
        assert!(by_default.is_err());
        assert_eq!(when_listed, Ok(()));
    }

    /// A refused origin is kept only to [`MAX_ORIGIN_CHARS`], for the log
    /// line and the 403's body.
    #[test]
    fn a_refused_origin_is_cut_to_size() {
        // Arrange
        let huge = format!("http://{}", "a".repeat(100_000));

        // Act
        let refused = check(&huge, "localhost:3000", "").expect_err("not this server's page");

        // Assert
        assert!(
            refused.origin.len() < 2 * MAX_ORIGIN_CHARS,
            "{}",
            refused.origin
        );
        assert!(
            refused.origin.ends_with("… (100007 bytes)"),
            "{}",
            refused.origin
        );
    }
}
