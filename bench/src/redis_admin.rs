//! The little the load generator says to Redis itself: `CLIENT LIST`, to
//! find one node's connections by the names step 11 gives them
//! (`realtime-<node>-commands`, `-reader`, `-pubsub`; the Node baseline's
//! `realtime-<node>-pub` and `-sub`), and `CLIENT KILL ID`, to cut them
//! mid-run (`--kill-redis-clients`): the "a node loses Redis" scenario.
//!
//! Two commands do not justify a Redis client crate: this speaks just
//! enough RESP (commands as arrays of bulk strings; bulk-string, integer
//! and error replies), over one short-lived loopback connection per kill.
//! `CLIENT KILL USER` would not do: every node logs in as the same user.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest one kill (connect, list, kill) may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest reply read: a `CLIENT LIST` of a few dozen connections is a few KiB.
const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// One kill as it happened, for the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillRecord {
    pub name_prefix: String,
    /// Seconds into the measured window when it was done.
    pub at_seconds: f64,
    /// The names of the connections killed (none means the scenario did not
    /// happen: no such node was connected).
    pub killed: Vec<String>,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the Redis server spent, read from /proc like the servers' CPU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RedisUsage {
    pub cpu_seconds: f64,
    /// Per million deliveries that arrived in the window: what Redis costs
    /// per copy a client receives.
    pub cpu_seconds_per_million_deliveries: Option<f64>,
}

/// Kills every connection of `redis` whose name starts with `prefix`;
/// returns their names.
pub async fn kill_clients_named(redis: SocketAddr, prefix: &str) -> io::Result<Vec<String>> {
    tokio::time::timeout(KILL_TIMEOUT, async {
        let mut stream = TcpStream::connect(redis).await?;
        let list = command(&mut stream, &["CLIENT", "LIST"]).await?;
        let Reply::Bulk(list) = list else {
            return Err(io::Error::other(format!("CLIENT LIST answered {list:?}")));
        };
        let victims = clients_named(&String::from_utf8_lossy(&list), prefix);
        if victims.is_empty() {
            return Ok(Vec::new());
        }
        let mut kill = vec!["CLIENT", "KILL"];
        for (id, _) in &victims {
            kill.extend(["ID", id.as_str()]);
        }
        match command(&mut stream, &kill).await? {
            Reply::Integer(_) => Ok(victims.into_iter().map(|(_, name)| name).collect()),
            other => Err(io::Error::other(format!("CLIENT KILL answered {other:?}"))),
        }
    })
    .await
    .map_err(|_| io::Error::other(format!("Redis did not answer within {KILL_TIMEOUT:?}")))?
}

/// The `(id, name)` of every line of a `CLIENT LIST` reply whose `name=`
/// starts with `prefix`.
pub fn clients_named(list: &str, prefix: &str) -> Vec<(String, String)> {
    list.lines()
        .filter_map(|line| {
            let field = |key: &str| {
                line.split(' ')
                    .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            };
            let name = field("name")?;
            name.starts_with(prefix)
                .then(|| Some((field("id")?.to_owned(), name.to_owned())))
                .flatten()
        })
        .collect()
}

/// A RESP reply, as far as these commands need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Error(String),
}

/// Sends one command and reads its reply; a Redis error is an `Err`.
async fn command(stream: &mut TcpStream, words: &[&str]) -> io::Result<Reply> {
    stream.write_all(&encode_command(words)).await?;
    let mut buffer = Vec::new();
    loop {
        if let Some((reply, _)) = parse_reply(&buffer)? {
            return match reply {
                Reply::Error(error) => Err(io::Error::other(format!("Redis: {error}"))),
                reply => Ok(reply),
            };
        }
        if buffer.len() > MAX_REPLY_BYTES {
            return Err(io::Error::other("Redis's reply is too large"));
        }
        let mut chunk = [0u8; 8192];
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(io::Error::other("Redis closed the connection"));
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// A command as RESP: an array of bulk strings.
pub fn encode_command(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
    }
    out
}

/// One reply from the front of `bytes` and its length, `None` while it is
/// incomplete.
pub fn parse_reply(bytes: &[u8]) -> io::Result<Option<(Reply, usize)>> {
    let Some(line_end) = bytes.windows(2).position(|pair| pair == b"\r\n") else {
        return Ok(None);
    };
    let line = String::from_utf8_lossy(&bytes[1..line_end]).into_owned();
    let after_line = line_end + 2;
    let malformed = || io::Error::other(format!("not a RESP reply: {line:?}"));
    match bytes.first() {
        Some(b'+') => Ok(Some((Reply::Simple(line), after_line))),
        Some(b'-') => Ok(Some((Reply::Error(line), after_line))),
        Some(b':') => Ok(Some((
            Reply::Integer(line.parse().map_err(|_| malformed())?),
            after_line,
        ))),
        Some(b'$') => {
            let length: usize = line.parse().map_err(|_| malformed())?;
            let end = after_line + length;
            if bytes.len() < end + 2 {
                return Ok(None);
            }
            Ok(Some((
                Reply::Bulk(bytes[after_line..end].to_vec()),
                end + 2,
            )))
        }
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commands go out as RESP arrays of bulk strings.
    #[test]
    fn encodes_commands() {
        assert_eq!(
            encode_command(&["CLIENT", "KILL", "ID", "12"]),
            b"*4\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$2\r\nID\r\n$2\r\n12\r\n"
        );
    }

    /// Replies are read whole, and not before they are complete.
    #[test]
    fn parses_replies() {
        assert_eq!(
            parse_reply(b":3\r\n").unwrap(),
            Some((Reply::Integer(3), 4))
        );
        assert_eq!(
            parse_reply(b"$5\r\nhello\r\n").unwrap(),
            Some((Reply::Bulk(b"hello".to_vec()), 11))
        );
        assert_eq!(parse_reply(b"$5\r\nhel").unwrap(), None);
        assert_eq!(
            parse_reply(b"-ERR no such client\r\n").unwrap(),
            Some((Reply::Error("ERR no such client".into()), 21))
        );
        assert!(parse_reply(b"?what\r\n").is_err());
    }

    /// One node's connections are found by their names, and only theirs.
    #[test]
    fn finds_one_nodes_connections_by_name() {
        let list = "id=3 addr=127.0.0.1:1 name=realtime-a-commands age=1\n\
                    id=4 addr=127.0.0.1:2 name=realtime-b-commands age=1\n\
                    id=5 addr=127.0.0.1:3 name=realtime-b-pubsub age=1\n\
                    id=6 addr=127.0.0.1:4 name= age=0\n";

        let found = clients_named(list, "realtime-b-");

        assert_eq!(
            found,
            [
                ("4".to_owned(), "realtime-b-commands".to_owned()),
                ("5".to_owned(), "realtime-b-pubsub".to_owned())
            ]
        );
    }
}
