//! IKNP OT extension (semi-honest) producing Δ-correlated, random-choice OTs.
//!
//! Roles are reversed in the setup: the extension *sender* (the garbler, holding Δ) is the
//! base-OT *receiver* with its 128 choice bits equal to the bits of Δ; the extension
//! *receiver* (the evaluator) is the base-OT sender with 128 seed pairs (k_i^0, k_i^1).
//!
//! Extending by m OTs: the receiver picks random choices r ∈ {0,1}^m, expands
//! t^i = G(k_i^0), sends u^i = t^i ⊕ G(k_i^1) ⊕ r for every column i; the sender computes
//! q^i = G(k_i^(Δ_i)) ⊕ Δ_i·u^i = t^i ⊕ Δ_i·r. Transposing the 128 columns gives rows with
//! `q_j = t_j ⊕ r_j·Δ`: the sender's label pair is (q_j, q_j ⊕ Δ) and the receiver holds the
//! label of its choice r_j. G is AES-128 in counter mode keyed by the seed; both sides keep a
//! running counter so successive extensions use fresh PRG output. Derandomisation to chosen
//! inputs costs one bit per OT ([`send_corrections`] / [`apply_corrections`]).

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use rand::{CryptoRng, Rng};

use crate::base::{self, BASE_OTS};
use crate::block::{Block, Delta, pack_bits, unpack_bits};
use crate::channel::Channel;
use crate::error::{OtError, Result};

/// A PRG: AES-128-CTR keyed by a base-OT output.
struct Prg(Aes128);

impl Prg {
    fn new(seed: Block) -> Self {
        Prg(Aes128::new(GenericArray::from_slice(&seed.to_bytes())))
    }

    /// Blocks `counter .. counter + out.len()` of the key stream, as little-endian u128s.
    fn fill(&self, counter: u64, out: &mut [u128]) {
        const BATCH: usize = 64;
        let mut blocks = [GenericArray::from([0u8; 16]); BATCH];
        for (start, chunk) in out.chunks_mut(BATCH).enumerate() {
            for (j, b) in blocks[..chunk.len()].iter_mut().enumerate() {
                *b = GenericArray::from(
                    (counter as u128 + (start * BATCH + j) as u128).to_le_bytes(),
                );
            }
            self.0.encrypt_blocks(&mut blocks[..chunk.len()]);
            for (o, b) in chunk.iter_mut().zip(&blocks) {
                *o = u128::from_le_bytes((*b).into());
            }
        }
    }
}

/// Transposes a 128×128 bit matrix in place: bit c of `m[r]` ↔ bit r of `m[c]`.
pub fn transpose128(m: &mut [u128; 128]) {
    let mut j = 64usize;
    let mut mask: u128 = u64::MAX as u128;
    while j != 0 {
        let mut k = 0;
        while k < 128 {
            for r in k..k + j {
                let (a, b) = (m[r], m[r + j]);
                let t = ((a >> j) ^ b) & mask;
                m[r] = a ^ (t << j);
                m[r + j] = b ^ t;
            }
            k += 2 * j;
        }
        j >>= 1;
        mask ^= mask << j;
    }
}

/// Turns 128 columns of `blocks` u128 words each (column i, word w = rows 128w..128w+127)
/// into rows.
fn columns_to_rows(columns: &[Vec<u128>], blocks: usize) -> Vec<Block> {
    let mut rows = Vec::with_capacity(blocks * 128);
    let mut m = [0u128; 128];
    for w in 0..blocks {
        for (i, col) in columns.iter().enumerate() {
            m[i] = col[w];
        }
        transpose128(&mut m);
        rows.extend(m.iter().map(|&r| Block(r)));
    }
    rows
}

/// The extension sender (garbler): holds Δ and one seed per column.
pub struct IknpSender {
    delta: Delta,
    prgs: Vec<Prg>,
    counter: u64,
}

impl IknpSender {
    /// Runs the base OTs (as their receiver, choosing by the bits of Δ).
    pub fn setup<C: Channel, R: Rng + CryptoRng>(
        ch: &mut C,
        delta: Delta,
        rng: &mut R,
    ) -> Result<Self> {
        let bits: Vec<bool> = (0..BASE_OTS)
            .map(|i| delta.block().0 >> i & 1 == 1)
            .collect();
        let seeds = base::receive(ch, &bits, rng)?;
        Ok(Self {
            delta,
            prgs: seeds.into_iter().map(Prg::new).collect(),
            counter: 0,
        })
    }

