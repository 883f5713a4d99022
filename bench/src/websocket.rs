//! Just enough of a WebSocket *client* (RFC 6455) for a load generator: the HTTP
//! upgrade request, reading the `101` answer, decoding the server's frames in place
//! and encoding masked client frames into a reused buffer.
//!
//! Why not `tokio-tungstenite`? The load generator shares two cores with the
//! server it measures, so every receive it spends time on is time the server
//! does not get. Decoding frames straight out of one read buffer, with no
//! allocation and no copy per message, keeps the generator cheap enough that the
//! numbers describe the server, not the tool. The trade-offs are written where
//! they are made: no TLS, no extensions (so no compression), and the
//! `Sec-WebSocket-Accept` hash is not verified (we only talk to servers we
//! started ourselves on 127.0.0.1).
//!
//! Used by `client.rs`; the protocols on top live in `protocol.rs`.

use std::fmt;

/// The opcodes of RFC 6455 section 5.2 that a server may send us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        match bits {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }
}

/// One decoded frame, borrowing its payload from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// `false` when more fragments of the same message follow.
    pub fin: bool,
    pub opcode: Opcode,
    pub payload: &'a [u8],
    /// How many bytes of the buffer this frame used (header + payload), so the
    /// caller knows where the next frame starts.
    pub encoded_len: usize,
}

/// Why a server frame was refused. Any of these ends that client's run: the
/// byte stream can no longer be trusted after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Servers must not mask (RFC 6455 5.1).
    MaskedServerFrame,
    /// We negotiated no extension, so the reserved bits must be zero.
    ReservedBitsSet,
    UnknownOpcode(u8),
    /// Larger than we are willing to buffer (see [`MAX_MESSAGE_BYTES`]).
    TooLarge(u64),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::MaskedServerFrame => write!(f, "the server sent a masked frame"),
            FrameError::ReservedBitsSet => write!(f, "the server set reserved frame bits"),
            FrameError::UnknownOpcode(op) => write!(f, "the server sent unknown opcode {op:#x}"),
            FrameError::TooLarge(len) => write!(f, "the server sent a {len}-byte frame"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The largest frame or reassembled message we accept: far above anything the
/// chat sends (16 KiB messages) and socket.io's open packet, small enough that a
/// broken server cannot make the generator allocate without bound.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Decodes the frame at the start of `buf`.
///
/// `Ok(None)` means "not all of it has arrived yet": read more and call again.
pub fn decode_frame(buf: &[u8]) -> Result<Option<Frame<'_>>, FrameError> {
    let [first, second, ..] = *buf else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(FrameError::ReservedBitsSet);
    }
    if second & 0x80 != 0 {
        return Err(FrameError::MaskedServerFrame);
    }
    let opcode = Opcode::from_bits(first & 0x0F).ok_or(FrameError::UnknownOpcode(first & 0x0F))?;

    // The 7-bit length, or 126/127 meaning "the real length follows in 2/8 bytes".
    let (payload_len, header_len) = match second & 0x7F {
        126 => match buf.get(2..4) {
            Some(bytes) => (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(bytes) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                (u64::from_be_bytes(be), 10)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    if payload_len > MAX_MESSAGE_BYTES as u64 {
        return Err(FrameError::TooLarge(payload_len));
    }
    // Checked above: the length fits comfortably in usize.
    let encoded_len = header_len + payload_len as usize;
    let Some(payload) = buf.get(header_len..encoded_len) else {
        return Ok(None);
    };
    Ok(Some(Frame {
        fin: first & 0x80 != 0,
        opcode,
        payload,
        encoded_len,
    }))
}

/// Appends one complete (FIN) client frame to `out`, masking the payload with
/// `mask` as RFC 6455 requires of every client-to-server frame.
pub fn encode_client_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode.bits());
    // Bit 0x80 of the length byte says "masked".
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(
        payload
            .iter()
            .zip(mask.iter().cycle())
            .map(|(byte, key)| byte ^ key),
    );
}

/// A cheap source of masking keys (xorshift32). RFC 6455 wants keys an
/// attacker cannot predict, to protect *intermediaries* from cache poisoning;
/// between a load generator and a server on 127.0.0.1 there is no such party,
/// so speed wins over cryptographic quality here.
#[derive(Debug, Clone)]
pub struct MaskKeys(u32);

impl MaskKeys {
    /// Seeds from any number (a client's index is fine); zero is avoided
    /// because xorshift would stay at zero forever.
    pub fn new(seed: u32) -> MaskKeys {
        MaskKeys(seed.wrapping_mul(0x9E37_79B9) | 1)
    }

    pub fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x.to_le_bytes()
    }
}

