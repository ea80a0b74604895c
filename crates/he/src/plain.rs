//! The plaintext floor: i8·i8 → i32 inner products, the cost HE is compared against and the
//! reference every test checks decrypted scores against.

/// ⟨a, b⟩ of two quantised vectors, widened to i32 (exact for d ≤ 2^17).
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    assert_eq!(a.len(), b.len(), "dot of different lengths");
    pulp::Arch::new().dispatch(Dot { a, b })
}

struct Dot<'a> {
    a: &'a [i8],
    b: &'a [i8],
}

impl pulp::WithSimd for Dot<'_> {
    type Output = i32;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> i32 {
        // Compiled under pulp's dispatch, this loop vectorises to the CPU's widest integer
        // multiply-add (AVX-512 / AVX2 where present).
        let mut lanes = [0i32; 32];
        let (a, b) = (self.a.chunks_exact(32), self.b.chunks_exact(32));
        let (ra, rb) = (a.remainder(), b.remainder());
        for (x, y) in a.zip(b) {
            for k in 0..32 {
                lanes[k] += x[k] as i32 * y[k] as i32;
            }
        }
        let tail: i32 = ra.iter().zip(rb).map(|(&x, &y)| x as i32 * y as i32).sum();
        lanes.iter().sum::<i32>() + tail
    }
}

/// Scores of `probe` against every row of `rows` (row-major, d = probe length).
pub fn scores(probe: &[i8], rows: &[i8]) -> Vec<i32> {
    rows.chunks_exact(probe.len())
        .map(|row| dot_i8(probe, row))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_definition() {
        for d in [1usize, 31, 32, 33, 128, 512, 515] {
            let a: Vec<i8> = (0..d).map(|i| (i as i64 * 37 % 255 - 127) as i8).collect();
            let b: Vec<i8> = (0..d).map(|i| (i as i64 * 91 % 255 - 127) as i8).collect();
            let want: i32 = a.iter().zip(&b).map(|(&x, &y)| x as i32 * y as i32).sum();
            assert_eq!(dot_i8(&a, &b), want, "d = {d}");
        }
        assert_eq!(dot_i8(&[127; 512], &[-127; 512]), -512 * 127 * 127);
    }
}
