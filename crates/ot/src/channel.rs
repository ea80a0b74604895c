//! Byte channels the two-party protocols run over.
//!
//! [`Channel`] is all OT and garbling need: write, read exactly, flush. It is implemented by
//! [`BufferChannel`] (one received message in, the next message out: what sans-I/O session
//! state machines use), [`MemoryChannel`] (an in-memory duplex pair with a bounded number of
//! chunks in flight, for tests and benches) and [`IoChannel`] over any blocking `Read + Write`.
//! All count the bytes they move.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// A reliable, ordered, blocking byte channel to the other party.
pub trait Channel {
    /// Queues `bytes` for the peer (they may be buffered until [`Channel::flush`]).
    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Fills `buf` with the next bytes from the peer, blocking until they arrive.
    fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<()>;
    /// Sends everything queued.
    fn flush(&mut self) -> io::Result<()>;
    /// Bytes written so far.
    fn bytes_sent(&self) -> u64;
    /// Bytes read so far.
    fn bytes_received(&self) -> u64;
}

impl<C: Channel + ?Sized> Channel for &mut C {
    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        (**self).write_bytes(bytes)
    }
    fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_bytes(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }
    fn bytes_sent(&self) -> u64 {
        (**self).bytes_sent()
    }
    fn bytes_received(&self) -> u64 {
        (**self).bytes_received()
    }
}

/// A channel that never blocks: reads come from the one message the driver put in, writes
/// collect the next message to go out. Reading past the end of the message is an
/// `UnexpectedEof` error (the message was too short); [`BufferChannel::remaining`] tells the
/// driver whether the protocol code consumed the whole message.
#[derive(Debug, Default)]
pub struct BufferChannel {
    incoming: Vec<u8>,
    position: usize,
    outgoing: Vec<u8>,
    sent: u64,
    received: u64,
}

impl BufferChannel {
    /// An empty channel.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `message` the bytes the next reads consume (whatever was left of the previous
    /// message is dropped: check [`BufferChannel::remaining`] first).
    pub fn put(&mut self, message: Vec<u8>) {
        self.incoming = message;
        self.position = 0;
    }

    /// Bytes of the current message not read yet.
    pub fn remaining(&self) -> usize {
        self.incoming.len() - self.position
    }

    /// Everything written since the last call. The next message starts with the same
    /// capacity, so a stream of similar messages does not regrow its buffer each time.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        let capacity = self.outgoing.capacity();
        std::mem::replace(&mut self.outgoing, Vec::with_capacity(capacity))
    }
}

impl Channel for BufferChannel {
    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.outgoing.extend_from_slice(bytes);
        self.sent += bytes.len() as u64;
        Ok(())
    }

    fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let end = self.position + buf.len();
        if end > self.incoming.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "message ended after {} bytes, {} more needed",
                    self.incoming.len(),
                    end - self.incoming.len()
                ),
            ));
        }
        buf.copy_from_slice(&self.incoming[self.position..end]);
        self.position = end;
        self.received += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn bytes_sent(&self) -> u64 {
        self.sent
    }

    fn bytes_received(&self) -> u64 {
        self.received
    }
}

/// Write-buffer size after which buffered channels send on their own.
const WRITE_BUFFER: usize = 1 << 16;

/// One end of an in-memory duplex channel.
pub struct MemoryChannel {
    tx: SyncSender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    out: Vec<u8>,
    inbox: Vec<u8>,
    inbox_pos: usize,
    sent: u64,
    received: u64,
}

impl MemoryChannel {
    /// A connected pair; at most `chunks_in_flight` buffered chunks (≤ 64 KiB each) per
    /// direction, so a writer that runs ahead blocks instead of growing memory.
    pub fn pair(chunks_in_flight: usize) -> (MemoryChannel, MemoryChannel) {
        let (tx_a, rx_b) = sync_channel(chunks_in_flight);
        let (tx_b, rx_a) = sync_channel(chunks_in_flight);
        let end = |tx, rx| MemoryChannel {
            tx,
            rx,
            out: Vec::new(),
            inbox: Vec::new(),
            inbox_pos: 0,
            sent: 0,
            received: 0,
        };
        (end(tx_a, rx_a), end(tx_b, rx_b))
    }

