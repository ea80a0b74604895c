//! A blocking driver for the session state machines over a caller's byte streams.
//!
//! The driver reads frames on the calling thread and hands each message to the session; the
//! messages the session returns go to a writer thread, so reading and writing proceed at the
//! same time (a verifier with a window of several comparison batches writes while the holder
//! writes too). It measures time and bytes per phase, and on an error tells the peer with the
//! error's [`ProtocolError::notice`]. It opens nothing: the streams are the caller's.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Instant;

use crate::error::{ProtocolError, Result};
use crate::frame::{encode_frame, read_frame};
use crate::messages::Message;
use crate::phase::{Phase, PhaseTiming, PhaseTimings};

/// Frames queued for the writer before the session thread waits.
const OUTBOX_FRAMES: usize = 16;

/// A session state machine the driver can run.
pub trait Session {
    /// What a finished session yields.
    type Outcome;
    /// Messages to send before anything is received.
    fn start(&mut self) -> Result<Vec<Message>>;
    /// Consumes one received message, returning the messages to send.
    fn receive(&mut self, message: Message) -> Result<Vec<Message>>;
    /// True once nothing more is to be received.
    fn is_finished(&self) -> bool;
    /// The phase the current state belongs to.
    fn phase(&self) -> Phase;
    /// The result of a finished session.
    fn outcome(self) -> Result<Self::Outcome>;
}

/// Per-phase accounting: an interval from one received message to the next belongs to the
/// phase the session is in after handling the first (its work and its wait).
struct Clock {
    timings: PhaseTimings,
    phase: Phase,
    since: Instant,
    sent: u64,
    received: u64,
}

impl Clock {
    fn new(phase: Phase) -> Self {
        Self {
            timings: PhaseTimings::default(),
            phase,
            since: Instant::now(),
            sent: 0,
            received: 0,
        }
    }

    /// The message received at `at` moved the session to `phase`: the time from `at` on (the
    /// handling of that message included) belongs to `phase`.
    fn enter(&mut self, phase: Phase, at: Instant) {
        if phase != self.phase {
            self.close(at);
            self.phase = phase;
        }
    }

    fn close(&mut self, at: Instant) {
        self.timings.phases.push(PhaseTiming {
            phase: self.phase,
            time: at.saturating_duration_since(self.since),
            sent: self.sent,
            received: self.received,
        });
        self.since = at;
        self.sent = 0;
        self.received = 0;
    }
}

fn gone() -> ProtocolError {
    ProtocolError::Io(io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the connection's writer stopped",
    ))
}

fn send(tx: &SyncSender<Vec<u8>>, clock: &mut Clock, messages: Vec<Message>) -> Result<()> {
    for m in messages {
        let frame = encode_frame(&m);
        clock.sent += frame.len() as u64;
        tx.send(frame).map_err(|_| gone())?;
    }
    Ok(())
}

fn write_frames<W: Write>(writer: &mut W, rx: Receiver<Vec<u8>>) -> io::Result<()> {
    loop {
        let frame = match rx.try_recv() {
            Ok(f) => f,
            Err(TryRecvError::Empty) => {
                // Nothing queued: push out what was written, then wait.
                writer.flush()?;
                match rx.recv() {
                    Ok(f) => f,
                    Err(_) => return writer.flush(),
                }
            }
            Err(TryRecvError::Disconnected) => return writer.flush(),
        };
        writer.write_all(&frame)?;
    }
}

/// Runs `session` to its end over `reader` and `writer` (frames of at most `max_frame`
/// bytes); returns its outcome and the per-phase timings.
pub fn drive<S, Rd, Wr>(
    mut session: S,
    reader: &mut Rd,
    writer: &mut Wr,
    max_frame: usize,
) -> Result<(S::Outcome, PhaseTimings)>
where
    S: Session,
    Rd: Read,
    Wr: Write + Send,
{
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<u8>>(OUTBOX_FRAMES);
        let writing = scope.spawn(move || write_frames(writer, rx));
        let mut clock = Clock::new(session.phase());
        let mut run = || -> Result<()> {
            let first = session.start()?;
            send(&tx, &mut clock, first)?;
            while !session.is_finished() {
                let body = read_frame(reader, max_frame)?;
                let at = Instant::now();
                clock.received += 4 + body.len() as u64;
                let out = session.receive(Message::decode(&body)?)?;
                clock.enter(session.phase(), at);
                send(&tx, &mut clock, out)?;
            }
            Ok(())
        };
        let result = run();
        if let Err(e) = &result
            && let Some(code) = e.notice()
        {
            // Best effort: the peer may already be gone.
            let _ = tx.send(encode_frame(&Message::Abort(code)));
        }
        drop(tx);
        let written = writing
            .join()
            .map_err(|_| ProtocolError::Internal("writer thread panicked".into()))?;
        match (result, written) {
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) => Err(e.into()),
            (Ok(()), Ok(())) => {
                clock.close(Instant::now());
                let timings = clock.timings;
                Ok((session.outcome()?, timings))
            }
        }
    })
}
