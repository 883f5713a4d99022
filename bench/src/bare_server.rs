//! The bare server: the least a chat server can do per delivery, kept as a
//! measuring stick. `bench/compare.sh` runs it beside step 08 as "bare
//! threads", so the table shows how much of step 08's latency is step 08 and
//! how much is the machine.
//!
//! It speaks just enough of this project's protocol for `loadgen`: the
//! WebSocket upgrade, the `connect` greeting, and `message` in and out. There
//! is no async runtime and no WebSocket library: one thread per connection
//! blocks reading that client's frames, and one fan-out thread writes each
//! chat message to every socket in turn, one `write` call per client — the
//! minimum, since every client is its own TCP connection. What is left per
//! delivery is what the kernel's loopback TCP costs.
//!
//! It is not a server to copy. It has none of step 08's protections: one
//! client that stops reading stalls the fan-out thread, and so everyone; a
//! thousand clients are a thousand threads; nothing is limited or checked
//! beyond what the protocol needs to stay in step.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

use serde::Deserialize;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The largest client message accepted, as in step 08.
const MAX_MESSAGE_BYTES: u64 = 16 * 1024;

/// Stack of each reader thread: it only parses small frames, and a thousand
/// threads with the default 2 MiB would reserve 2 GB of address space.
const READER_STACK_BYTES: usize = 128 * 1024;

/// What the reader threads tell the fan-out thread, the only writer after the
/// greeting (two threads writing one socket could interleave their frames).
enum Fanout {
    /// A client finished its greeting: write every message to it from now on.
    Join { id: u64, stream: TcpStream },
    /// A client left: stop writing to it.
    Leave { id: u64 },
    /// One chat message as a complete WebSocket frame, encoded once.
    Broadcast(Arc<[u8]>),
}

/// Accepts clients on `listener` until it fails; every client gets a reader
/// thread, and all share one fan-out thread. Returns only on an accept error.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    let (fanout, jobs) = mpsc::channel();
    thread::Builder::new()
        .name("fan-out".into())
        .spawn(move || fan_out(jobs))?;
    let mut next_id = 0u64;
    loop {
        let (stream, _) = listener.accept()?;
        next_id += 1;
        let id = next_id;
        let fanout = fanout.clone();
        let spawned = thread::Builder::new()
            .name(format!("client-{id}"))
            .stack_size(READER_STACK_BYTES)
            .spawn(move || {
                // A client that breaks the protocol or hangs up only ends its
                // own thread; the reason is of no use to a measuring stick.
                let _ = serve_client(id, stream, &fanout);
                let _ = fanout.send(Fanout::Leave { id });
            });
        if let Err(error) = spawned {
            eprintln!("bare-server: cannot start a thread for client {id}: {error}");
        }
    }
}

/// The fan-out thread: holds every client's socket and writes each broadcast
/// to each of them, in turn, with one blocking `write_all`.
fn fan_out(jobs: Receiver<Fanout>) {
    let mut clients: HashMap<u64, TcpStream> = HashMap::new();
    for job in jobs {
        match job {
            Fanout::Join { id, stream } => {
                clients.insert(id, stream);
            }
            Fanout::Leave { id } => {
                clients.remove(&id);
            }
            Fanout::Broadcast(frame) => {
                clients.retain(|_, stream| match stream.write_all(&frame) {
                    Ok(()) => true,
                    Err(_) => {
                        // Gone: wake its reader, which then says `Leave`.
                        let _ = stream.shutdown(Shutdown::Both);
                        false
                    }
                });
            }
        }
    }
}

/// One client from upgrade to hang-up: greet it, hand its socket to the
/// fan-out thread, then read its frames and publish its chat messages.
fn serve_client(id: u64, stream: TcpStream, fanout: &Sender<Fanout>) -> io::Result<()> {
    // Small frames must leave at once, not wait for Nagle's algorithm.
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);

    let key = read_upgrade_request(&mut reader)?;
    let reply = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    writer.write_all(reply.as_bytes())?;
    let greeting = serde_json::json!({"event": "connect", "data": {"id": id.to_string()}});
    writer.write_all(&server_frame(greeting.to_string().as_bytes()))?;
    // From here on only the fan-out thread writes to this socket.
    send(fanout, Fanout::Join { id, stream: writer })?;

    let from = id.to_string();
    loop {
        let (opcode, payload) = read_client_frame(&mut reader)?;
        match opcode {
            OPCODE_TEXT => {
                if let Some(text) = chat_message(&payload) {
                    let event = serde_json::json!({"event": "message", "data": {"from": from, "text": text}});
                    let frame: Arc<[u8]> = server_frame(event.to_string().as_bytes()).into();
                    send(fanout, Fanout::Broadcast(frame))?;
                }
            }
            OPCODE_CLOSE => return Ok(()),
            // Pings, pongs, binary: the load generator sends none that matter.
            _ => {}
        }
    }
}