    fn send_out(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.out);
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "peer hung up"))
    }
}

impl Channel for MemoryChannel {
    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(bytes);
        self.sent += bytes.len() as u64;
        if self.out.len() >= WRITE_BUFFER {
            self.send_out()?;
        }
        Ok(())
    }

    fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            if self.inbox_pos == self.inbox.len() {
                self.inbox = self
                    .rx
                    .recv()
                    .map_err(|_| io::Error::new(io::ErrorKind::UnexpectedEof, "peer hung up"))?;
                self.inbox_pos = 0;
            }
            let take = (buf.len() - filled).min(self.inbox.len() - self.inbox_pos);
            buf[filled..filled + take]
                .copy_from_slice(&self.inbox[self.inbox_pos..self.inbox_pos + take]);
            self.inbox_pos += take;
            filled += take;
        }
        self.received += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_out()
    }

    fn bytes_sent(&self) -> u64 {
        self.sent
    }

    fn bytes_received(&self) -> u64 {
        self.received
    }
}

/// A buffered [`Channel`] over a blocking `Read + Write` stream.
pub struct IoChannel<T: Read + Write> {
    inner: T,
    out: Vec<u8>,
    sent: u64,
    received: u64,
}

impl<T: Read + Write> IoChannel<T> {
    /// Wraps a stream.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            out: Vec::with_capacity(WRITE_BUFFER),
            sent: 0,
            received: 0,
        }
    }

    /// The stream back (unflushed bytes are dropped: flush first).
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Read + Write> Channel for IoChannel<T> {
    fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(bytes);
        self.sent += bytes.len() as u64;
        if self.out.len() >= WRITE_BUFFER {
            self.inner.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf)?;
        self.received += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.out)?;
        self.out.clear();
        self.inner.flush()
    }

    fn bytes_sent(&self) -> u64 {
        self.sent
    }

    fn bytes_received(&self) -> u64 {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_pair_moves_bytes_both_ways_and_counts_them() {
        let (mut a, mut b) = MemoryChannel::pair(2);
        let t = std::thread::spawn(move || {
            let mut buf = vec![0u8; 200_000];
            b.read_bytes(&mut buf).unwrap();
            assert!(buf.iter().enumerate().all(|(i, &v)| v == (i % 251) as u8));
            b.write_bytes(b"done").unwrap();
            b.flush().unwrap();
            b.bytes_received()
        });
        let data: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
        a.write_bytes(&data).unwrap();
        a.flush().unwrap();
        let mut done = [0u8; 4];
        a.read_bytes(&mut done).unwrap();
        assert_eq!(&done, b"done");
        assert_eq!(t.join().unwrap(), 200_000);
        assert_eq!(a.bytes_sent(), 200_000);
    }

    #[test]
    fn a_hung_up_peer_is_an_error() {
        let (mut a, b) = MemoryChannel::pair(1);
        drop(b);
        let mut buf = [0u8; 1];
        assert_eq!(
            a.read_bytes(&mut buf).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        a.write_bytes(&[1]).unwrap();
        assert_eq!(a.flush().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn buffer_channel_reads_one_message_exactly() {
        let mut ch = BufferChannel::new();
        ch.put(vec![1, 2, 3]);
        let mut two = [0u8; 2];
        ch.read_bytes(&mut two).unwrap();
        assert_eq!(two, [1, 2]);
        assert_eq!(ch.remaining(), 1);
        assert_eq!(
            ch.read_bytes(&mut two).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        // A failed read consumes nothing.
        assert_eq!(ch.remaining(), 1);
        ch.write_bytes(&[9]).unwrap();
        ch.write_bytes(&[8]).unwrap();
        assert_eq!(ch.take_outgoing(), vec![9, 8]);
        assert!(ch.take_outgoing().is_empty());
        assert_eq!((ch.bytes_sent(), ch.bytes_received()), (2, 2));
    }

    #[test]
    fn io_channel_buffers_until_flush() {
        let mut ch = IoChannel::new(io::Cursor::new(Vec::new()));
        ch.write_bytes(&[1, 2, 3]).unwrap();
        assert!(ch.inner.get_ref().is_empty());
        ch.flush().unwrap();
        assert_eq!(ch.into_inner().into_inner(), vec![1, 2, 3]);
    }
}
