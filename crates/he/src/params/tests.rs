//! The parameter sets: validity, the design figures, and the published files.

use super::*;

#[test]
fn named_sets_are_valid() {
    for p in [
        ParameterSet::default_64(),
        ParameterSet::q128(),
        ParameterSet::toy(),
    ] {
        p.validate().unwrap();
        assert_eq!(ParameterSet::by_name(&p.name).unwrap(), p);
    }
    assert!(ParameterSet::by_name("nope").is_err());
}

#[test]
fn no_invalid_set_can_be_built_or_decoded() {
    let mut json = serde_json::to_value(ParameterSet::toy()).unwrap();
    json["polynomial_size"] = 1000.into();
    let err = serde_json::from_value::<ParameterSet>(json.clone()).unwrap_err();
    assert!(err.to_string().contains("power of two"), "{err}");
    assert!(ParameterSet::from_json(&json.to_string()).is_err());
    let mut spec = ParameterSpec::from(ParameterSet::default_64());
    spec.share_error_log2 = 0;
    assert!(matches!(
        ParameterSet::new(spec),
        Err(HeError::InvalidParameters(_))
    ));
}

#[test]
fn q128_set_matches_the_design_figures() {
    let p = ParameterSet::q128();
    // d = 512, g = 1: 512 chunks, gallery-dependent noise just under 2^33 in the worst
    // case, about 2^21 in standard deviation.
    let b = p.noise_bound(512).log2();
    assert!((32.9..33.0).contains(&b), "{b}");
    let sd = p.noise_sd(512).log2();
    assert!((21.0..21.3).contains(&sd), "{sd}");
    // k = 22 (d = 512): b = 57, where the rounding sd √(8193/12) ≈ 26.1 is at most
    // 2^(57−22−30) = 32; b = 56 would allow only 16.
    assert_eq!(p.switched_modulus_log(512, 22).unwrap(), 57);
    assert!(p.share_error_bound(512, 22, 57) <= 2f64.powi(-30));
    assert!(p.share_error_bound(512, 22, 56) > 2f64.powi(-30));
    // Two primes, 64-bit digits: every i8 row keeps the products exact at d = 512, g = 1
    // (127·512·8192·2^63 = 2^92 < P/4 = 2^98.8).
    assert_eq!((p.rns().primes(), p.rns().digits()), (2, 2));
    assert_eq!(p.exact_row_l1(512, 1), 127 * 512);
}

#[test]
fn default_set_matches_the_design_figures() {
    let p = ParameterSet::default_64();
    // Same noise as q128 (it does not depend on Q), but Δ = 2^(64−k) leaves it only
    // 2^(42−21.2) below the share unit at k = 22: the error bound is 2^−20.03 at b = 48,
    // where the rounding of the switch adds 26.1/2^26; b = 47 misses 2^−20.
    assert_eq!(p.switched_modulus_log(512, 22).unwrap(), 48);
    assert!(p.share_error_bound(512, 22, 48) <= 2f64.powi(-20));
    assert!(p.share_error_bound(512, 22, 47) > 2f64.powi(-20));
    // Without switching the bound is the HE noise alone: 2^(21.2 − 42).
    let unswitched = p.share_error_bound(512, 22, 64).log2();
    assert!((-20.9..-20.7).contains(&unswitched), "{unswitched}");
    // k = 21 (τ up to cosine 0.99 at d = 512): b = 47; k = 23 cannot meet 2^−20 at g = 1.
    assert_eq!(p.switched_modulus_log(512, 21).unwrap(), 47);
    assert!(p.switched_modulus_log(512, 23).is_err());
    // One prime, three 22-bit digits: exact for rows of ℓ1 norm up to
    // (p0/4/2^21 − N)/N = 21,844 at g = 1, above the 16,512 any quantised row of d = 512
    // reaches; g = 2 doubles the room.
    assert_eq!((p.rns().primes(), p.rns().digits()), (1, 3));
    assert_eq!(p.exact_row_l1(512, 1), 21_844);
    assert_eq!(p.exact_row_l1(512, 2), 43_688);
    assert_eq!(p.exact_row_l1(512, 4), 127 * 512);
}

#[test]
fn toy_set_serves_unswitched_test_widths() {
    let p = ParameterSet::toy();
    // The smallest b that meets 2^-16; one bit less does not.
    let b = p.switched_modulus_log(8, 16).unwrap();
    assert!(p.share_error_bound(8, 16, b) <= 2f64.powi(-16));
    assert!(p.share_error_bound(8, 16, b - 1) > 2f64.powi(-16));
    // The widest test shape: arbitrary i8 rows at d = 512, g = 1.
    assert!(p.switched_modulus_log(512, 25).is_ok());
    // Without switching only the scaled HE noise counts; wide shares leave it no room.
    assert!(p.share_error_bound(8, 16, 64) < p.share_error_bound(8, 16, b));
    assert!(p.switched_modulus_log(64, 40).is_err());
}

/// protocols/parameters/*.json are the published form of the named sets: they must decode
/// to exactly what the code uses.
#[test]
fn published_parameter_files_match_the_code() {
    for (file, set) in [
        (
            include_str!("../../../../protocols/parameters/default.json"),
            ParameterSet::default_64(),
        ),
        (
            include_str!("../../../../protocols/parameters/q128.json"),
            ParameterSet::q128(),
        ),
        (
            include_str!("../../../../protocols/parameters/toy.json"),
            ParameterSet::toy(),
        ),
    ] {
        let loaded = ParameterSet::from_json(file).unwrap();
        assert_eq!(loaded, set);
    }
    assert!(ParameterSet::from_json("{\"name\": \"x\"}").is_err());
}