/// The HTTP/1.1 upgrade request (RFC 6455 section 4.1). `host` is `ip:port`,
/// `path_and_query` starts with `/`, `key` comes from [`handshake_key`].
pub fn upgrade_request(host: &str, path_and_query: &str, key: &str) -> String {
    format!(
        "GET {path_and_query} HTTP/1.1\r\n\
         Host: {host}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         \r\n"
    )
}

/// A `Sec-WebSocket-Key`: base64 of 16 bytes. Derived from the client's number
/// so every client sends a different one without needing a random source.
pub fn handshake_key(client_index: u32) -> String {
    let mut nonce = [0u8; 16];
    let mut keys = MaskKeys::new(client_index.wrapping_add(0x5EED));
    for chunk in nonce.chunks_mut(4) {
        chunk.copy_from_slice(&keys.next_key());
    }
    base64(&nonce)
}

/// Standard base64 with padding; only used for the 16-byte handshake key.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// What the server's answer to the upgrade request says so far.
#[derive(Debug, PartialEq, Eq)]
pub enum UpgradeResponse {
    /// The blank line ending the headers has not arrived yet.
    Incomplete,
    /// `101 Switching Protocols`; frames start at this offset of the buffer
    /// (the server may already have sent its first frame in the same packet).
    Accepted { header_len: usize },
    /// Any other status, e.g. `503` from a connection limit; the status line
    /// is kept for the error message.
    Refused { status_line: String },
}

/// Reads the server's HTTP answer to the upgrade request from `buf`.
pub fn parse_upgrade_response(buf: &[u8]) -> UpgradeResponse {
    let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") else {
        return UpgradeResponse::Incomplete;
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let status_line = head.lines().next().unwrap_or_default();
    // "HTTP/1.1 101 Switching Protocols": the status code is the second word.
    if status_line.split_whitespace().nth(1) == Some("101") {
        UpgradeResponse::Accepted {
            header_len: end + 4,
        }
    } else {
        UpgradeResponse::Refused {
            status_line: status_line.to_owned(),
        }
    }
}

/// Joins fragmented messages (RFC 6455 section 5.4). Servers in this bench send
/// each message as one frame, so the common path returns the frame's own
/// payload without copying; only real fragments are gathered here.
#[derive(Debug, Default)]
pub struct MessageAssembler {
    /// Opcode of the message being gathered, if one is in progress.
    opcode: Option<Opcode>,
    fragments: Vec<u8>,
}

/// A whole data or control message, borrowed from the frame or the assembler.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Text(&'a [u8]),
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong,
    Close,
}

