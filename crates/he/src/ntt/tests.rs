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

const REPRESENTATIONS: [Rns; 4] = [
    Rns::for_modulus(128),
    Rns::for_modulus(64),
    Rns::new(64, 2, 64),
    Rns::new(48, 1, 22),
];

#[test]
fn digits_recombine() {
    for rns in REPRESENTATIONS {
        let q = rns.log_q();
        for x in [
            0u128,
            1,
            u128::MAX,
            1 << 127,
            (1 << 64) - 1,
            1 << 63,
            (1 << 21) - 1,
            1 << 21,
            0x1234_5678_9abc_def0_8000_0000_0000_0000,
            0x0000_0000_0000_0000_8000_0200_0001_ffff,
        ] {
            let x = x & modulus_mask(q);
            let digits = rns.split(x);
            let mut v = 0u128;
            for (l, &d) in digits.iter().enumerate().take(rns.digits()) {
                let half = 1i128 << rns.digit_log2();
                assert!(
                    (-half..half).contains(&(d as i128)),
                    "{rns:?}: digit {l} of {x:#x} is {d}"
                );
                v = v.wrapping_add((d as i128 as u128).wrapping_shl(rns.digit_bits * l as u32));
            }
            assert!(digits[rns.digits()..].iter().all(|&d| d == 0));
            assert_eq!(v & modulus_mask(q), x, "{rns:?}: {x:#x}");
        }
    }
    assert_eq!(
        (
            Rns::for_modulus(64).digits(),
            Rns::for_modulus(64).digit_log2()
        ),
        (3, 21)
    );
    assert_eq!(Rns::for_modulus(128).digits(), 2);
}

#[test]
fn the_64_bit_digit_split_agrees_with_the_general_one() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for rns in [
        Rns::for_modulus(64),
        Rns::new(48, 1, 22),
        Rns::new(39, 1, 22),
    ] {
        for i in 0..100_000u64 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Random values and the edges around every digit boundary.
            let x = match i % 4 {
                0 => state,
                1 => 1u64.wrapping_shl((i / 4 % 64) as u32),
                2 => 1u64.wrapping_shl((i / 4 % 64) as u32).wrapping_sub(1),
                _ => u64::MAX - (i / 4 % 1000),
            } as u128
                & modulus_mask(rns.log_q());
            assert_eq!(
                rns.split_narrow(x as u64),
                rns.split_wide(x),
                "{rns:?}: {x:#x}"
            );
        }
    }
}

#[test]
fn batch_scatters_equal_the_per_chunk_one() {
    let (n, chunks, rows) = (64usize, 10usize, 3usize);
    let srcs: Vec<u64> = (0..chunks * rows * n)
        .map(|i| ((i / (rows * n)) * 1000 + i % (rows * n)) as u64)
        .collect();
    let mut want = vec![0u64; chunks * rows * n];
    for (c, src) in srcs.chunks_exact(rows * n).enumerate() {
        scatter_tiles(src, n, c, chunks, &mut want);
    }
    // In two batches (4 then 6 chunks), in parallel and on the calling thread.
    let (mut par, mut here) = (vec![0u64; want.len()], vec![0u64; want.len()]);
    let (a, b) = srcs.split_at(4 * rows * n);
    for (first, batch) in [(0, a), (4, b)] {
        scatter_chunks(batch, (n, rows), first, chunks, &mut par, ScatterOn::Pool);
        scatter_chunks(
            batch,
            (n, rows),
            first,
            chunks,
            &mut here,
            ScatterOn::Caller,
        );
    }
    assert_eq!(par, want);
    assert_eq!(here, want);
}

