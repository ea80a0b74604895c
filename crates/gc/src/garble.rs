//! Half-gates garbling (Zahur–Rosulek–Evans 2015) with free-XOR and point-and-permute.
//!
//! Every wire has a zero label W⁰ and a one label W¹ = W⁰ ⊕ Δ, with lsb(Δ) = 1 so the colour
//! bits lsb(W⁰) and lsb(W¹) differ. AND gate number j (counted per lane, in circuit order) is
//! garbled with the two DISTINCT tweaks 2j (garbler half) and 2j+1 (evaluator half): with one
//! tweak for both halves, a gate whose inputs are the same wire (or a wire and its negation)
//! would hand the evaluator Δ — see `single_tweak_leaks_delta` in the tests. Per lane the
//! garbler sends (T_G, T_E), 32 bytes:
//!
//! * T_G = H(W_a⁰, 2j) ⊕ H(W_a¹, 2j) ⊕ p_b·Δ,   W_G⁰ = H(W_a⁰, 2j) ⊕ p_a·T_G
//! * T_E = H(W_b⁰, 2j+1) ⊕ H(W_b¹, 2j+1) ⊕ W_a⁰, W_E⁰ = H(W_b⁰, 2j+1) ⊕ p_b·(T_E ⊕ W_a⁰)
//! * W_out⁰ = W_G⁰ ⊕ W_E⁰, with p_x = lsb(W_x⁰).
//!
//! A garbler half-gate a ∧ k with k known to the garbler uses tweak 2j and sends
//! T = H(W_a⁰, 2j) ⊕ H(W_a¹, 2j) ⊕ k·Δ, W_out⁰ = H(W_a⁰, 2j) ⊕ p_a·T (16 bytes).
//! A public constant c is the wire with W⁰ = c·Δ, whose held label is the zero block.

use privface_ot::{Block, Channel, Delta};

use crate::error::{GcError, Result};
use crate::fancy::{Fancy, Known};
use crate::hash::FixedKeyHash;

/// The garbler backend: wires are zero labels; tables go to the channel as gates are garbled.
pub struct Garbler<C: Channel> {
    channel: C,
    delta: Delta,
    hash: FixedKeyHash,
    gate: u64,
    #[cfg(test)]
    pub(crate) single_tweak: bool,
    scratch: (Vec<Block>, Vec<u128>, Vec<Block>),
    out: Vec<u8>,
}

impl<C: Channel> Garbler<C> {
    /// A garbler with correlation Δ writing to `channel`.
    pub fn new(channel: C, delta: Delta) -> Self {
        Self {
            channel,
            delta,
            hash: FixedKeyHash::new(),
            gate: 0,
            #[cfg(test)]
            single_tweak: false,
            scratch: Default::default(),
            out: Vec::new(),
        }
    }

    /// Δ.
    pub fn delta(&self) -> Delta {
        self.delta
    }

    /// The channel (for the driver's own messages between circuit batches).
    pub fn channel(&mut self) -> &mut C {
        &mut self.channel
    }

    fn d(&self) -> Block {
        self.delta.block()
    }

    fn tweak_pair(&mut self) -> (u128, u128) {
        let j = self.gate as u128;
        self.gate += 1;
        #[cfg(test)]
        if self.single_tweak {
            return (j, j);
        }
        (2 * j, 2 * j + 1)
    }

    /// Decodes an output label the evaluator sent back: `Ok(bit)` if it is one of the wire's
    /// two labels, an error otherwise.
    pub fn decode_returned_label(&self, zero: Block, returned: Block) -> Result<bool> {
        if returned == zero {
            Ok(false)
        } else if returned == zero ^ self.d() {
            Ok(true)
        } else {
            Err(GcError::Malformed(
                "returned output label is neither label of the output wire",
            ))
        }
    }
}

impl<C: Channel> Fancy for Garbler<C> {
    type Wire = Block;
    type Error = GcError;

    fn xor(&mut self, a: &[Block], b: &[Block]) -> Vec<Block> {
        a.iter().zip(b).map(|(a, b)| *a ^ *b).collect()
    }

