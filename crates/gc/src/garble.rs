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
use crate::fancy::Fancy;
use crate::hash::{CHUNK, FixedKeyHash};

/// The garbler backend: wires are zero labels; tables go to the channel as gates are garbled.
pub struct Garbler<C: Channel> {
    channel: C,
    delta: Delta,
    hash: FixedKeyHash,
    gate: u64,
    #[cfg(test)]
    pub(crate) single_tweak: bool,
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
    type Known<'a> = &'a [bool];

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
        let mut outs = Vec::with_capacity(a.len());
        self.out.clear();
        self.out.reserve(32 * a.len());
        // Eight lanes (32 hashes) at a time, all on the stack.
        let (mut xs, mut tweaks, mut hs) = ([0u128; CHUNK], [0u128; CHUNK], [0u128; CHUNK]);
        for (ca, cb) in a.chunks(CHUNK / 4).zip(b.chunks(CHUNK / 4)) {
            let n = 4 * ca.len();
            for (l, (&wa, &wb)) in ca.iter().zip(cb).enumerate() {
                let (tg, te) = self.tweak_pair();
                xs[4 * l..4 * l + 4].copy_from_slice(&[wa.0, (wa ^ d).0, wb.0, (wb ^ d).0]);
                tweaks[4 * l..4 * l + 4].copy_from_slice(&[tg, tg, te, te]);
            }
            self.hash.hash_chunk(&xs[..n], &tweaks[..n], &mut hs);
            for (l, (&wa, &wb)) in ca.iter().zip(cb).enumerate() {
                let h = &hs[4 * l..4 * l + 4];
                let (pa, pb) = (wa.lsb(), wb.lsb());
                let t_g = Block(h[0] ^ h[1]) ^ d.select(pb);
                let w_g = Block(h[0]) ^ t_g.select(pa);
                let t_e = Block(h[2] ^ h[3]) ^ wa;
                let w_e = Block(h[2]) ^ (t_e ^ wa).select(pb);
                let mut table = [0u8; 32];
                table[..16].copy_from_slice(&t_g.to_bytes());
                table[16..].copy_from_slice(&t_e.to_bytes());
                self.out.extend_from_slice(&table);
                outs.push(w_g ^ w_e);
            }
        }
        self.channel.write_bytes(&self.out)?;
        Ok(outs)
    }

    fn xor_known(&mut self, a: &[Block], bits: &[bool]) -> Vec<Block> {
        assert_eq!(a.len(), bits.len(), "lane counts");
        let d = self.d();
        a.iter().zip(bits).map(|(a, &k)| *a ^ d.select(k)).collect()
    }

    fn and_known(&mut self, a: &[Block], bits: &[bool]) -> Result<Vec<Block>> {
        assert_eq!(a.len(), bits.len(), "lane counts");
        let d = self.d();
        let mut outs = Vec::with_capacity(a.len());
        self.out.clear();
        self.out.reserve(16 * a.len());
        let (mut xs, mut tweaks, mut hs) = ([0u128; CHUNK], [0u128; CHUNK], [0u128; CHUNK]);
        for (ca, cb) in a.chunks(CHUNK / 2).zip(bits.chunks(CHUNK / 2)) {
            let n = 2 * ca.len();
            for (l, &wa) in ca.iter().enumerate() {
                let (t, _) = self.tweak_pair();
                xs[2 * l..2 * l + 2].copy_from_slice(&[wa.0, (wa ^ d).0]);
                tweaks[2 * l..2 * l + 2].copy_from_slice(&[t, t]);
            }
            self.hash.hash_chunk(&xs[..n], &tweaks[..n], &mut hs);
            for (l, (&wa, &k)) in ca.iter().zip(cb).enumerate() {
                let t = Block(hs[2 * l] ^ hs[2 * l + 1]) ^ d.select(k);
                self.out.extend_from_slice(&t.to_bytes());
                outs.push(Block(hs[2 * l]) ^ t.select(wa.lsb()));
            }
        }
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
    /// Table blocks as read: little-endian u128s, filled straight from the channel.
    tables: Vec<u128>,
}

