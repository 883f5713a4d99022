//! Be the client yourself, with nothing but this repository: a bare TCP connection that sends
//! what you type and prints what comes back, byte for byte (what `nc -C` or `telnet` would do).
//!
//! Start the server (`cargo run -p step-01-http-request-response`), then in a second terminal
//! `cargo run -q -p step-01-http-request-response --example raw_tcp_client` (it reads `PORT`,
//! default 3000). Type `GET / HTTP/1.1`, `Host: localhost` and an empty line. Each line you
//! type is sent with `\r\n` at its end, as HTTP wants. Nothing arrives until your empty line.
//! Lines can also come from a pipe:
//! `printf 'GET / HTTP/1.1\nHost: localhost\nConnection: close\n\n' | cargo run -q -p
//! step-01-http-request-response --example raw_tcp_client`. See
//! `notes/01-http-request-response.md`, "Try this".

use std::{io::Write, time::Duration};

use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    time::timeout,
};

type Failure = Box<dyn std::error::Error>;

/// Once your input has ended (Ctrl-D, or the end of a pipe), how long to wait for more from
/// the server before leaving. A keep-alive connection never closes by itself.
const QUIET_AFTER_INPUT: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let address = format!("127.0.0.1:{port}");
    let stdin = BufReader::new(tokio::io::stdin());
    talk(&address, stdin, &mut std::io::stdout()).await
}

/// Connects to `address`, sends each line of `input` ending in `\r\n`, and writes to `out`
/// every byte the server sends, until the server closes the connection (or goes quiet for
/// [`QUIET_AFTER_INPUT`] once `input` has ended).
pub async fn talk(
    address: &str,
    input: impl AsyncBufRead + Unpin,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let mut stream = TcpStream::connect(address).await.map_err(|error| {
        format!("cannot connect to {address} ({error}): is the server running?")
    })?;
    writeln!(
        out,
        "connected to {address}: type a request, end it with an empty line"
    )?;
    let mut lines = input.lines();
    let mut input_open = true;
    let mut received = [0; 4096];
    loop {
        tokio::select! {
            line = lines.next_line(), if input_open => match line? {
                // `lines` strips the `\n` (and a `\r` before it); HTTP wants `\r\n`.
                Some(line) => stream.write_all(format!("{line}\r\n").as_bytes()).await?,
                None => input_open = false,
            },
            read = read_some(&mut stream, &mut received, input_open) => match read? {
                Some(0) => {
                    writeln!(out, "--- the server closed the connection ---")?;
                    return Ok(());
                }
                Some(count) => {
                    out.write_all(&received[..count])?;
                    out.flush()?;
                }
                None => {
                    writeln!(out, "--- nothing more for {QUIET_AFTER_INPUT:?}: the connection is still open, leaving ---")?;
                    return Ok(());
                }
            },
        }
    }
}

/// One read from the server: `Some(count)`, `Some(0)` when it has closed the connection, or
/// `None` when it has said nothing for [`QUIET_AFTER_INPUT`] after the input ended.
async fn read_some(
    stream: &mut TcpStream,
    buffer: &mut [u8],
    input_open: bool,
) -> std::io::Result<Option<usize>> {
    if input_open {
        // While you may still type, wait as long as it takes.
        return stream.read(buffer).await.map(Some);
    }
    match timeout(QUIET_AFTER_INPUT, stream.read(buffer)).await {
        Ok(read) => read.map(Some),
        Err(_quiet) => Ok(None),
    }
}