    /// The correlation Δ.
    pub fn delta(&self) -> Delta {
        self.delta
    }

    /// Extends by `count` OTs (rounded up to a multiple of 128 internally): returns the zero
    /// labels q_j; the receiver holds q_j ⊕ r_j·Δ.
    pub fn extend<C: Channel>(&mut self, ch: &mut C, count: usize) -> Result<Vec<Block>> {
        let blocks = count.div_ceil(128);
        let mut bytes = vec![0u8; blocks * 16];
        let mut columns = Vec::with_capacity(BASE_OTS);
        for (i, prg) in self.prgs.iter().enumerate() {
            ch.read_bytes(&mut bytes)?;
            let mut col = vec![0u128; blocks];
            prg.fill(self.counter, &mut col);
            if self.delta.block().0 >> i & 1 == 1 {
                for (c, u) in col.iter_mut().zip(bytes.chunks_exact(16)) {
                    *c ^= u128::from_le_bytes(u.try_into().expect("16 bytes"));
                }
            }
            columns.push(col);
        }
        self.counter += blocks as u64;
        let mut rows = columns_to_rows(&columns, blocks);
        rows.truncate(count);
        Ok(rows)
    }
}

/// The extension receiver (evaluator): holds both seeds of every column.
pub struct IknpReceiver {
    prgs: Vec<(Prg, Prg)>,
    counter: u64,
}

impl IknpReceiver {
    /// Runs the base OTs (as their sender) over a blocking channel.
    pub fn setup<C: Channel, R: Rng + CryptoRng>(ch: &mut C, rng: &mut R) -> Result<Self> {
        let pending = Self::start(ch, rng)?;
        ch.flush()?;
        pending.finish(ch)
    }

    /// First half of [`IknpReceiver::setup`]: writes the base-OT sender's message.
    pub fn start<C: Channel, R: Rng + CryptoRng>(ch: &mut C, rng: &mut R) -> Result<IknpSetup> {
        Ok(IknpSetup(base::BaseSender::start(ch, rng)?))
    }

    /// Extends by `count` random-choice OTs: returns the choices r_j and the labels
    /// t_j = q_j ⊕ r_j·Δ.
    pub fn extend<C: Channel, R: Rng + CryptoRng>(
        &mut self,
        ch: &mut C,
        count: usize,
        rng: &mut R,
    ) -> Result<(Vec<bool>, Vec<Block>)> {
        let blocks = count.div_ceil(128);
        let r: Vec<u128> = (0..blocks).map(|_| rng.random()).collect();
        let mut columns = Vec::with_capacity(BASE_OTS);
        let mut other = vec![0u128; blocks];
        let mut bytes = Vec::with_capacity(blocks * 16);
        for (prg0, prg1) in &self.prgs {
            let mut t = vec![0u128; blocks];
            prg0.fill(self.counter, &mut t);
            prg1.fill(self.counter, &mut other);
            bytes.clear();
            for ((t, o), r) in t.iter().zip(&other).zip(&r) {
                bytes.extend_from_slice(&(t ^ o ^ r).to_le_bytes());
            }
            ch.write_bytes(&bytes)?;
            columns.push(t);
        }
        ch.flush()?;
        self.counter += blocks as u64;
        let mut rows = columns_to_rows(&columns, blocks);
        rows.truncate(count);
        let choices = (0..count)
            .map(|j| r[j / 128] >> (j % 128) & 1 == 1)
            .collect();
        Ok((choices, rows))
    }
}

/// An [`IknpReceiver`] waiting for the base-OT receiver's reply.
pub struct IknpSetup(base::BaseSender);

impl IknpSetup {
    /// Second half of [`IknpReceiver::setup`]: reads the reply and derives the column seeds.
    pub fn finish<C: Channel>(self, ch: &mut C) -> Result<IknpReceiver> {
        let pairs = self.0.finish(ch)?;
        Ok(IknpReceiver {
            prgs: pairs
                .into_iter()
                .map(|(k0, k1)| (Prg::new(k0), Prg::new(k1)))
                .collect(),
            counter: 0,
        })
    }
}

