//! The binaries as a user runs them: gallery management, certificates, a served holder, and
//! the verifier's exit codes (0 match, 1 no match, 2 error).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const HOLDER: &str = env!("CARGO_BIN_EXE_privface-holder");
const VERIFIER: &str = env!("CARGO_BIN_EXE_privface-verifier");

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn vector(seed: u32, d: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2654435761) | 1;
    (0..d)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn p(dir: &Path, f: &str) -> String {
    dir.join(f).display().to_string()
}

/// `serve` of the gallery `db` on 127.0.0.1:0 with the holder's certificates under `d/pki`
/// and the insecure toy set, then `extra`.
fn toy_serve_args(d: &Path, db: &str, extra: &[&str]) -> Vec<String> {
    let (ca, cert, key) = (
        p(d, "pki/holder/ca.pem"),
        p(d, "pki/holder/holder.pem"),
        p(d, "pki/holder/holder.key"),
    );
    let base = [
        "serve",
        "--db",
        db,
        "--listen",
        "127.0.0.1:0",
        "--ca",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
        "--params",
        "toy",
        "--insecure-toy-params",
    ];
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// Runs `privface-verifier verify` with the JSON `probe` against the toy-set holder at `addr`,
/// with the verifier's certificates under `d/pki` and `extra` arguments.
fn verify_at(d: &Path, addr: &str, probe: String, extra: &[&str]) -> (i32, String, String) {
    query_at(d, addr, &["verify"], probe, extra)
}

/// Runs the verifier's `command` (with its own arguments) with the JSON `probe` against the
/// toy-set holder at `addr`, the certificates under `d/pki`, then `extra`.
fn query_at(
    d: &Path,
    addr: &str,
    command: &[&str],
    probe: String,
    extra: &[&str],
) -> (i32, String, String) {
    std::fs::write(d.join("probe.json"), probe).unwrap();
    let (probe, ca, cert, key) = (
        p(d, "probe.json"),
        p(d, "pki/verifier/ca.pem"),
        p(d, "pki/verifier/verifier.pem"),
        p(d, "pki/verifier/verifier.key"),
    );
    let mut args = command.to_vec();
    args.extend([
        "--probe",
        &probe,
        "--connect",
        addr,
        "--ca",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
        "--params",
        "toy",
        "--insecure-toy-params",
    ]);
    args.extend_from_slice(extra);
    run(VERIFIER, &args)
}

#[test]
fn holder_and_verifier_binaries_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = p(d, "g.sqlite");
    let dim = 32;

    assert_eq!(run(HOLDER, &["certs", "--out", &p(d, "pki")]).0, 0);
    assert_eq!(run(HOLDER, &["init", "--db", &db, "--dim", "32"]).0, 0);
    // Keys and the gallery are the owner's alone; the CA key is not in what a verifier gets.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |f: &str| std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        for dir in ["pki/ca", "pki/holder", "pki/verifier"] {
            assert_eq!(mode(&p(d, dir)), 0o700, "{dir}");
        }
        for key in [
            "pki/ca/ca.key",
            "pki/holder/holder.key",
            "pki/verifier/verifier.key",
        ] {
            assert_eq!(mode(&p(d, key)), 0o600, "{key}");
        }
        assert_eq!(mode(&db), 0o600, "the gallery database");
        assert!(!std::path::Path::new(&p(d, "pki/verifier/ca.key")).exists());
        // Minting again never overwrites a key.
        assert_ne!(run(HOLDER, &["certs", "--out", &p(d, "pki")]).0, 0);
    }
    let lines: String = (0..20)
        .map(|i| {
            format!(
                "{{\"id\":\"p{i}\",\"label\":\"Person {i}\",\"embedding\":{:?}}}\n",
                vector(i, dim)
            )
        })
        .collect();
    std::fs::write(d.join("g.jsonl"), lines).unwrap();
    let (code, out, _) = run(
        HOLDER,
        &["import", "--db", &db, "--jsonl", &p(d, "g.jsonl")],
    );
    assert_eq!((code, out.trim()), (0, "imported 20 identities"));

    // A bad row rolls the whole import back.
    std::fs::write(d.join("bad.csv"), "q1,Q,1,2,3\n").unwrap();
    let (code, _, err) = run(HOLDER, &["import", "--db", &db, "--csv", &p(d, "bad.csv")]);
    assert_ne!(code, 0);
    assert!(err.contains("rolled back"), "{err}");
    let (_, list, _) = run(HOLDER, &["list", "--db", &db]);
    assert_eq!(list.lines().count(), 20);
    assert_eq!(run(HOLDER, &["remove", "--db", &db, "--id", "p19"]).0, 0);
    assert_ne!(run(HOLDER, &["remove", "--db", &db, "--id", "p19"]).0, 0);

    // One serve command line, first without the flag the insecure set needs, then with it.
    let (ca, cert, key) = (
        p(d, "pki/holder/ca.pem"),
        p(d, "pki/holder/holder.pem"),
        p(d, "pki/holder/holder.key"),
    );
    let serve_args: Vec<&str> = vec![
        "serve",
        "--db",
        &db,
        "--listen",
        "127.0.0.1:0",
        "--ca",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
        "--params",
        "toy",
        "--threshold",
        "0.9",
        "--allow-output",
        "verifier,holder",
    ];
    let (code, _, err) = run(HOLDER, &serve_args);
    assert_ne!(code, 0);
    assert!(err.contains("insecure"), "{err}");

    let args: Vec<String> = serve_args
        .iter()
        .chain(&["--insecure-toy-params"])
        .map(|s| s.to_string())
        .collect();
    let (server, addr, line) = start(&args);
    assert!(line.contains("serving 19 identities"), "{line}");

    let verify_json = |probe: String, extra: &[&str]| verify_at(d, &addr, probe, extra);
    let verify = |probe: Vec<f32>, extra: &[&str]| verify_json(format!("{probe:?}"), extra);
    let (code, out, err) = verify(vector(7, dim), &[]);
    assert_eq!((code, out.trim()), (0, "match"), "{err}");
    assert_eq!(verify(vector(1000, dim), &[]).0, 1);
    assert_eq!(verify(vector(7, dim), &["--identity", "p7"]).0, 0);
    assert_eq!(verify(vector(7, dim), &["--identity", "p8"]).0, 1);
    let (code, out, _) = verify(vector(3, dim), &["--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["match"], true);
    let phases: Vec<&str> = v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["negotiate", "query", "rounds"]);
    // An unknown identity is an ordinary "no match" (no enrolment oracle); a result that went
    // to the holder is exit code 3, neither match nor no match.
    let (code, out, err) = verify(vector(7, dim), &["--identity", "nobody"]);
    assert_eq!((code, out.trim()), (1, "no match"), "{err}");
    let (code, out, err) = verify(vector(7, dim), &["--output", "holder"]);
    assert_eq!(code, 3, "{out} {err}");
    // This holder does not let the result go to both parties: a clear refusal.
    let (code, _, err) = verify(vector(7, dim), &["--output", "both"]);
    assert_eq!(code, 2);
    assert!(err.contains("Parameters"), "{err}");
    // Errors: wrong dimension, overflowing probe, missing file.
    let (code, _, err) = verify(vector(7, 16), &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("probe of dimension 16") && err.contains("not the probe's"),
        "{err}"
    );
    // 1e39 overflows f32: refused before anything is sent, and said once.
    let rest: String = vector(7, dim)[1..]
        .iter()
        .map(|x| format!(", {x:?}"))
        .collect();
    let (code, _, err) = verify_json(format!("[1e39{rest}]"), &[]);
    assert_eq!(code, 2);
    assert_eq!(err.matches("not finite").count(), 1, "{err}");
    let (code, _, _) = run(
        VERIFIER,
        &[
            "verify",
            "--probe",
            "/nonexistent",
            "--connect",
            &addr,
            "--ca",
            "x",
            "--cert",
            "y",
            "--key",
            "z",
        ],
    );
    assert_eq!(code, 2);
    drop(server);

    // The same gallery streamed from the rows file beside the database (written by the
    // import, behind the database after the removal, so rebuilt when the holder opens it):
    // the same answers.
    assert!(std::path::Path::new(&format!("{db}.rows")).exists());
    let args: Vec<String> = args
        .iter()
        .cloned()
        .chain(["--gallery-mode".to_string(), "stream".to_string()])
        .collect();
    let (server, addr, line) = start(&args);
    assert!(line.contains("serving 19 identities"), "{line}");
    let verify =
        |probe: Vec<f32>, extra: &[&str]| verify_at(d, &addr, format!("{probe:?}"), extra).0;
    assert_eq!(verify(vector(7, dim), &[]), 0);
    assert_eq!(verify(vector(1000, dim), &[]), 1);
    assert_eq!(verify(vector(7, dim), &["--identity", "p7"]), 0);
    assert_eq!(verify(vector(7, dim), &["--identity", "p8"]), 1);
    // p19 was removed: its probe matches nobody in the rebuilt rows.
    assert_eq!(verify(vector(19, dim), &[]), 1);
    drop(server);
}

