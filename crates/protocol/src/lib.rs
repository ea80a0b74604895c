//! # privface-protocol — the two-party session
//!
//! The sessions are sans-I/O state machines: [`HolderSession`] and [`VerifierSession`] take
//! one received [`Message`] at a time and return the messages to send; their states are named
//! after the message they expect (ExpectHello, ExpectAccept, ExpectBaseOtOffer,
//! ExpectBaseOtReply, ExpectQueryPart, ExpectScores, ExpectOtExtension, ExpectTables,
//! ExpectFinish, ExpectOutputLabel). A message that does not fit the state is an error value,
//! never a panic; every message is consumed exactly and checked against the negotiated
//! session. No sockets, files or clocks are used in them, and all randomness comes from the
//! generator passed in.
//!
//! [`driver::drive`] runs a session over a caller's blocking byte streams (frames, [`frame`]),
//! measuring time and bytes per phase; [`run_holder`] and [`run_verifier`] are that driver with
//! the default frame limit.
//!
//! ```
//! // Toy parameters, not secure: two sessions driven by hand, message by message.
//! use std::sync::Arc;
//! use privface_he::{GalleryMode, ParameterSet, Quantiser};
//! use privface_protocol::*;
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha20Rng;
//!
//! let params = ParameterSet::toy();
//! let q = Quantiser::for_dimension(8).unwrap();
//! let alice = [0.5f32, -0.1, 0.3, 0.2, -0.4, 0.1, 0.0, 0.6];
//! let gallery = HolderGallery::new(
//!     &params, 8, [("alice".to_string(), q.quantise(&alice).unwrap())], GalleryMode::OnTheFly,
//! ).unwrap();
//! let mut config = HolderConfig::new(
//!     params, Arc::new(gallery), q.threshold(0.8), Arc::new(QueryBudget::new(None)),
//! );
//! config.allow_insecure = true;
//! config.batch = 16;
//! config.round_blocks = 1;
//! let mut holder = HolderSession::new(&config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
//! let vconfig = VerifierConfig {
//!     param_sets: vec!["toy".into()], allow_insecure: true, ..VerifierConfig::default()
//! };
//! let mut verifier = VerifierSession::new(
//!     vconfig, &alice, Mode::Identify, OutputTo::Verifier, ChaCha20Rng::seed_from_u64(2),
//! ).unwrap();
//! let mut to_holder = verifier.start().unwrap();
//! while !verifier.is_finished() {
//!     let mut to_verifier = Vec::new();
//!     for m in to_holder.drain(..) {
//!         to_verifier.extend(holder.receive(m).unwrap());
//!     }
//!     for m in to_verifier {
//!         to_holder.extend(verifier.receive(m).unwrap());
//!     }
//! }
//! assert!(holder.is_finished());
//! assert_eq!(verifier.outcome().unwrap().0.bit, Some(true));
//! ```

mod abort;
mod budget;
mod comparison;
pub mod driver;
pub mod error;
pub mod frame;
mod gallery;
pub mod holder;
pub mod messages;
mod model;
mod phase;
pub mod verifier;

use std::io::{Read, Write};

use rand::{CryptoRng, Rng};

pub use abort::AbortCode;
pub use budget::{Charge, QueryBudget, QueryLedger, QueryRecord};
pub use driver::{Session, drive};
pub use error::{PeerMisbehaved, ProtocolError, Result};
pub use frame::{MAX_FRAME, encode_frame, read_frame};
pub use gallery::{HolderGallery, padded_count};
pub use holder::{HeWorkers, HolderConfig, HolderReport, HolderSession, he_workers};
pub use messages::{ALPN, Accept, Hello, Message, Mode, OutputTo, VERSION};
pub use model::{Answer, Class, Enrolled, HolderModel, ModelSet};
pub use phase::{Phase, PhaseTiming, PhaseTimings};
pub use verifier::{VerifierConfig, VerifierSession, VerifyOutcome};

/// Largest comparison batch: a batch's garbled tables must fit one frame.
pub const MAX_BATCH: usize = 1024;

/// The holder's comparison batch unless configured otherwise (the largest).
pub const DEFAULT_BATCH: usize = MAX_BATCH;

/// Score blocks per round unless configured otherwise.
pub const DEFAULT_ROUND_BLOCKS: usize = 32;

/// Largest round either side accepts, in score blocks.
pub const MAX_ROUND_BLOCKS: usize = 4096;

/// Entries per `LabelTable` message of a who-identification (64 bytes each: 2 MiB a frame).
pub const LABEL_TABLE_PART: usize = 1 << 15;

fn unexpected(state: &'static str, got: &Message) -> ProtocolError {
    match got {
        Message::Abort(code) => ProtocolError::Aborted(*code),
        other => ProtocolError::Unexpected {
            state,
            got: other.kind(),
        },
    }
}

/// Runs one holder session for `client` (its certificate identity) over `reader`/`writer`.
pub fn run_holder<Rd: Read, Wr: Write + Send, R: Rng + CryptoRng>(
    reader: &mut Rd,
    writer: &mut Wr,
    config: &HolderConfig,
    client: &str,
    rng: R,
) -> Result<HolderReport> {
    let session = HolderSession::new(config, client, rng)?;
    let ((answer, scores), timings) = drive(session, reader, writer, MAX_FRAME)?;
    Ok(HolderReport {
        bit: answer.bit,
        class: answer.class,
        who: answer.who,
        scores,
        timings,
    })
}

/// Runs one verifier session for `probe` over `reader`/`writer`.
pub fn run_verifier<Rd: Read, Wr: Write + Send, R: Rng + CryptoRng>(
    reader: &mut Rd,
    writer: &mut Wr,
    config: &VerifierConfig,
    probe: &[f32],
    mode: Mode,
    output: OutputTo,
    rng: R,
) -> Result<VerifyOutcome> {
    let session = VerifierSession::new(config.clone(), probe, mode, output, rng)?;
    let ((answer, accept), timings) = drive(session, reader, writer, MAX_FRAME)?;
    Ok(VerifyOutcome {
        bit: answer.bit,
        class: answer.class,
        who: answer.who,
        accept,
        timings,
    })
}