#[test]
fn i8_transform_equals_the_signed_one() {
    let n = 512;
    let ntt = RnsNtt::get(n);
    let coeffs: Vec<i8> = (0..n).map(|i| (i * 97 % 255) as u8 as i8).collect();
    assert!(coeffs.contains(&-128) && coeffs.contains(&127) && coeffs.contains(&0));
    for primes in [1, 2] {
        let (mut a, mut b) = (vec![0u64; primes * n], vec![0u64; primes * n]);
        ntt.forward_i8(&coeffs, &mut a);
        ntt.forward_signed(|j| coeffs[j] as i64, &mut b);
        assert_eq!(a, b, "{primes} primes");
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
    for rns in [39u32, 64, 128]
        .map(Rns::for_modulus)
        .into_iter()
        .chain(REPRESENTATIONS)
    {
        let log_q = rns.log_q();
        let big: Vec<u128> = (0..n).map(|_| next() & modulus_mask(log_q)).collect();
        let small: Vec<i64> = (0..n).map(|_| (next() >> 100) as i64 % 128).collect();
        let mut sf = vec![0u64; 2 * n];
        ntt.forward_signed(|j| small[j], &mut sf);
        let got = ntt.mul_by_small(rns, &big, &sf);
        let want = naive(
            &big.iter().map(|&v| v as i128).collect::<Vec<_>>(),
            &small.iter().map(|&v| v as i128).collect::<Vec<_>>(),
            log_q,
        );
        assert_eq!(got, want, "{rns:?}");
    }
}

/// Runs the vector and the portable kernel on one block whose every query residue is the
/// transform of the constant `a` and every gallery residue that of the constant `y`, and
/// returns the inverted output `[S][N]` (each stream's prime is s mod P).
fn constant_accumulation<const S: usize, const P: usize>(
    n: usize,
    m: usize,
    a: i64,
    y: i64,
) -> Vec<u64> {
    let ntt = RnsNtt::get(n);
    let mut af = vec![0u64; P * n];
    let mut yf = vec![0u64; P * n];
    ntt.forward_signed(|_| a, &mut af);
    ntt.forward_signed(|_| y, &mut yf);
    // Every stream of a prime carries that prime's transform of a.
    let streams: Vec<u64> = (0..S)
        .flat_map(|s| af[(s % P) * n..(s % P + 1) * n].to_vec())
        .collect();
    let mut query = vec![0u64; m * S * n];
    let mut gallery = vec![0u64; m * P * n];
    for c in 0..m {
        scatter_tiles(&streams, n, c, m, &mut query);
        scatter_tiles(&yf, n, c, m, &mut gallery);
    }
    let pk = vec![0u64; S * n];
    let u = vec![0u64; P * n];
    let mut out = vec![0u64; S * n];
    let mut portable = out.clone();
    Accumulate::<S, P> {
        query: &query,
        pk: &pk,
        chunks: m,
        blocks: vec![(&gallery, &u, &mut out)],
    }
    .run();
    Accumulate::<S, P> {
        query: &query,
        pk: &pk,
        chunks: m,
        blocks: vec![(&gallery, &u, &mut portable)],
    }
    .run_portable();
    assert_eq!(out, portable, "vector and portable kernels agree");
    for (s, residues) in out.chunks_exact_mut(n).enumerate() {
        ntt.plan(s % P).inv(residues);
        ntt.plan(s % P).normalize(residues);
    }
    out
}

#[test]
fn worst_case_magnitudes_accumulate_exactly() {
    // Two primes: every digit at its extreme and every gallery coefficient at 127, over 512
    // chunks at N = 8192: coefficient k of the sum is 512·a·y·(2k + 2 − N), up to 2^92 in
    // magnitude, the worst case of q128 at d = 512, g = 1. (With f64 FFTs on 22-bit limbs
    // this input is off by 6 in the lowest limb.)
    let (n, m) = (8192usize, 512usize);
    let (a, y) = (i64::MIN, 127i64);
    let out = constant_accumulation::<2, 2>(n, m, a, y);
    for k in 0..n {
        let want = m as i128 * a as i128 * y as i128 * (2 * k as i128 + 2 - n as i128);
        assert_eq!(crt(out[k], out[n + k]), want, "coefficient {k}");
    }
}

#[test]
fn one_prime_is_exact_up_to_the_row_bound_and_not_beyond() {
    // One prime, digits at −2^21: with every gallery coefficient y over m chunks, an output
    // coefficient reaches 2^21·m·N·|y| at its extremes. The default set's bound at g = 1
    // allows rows of ℓ1 norm 21,844 (m·|y| per row): m = 172 chunks of y = 127 (21,844) is
    // recovered exactly, m = 512 of y = 127 (65,024, an i8 row no quantiser produces) is not
    // — which is why PackedGallery refuses such rows.
    let n = 8192usize;
    let a = -(1i64 << 21);
    let centred = |r: u64| {
        let p = PRIMES[0];
        if r > p / 2 {
            r as i128 - p as i128
        } else {
            r as i128
        }
    };
    let want = |m: usize, k: usize| m as i128 * a as i128 * 127 * (2 * k as i128 + 2 - n as i128);
    let within = constant_accumulation::<1, 1>(n, 172, a, 127);
    assert!(172 * 127 <= crate::params::ParameterSet::default_64().exact_row_l1(512, 1));
    for k in [0, 1, n / 2, n - 1] {
        assert_eq!(centred(within[k]), want(172, k), "coefficient {k}");
    }
    let beyond = constant_accumulation::<1, 1>(n, 512, a, 127);
    assert_ne!(centred(beyond[0]), want(512, 0), "wraps past p/2");
}