#[test]
fn the_demo_runs_and_every_bit_equals_the_plaintext_decision() {
    let (code, out, err) = run(
        env!("CARGO_BIN_EXE_privface-demo"),
        &["--gallery-size", "300", "--dim", "128"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.matches("MISMATCH").count(), 0);
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("identify (1:N)") || l.contains("verify person-"))
            .count(),
        4
    );
    assert!(
        out.contains("genuine   identify (1:N)                match      match"),
        "{out}"
    );
    // Twelve digit images classified, each label printed beside the float model's.
    let images: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .collect();
    assert_eq!(images.len(), 12, "{out}");
    let agree = images
        .iter()
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols[1] == cols[2]
        })
        .count();
    assert!(agree >= 11, "{out}");
}

/// Starts `privface-holder serve` with `args` and returns it with its address and the line it
/// announced itself with.
fn start(args: &[String]) -> (Server, String, String) {
    let mut child = Command::new(HOLDER)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let server = Server(child);
    // Lines before the announcement (a warning that the rows file is rebuilt, say) are
    // skipped; the holder must still announce itself.
    let mut line = String::new();
    for _ in 0..8 {
        line.clear();
        stderr.read_line(&mut line).unwrap();
        if line.contains("serving") || line.is_empty() {
            break;
        }
    }
    assert!(line.contains("serving"), "{line}");
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    (server, addr, line)
}

