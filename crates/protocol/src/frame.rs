//! Length-delimited frames: a 4-byte little-endian length followed by that many bytes (one
//! encoded [`Message`]), at most [`MAX_FRAME`].

use std::io::{Read, Write};

use crate::error::{ProtocolError, Result};
use crate::messages::Message;

/// Largest frame a party accepts. The largest messages are a query part at N = 8192,
/// log2 q = 128 (131 KiB), a comparison batch's tables (≤ 1024 · (64k − 16) bytes ≤ 2 MiB for
/// k ≤ 32) and its extension columns (≤ 513 KiB).
pub const MAX_FRAME: usize = 4 << 20;

/// A message as a frame: the length, then the body.
pub fn encode_frame(message: &Message) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + message.encoded_len_hint());
    frame.extend_from_slice(&[0; 4]);
    message.encode_into(&mut frame);
    let len = (frame.len() - 4) as u32;
    frame[..4].copy_from_slice(&len.to_le_bytes());
    frame
}

/// Reads one frame body of at most `max_frame` bytes; the length is checked before anything
/// is allocated.
pub fn read_frame<R: Read>(reader: &mut R, max_frame: usize) -> Result<Vec<u8>> {
    let mut len = [0u8; 4];
    reader.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max_frame {
        return Err(ProtocolError::FrameTooLarge(len, max_frame));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// Writes one frame (not flushed).
pub fn write_frame<W: Write>(writer: &mut W, frame: &[u8]) -> Result<()> {
    writer.write_all(frame)?;
    Ok(())
}
