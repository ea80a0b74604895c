//! The short version of the load test (`privface-demo load`, README): 16 clients for 5 s
//! against the real `privface-holder serve` process, honest and hostile mixed.

#[test]
fn under_mixed_hostile_load_every_honest_bit_is_right_and_the_holder_comes_back_down() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_privface-demo"))
        .args(["load", "--clients", "16", "--seconds", "5"])
        .args([
            "--gallery-size",
            "300",
            "--dim",
            "64",
            "--session-deadline",
            "3",
        ])
        .args(["--holder", env!("CARGO_BIN_EXE_privface-holder")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(
        stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("no report: {}", String::from_utf8_lossy(&out.stderr))),
    )
    .unwrap();
    assert!(out.status.success(), "{report:#}");
    assert_eq!(report["pass"], true, "{report:#}");
    assert_eq!(report["honest_wrong"], 0, "{report:#}");
    assert_eq!(report["honest_errors"], 0, "{report:#}");
    // Every kind of client really ran.
    for field in [
        "honest_ok",
        "trickler_connections",
        "aborted_sessions",
        "unauthenticated_connections",
    ] {
        assert!(report[field].as_u64().unwrap() > 0, "{field}: {report:#}");
    }
    let (before, after) = (
        report["holder_threads_baseline"].as_u64().unwrap(),
        report["holder_threads_after"].as_u64().unwrap(),
    );
    assert!(after <= before, "{report:#}");
    assert!(
        report["holder_threads_peak"].as_u64().unwrap() > before,
        "{report:#}"
    );
}