/// [`start`] without the announcement.
fn serve(args: &[String]) -> (Server, String) {
    let (server, addr, _) = start(args);
    (server, addr)
}

/// The budget lives in the gallery file: it outlasts a restart of the holder, refusals and
/// answers reach the audit log, and only an operator's reset gives queries back.
#[test]
fn the_query_budget_survives_a_restart_and_every_query_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = p(d, "g.sqlite");
    let dim = 16;
    assert_eq!(run(HOLDER, &["certs", "--out", &p(d, "pki")]).0, 0);
    assert_eq!(run(HOLDER, &["init", "--db", &db, "--dim", "16"]).0, 0);
    let lines: String = (0..5)
        .map(|i| format!("{{\"id\":\"p{i}\",\"embedding\":{:?}}}\n", vector(i, dim)))
        .collect();
    std::fs::write(d.join("g.jsonl"), lines).unwrap();
    assert_eq!(
        run(
            HOLDER,
            &["import", "--db", &db, "--jsonl", &p(d, "g.jsonl")]
        )
        .0,
        0
    );
    let args: Vec<String> = [
        "serve",
        "--db",
        &db,
        "--listen",
        "127.0.0.1:0",
        "--ca",
        &p(d, "pki/holder/ca.pem"),
        "--cert",
        &p(d, "pki/holder/holder.pem"),
        "--key",
        &p(d, "pki/holder/holder.key"),
        "--params",
        "toy",
        "--insecure-toy-params",
        "--threshold",
        "0.9",
        "--budget",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    std::fs::write(d.join("probe.json"), format!("{:?}", vector(3, dim))).unwrap();
    let ask = |addr: &str, extra: &[&str]| {
        let mut a = vec![
            "verify",
            "--probe",
            &p(d, "probe.json"),
            "--connect",
            addr,
            "--ca",
            &p(d, "pki/verifier/ca.pem"),
            "--cert",
            &p(d, "pki/verifier/verifier.pem"),
            "--key",
            &p(d, "pki/verifier/verifier.key"),
            "--params",
            "toy",
            "--insecure-toy-params",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        a.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        run(VERIFIER, &refs)
    };

    let (server, addr) = serve(&args);
    assert_eq!(ask(&addr, &["--output", "both"]).0, 0);
    assert_eq!(ask(&addr, &["--identity", "p4"]).0, 1);
    let (code, _, err) = ask(&addr, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("Budget"), "{err}");
    drop(server);

    // A restarted holder remembers.
    let (server, addr) = serve(&args);
    let (code, _, err) = ask(&addr, &[]);
    assert!(code == 2 && err.contains("Budget"), "{code} {err}");

    let (_, client, _) = run(
        HOLDER,
        &["client-id", "--cert", &p(d, "pki/verifier/verifier.pem")],
    );
    let client = client.trim().to_owned();
    assert_eq!(client.len(), 64);
    let (code, list, _) = run(HOLDER, &["budget", "list", "--db", &db]);
    assert_eq!(code, 0);
    assert!(list.contains(&format!("{client}\t2\t")), "{list}");
    let (_, audit, _) = run(HOLDER, &["audit", "--db", &db]);
    let rows: Vec<Vec<&str>> = audit
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 4, "{audit}");
    // id time client mode identity scores output charged outcome
    assert_eq!(
        rows[0][2..],
        [&client, "identify", "-", "5", "both", "yes", "match"]
    );
    assert_eq!(rows[1][3..], ["verify", "p4", "1", "verifier", "yes", "-"]);
    assert_eq!(rows[2][7], "refused");
    assert_eq!(rows[3][7], "refused");

    // Only a reset gives queries back, and it is logged.
    assert_ne!(
        run(
            HOLDER,
            &["budget", "reset", "--db", &db, "--client", "nobody"]
        )
        .0,
        0
    );
    assert_eq!(
        run(
            HOLDER,
            &["budget", "reset", "--db", &db, "--client", &client]
        )
        .0,
        0
    );
    assert_eq!(ask(&addr, &[]).0, 0);
    let (_, audit, _) = run(HOLDER, &["audit", "--db", &db, "--last", "2"]);
    assert!(
        audit.lines().nth(1).unwrap().contains("\treset\t"),
        "{audit}"
    );
    drop(server);

    // No budget is the operator's explicit choice, never a default; bad values are refused.
    let mut unlimited = args.clone();
    *unlimited.last_mut().unwrap() = "many".into();
    let (code, _, err) = run(
        HOLDER,
        &unlimited.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(code != 0 && err.contains("unlimited"), "{err}");
}

/// `import` killed with SIGKILL at 20 moments spread over a large import: every time the
/// database opens, holds all or none of that import, `list` works, and every budget charge
/// committed meanwhile (by this process, on the same file) is still there.
#[test]
fn an_import_killed_at_any_moment_leaves_all_or_none_and_loses_no_charge() {
    use privface_gallery::{Gallery, Ledger, QueryEntry};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = p(d, "g.sqlite");
    let (dim, rows) = (64, 10_000);
    assert_eq!(run(HOLDER, &["init", "--db", &db, "--dim", "64"]).0, 0);
    let batch = |b: usize| -> String {
        let path = p(d, &format!("batch{b}.jsonl"));
        let lines: String = (0..rows)
            .map(|i| {
                let v = vector((b * rows + i) as u32, dim);
                format!("{{\"id\":\"b{b}-{i}\",\"embedding\":{v:?}}}\n")
            })
            .collect();
        std::fs::write(&path, lines).unwrap();
        path
    };
    let count = |prefix: &str| -> usize {
        Gallery::open(Path::new(&db))
            .unwrap()
            .list()
            .unwrap()
            .iter()
            .filter(|i| i.id.starts_with(prefix))
            .count()
    };
    // One import run to the end sets the time scale.
    let start = Instant::now();
    assert_eq!(
        run(HOLDER, &["import", "--db", &db, "--jsonl", &batch(0)]).0,
        0
    );
    let full = start.elapsed();
    assert_eq!(count("b0-"), rows);

    let ledger = Ledger::open(Path::new(&db), None).unwrap();
    let charge = QueryEntry {
        client: "gate",
        mode: "identify",
        identity: None,
        scores: 1,
        output: "verifier",
    };
    let (mut charges, mut complete, mut empty) = (0u64, 0, 0);
    let mut x = 0x9e37_79b9u32;
    for b in 1..=20 {
        let file = batch(b);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        // Anywhere from the start to 20 % past the uninterrupted import's duration.
        let delay = full.mul_f64(f64::from(x % 1200) / 1000.0);
        let mut child = Command::new(HOLDER)
            .args(["import", "--db", &db, "--jsonl", &file])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A charge while the import may hold the write lock: it waits, then commits.
        assert!(ledger.charge(&charge).unwrap().is_some());
        charges += 1;
        std::thread::sleep(delay.saturating_sub(Duration::from_millis(1)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // The file opens, and this import is all there or not there at all.
        match count(&format!("b{b}-")) {
            0 => empty += 1,
            n if n == rows => complete += 1,
            n => panic!("import {b} killed after {delay:?} left {n} of {rows} rows"),
        }
        assert_eq!(count("b0-"), rows);
        let (code, list, _) = run(HOLDER, &["list", "--db", &db]);
        assert_eq!(code, 0);
        assert_eq!(list.lines().count(), rows * (1 + complete));
        let usage = ledger.clients().unwrap();
        assert_eq!(usage[0].used, charges, "a charge was lost");
    }
    eprintln!("20 kills: {complete} imports complete, {empty} rolled back (full import {full:?})");
    assert!(empty > 0, "no kill landed inside an import");
}

/// `certs revoke` writes the CA's CRL; a holder serving with `--crl` refuses the revoked
/// verifier at the handshake (exit 2), the same holder without it serves it.
#[test]
fn a_revoked_verifier_certificate_is_refused_by_a_holder_with_the_crl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = p(d, "g.sqlite");
    assert_eq!(run(HOLDER, &["certs", "--out", &p(d, "pki")]).0, 0);
    assert_eq!(run(HOLDER, &["init", "--db", &db, "--dim", "16"]).0, 0);
    std::fs::write(
        d.join("g.jsonl"),
        format!("{{\"id\":\"p0\",\"embedding\":{:?}}}\n", vector(0, 16)),
    )
    .unwrap();
    assert_eq!(
        run(
            HOLDER,
            &["import", "--db", &db, "--jsonl", &p(d, "g.jsonl")]
        )
        .0,
        0
    );
    let verifier_pem = p(d, "pki/verifier/verifier.pem");
    let (code, out, err) = run(
        HOLDER,
        &[
            "certs",
            "revoke",
            "--pki",
            &p(d, "pki"),
            "--cert",
            &verifier_pem,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 certificate(s) revoked"), "{out}");
    // Revoking again lists it once.
    let (_, out, _) = run(
        HOLDER,
        &[
            "certs",
            "revoke",
            "--pki",
            &p(d, "pki"),
            "--cert",
            &verifier_pem,
        ],
    );
    assert!(out.contains("1 certificate(s) revoked"), "{out}");
    std::fs::write(d.join("probe.json"), format!("{:?}", vector(0, 16))).unwrap();
    let mut base: Vec<String> = [
        "serve",
        "--db",
        &db,
        "--listen",
        "127.0.0.1:0",
        "--ca",
        &p(d, "pki/holder/ca.pem"),
        "--cert",
        &p(d, "pki/holder/holder.pem"),
        "--key",
        &p(d, "pki/holder/holder.key"),
        "--params",
        "toy",
        "--insecure-toy-params",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let ask = |addr: &str| {
        run(
            VERIFIER,
            &[
                "verify",
                "--probe",
                &p(d, "probe.json"),
                "--connect",
                addr,
                "--ca",
                &p(d, "pki/verifier/ca.pem"),
                "--cert",
                &verifier_pem,
                "--key",
                &p(d, "pki/verifier/verifier.key"),
                "--params",
                "toy",
                "--insecure-toy-params",
            ],
        )
    };
    let (server, addr) = serve(&base);
    assert_eq!(ask(&addr).0, 0);
    drop(server);
    base.extend(["--crl".to_owned(), p(d, "pki/holder/crl.pem")]);
    let (server, addr) = serve(&base);
    let (code, _, err) = ask(&addr);
    assert_eq!(code, 2, "{err}");
    drop(server);
}

/// Encrypted classification with the binaries: `model import` from the digits fixture's files,
/// `serve` loads it, `privface-verifier classify` prints the float model's label, and the
/// audit log records the model asked; bad requests fail with a clear error.
#[test]
fn the_binaries_classify_digits_with_an_imported_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = p(d, "g.sqlite");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/digits");
    let f = |name: &str| fixture.join(name).display().to_string();
    assert_eq!(run(HOLDER, &["certs", "--out", &p(d, "pki")]).0, 0);
    assert_eq!(run(HOLDER, &["init", "--db", &db, "--dim", "8"]).0, 0);
    let import = |name: &str, bound: &str| {
        run(
            HOLDER,
            &[
                "model",
                "import",
                "--db",
                &db,
                "--name",
                name,
                "--weights",
                &f("weights.npy"),
                "--bias",
                &f("bias.npy"),
                "--labels",
                &f("labels.txt"),
                "--input-bound",
                bound,
            ],
        )
    };
    let (code, out, err) = import("digits", "1");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("10 classes, d = 64"), "{out}");
    // The name is taken; the store is unchanged.
    let (code, _, err) = import("digits", "2");
    assert_ne!(code, 0);
    assert!(err.contains("stored already"), "{err}");
    let (_, list, _) = run(HOLDER, &["model", "list", "--db", &db]);
    assert!(
        list.contains("digits\t64\t10\t0,1,2,3,4,5,6,7,8,9"),
        "{list}"
    );

    let args = toy_serve_args(d, &db, &["--budget", "unlimited"]);
    let (server, addr, line) = start(&args);
    assert!(line.contains("and 1 models"), "{line}");
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("test.json")).unwrap()).unwrap();
    let classify = |input: &serde_json::Value, model: &str, extra: &[&str]| {
        query_at(
            d,
            &addr,
            &["classify", "--model", model],
            input.to_string(),
            extra,
        )
    };
    for i in 0..4 {
        let (code, out, err) = classify(&test["inputs"][i], "digits", &[]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), test["predictions"][i].to_string(), "image {i}");
    }
    let (code, out, _) = classify(&test["inputs"][4], "digits", &["--json"]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["class"], test["predictions"][4]);
    assert_eq!(report["label"], test["predictions"][4].to_string());
    assert_eq!(report["scores"], 10);
    // The holder alone learns the class: nothing here (exit 3), the audit log has it.
    let (code, out, _) = classify(&test["inputs"][5], "digits", &["--output", "holder"]);
    assert_eq!(
        (code, out.trim()),
        (3, "done (the holder learns the result)")
    );
    let (code, _, err) = classify(&test["inputs"][0], "cars", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("UnknownModel"), "{err}");
    let mut outside = test["inputs"][0].clone();
    outside[10] = serde_json::json!(1.5);
    let (code, _, err) = classify(&outside, "digits", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("outside the model's input range"), "{err}");
    drop(server);

    let (_, audit, _) = run(HOLDER, &["audit", "--db", &db]);
    let classified: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\tclassify\tdigits\t"))
        .collect();
    // Six answered and the out-of-range one: the verifier learns the model's input scale from
    // Accept, after the charge, and aborts; an abort is charged like any other session.
    assert_eq!(classified.len(), 7, "{audit}");
    let want = format!("class {}", test["predictions"][5]);
    assert!(classified.iter().any(|l| l.ends_with(&want)), "{audit}");
    assert_eq!(
        run(
            HOLDER,
            &["model", "remove", "--db", &db, "--name", "digits"]
        )
        .0,
        0
    );
    assert_ne!(
        run(
            HOLDER,
            &["model", "remove", "--db", &db, "--name", "digits"]
        )
        .0,
        0
    );
}

