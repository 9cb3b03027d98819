//! The serial wire protocol (`docs/protocol.md`): a message is
//! `version(1) | type(1) | payload`, followed by its CRC-16/CCITT-FALSE (big-endian), COBS-encoded
//! and terminated by a single `0x00`.

/// Protocol version carried in every message.
pub const VERSION: u8 = 1;
/// Message type: a track ended; its fused text.
pub const MSG_TRACK: u8 = 0x01;
/// Message type: periodic status (frames, drops, faults).
pub const MSG_STATUS: u8 = 0x02;
/// Longest text carried, in bytes (cut at a character boundary).
pub const MAX_TEXT: usize = 255;

/// A decoded message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A finished track: id, fused text, its confidence and the last box `[x1, y1, x2, y2]`.
    Track { id: u32, text: String, score: f32, bbox: [i16; 4] },
    /// Frames processed, frames dropped, faults.
    Status { frames: u32, dropped: u32, faults: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("bad COBS encoding")]
    Cobs,
    #[error("frame too short ({0} bytes)")]
    Short(usize),
    #[error("CRC mismatch: computed {computed:#06x}, received {received:#06x}")]
    Crc { computed: u16, received: u16 },
    #[error("unsupported protocol version {0}")]
    Version(u8),
    #[error("unknown message type {0:#04x}")]
    Type(u8),
    #[error("bad payload: {0}")]
    Payload(&'static str),
}

/// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// COBS encoding (no trailing delimiter).
pub fn cobs_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 254 + 2);
    let mut code_pos = 0;
    out.push(0);
    let mut code = 1u8;
    for &b in data {
        if b == 0 {
            out[code_pos] = code;
            code_pos = out.len();
            out.push(0);
            code = 1;
        } else {
            out.push(b);
            code += 1;
            if code == 0xFF {
                out[code_pos] = code;
                code_pos = out.len();
                out.push(0);
                code = 1;
            }
        }
    }
    out[code_pos] = code;
    out
}

/// COBS decoding of one frame (without its delimiter).
pub fn cobs_decode(data: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let code = data[i] as usize;
        if code == 0 || i + code > data.len() {
            return Err(ProtocolError::Cobs);
        }
        out.extend_from_slice(&data[i + 1..i + code]);
        i += code;
        if code < 0xFF && i < data.len() {
            out.push(0);
        }
    }
    Ok(out)
}

