//! The circuit-description trait and its two simple backends.
//!
//! A circuit is a generic function over [`Fancy`], written once. Every operation works lane by
//! lane on slices of wires, so one call garbles or evaluates the same gate for a whole batch of
//! scores and the backends can batch their AES work. Public constants are folded by the circuit
//! code itself; bits the garbler knows and the evaluator must not (the holder's masks) enter
//! through [`Fancy::xor_known`] (a free label flip) and [`Fancy::and_known`] (a garbler
//! half-gate), typed by [`Fancy::Known`]: the bits on the backends that know them, nothing on
//! the others.

use core::convert::Infallible;

/// A binary circuit backend.
pub trait Fancy {
    /// A wire: a bit (plaintext), a label (garbler: the zero label; evaluator: the held label),
    /// or nothing (counter).
    type Wire: Clone;
    /// What a gate can fail with (channel errors for the two garbling backends).
    type Error;
    /// This backend's share of a gate's garbler-known bits: the bits themselves (`&[bool]`, one
    /// per lane) on the backends that know them (garbler, plaintext), nothing (`()`) on those
    /// that must not (evaluator, counter). Handing the evaluator the bits, or the garbler none,
    /// is a type error rather than a run-time one.
    type Known<'a>: Copy;

    /// a ⊕ b (free).
    fn xor(&mut self, a: &[Self::Wire], b: &[Self::Wire]) -> Vec<Self::Wire>;
    /// ¬a (free).
    fn not(&mut self, a: &[Self::Wire]) -> Vec<Self::Wire>;
    /// a ∧ b.
    fn and(&mut self, a: &[Self::Wire], b: &[Self::Wire]) -> Result<Vec<Self::Wire>, Self::Error>;
    /// a ⊕ k for garbler-known bits k (free; the evaluator cannot tell k).
    fn xor_known(&mut self, a: &[Self::Wire], bits: Self::Known<'_>) -> Vec<Self::Wire>;
    /// a ∧ k for garbler-known bits k (one ciphertext per lane).
    fn and_known(
        &mut self,
        a: &[Self::Wire],
        bits: Self::Known<'_>,
    ) -> Result<Vec<Self::Wire>, Self::Error>;
    /// `lanes` wires carrying the public constant `bit`.
    fn constant(&mut self, bit: bool, lanes: usize) -> Vec<Self::Wire>;
    /// Reveals wires to the evaluator: `Some(bit)` where this backend learns the value.
    fn output(&mut self, a: &[Self::Wire]) -> Result<Vec<Option<bool>>, Self::Error>;
}

fn known(bits: &[bool], lanes: usize) -> &[bool] {
    assert_eq!(bits.len(), lanes, "one known bit per lane");
    bits
}

/// Evaluates circuits on plaintext bits: the reference every garbled run is checked against.
#[derive(Debug, Default)]
pub struct Plain;

impl Fancy for Plain {
    type Wire = bool;
    type Error = Infallible;
    type Known<'a> = &'a [bool];

    fn xor(&mut self, a: &[bool], b: &[bool]) -> Vec<bool> {
        a.iter().zip(b).map(|(a, b)| a ^ b).collect()
    }
    fn not(&mut self, a: &[bool]) -> Vec<bool> {
        a.iter().map(|a| !a).collect()
    }
    fn and(&mut self, a: &[bool], b: &[bool]) -> Result<Vec<bool>, Infallible> {
        Ok(a.iter().zip(b).map(|(a, b)| a & b).collect())
    }
    fn xor_known(&mut self, a: &[bool], bits: &[bool]) -> Vec<bool> {
        a.iter()
            .zip(known(bits, a.len()))
            .map(|(a, k)| a ^ k)
            .collect()
    }
    fn and_known(&mut self, a: &[bool], bits: &[bool]) -> Result<Vec<bool>, Infallible> {
        Ok(a.iter()
            .zip(known(bits, a.len()))
            .map(|(a, k)| a & k)
            .collect())
    }
    fn constant(&mut self, bit: bool, lanes: usize) -> Vec<bool> {
        vec![bit; lanes]
    }
    fn output(&mut self, a: &[bool]) -> Result<Vec<Option<bool>>, Infallible> {
        Ok(a.iter().map(|&a| Some(a)).collect())
    }
}

/// Counts gates (per lane) instead of computing them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// AND gates (two ciphertexts each when garbled).
    pub ands: u64,
    /// Garbler half-gates with a known bit (one ciphertext each).
    pub half_gates: u64,
    /// XOR gates, including flips by known bits.
    pub xors: u64,
    /// NOT gates.
    pub nots: u64,
    /// Output wires.
    pub outputs: u64,
}

impl Counter {
    /// Garbled-table bytes these gates cost: 32 per AND, 16 per half-gate.
    pub fn table_bytes(&self) -> u64 {
        32 * self.ands + 16 * self.half_gates
    }
}

impl Fancy for Counter {
    type Wire = ();
    type Error = Infallible;
    type Known<'a> = ();

    fn xor(&mut self, a: &[()], _: &[()]) -> Vec<()> {
        self.xors += a.len() as u64;
        vec![(); a.len()]
    }
    fn not(&mut self, a: &[()]) -> Vec<()> {
        self.nots += a.len() as u64;
        vec![(); a.len()]
    }
    fn and(&mut self, a: &[()], _: &[()]) -> Result<Vec<()>, Infallible> {
        self.ands += a.len() as u64;
        Ok(vec![(); a.len()])
    }
    fn xor_known(&mut self, a: &[()], _: ()) -> Vec<()> {
        self.xors += a.len() as u64;
        vec![(); a.len()]
    }
    fn and_known(&mut self, a: &[()], _: ()) -> Result<Vec<()>, Infallible> {
        self.half_gates += a.len() as u64;
        Ok(vec![(); a.len()])
    }
    fn constant(&mut self, _: bool, lanes: usize) -> Vec<()> {
        vec![(); lanes]
    }
    fn output(&mut self, a: &[()]) -> Result<Vec<Option<bool>>, Infallible> {
        self.outputs += a.len() as u64;
        Ok(vec![None; a.len()])
    }
}
