//! Bit masks shared by the parameter sets, the NTT and the wire codecs (a leaf module, so
//! none of them imports another for it).

/// All-ones mask of `bits` bits (bits ≤ 128).
pub(crate) fn modulus_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}