/// A float32 .npy file of shape (n, d).
fn write_npy(path: &Path, d: usize, rows: &[Vec<f32>]) {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {d}), }}",
        rows.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in rows.iter().flatten() {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// A projection with the binaries: fitted on separate data, recorded by the gallery at
/// `init`, applied by `import` and by the verifier; rows or probes under another projection
/// (or none) are refused.
#[test]
fn a_projected_gallery_takes_and_answers_projected_embeddings_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = p(d, "g.sqlite");
    // Embeddings of d = 32 that live in the first 16 coordinates.
    let embed = |seed: u32| -> Vec<f32> {
        let mut v = vector(seed, 16);
        v.resize(32, 0.0);
        v
    };
    let fit: Vec<Vec<f32>> = (1000..1200).map(embed).collect();
    write_npy(&d.join("fit.npy"), 32, &fit);
    let (code, out, err) = run(
        HOLDER,
        &[
            "projection",
            "fit",
            "--npy",
            &p(d, "fit.npy"),
            "--dim",
            "16",
            "--out",
            &p(d, "p.json"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("keeping 100.00 %"), "{out}");
    let (_, show, _) = run(HOLDER, &["projection", "show", "--file", &p(d, "p.json")]);
    assert!(show.starts_with("32 → 16 dimensions"), "{show}");
    let (code, _, err) = run(
        HOLDER,
        &[
            "init",
            "--db",
            &db,
            "--dim",
            "32",
            "--projection",
            &p(d, "p.json"),
        ],
    );
    assert_ne!(
        code, 0,
        "a --dim that is not the projection's output is refused"
    );
    assert!(err.contains("maps to 16"), "{err}");
    assert_eq!(
        run(
            HOLDER,
            &["init", "--db", &db, "--projection", &p(d, "p.json")]
        )
        .0,
        0
    );
    let lines: String = (0..10)
        .map(|i| {
            format!(
                "{{\"id\":\"p{i}\",\"label\":\"\",\"embedding\":{:?}}}\n",
                embed(i)
            )
        })
        .collect();
    std::fs::write(d.join("g.jsonl"), lines).unwrap();
    let file = p(d, "g.jsonl");
    let import = |extra: &[&str]| {
        let mut args = vec!["import", "--db", db.as_str(), "--jsonl", file.as_str()];
        args.extend_from_slice(extra);
        run(HOLDER, &args)
    };
    let (code, _, err) = import(&[]);
    assert_ne!(code, 0, "unprojected rows into a projected gallery");
    assert!(err.contains("no projection"), "{err}");
    let (code, out, err) = import(&["--projection", &p(d, "p.json")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 10"), "{out}");

    assert_eq!(run(HOLDER, &["certs", "--out", &p(d, "pki")]).0, 0);
    let args = toy_serve_args(d, &db, &["--threshold", "0.9"]);
    let (_server, addr) = serve(&args);
    let projection = p(d, "p.json");
    let with = ["--projection", projection.as_str()];
    let (code, out, err) = verify_at(d, &addr, format!("{:?}", embed(3)), &with);
    assert_eq!((code, out.trim()), (0, "match"), "{err}");
    let (code, out, err) = verify_at(d, &addr, format!("{:?}", embed(77)), &with);
    assert_eq!((code, out.trim()), (1, "no match"), "{err}");
    // Without the projection the probe has d = 32 and the gallery 16: a clear refusal.
    let (code, _, err) = verify_at(d, &addr, format!("{:?}", embed(3)), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("Dimension"), "{err}");
}

/// `verify --who` names the enrolled identity with the best score at or above the threshold,
/// with its label, or says no match; the audit log records the mode.
#[test]
fn verify_who_names_the_best_identity_or_no_match() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = p(d, "g.sqlite");
    let dim = 32;
    assert_eq!(run(HOLDER, &["certs", "--out", &p(d, "pki")]).0, 0);
    assert_eq!(run(HOLDER, &["init", "--db", &db, "--dim", "32"]).0, 0);
    let lines: String = (0..12)
        .map(|i| {
            format!(
                "{{\"id\":\"p{i}\",\"label\":\"Person {i}\",\"embedding\":{:?}}}\n",
                vector(i, dim)
            )
        })
        .collect();
    std::fs::write(d.join("g.jsonl"), lines).unwrap();
    assert_eq!(
        run(
            HOLDER,
            &["import", "--db", &db, "--jsonl", &p(d, "g.jsonl")]
        )
        .0,
        0
    );
    let (_server, addr) = serve(&toy_serve_args(d, &db, &["--threshold", "0.9"]));
    let (code, out, err) = verify_at(d, &addr, format!("{:?}", vector(5, dim)), &["--who"]);
    assert_eq!((code, out.trim()), (0, "match: p5 (Person 5)"), "{err}");
    let (code, out, _) = verify_at(d, &addr, format!("{:?}", vector(99, dim)), &["--who"]);
    assert_eq!((code, out.trim()), (1, "no match"));
    let (code, out, _) = verify_at(
        d,
        &addr,
        format!("{:?}", vector(7, dim)),
        &["--who", "--json"],
    );
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (report["id"].as_str(), report["label"].as_str()),
        (Some("p7"), Some("Person 7"))
    );
    let (code, _, _) = verify_at(
        d,
        &addr,
        format!("{:?}", vector(7, dim)),
        &["--who", "--identity", "p7"],
    );
    assert_eq!(code, 2, "--who and --identity exclude each other");
    let (_, audit, _) = run(HOLDER, &["audit", "--db", &db]);
    assert_eq!(audit.matches("\tidentify-who\t").count(), 3, "{audit}");
}