impl<C: Channel> Evaluator<C> {
    /// An evaluator reading tables from `channel`.
    pub fn new(channel: C) -> Self {
        Self {
            channel,
            hash: FixedKeyHash::new(),
            gate: 0,
            tables: Vec::new(),
        }
    }

    /// The channel (for the driver's own messages between circuit batches).
    pub fn channel(&mut self) -> &mut C {
        &mut self.channel
    }

    /// Reads `count` table blocks into `self.tables`.
    ///
    /// The channel writes into the blocks' own memory (one copy from the frame, none after).
    fn read_tables(&mut self, count: usize) -> Result<()> {
        self.tables.clear();
        self.tables.resize(count, 0);
        self.channel
            .read_bytes(bytemuck::cast_slice_mut(&mut self.tables))?;
        if cfg!(target_endian = "big") {
            for t in &mut self.tables {
                *t = u128::from_le(*t);
            }
        }
        Ok(())
    }
}

impl<C: Channel> Fancy for Evaluator<C> {
    type Wire = Block;
    type Error = GcError;
    type Known<'a> = ();

    fn xor(&mut self, a: &[Block], b: &[Block]) -> Vec<Block> {
        a.iter().zip(b).map(|(a, b)| *a ^ *b).collect()
    }

    fn not(&mut self, a: &[Block]) -> Vec<Block> {
        a.to_vec()
    }

    fn and(&mut self, a: &[Block], b: &[Block]) -> Result<Vec<Block>> {
        assert_eq!(a.len(), b.len(), "lane counts");
        self.read_tables(2 * a.len())?;
        let mut outs = Vec::with_capacity(a.len());
        let (mut xs, mut tweaks, mut hs) = ([0u128; CHUNK], [0u128; CHUNK], [0u128; CHUNK]);
        let lanes = CHUNK / 2;
        for (c, (ca, cb)) in a.chunks(lanes).zip(b.chunks(lanes)).enumerate() {
            let n = 2 * ca.len();
            for (l, (&la, &lb)) in ca.iter().zip(cb).enumerate() {
                let j = self.gate as u128;
                self.gate += 1;
                xs[2 * l..2 * l + 2].copy_from_slice(&[la.0, lb.0]);
                tweaks[2 * l..2 * l + 2].copy_from_slice(&[2 * j, 2 * j + 1]);
            }
            self.hash.hash_chunk(&xs[..n], &tweaks[..n], &mut hs);
            let tables = &self.tables[2 * lanes * c..];
            for (l, (&la, &lb)) in ca.iter().zip(cb).enumerate() {
                let (t_g, t_e) = (Block(tables[2 * l]), Block(tables[2 * l + 1]));
                let w_g = Block(hs[2 * l]) ^ t_g.select(la.lsb());
                let w_e = Block(hs[2 * l + 1]) ^ (t_e ^ la).select(lb.lsb());
                outs.push(w_g ^ w_e);
            }
        }
        Ok(outs)
    }

    fn xor_known(&mut self, a: &[Block], _: ()) -> Vec<Block> {
        a.to_vec()
    }

    fn and_known(&mut self, a: &[Block], _: ()) -> Result<Vec<Block>> {
        self.read_tables(a.len())?;
        let mut outs = Vec::with_capacity(a.len());
        let (mut xs, mut tweaks, mut hs) = ([0u128; CHUNK], [0u128; CHUNK], [0u128; CHUNK]);
        for (c, ca) in a.chunks(CHUNK).enumerate() {
            for (l, &la) in ca.iter().enumerate() {
                let j = self.gate as u128;
                self.gate += 1;
                xs[l] = la.0;
                tweaks[l] = 2 * j;
            }
            self.hash
                .hash_chunk(&xs[..ca.len()], &tweaks[..ca.len()], &mut hs);
            let tables = &self.tables[CHUNK * c..];
            for (l, &la) in ca.iter().enumerate() {
                outs.push(Block(hs[l]) ^ Block(tables[l]).select(la.lsb()));
            }
        }
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