    fn not(&mut self, a: &[Block]) -> Vec<Block> {
        let d = self.d();
        a.iter().map(|a| *a ^ d).collect()
    }

    fn and(&mut self, a: &[Block], b: &[Block]) -> Result<Vec<Block>> {
        assert_eq!(a.len(), b.len(), "lane counts");
        let d = self.d();
        let lanes = a.len();
        let (mut xs, mut tweaks, mut hs) = std::mem::take(&mut self.scratch);
        xs.clear();
        tweaks.clear();
        for (&wa, &wb) in a.iter().zip(b) {
            let (tg, te) = self.tweak_pair();
            xs.extend([wa, wa ^ d, wb, wb ^ d]);
            tweaks.extend([tg, tg, te, te]);
        }
        self.hash.hash(&xs, &tweaks, &mut hs);
        self.out.clear();
        let mut outs = Vec::with_capacity(lanes);
        for (lane, (&wa, &wb)) in a.iter().zip(b).enumerate() {
            let h = &hs[4 * lane..4 * lane + 4];
            let (pa, pb) = (wa.lsb(), wb.lsb());
            let t_g = h[0] ^ h[1] ^ d.select(pb);
            let w_g = h[0] ^ t_g.select(pa);
            let t_e = h[2] ^ h[3] ^ wa;
            let w_e = h[2] ^ (t_e ^ wa).select(pb);
            self.out.extend_from_slice(&t_g.to_bytes());
            self.out.extend_from_slice(&t_e.to_bytes());
            outs.push(w_g ^ w_e);
        }
        self.scratch = (xs, tweaks, hs);
        self.channel.write_bytes(&self.out)?;
        Ok(outs)
    }

    fn xor_known(&mut self, a: &[Block], bits: Known<'_>) -> Vec<Block> {
        let bits = bits.expect("the garbler knows its bits");
        let d = self.d();
        a.iter().zip(bits).map(|(a, &k)| *a ^ d.select(k)).collect()
    }

    fn and_known(&mut self, a: &[Block], bits: Known<'_>) -> Result<Vec<Block>> {
        let bits = bits.expect("the garbler knows its bits");
        assert_eq!(a.len(), bits.len(), "lane counts");
        let d = self.d();
        let (mut xs, mut tweaks, mut hs) = std::mem::take(&mut self.scratch);
        xs.clear();
        tweaks.clear();
        for &wa in a {
            let (t, _) = self.tweak_pair();
            xs.extend([wa, wa ^ d]);
            tweaks.extend([t, t]);
        }
        self.hash.hash(&xs, &tweaks, &mut hs);
        self.out.clear();
        let mut outs = Vec::with_capacity(a.len());
        for (lane, (&wa, &k)) in a.iter().zip(bits).enumerate() {
            let t = hs[2 * lane] ^ hs[2 * lane + 1] ^ d.select(k);
            self.out.extend_from_slice(&t.to_bytes());
            outs.push(hs[2 * lane] ^ t.select(wa.lsb()));
        }
        self.scratch = (xs, tweaks, hs);
        self.channel.write_bytes(&self.out)?;
        Ok(outs)
    }

    fn constant(&mut self, bit: bool, lanes: usize) -> Vec<Block> {
        vec![self.d().select(bit); lanes]
    }

    /// Sends one decode bit per wire (lsb of the zero label); the garbler learns nothing.
    fn output(&mut self, a: &[Block]) -> Result<Vec<Option<bool>>> {
        let bits: Vec<bool> = a.iter().map(|w| w.lsb()).collect();
        self.channel
            .write_bytes(&privface_ot::block::pack_bits(&bits))?;
        Ok(vec![None; a.len()])
    }
}

/// The evaluator backend: wires are the labels it holds; tables come from the channel.
pub struct Evaluator<C: Channel> {
    channel: C,
    hash: FixedKeyHash,
    gate: u64,
    scratch: (Vec<Block>, Vec<u128>, Vec<Block>),
    buf: Vec<u8>,
    tables: Vec<Block>,
}