fn send(fanout: &Sender<Fanout>, job: Fanout) -> io::Result<()> {
    fanout
        .send(job)
        .map_err(|_| io::Error::other("the fan-out thread has stopped"))
}

/// Reads the HTTP upgrade request and returns its `Sec-WebSocket-Key`.
fn read_upgrade_request(reader: &mut impl BufRead) -> io::Result<String> {
    let mut key = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let header = line.split_once(':');
        if let Some((_, value)) =
            header.filter(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-key"))
        {
            key = Some(value.trim().to_owned());
        }
    }
    key.ok_or_else(|| io::Error::other("not a WebSocket upgrade: no Sec-WebSocket-Key"))
}

const OPCODE_TEXT: u8 = 0x1;
const OPCODE_CLOSE: u8 = 0x8;

/// Reads one client frame (RFC 6455 5.2) and unmasks its payload. Fragmented
/// messages are not reassembled: the load generator never fragments.
fn read_client_frame(reader: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 2];
    reader.read_exact(&mut header)?;
    let opcode = header[0] & 0x0f;
    let length = match header[1] & 0x7f {
        126 => {
            let mut extended = [0u8; 2];
            reader.read_exact(&mut extended)?;
            u64::from(u16::from_be_bytes(extended))
        }
        127 => {
            let mut extended = [0u8; 8];
            reader.read_exact(&mut extended)?;
            u64::from_be_bytes(extended)
        }
        short => u64::from(short),
    };
    if length > MAX_MESSAGE_BYTES {
        return Err(io::Error::other("message too big"));
    }
    let mut mask = [0u8; 4];
    if header[1] & 0x80 != 0 {
        reader.read_exact(&mut mask)?;
    }
    // `length` is at most 16 KiB here, so it fits any usize.
    let mut payload = vec![0u8; length as usize];
    reader.read_exact(&mut payload)?;
    for (byte, key) in payload.iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
    Ok((opcode, payload))
}

/// The text of `{"event":"message","data":"<text>"}`, or `None` for anything else.
fn chat_message(payload: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ClientEvent {
        event: String,
        data: String,
    }
    let event: ClientEvent = serde_json::from_slice(payload).ok()?;
    (event.event == "message").then_some(event.data)
}

/// One unmasked, final text frame, as a server sends it.
fn server_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x80 | OPCODE_TEXT);
    match payload.len() {
        short @ 0..=125 => frame.push(short as u8),
        medium @ 126..=0xffff => {
            frame.push(126);
            frame.extend_from_slice(&(medium as u16).to_be_bytes());
        }
        long => {
            frame.push(127);
            frame.extend_from_slice(&(long as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three length encodings of RFC 6455, read back by the generator's own decoder.
    #[test]
    fn server_frames_decode_with_the_generators_decoder() {
        for length in [0, 125, 126, 0xffff, 0x1_0000] {
            let payload = vec![b'a'; length];
            let frame = server_frame(&payload);
            let decoded = crate::websocket::decode_frame(&frame)
                .expect("a valid frame")
                .expect("a complete frame");
            assert_eq!(decoded.payload, &payload[..], "length {length}");
            assert_eq!(decoded.encoded_len, frame.len());
        }
    }

    /// A masked client frame, as the generator encodes it, reads back unmasked.
    #[test]
    fn client_frames_are_unmasked() {
        let mut encoded = Vec::new();
        crate::websocket::encode_client_frame(
            &mut encoded,
            crate::websocket::Opcode::Text,
            br#"{"event":"message","data":"hi"}"#,
            [1, 2, 3, 4],
        );
        let (opcode, payload) = read_client_frame(&mut &encoded[..]).unwrap();
        assert_eq!(opcode, OPCODE_TEXT);
        assert_eq!(chat_message(&payload).as_deref(), Some("hi"));
    }

    /// A frame longer than the limit is refused from its header alone.
    #[test]
    fn oversized_frames_are_refused() {
        let mut header = vec![0x81, 0x80 | 127];
        header.extend_from_slice(&(MAX_MESSAGE_BYTES + 1).to_be_bytes());
        let error = read_client_frame(&mut &header[..]).unwrap_err();
        assert_eq!(error.to_string(), "message too big");
    }

    /// The accept key of RFC 6455's own example.
    #[test]
    fn upgrade_request_yields_its_key() {
        let request =
            "GET /ws HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        let key = read_upgrade_request(&mut request.as_bytes()).unwrap();
        assert_eq!(
            derive_accept_key(key.as_bytes()),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