impl MessageAssembler {
    /// Feeds one frame; returns a message when one is complete.
    pub fn push<'a>(&'a mut self, frame: Frame<'a>) -> Result<Option<Message<'a>>, FrameError> {
        let whole = |opcode: Opcode, payload: &'a [u8]| match opcode {
            Opcode::Binary => Message::Binary(payload),
            _ => Message::Text(payload),
        };
        match frame.opcode {
            // Control frames may arrive in the middle of a fragmented message.
            Opcode::Ping => Ok(Some(Message::Ping(frame.payload))),
            Opcode::Pong => Ok(Some(Message::Pong)),
            Opcode::Close => Ok(Some(Message::Close)),
            Opcode::Text | Opcode::Binary if frame.fin => {
                Ok(Some(whole(frame.opcode, frame.payload)))
            }
            Opcode::Text | Opcode::Binary => {
                self.opcode = Some(frame.opcode);
                self.fragments.clear();
                self.fragments.extend_from_slice(frame.payload);
                Ok(None)
            }
            Opcode::Continuation => {
                let Some(opcode) = self.opcode else {
                    // A continuation with nothing to continue: ignore it, as
                    // there is no message it could belong to.
                    return Ok(None);
                };
                if self.fragments.len() + frame.payload.len() > MAX_MESSAGE_BYTES {
                    return Err(FrameError::TooLarge(
                        (self.fragments.len() + frame.payload.len()) as u64,
                    ));
                }
                self.fragments.extend_from_slice(frame.payload);
                if frame.fin {
                    self.opcode = None;
                    Ok(Some(whole(opcode, &self.fragments)))
                } else {
                    Ok(None)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unmasked frame as a server would send it.
    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | opcode];
        match payload.len() {
            len @ 0..=125 => out.push(len as u8),
            len @ 126..=0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// Undoes the client masking, as a server does.
    fn unmask(frame: &[u8], header_len: usize) -> Vec<u8> {
        let mask = &frame[header_len - 4..header_len];
        frame[header_len..]
            .iter()
            .zip(mask.iter().cycle())
            .map(|(b, k)| b ^ k)
            .collect()
    }

    /// A short text frame decodes to its payload and reports its full length.
    #[test]
    fn decodes_a_short_text_frame() {
        let bytes = server_frame(true, 1, b"hello");
        let frame = decode_frame(&bytes).unwrap().unwrap();
        assert_eq!(frame.opcode, Opcode::Text);
        assert!(frame.fin);
        assert_eq!(frame.payload, b"hello");
        assert_eq!(frame.encoded_len, 7);
    }

    /// The 16-bit and 64-bit length forms are both understood.
    #[test]
    fn decodes_extended_lengths() {
        for len in [126usize, 300, 70_000] {
            let payload = vec![b'x'; len];
            let bytes = server_frame(true, 2, &payload);
            let frame = decode_frame(&bytes).unwrap().unwrap();
            assert_eq!(frame.payload.len(), len);
            assert_eq!(frame.encoded_len, bytes.len());
        }
    }

    /// Every strict prefix of a frame is "incomplete", never an error or a frame.
    #[test]
    fn partial_frames_ask_for_more_bytes() {
        let bytes = server_frame(true, 1, &[b'y'; 300]);
        for cut in 0..bytes.len() {
            assert_eq!(decode_frame(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
    }

    /// Two frames in one buffer decode one after the other.
    #[test]
    fn decodes_back_to_back_frames() {
        let mut bytes = server_frame(true, 1, b"one");
        bytes.extend(server_frame(true, 1, b"two"));
        let first = decode_frame(&bytes).unwrap().unwrap();
        let second = decode_frame(&bytes[first.encoded_len..]).unwrap().unwrap();
        assert_eq!((first.payload, second.payload), (&b"one"[..], &b"two"[..]));
    }

    /// Frames a server must never send are refused with the reason.
    #[test]
    fn refuses_invalid_server_frames() {
        assert_eq!(
            decode_frame(&[0x81, 0x80, 0, 0, 0, 0]),
            Err(FrameError::MaskedServerFrame)
        );
        assert_eq!(
            decode_frame(&[0xC1, 0x00]),
            Err(FrameError::ReservedBitsSet)
        );
        assert_eq!(
            decode_frame(&[0x83, 0x00]),
            Err(FrameError::UnknownOpcode(3))
        );
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&(u64::MAX).to_be_bytes());
        assert!(matches!(decode_frame(&huge), Err(FrameError::TooLarge(_))));
    }

    /// A client frame carries the mask bit, the key, and the payload XORed with it.
    #[test]
    fn encodes_masked_client_frames() {
        for len in [5usize, 200, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            encode_client_frame(&mut out, Opcode::Text, &payload, [1, 2, 3, 4]);
            assert_eq!(out[0], 0x81);
            assert_eq!(out[1] & 0x80, 0x80, "mask bit");
            let header_len = match len {
                0..=125 => 6,
                126..=0xFFFF => 8,
                _ => 14,
            };
            assert_eq!(&out[header_len - 4..header_len], &[1, 2, 3, 4]);
            assert_eq!(unmask(&out, header_len), payload);
        }
    }

    /// The handshake key is 24 characters of base64 (16 bytes) and differs per client.
    #[test]
    fn handshake_keys_are_base64_of_16_bytes() {
        let key = handshake_key(7);
        assert_eq!(key.len(), 24);
        assert!(key.ends_with("=="));
        assert_ne!(key, handshake_key(8));
        assert_eq!(base64(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    /// 101 is accepted with the offset of the first frame; 503 is refused with its status line.
    #[test]
    fn parses_upgrade_responses() {
        let mut answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        let header_len = answer.len();
        answer.extend(server_frame(true, 1, b"{}"));
        assert_eq!(
            parse_upgrade_response(&answer),
            UpgradeResponse::Accepted { header_len }
        );
        assert_eq!(
            parse_upgrade_response(&answer[..20]),
            UpgradeResponse::Incomplete
        );
        assert_eq!(
            parse_upgrade_response(b"HTTP/1.1 503 Service Unavailable\r\n\r\n"),
            UpgradeResponse::Refused {
                status_line: "HTTP/1.1 503 Service Unavailable".into()
            }
        );
    }

    /// Fragments are joined into one message; a ping in between passes through.
    #[test]
    fn joins_fragmented_messages() {
        let mut assembler = MessageAssembler::default();
        let parts = [
            server_frame(false, 1, b"hel"),
            server_frame(true, 9, b"p"),
            server_frame(false, 0, b"lo "),
            server_frame(true, 0, b"world"),
        ];
        let mut seen = Vec::new();
        for bytes in &parts {
            let frame = decode_frame(bytes).unwrap().unwrap();
            if let Some(message) = assembler.push(frame).unwrap() {
                seen.push(format!("{message:?}"));
            }
        }
        assert_eq!(
            seen,
            [
                format!("{:?}", Message::Ping(b"p")),
                format!("{:?}", Message::Text(b"hello world"))
            ]
        );
    }
}
