//! Chou–Orlandi "simplest OT" on the Ristretto group, 128 instances at once (semi-honest).
//!
//! Sender: a ← Z_ℓ, sends A = a·G. Receiver with choice c_i: b_i ← Z_ℓ, sends
//! B_i = b_i·G + c_i·A and keeps k_i = H(i, A, B_i, b_i·A). Sender: k_i^0 = H(i, A, B_i, a·B_i),
//! k_i^1 = H(i, A, B_i, a·(B_i − A)). H is SHA-256 truncated to 128 bits with a domain label.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand::{CryptoRng, Rng};
use sha2::{Digest, Sha256};

use crate::block::Block;
use crate::channel::Channel;
use crate::error::{OtError, Result};

/// Base OT instances run by the IKNP setup.
pub const BASE_OTS: usize = 128;

fn random_scalar<R: Rng + CryptoRng>(rng: &mut R) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill(&mut wide[..]);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn key(
    i: usize,
    a: &CompressedRistretto,
    b: &CompressedRistretto,
    shared: &RistrettoPoint,
) -> Block {
    let mut h = Sha256::new();
    h.update(b"privface/1 base-OT");
    h.update((i as u32).to_le_bytes());
    h.update(a.as_bytes());
    h.update(b.as_bytes());
    h.update(shared.compress().as_bytes());
    let digest = h.finalize();
    Block::from_bytes(digest[..16].try_into().expect("SHA-256 is 32 bytes"))
}

fn read_point<C: Channel>(ch: &mut C) -> Result<(CompressedRistretto, RistrettoPoint)> {
    let mut bytes = [0u8; 32];
    ch.read_bytes(&mut bytes)?;
    let compressed = CompressedRistretto(bytes);
    let point = compressed.decompress().ok_or(OtError::MalformedPoint)?;
    if point == RistrettoPoint::identity() {
        return Err(OtError::MalformedPoint);
    }
    Ok((compressed, point))
}

/// The base-OT sender between its two messages: it has sent A and waits for the B_i.
pub struct BaseSender {
    a: Scalar,
    big_a: RistrettoPoint,
    a_c: CompressedRistretto,
}

impl BaseSender {
    /// Draws a and writes A = a·G (32 bytes) to `ch`.
    pub fn start<C: Channel, R: Rng + CryptoRng>(ch: &mut C, rng: &mut R) -> Result<Self> {
        let a = random_scalar(rng);
        let big_a = &a * RISTRETTO_BASEPOINT_TABLE;
        let a_c = big_a.compress();
        ch.write_bytes(a_c.as_bytes())?;
        Ok(Self { a, big_a, a_c })
    }

    /// Reads the receiver's [`BASE_OTS`] points and returns the message pairs (k_i^0, k_i^1).
    pub fn finish<C: Channel>(self, ch: &mut C) -> Result<Vec<(Block, Block)>> {
        let Self { a, big_a, a_c } = self;
        (0..BASE_OTS)
            .map(|i| {
                let (b_c, b) = read_point(ch)?;
                Ok((
                    key(i, &a_c, &b_c, &(a * b)),
                    key(i, &a_c, &b_c, &(a * (b - big_a))),
                ))
            })
            .collect()
    }
}

/// Base-OT sender in one call (blocking channels): returns the message pairs (k_i^0, k_i^1).
pub fn send<C: Channel, R: Rng + CryptoRng>(
    ch: &mut C,
    rng: &mut R,
) -> Result<Vec<(Block, Block)>> {
    let sender = BaseSender::start(ch, rng)?;
    ch.flush()?;
    sender.finish(ch)
}

/// Base-OT receiver with choice bits `choices` (length [`BASE_OTS`]): returns k_i^(c_i).
pub fn receive<C: Channel, R: Rng + CryptoRng>(
    ch: &mut C,
    choices: &[bool],
    rng: &mut R,
) -> Result<Vec<Block>> {
    assert_eq!(choices.len(), BASE_OTS, "one choice per base OT");
    let (a_c, big_a) = read_point(ch)?;
    let mut keys = Vec::with_capacity(BASE_OTS);
    for (i, &c) in choices.iter().enumerate() {
        let b = random_scalar(rng);
        let mut big_b = &b * RISTRETTO_BASEPOINT_TABLE;
        if c {
            big_b += big_a;
        }
        let b_c = big_b.compress();
        ch.write_bytes(b_c.as_bytes())?;
        keys.push(key(i, &a_c, &b_c, &(b * big_a)));
    }
    ch.flush()?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::channel::MemoryChannel;

    #[test]
    fn receiver_gets_exactly_the_chosen_keys() {
        let (mut a, mut b) = MemoryChannel::pair(4);
        let sender =
            std::thread::spawn(move || send(&mut a, &mut ChaCha20Rng::seed_from_u64(1)).unwrap());
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let choices: Vec<bool> = (0..BASE_OTS).map(|_| rng.random()).collect();
        let got = receive(&mut b, &choices, &mut rng).unwrap();
        let pairs = sender.join().unwrap();
        for ((k, (k0, k1)), c) in got.iter().zip(&pairs).zip(&choices) {
            assert_eq!(k, if *c { k1 } else { k0 });
            assert_ne!(k, if *c { k0 } else { k1 });
        }
    }

    #[test]
    fn malformed_points_are_errors() {
        // Not a canonical Ristretto encoding.
        let (mut a, mut b) = MemoryChannel::pair(4);
        a.write_bytes(&[0xff; 32]).unwrap();
        a.flush().unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        assert!(matches!(
            receive(&mut b, &[false; BASE_OTS], &mut rng),
            Err(OtError::MalformedPoint)
        ));
        // The identity point.
        a.write_bytes(RistrettoPoint::identity().compress().as_bytes())
            .unwrap();
        a.flush().unwrap();
        assert!(matches!(
            receive(&mut b, &[false; BASE_OTS], &mut rng),
            Err(OtError::MalformedPoint)
        ));
        // A sender receiving a bad B_i.
        let (mut c, mut d) = MemoryChannel::pair(4);
        let t = std::thread::spawn(move || send(&mut c, &mut ChaCha20Rng::seed_from_u64(4)));
        let mut a_bytes = [0u8; 32];
        d.read_bytes(&mut a_bytes).unwrap();
        d.write_bytes(&[0xee; 32]).unwrap();
        d.flush().unwrap();
        assert!(matches!(t.join().unwrap(), Err(OtError::MalformedPoint)));
    }
}
