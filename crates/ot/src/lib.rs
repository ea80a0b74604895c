//! # privface-ot — oblivious transfer for the garbled comparison
//!
//! Chou–Orlandi base OT on Ristretto ([`base`]), IKNP extension to Δ-correlated random-choice
//! OTs whose correlation is the garbling Δ ([`iknp`]), and the byte channels both run over
//! ([`channel`]). No sockets, files or clocks inside: the caller supplies the channel and the
//! CSPRNG.

pub mod base;
pub mod block;
pub mod channel;
pub mod error;
pub mod iknp;

pub use block::{Block, Delta};
pub use channel::{Channel, IoChannel, MemoryChannel};
pub use error::{OtError, Result};
pub use iknp::{IknpReceiver, IknpSender, apply_corrections, send_corrections};
