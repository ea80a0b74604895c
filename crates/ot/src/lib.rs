//! # privface-ot — oblivious transfer for the garbled comparison
//!
//! Chou–Orlandi base OT on Ristretto ([`base`]), IKNP extension to Δ-correlated random-choice
//! OTs whose correlation is the garbling Δ ([`iknp`]), and the byte channels both run over
//! ([`channel`]). No sockets, files or clocks inside: the caller supplies the channel and the
//! CSPRNG.
//!
//! ```
//! use privface_ot::{Delta, IknpReceiver, IknpSender, MemoryChannel};
//! use rand::SeedableRng;
//! let (mut a, mut b) = MemoryChannel::pair(8);
//! let delta = Delta::random(&mut rand_chacha::ChaCha20Rng::seed_from_u64(1));
//! let sender = std::thread::spawn(move || {
//!     let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
//!     let mut s = IknpSender::setup(&mut a, delta, &mut rng).unwrap();
//!     s.extend(&mut a, 300).unwrap()
//! });
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
//! let mut r = IknpReceiver::setup(&mut b, &mut rng).unwrap();
//! let (choices, held) = r.extend(&mut b, 300, &mut rng).unwrap();
//! let zero = sender.join().unwrap();
//! // The receiver holds the label of its choice: q ⊕ r·Δ.
//! for ((q, t), c) in zero.iter().zip(&held).zip(&choices) {
//!     assert_eq!(*t, *q ^ delta.block().select(*c));
//! }
//! ```

pub mod base;
pub mod block;
pub mod channel;
pub mod error;
pub mod iknp;

pub use block::{Block, Delta};
pub use channel::{BufferChannel, Channel, IoChannel, MemoryChannel};
pub use error::{OtError, Result};
pub use iknp::{IknpReceiver, IknpSender, IknpSetup, apply_corrections, send_corrections};
