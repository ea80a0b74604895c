//! How a value mod 2^q is split into signed digits for the exact products ([`Rns`]).

use super::PRIMES;
use crate::bits::modulus_mask;

/// Most digits a value is split into.
pub const MAX_DIGITS: usize = 3;

/// How values mod 2^q are represented for exact products: `digits()` signed digits of
/// `digit_bits` bits (the top one narrower when q is not a multiple), each reduced modulo the
/// first `primes` of [`PRIMES`].
///
/// The integer a product sum stands for is recovered exactly when its magnitude is at most
/// [`Rns::exact_range`]; every digit has magnitude at most 2^[`Rns::digit_log2`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rns {
    log_q: u32,
    primes: usize,
    pub(super) digit_bits: u32,
}

impl Rns {
    /// A representation; `primes` is 1 or 2, `digit_bits` in [2, 64], at most three digits.
    ///
    /// # Panics
    /// On any other combination (the representations are fixed in code).
    pub const fn new(log_q: u32, primes: usize, digit_bits: u32) -> Self {
        assert!(primes == 1 || primes == 2, "one or two primes");
        assert!(digit_bits >= 2 && digit_bits <= 64, "digit width");
        assert!(log_q >= 2 && log_q <= 128, "modulus width");
        assert!(
            log_q.div_ceil(digit_bits) as usize <= MAX_DIGITS,
            "too many digits"
        );
        Self {
            log_q,
            primes,
            digit_bits,
        }
    }

    /// The representation of the parameter sets for Q = 2^`log_q`: two primes and 64-bit
    /// digits above 64 bits, one prime and 22-bit digits otherwise (a gallery transform then
    /// takes one residue per coefficient instead of two).
    pub const fn for_modulus(log_q: u32) -> Self {
        if log_q > 64 {
            Self::new(log_q, 2, 64)
        } else {
            Self::new(log_q, 1, 22)
        }
    }

    /// The same primes and digit width for another modulus (decryption works mod 2^b).
    pub const fn with_modulus(self, log_q: u32) -> Self {
        Self::new(log_q, self.primes, self.digit_bits)
    }

    /// log2(Q).
    pub fn log_q(&self) -> u32 {
        self.log_q
    }

    /// Primes used (residues per coefficient of a small polynomial).
    pub fn primes(&self) -> usize {
        self.primes
    }

    /// Digits per value mod Q.
    pub fn digits(&self) -> usize {
        self.log_q.div_ceil(self.digit_bits) as usize
    }

    /// Residue polynomials of one transformed polynomial mod Q (digits × primes).
    pub fn rows(&self) -> usize {
        self.digits() * self.primes
    }

    /// Every digit lies in [−2^(this), 2^(this)).
    pub fn digit_log2(&self) -> u32 {
        self.digit_bits.min(self.log_q) - 1
    }

    /// The largest magnitude an exact product sum may have: a quarter of the product of the
    /// primes used (the sums are recovered in (−P/2, P/2); one more bit is kept in reserve).
    pub fn exact_range(&self) -> u128 {
        PRIMES[..self.primes]
            .iter()
            .map(|&p| p as u128)
            .product::<u128>()
            / 4
    }

    /// The signed digits of x mod Q: `x ≡ Σ_l digit_l·2^(w·l) (mod Q)`, each digit the
    /// balanced reading of its w bits after the borrow of the digit below.
    #[inline(always)]
    pub fn split(&self, x: u128) -> [i64; MAX_DIGITS] {
        if self.log_q <= 64 && self.digit_bits < 64 {
            self.split_narrow(x as u64)
        } else {
            self.split_wide(x)
        }
    }

    /// [`Rns::split`] for any representation, in 128-bit arithmetic.
    pub(super) fn split_wide(&self, x: u128) -> [i64; MAX_DIGITS] {
        let (w, digits) = (self.digit_bits, self.digits());
        let mut out = [0i64; MAX_DIGITS];
        let mut rest = x & modulus_mask(self.log_q);
        for (l, digit) in out.iter_mut().enumerate().take(digits) {
            let width = if l + 1 == digits {
                self.log_q - w * (digits as u32 - 1)
            } else {
                w
            };
            let low = rest & modulus_mask(width);
            let d = if low >> (width - 1) == 1 {
                low as i128 - (1i128 << width)
            } else {
                low as i128
            };
            *digit = d as i64;
            // rest − d is a multiple of 2^width (mod 2^128, which is all that matters mod Q).
            rest = rest.wrapping_sub(d as u128) >> width;
        }
        out
    }
}

impl Rns {
    /// [`Rns::split`] in 64-bit arithmetic, for q ≤ 64 and digits narrower than 64 bits.
    #[inline(always)]
    pub(super) fn split_narrow(&self, x: u64) -> [i64; MAX_DIGITS] {
        let (w, digits) = (self.digit_bits, self.digits());
        let mut out = [0i64; MAX_DIGITS];
        // Reading x mod 2^q as a signed q-bit value, then taking balanced digits from the
        // bottom, gives the same digits as the general path: both are x mod 2^q written in
        // balanced base 2^w, the top digit absorbing what is left mod 2^(q − w·(digits − 1)).
        let shift = 64 - self.log_q;
        let mut rest = ((x << shift) as i64) >> shift;
        for (l, digit) in out.iter_mut().enumerate().take(digits) {
            let width = if l + 1 == digits {
                self.log_q - w * (digits as u32 - 1)
            } else {
                w
            };
            // The low `width` bits of rest, read signed.
            let d = (rest << (64 - width)) >> (64 - width);
            *digit = d;
            // Wrapping is exact mod 2^(q − consumed bits), all the later digits depend on.
            rest = rest.wrapping_sub(d) >> width.min(63);
        }
        out
    }
}
