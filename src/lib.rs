//! # privface
//!
//! Two-party privacy-preserving face verification: homomorphic inner products
//! ([`he`]), oblivious transfer ([`ot`]) and a garbled threshold comparison ([`gc`]), bound
//! into sessions ([`protocol`]) over mutual TLS ([`net`]).

pub use privface_gc as gc;
pub use privface_he as he;
pub use privface_net as net;
pub use privface_ot as ot;
pub use privface_protocol as protocol;