impl<C: Channel> Evaluator<C> {
    /// An evaluator reading tables from `channel`.
    pub fn new(channel: C) -> Self {
        Self {
            channel,
            hash: FixedKeyHash::new(),
            gate: 0,
            scratch: Default::default(),
            buf: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// The channel (for the driver's own messages between circuit batches).
    pub fn channel(&mut self) -> &mut C {
        &mut self.channel
    }

    /// Reads `count` table blocks into `self.tables`.
    fn read_tables(&mut self, count: usize) -> Result<()> {
        self.buf.resize(16 * count, 0);
        self.channel.read_bytes(&mut self.buf)?;
        self.tables.clear();
        self.tables.extend(
            self.buf
                .chunks_exact(16)
                .map(|c| Block::from_bytes(c.try_into().expect("16 bytes"))),
        );
        Ok(())
    }
}

impl<C: Channel> Fancy for Evaluator<C> {
    type Wire = Block;
    type Error = GcError;

    fn xor(&mut self, a: &[Block], b: &[Block]) -> Vec<Block> {
        a.iter().zip(b).map(|(a, b)| *a ^ *b).collect()
    }

    fn not(&mut self, a: &[Block]) -> Vec<Block> {
        a.to_vec()
    }

    fn and(&mut self, a: &[Block], b: &[Block]) -> Result<Vec<Block>> {
        assert_eq!(a.len(), b.len(), "lane counts");
        self.read_tables(2 * a.len())?;
        let (mut xs, mut tweaks, mut hs) = std::mem::take(&mut self.scratch);
        xs.clear();
        tweaks.clear();
        for (&la, &lb) in a.iter().zip(b) {
            let j = self.gate as u128;
            self.gate += 1;
            xs.extend([la, lb]);
            tweaks.extend([2 * j, 2 * j + 1]);
        }
        self.hash.hash(&xs, &tweaks, &mut hs);
        let outs = a
            .iter()
            .zip(b)
            .zip(self.tables.chunks_exact(2))
            .zip(hs.chunks_exact(2))
            .map(|(((&la, &lb), t), h)| {
                let w_g = h[0] ^ t[0].select(la.lsb());
                let w_e = h[1] ^ (t[1] ^ la).select(lb.lsb());
                w_g ^ w_e
            })
            .collect();
        self.scratch = (xs, tweaks, hs);
        Ok(outs)
    }

    fn xor_known(&mut self, a: &[Block], _: Known<'_>) -> Vec<Block> {
        a.to_vec()
    }

    fn and_known(&mut self, a: &[Block], _: Known<'_>) -> Result<Vec<Block>> {
        self.read_tables(a.len())?;
        let (mut xs, mut tweaks, mut hs) = std::mem::take(&mut self.scratch);
        xs.clear();
        tweaks.clear();
        for &la in a {
            let j = self.gate as u128;
            self.gate += 1;
            xs.push(la);
            tweaks.push(2 * j);
        }
        self.hash.hash(&xs, &tweaks, &mut hs);
        let outs = a
            .iter()
            .zip(&self.tables)
            .zip(&hs)
            .map(|((la, t), h)| *h ^ t.select(la.lsb()))
            .collect();
        self.scratch = (xs, tweaks, hs);
        Ok(outs)
    }

    fn constant(&mut self, _: bool, lanes: usize) -> Vec<Block> {
        vec![Block::ZERO; lanes]
    }

    fn output(&mut self, a: &[Block]) -> Result<Vec<Option<bool>>> {
        let mut bytes = vec![0u8; a.len().div_ceil(8)];
        self.channel.read_bytes(&mut bytes)?;
        let decode = privface_ot::block::unpack_bits(&bytes, a.len())
            .ok_or(GcError::Malformed("decode bits"))?;
        Ok(a.iter()
            .zip(decode)
            .map(|(l, d)| Some(l.lsb() ^ d))
            .collect())
    }
}
