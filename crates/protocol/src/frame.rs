//! Length-delimited frames over a blocking byte stream, and the byte channel the comparison
//! phase runs over.
//!
//! A frame is a 4-byte little-endian length followed by that many bytes, at most
//! [`MAX_FRAME`]. During the comparison, [`FrameIo`] is also a [`privface_ot::Channel`]: writes
//! are buffered and sent as [`Message::Comparison`] frames; reads take bytes from such frames,
//! and any other message there is an error.

use std::io::{self, Read, Write};

use privface_ot::Channel;

use crate::error::{ProtocolError, Result};
use crate::messages::Message;

/// Largest frame a party accepts (a query part at N = 8192, q = 128 is 131 KiB; a response
/// block at most 80 KiB; comparison frames at most [`COMPARISON_CHUNK`]).
pub const MAX_FRAME: usize = 4 << 20;

/// Largest comparison payload per frame.
pub const COMPARISON_CHUNK: usize = 1 << 20;

/// Frames over a stream, with byte counters.
pub struct FrameIo<T: Read + Write> {
    stream: T,
    max_frame: usize,
    out: Vec<u8>,
    inbox: Vec<u8>,
    inbox_pos: usize,
    sent: u64,
    received: u64,
}

impl<T: Read + Write> FrameIo<T> {
    /// Wraps a stream with the default frame limit.
    pub fn new(stream: T) -> Self {
        Self::with_max_frame(stream, MAX_FRAME)
    }

    /// Wraps a stream with an explicit frame limit.
    pub fn with_max_frame(stream: T, max_frame: usize) -> Self {
        Self {
            stream,
            max_frame,
            out: Vec::new(),
            inbox: Vec::new(),
            inbox_pos: 0,
            sent: 0,
            received: 0,
        }
    }

    /// The stream back.
    pub fn into_inner(self) -> T {
        self.stream
    }

    /// Bytes written, frame headers included.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Bytes read, frame headers included.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Sends one message (flushed).
    pub fn send(&mut self, message: &Message) -> Result<()> {
        self.send_comparison_buffer()?;
        self.write_frame(&message.encode())?;
        self.stream.flush()?;
        Ok(())
    }

    fn write_frame(&mut self, body: &[u8]) -> Result<()> {
        if body.len() > self.max_frame {
            return Err(ProtocolError::Internal(format!(
                "outgoing frame of {} bytes",
                body.len()
            )));
        }
        self.stream.write_all(&(body.len() as u32).to_le_bytes())?;
        self.stream.write_all(body)?;
        self.sent += 4 + body.len() as u64;
        Ok(())
    }

    /// Receives one message.
    pub fn recv(&mut self) -> Result<Message> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        if len > self.max_frame {
            return Err(ProtocolError::FrameTooLarge(len, self.max_frame));
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        self.received += 4 + len as u64;
        Message::decode(&body)
    }

    fn send_comparison_buffer(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        for chunk in out.chunks(COMPARISON_CHUNK) {
            self.write_frame(&Message::Comparison(chunk.to_vec()).encode())?;
        }
        Ok(())
    }
}

fn to_io(e: ProtocolError) -> io::Error {
    match e {
        ProtocolError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

impl<T: Read + Write> Channel for FrameIo<T> {
    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(bytes);
        if self.out.len() >= COMPARISON_CHUNK {
            self.send_comparison_buffer().map_err(to_io)?;
        }
        Ok(())
    }

    fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            if self.inbox_pos == self.inbox.len() {
                match self.recv().map_err(to_io)? {
                    Message::Comparison(bytes) => {
                        self.inbox = bytes;
                        self.inbox_pos = 0;
                    }
                    Message::Abort(code) => {
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            format!("peer aborted: {code:?}"),
                        ));
                    }
                    other => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("unexpected {} during the comparison", other.kind()),
                        ));
                    }
                }
            }
            let take = (buf.len() - filled).min(self.inbox.len() - self.inbox_pos);
            buf[filled..filled + take]
                .copy_from_slice(&self.inbox[self.inbox_pos..self.inbox_pos + take]);
            self.inbox_pos += take;
            filled += take;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_comparison_buffer().map_err(to_io)?;
        self.stream.flush()
    }

    fn bytes_sent(&self) -> u64 {
        self.sent
    }

    fn bytes_received(&self) -> u64 {
        self.received
    }
}
