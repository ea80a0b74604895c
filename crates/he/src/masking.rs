//! Spec §6.3: switching a block's values to b bits and masking each score with a value uniform
//! over all 2^b, the holder keeping the mask rounded to k bits as its share.

use tfhe::core_crypto::commons::math::random::RandomGenerator;
use tfhe::core_crypto::prelude::DefaultRandomGenerator;
#[cfg(test)]
use tfhe::core_crypto::prelude::TUniform;

use crate::bits::modulus_mask;
use crate::params::ParameterSet;

/// How a response is masked and switched. Only [`ResponseOptions::PROTOCOL`] is reachable
/// outside the crate; the others exist so tests can show what the construction prevents.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResponseOptions {
    pub masking: Masking,
    /// Switch target in bits instead of the session's (for measuring the share error).
    pub switch_to: Option<u32>,
}

impl ResponseOptions {
    /// The construction of spec §6.3.
    pub const PROTOCOL: ResponseOptions = ResponseOptions {
        masking: Masking::Uniform,
        switch_to: None,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Masking {
    /// Spec §6.3: a mask uniform over the switched modulus, added after switching.
    Uniform,
    /// The construction privface used before (spec revision 4), kept only for tests that
    /// show a deviating verifier reads it: Δ·r plus TUniform(`flooding_log2`) noise added
    /// before switching.
    #[cfg(test)]
    Flooding { flooding_log2: u32 },
}

/// Switching and masking at one switch target.
pub(crate) struct Masker<'a> {
    params: &'a ParameterSet,
    /// Switch target b.
    b: u32,
    /// Share width k.
    k: u32,
}

impl<'a> Masker<'a> {
    pub fn new(params: &'a ParameterSet, b: u32, k: u32) -> Self {
        assert!(b <= 64 && b <= params.log_q(), "switch target 2^{b}");
        Self { params, b, k }
    }

    /// ⌊(x + 2^(q−b−1)) / 2^(q−b)⌋ mod 2^b of a value mod Q (x itself when b = q).
    pub fn switch(&self, x: u128) -> u64 {
        let (p, b) = (self.params, self.b);
        let x = p.reduce(x);
        if b == p.log_q() {
            return x as u64;
        }
        let shift = p.log_q() - b;
        (p.reduce(x.wrapping_add(1u128 << (shift - 1))) >> shift) as u64
    }

    /// One score: (the value returned, the holder's share), from its phase before switching.
    pub fn mask(
        &self,
        masking: Masking,
        phase: u128,
        generator: &mut RandomGenerator<DefaultRandomGenerator>,
    ) -> (u64, u32) {
        let (b, k) = (self.b, self.k);
        match masking {
            Masking::Uniform => {
                // R uniform mod 2^b makes the value uniform whatever the phase holds; the
                // holder's share is R rounded to its top k bits.
                let r = generator.random_uniform::<u64>() & modulus_mask(b) as u64;
                let shift = b - k;
                let share = (r.wrapping_add(1 << (shift - 1)) >> shift) & modulus_mask(k) as u64;
                (
                    self.switch(phase).wrapping_add(r) & modulus_mask(b) as u64,
                    share as u32,
                )
            }
            #[cfg(test)]
            Masking::Flooding { flooding_log2 } => {
                let log_q = self.params.log_q();
                let r = (generator.random_uniform::<u64>() & modulus_mask(k) as u64) as u32;
                let f: u128 =
                    generator.random_from_distribution(TUniform::<u128>::new(flooding_log2));
                let v = phase
                    .wrapping_add((r as u128) << (log_q - k))
                    .wrapping_add(f);
                (self.switch(v), r)
            }
        }
    }
}