/// Receiver side of derandomisation: sends `wanted_j ⊕ r_j` for each OT, one bit each.
pub fn send_corrections<C: Channel>(
    ch: &mut C,
    wanted: &[bool],
    random_choices: &[bool],
) -> Result<()> {
    assert_eq!(wanted.len(), random_choices.len(), "one correction per OT");
    let d: Vec<bool> = wanted
        .iter()
        .zip(random_choices)
        .map(|(w, r)| w ^ r)
        .collect();
    ch.write_bytes(&pack_bits(&d))?;
    Ok(())
}

/// Sender side of derandomisation: turns the zero labels of random-choice OTs into zero labels
/// for the receiver's wanted bits (q_j ⊕ d_j·Δ), so the receiver's label encodes `wanted_j`.
pub fn apply_corrections<C: Channel>(
    ch: &mut C,
    delta: Delta,
    zero_labels: &mut [Block],
) -> Result<()> {
    let mut bytes = vec![0u8; zero_labels.len().div_ceil(8)];
    ch.read_bytes(&mut bytes)?;
    let d = unpack_bits(&bytes, zero_labels.len()).ok_or(OtError::Malformed("correction bits"))?;
    for (w, d) in zero_labels.iter_mut().zip(d) {
        *w ^= delta.block().select(d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::channel::MemoryChannel;

    #[test]
    fn transpose_matches_the_definition() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let orig: [u128; 128] = core::array::from_fn(|_| rng.random());
        let mut m = orig;
        transpose128(&mut m);
        for r in 0..128 {
            for c in 0..128 {
                assert_eq!(m[c] >> r & 1, orig[r] >> c & 1, "({r}, {c})");
            }
        }
        transpose128(&mut m);
        assert_eq!(m, orig);
    }

    #[test]
    fn extension_gives_delta_correlated_labels() {
        let (mut a, mut b) = MemoryChannel::pair(8);
        let delta = Delta::random(&mut ChaCha20Rng::seed_from_u64(7));
        let sender = std::thread::spawn(move || {
            let mut rng = ChaCha20Rng::seed_from_u64(8);
            let mut s = IknpSender::setup(&mut a, delta, &mut rng).unwrap();
            // Two extensions: the PRG counter must carry over.
            let mut q = s.extend(&mut a, 1000).unwrap();
            q.extend(s.extend(&mut a, 300).unwrap());
            q
        });
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut r = IknpReceiver::setup(&mut b, &mut rng).unwrap();
        let (mut choices, mut t) = r.extend(&mut b, 1000, &mut rng).unwrap();
        let (c2, t2) = r.extend(&mut b, 300, &mut rng).unwrap();
        choices.extend(c2);
        t.extend(t2);
        let q = sender.join().unwrap();
        assert_eq!(q.len(), 1300);
        let ones = choices.iter().filter(|&&c| c).count();
        assert!((500..800).contains(&ones), "choices look random: {ones}");
        for ((q, t), c) in q.iter().zip(&t).zip(&choices) {
            // The receiver holds exactly the label of its choice ...
            assert_eq!(*t, *q ^ delta.block().select(*c));
            // ... and not the other one.
            assert_ne!(*t, *q ^ delta.block().select(!*c));
        }
        // Labels are fresh across extensions (no PRG reuse).
        assert_ne!(q[0], q[1000]);
    }

    #[test]
    fn corrections_derandomise_to_the_wanted_bits() {
        let (mut a, mut b) = MemoryChannel::pair(8);
        let delta = Delta::random(&mut ChaCha20Rng::seed_from_u64(1));
        let wanted: Vec<bool> = (0..77).map(|i| i % 3 == 0).collect();
        let w = wanted.clone();
        let sender = std::thread::spawn(move || {
            let mut rng = ChaCha20Rng::seed_from_u64(2);
            let mut s = IknpSender::setup(&mut a, delta, &mut rng).unwrap();
            let mut q = s.extend(&mut a, 77).unwrap();
            apply_corrections(&mut a, delta, &mut q).unwrap();
            q
        });
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut r = IknpReceiver::setup(&mut b, &mut rng).unwrap();
        let (choices, t) = r.extend(&mut b, 77, &mut rng).unwrap();
        send_corrections(&mut b, &w, &choices).unwrap();
        b.flush().unwrap();
        let zero = sender.join().unwrap();
        for ((z, t), want) in zero.iter().zip(&t).zip(&wanted) {
            assert_eq!(*t, *z ^ delta.block().select(*want));
        }
    }
}