fn payload(msg: &Message) -> Vec<u8> {
    let mut p = vec![VERSION];
    match msg {
        Message::Track { id, text, score, bbox } => {
            p.push(MSG_TRACK);
            p.extend_from_slice(&id.to_le_bytes());
            p.extend_from_slice(&score.to_le_bytes());
            for v in bbox {
                p.extend_from_slice(&v.to_le_bytes());
            }
            let mut end = text.len().min(MAX_TEXT);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            p.push(end as u8);
            p.extend_from_slice(&text.as_bytes()[..end]);
        }
        Message::Status { frames, dropped, faults } => {
            p.push(MSG_STATUS);
            for v in [frames, dropped, faults] {
                p.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    p
}

/// Encodes one message into its wire form, delimiter included.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut p = payload(msg);
    let crc = crc16_ccitt_false(&p);
    p.extend_from_slice(&crc.to_be_bytes());
    let mut out = cobs_encode(&p);
    out.push(0);
    out
}

/// Decodes one frame (the bytes between two delimiters).
pub fn decode_frame(frame: &[u8]) -> Result<Message, ProtocolError> {
    let raw = cobs_decode(frame)?;
    if raw.len() < 4 {
        return Err(ProtocolError::Short(raw.len()));
    }
    let (body, crc) = raw.split_at(raw.len() - 2);
    let received = u16::from_be_bytes([crc[0], crc[1]]);
    let computed = crc16_ccitt_false(body);
    if computed != received {
        return Err(ProtocolError::Crc { computed, received });
    }
    if body[0] != VERSION {
        return Err(ProtocolError::Version(body[0]));
    }
    let p = &body[2..];
    let u32_at = |i: usize| u32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    match body[1] {
        MSG_TRACK => {
            if p.len() < 17 {
                return Err(ProtocolError::Payload("track message too short"));
            }
            let id = u32_at(0);
            let score = f32::from_le_bytes([p[4], p[5], p[6], p[7]]);
            let mut bbox = [0i16; 4];
            for (k, b) in bbox.iter_mut().enumerate() {
                *b = i16::from_le_bytes([p[8 + 2 * k], p[9 + 2 * k]]);
            }
            let n = p[16] as usize;
            if p.len() != 17 + n {
                return Err(ProtocolError::Payload("text length does not match"));
            }
            let text = String::from_utf8(p[17..].to_vec()).map_err(|_| ProtocolError::Payload("text is not UTF-8"))?;
            Ok(Message::Track { id, text, score, bbox })
        }
        MSG_STATUS => {
            if p.len() != 12 {
                return Err(ProtocolError::Payload("status message has the wrong length"));
            }
            Ok(Message::Status { frames: u32_at(0), dropped: u32_at(4), faults: u32_at(8) })
        }
        t => Err(ProtocolError::Type(t)),
    }
}

/// Streaming decoder: feed bytes as they arrive, get messages (or errors) per delimited frame.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `bytes`; returns one result per complete frame. Empty frames are skipped.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<Message, ProtocolError>> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == 0 {
                if !self.buf.is_empty() {
                    out.push(decode_frame(&self.buf));
                    self.buf.clear();
                }
            } else if self.buf.len() < 4096 {
                self.buf.push(b);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
    }

    #[test]
    fn cobs_vectors() {
        // Wikipedia's examples.
        assert_eq!(cobs_encode(&[0x00]), vec![0x01, 0x01]);
        assert_eq!(cobs_encode(&[0x00, 0x00]), vec![0x01, 0x01, 0x01]);
        assert_eq!(cobs_encode(&[0x11, 0x22, 0x00, 0x33]), vec![0x03, 0x11, 0x22, 0x02, 0x33]);
        assert_eq!(cobs_encode(&[0x11, 0x00, 0x00, 0x00]), vec![0x02, 0x11, 0x01, 0x01, 0x01]);
        let long: Vec<u8> = (1..=255).collect();
        let enc = cobs_encode(&long);
        assert_eq!(enc[0], 0xFF);
        assert!(!enc.contains(&0));
        for n in [0usize, 1, 253, 254, 255, 256, 600] {
            let data: Vec<u8> = (0..n).map(|i| (i % 7) as u8 * 40).collect();
            assert_eq!(cobs_decode(&cobs_encode(&data)).unwrap(), data, "n={n}");
            let data: Vec<u8> = (0..n).map(|i| (i % 250) as u8 + 1).collect();
            assert_eq!(cobs_decode(&cobs_encode(&data)).unwrap(), data, "n={n}");
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let msgs = [
            Message::Track { id: 7, text: "KX42Ü".into(), score: 0.93, bbox: [-3, 10, 200, 300] },
            Message::Track { id: 0, text: String::new(), score: 0.0, bbox: [0; 4] },
            Message::Status { frames: 100, dropped: 3, faults: 0 },
        ];
        let mut wire = Vec::new();
        for m in &msgs {
            let e = encode(m);
            assert_eq!(e.iter().filter(|&&b| b == 0).count(), 1);
            wire.extend(e);
        }
        let mut d = Decoder::new();
        let got: Vec<_> = wire.chunks(3).flat_map(|c| d.push(c)).collect();
        assert_eq!(got, msgs.iter().cloned().map(Ok).collect::<Vec<_>>());
        let mut bad = encode(&msgs[0]);
        bad[5] ^= 0x40;
        assert!(matches!(Decoder::new().push(&bad)[0], Err(ProtocolError::Crc { .. }) | Err(ProtocolError::Cobs)));
    }

    #[test]
    fn long_text_cut_at_char_boundary() {
        let text = "é".repeat(200);
        let e = encode(&Message::Track { id: 1, text, score: 1.0, bbox: [0; 4] });
        match decode_frame(&e[..e.len() - 1]).unwrap() {
            Message::Track { text, .. } => assert_eq!(text.len(), 254),
            m => panic!("{m:?}"),
        }
    }
}
