//! The NTT against schoolbook negacyclic products.

use super::*;

fn naive(a: &[i128], b: &[i128], modulus_bits: u32) -> Vec<u128> {
    let n = a.len();
    let mut out = vec![0i128; n];
    for i in 0..n {
        for j in 0..n {
            let p = a[i].wrapping_mul(b[j]);
            if i + j >= n {
                out[i + j - n] = out[i + j - n].wrapping_sub(p);
            } else {
                out[i + j] = out[i + j].wrapping_add(p);
            }
        }
    }
    out.into_iter()
        .map(|v| v as u128 & modulus_mask(modulus_bits))
        .collect()
}

#[test]
fn primes_and_constants_are_consistent() {
    for p in PRIMES {
        assert_eq!((p - 1) % (1 << 16), 0);
        assert!(p < 1_501_199_875_790_166);
    }
    let (p0, p1) = (PRIMES[0] as u128, PRIMES[1] as u128);
    assert_eq!(p0 * P0_INV_MOD_P1 as u128 % p1, 1);
    assert!(((p0 * p1) as f64).log2() >= CRT_MODULUS_LOG2);
    // CRT round trip at the edges of the range.
    let half = (p0 * p1 / 2) as i128;
    for x in [
        0i128,
        1,
        -1,
        half,
        -half + 1,
        12345678901234567890123,
        -98765432109876543210987,
    ] {
        let (a, b) = (
            x.rem_euclid(p0 as i128) as u64,
            x.rem_euclid(p1 as i128) as u64,
        );
        assert_eq!(crt(a, b), x);
    }
}

#[test]
fn limbs_recombine() {
    for x in [
        0u128,
        1,
        u128::MAX,
        1 << 127,
        (1 << 64) - 1,
        1 << 63,
        0x1234_5678_9abc_def0_8000_0000_0000_0000,
    ] {
        let v = (signed_limb(x, 0) as i128 as u128)
            .wrapping_add((signed_limb(x, 1) as i128 as u128) << 64);
        assert_eq!(v, x);
        assert_eq!(
            signed_limb(x & u64::MAX as u128, 0) as u64 as u128,
            x & u64::MAX as u128
        );
    }
}

#[test]
fn product_with_small_polynomial_is_exact() {
    let n = 256;
    let ntt = RnsNtt::get(n);
    let mut state = 0x1234_5678_u128;
    let mut next = || {
        state = state
            .wrapping_mul(0x2360_ED05_1FC6_5DA4_4385_DF64_9FCC_F645)
            .wrapping_add(1);
        state
    };
    for log_q in [39u32, 64, 128] {
        let big: Vec<u128> = (0..n).map(|_| next() & modulus_mask(log_q)).collect();
        let small: Vec<i64> = (0..n).map(|_| (next() >> 100) as i64 % 128).collect();
        let mut sf = vec![0u64; 2 * n];
        ntt.forward_signed(|j| small[j], &mut sf);
        let got = ntt.mul_by_small(&big, log_q, &sf);
        let want = naive(
            &big.iter().map(|&v| v as i128).collect::<Vec<_>>(),
            &small.iter().map(|&v| v as i128).collect::<Vec<_>>(),
            log_q,
        );
        assert_eq!(got, want, "log_q = {log_q}");
    }
}

#[test]
fn worst_case_magnitudes_accumulate_exactly() {
    // Every limb at its extreme and every gallery coefficient at 127, over 512 chunks at
    // N = 8192: coefficient k of the sum is 512·a·y·(2k + 2 − N), up to 2^92 in magnitude,
    // the worst case the layout bound allows at d = 512, g = 1. (With f64 FFTs on 22-bit
    // limbs this input is off by 6 in the lowest limb.)
    let (n, m) = (8192usize, 512usize);
    let ntt = RnsNtt::get(n);
    let a = i64::MIN;
    let y = 127i64;
    let mut af = vec![0u64; 2 * n];
    let mut yf = vec![0u64; 2 * n];
    ntt.forward_signed(|_| a, &mut af);
    ntt.forward_signed(|_| y, &mut yf);
    const S: usize = 2;
    let mut query = vec![0u64; m * S * n];
    let mut gallery = vec![0u64; m * 2 * n];
    for c in 0..m {
        scatter_tiles(&af, n, c, m, &mut query);
        scatter_tiles(&yf, n, c, m, &mut gallery);
    }
    let pk = vec![0u64; S * n];
    let u = vec![0u64; 2 * n];
    let mut out = vec![0u64; S * n];
    let mut portable = out.clone();
    Accumulate::<S> {
        query: &query,
        pk: &pk,
        chunks: m,
        blocks: vec![(&gallery, &u, &mut out)],
    }
    .run();
    Accumulate::<S> {
        query: &query,
        pk: &pk,
        chunks: m,
        blocks: vec![(&gallery, &u, &mut portable)],
    }
    .run_portable();
    assert_eq!(out, portable, "vector and portable kernels agree");
    for (i, residues) in out.chunks_exact_mut(n).enumerate() {
        ntt.plan(i).inv(residues);
        ntt.plan(i).normalize(residues);
    }
    for k in 0..n {
        let want = m as i128 * a as i128 * y as i128 * (2 * k as i128 + 2 - n as i128);
        assert_eq!(crt(out[k], out[n + k]), want, "coefficient {k}");
    }
}
