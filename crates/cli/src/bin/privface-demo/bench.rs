//! `privface-demo bench`: one large identification, the verifier in its own process so each
//! party's memory is measured apart; ends with one JSON line.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use privface_cli::{
    GalleryChoice, SyntheticFaces, available_memory, peak_rss_mb, phases_json, read_embedding,
    resolve_gallery_mode,
};
use privface_he::{GalleryMode, ParameterSet, Quantiser, RowSource, plain};
use privface_protocol::{HolderGallery, Mode};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::{Pki, THRESHOLD, ask, start_holder};

mod cache;

/// The gallery a bench serves, its probe and the plaintext decision measured in the same run.
struct Prepared {
    gallery: Arc<HolderGallery>,
    probe: Vec<f32>,
    plain_bit: bool,
    /// The row a who-identification names: the first with the best score ≥ τ.
    plain_who: Option<usize>,
    plain_s: f64,
    in_band: bool,
    pack_s: f64,
    mode: &'static str,
}

pub(super) fn bench(n: usize, d: usize, precision: f64, cache_dir: &Path, who: bool) -> Result<()> {
    let params = ParameterSet::default_64();
    let pki = Pki::mint()?;
    let quantiser = Quantiser::for_dimension(d)?;
    let dropped_bits = quantiser.dropped_bits_for_tolerance(precision);
    // The mode a holder would pick here (`serve --gallery-mode auto`).
    let mode = resolve_gallery_mode(GalleryChoice::Auto, &params, n, d, available_memory());
    let Prepared {
        gallery,
        probe,
        plain_bit,
        plain_who,
        plain_s,
        in_band,
        pack_s,
        mode,
    } = match mode {
        GalleryChoice::Stream => streamed(&params, n, d, dropped_bits, cache_dir)?,
        _ => in_memory(&params, n, d, dropped_bits)?,
    };
    let probe_file = pki.dir.path().join("probe.json");
    std::fs::write(&probe_file, serde_json::to_string(&probe)?)?;

    let rt = tokio::runtime::Runtime::new()?;
    let (child, one_to_one, who_child) = rt.block_on(async {
        let addr = start_holder(
            pki.dir.path(),
            gallery,
            params,
            dropped_bits,
            Default::default(),
            THRESHOLD,
        )
        .await?;
        // The verifier in its own process, so each party's memory is measured apart.
        let child_run = |who: bool| {
            let (addr, dir, probe_file) = (
                addr.to_string(),
                pki.dir.path().to_owned(),
                probe_file.clone(),
            );
            async move {
                let t = Instant::now();
                let mut command = tokio::process::Command::new(std::env::current_exe()?);
                command
                    .args(["verifier-child", "--connect", &addr, "--dir"])
                    .arg(&dir)
                    .arg("--probe")
                    .arg(&probe_file);
                if who {
                    command.arg("--who");
                }
                let out = command.output().await?;
                let total_s = t.elapsed().as_secs_f64();
                anyhow::ensure!(
                    out.status.success(),
                    "verifier failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let mut child: serde_json::Value = serde_json::from_slice(&out.stdout)?;
                child["total_s"] = total_s.into();
                anyhow::Ok(child)
            }
        };
        let child = child_run(false).await?;
        let who_child = if who {
            Some(child_run(true).await?)
        } else {
            None
        };
        let t = Instant::now();
        ask(
            pki.dir.path(),
            addr,
            probe.clone(),
            Mode::Verify {
                identity: format!("p{}", n / 2),
            },
        )
        .await?;
        anyhow::Ok((child, t.elapsed().as_secs_f64(), who_child))
    })?;
    println!(
        "identification, n = {n}, d = {d}, gallery {mode} (packed or checked in {pack_s:.1} s)"
    );
    let (online_ms, bytes) = print_phases(&child);
    let who_report = match &who_child {
        Some(w) => {
            println!("who-identification of the same probe (spec §15)");
            let (who_ms, who_bytes) = print_phases(w);
            let id = w["id"].as_str().map(str::to_owned);
            let want = plain_who.map(|t| format!("p{t}"));
            anyhow::ensure!(
                id == want,
                "who-identification named {id:?}, plaintext {want:?}"
            );
            serde_json::json!({
                "online_s": who_ms / 1e3,
                "bytes_per_gallery_vector": who_bytes / n as f64,
                "ratio_time_to_one_bit": who_ms / online_ms,
                "ratio_bytes_to_one_bit": who_bytes / bytes,
                "id": id,
                "plain_id": want,
                "verifier_peak_rss_mb": w["peak_rss_mb"],
            })
        }
        None => serde_json::Value::Null,
    };
    let bit = child["match"].as_bool();
    println!(
        "{}",
        serde_json::json!({
            "n": n,
            "d": d,
            "online_s": online_ms / 1e3,
            "total_s": child["total_s"],
            "bytes_per_gallery_vector": bytes / n as f64,
            "verify_1to1_ms": one_to_one * 1e3,
            "holder_peak_rss_mb": peak_rss_mb(),
            "verifier_peak_rss_mb": child["peak_rss_mb"],
            "plain_decision_s": plain_s,
            "ratio_online_to_plain": online_ms / 1e3 / plain_s,
            "bit": bit,
            "plain_bit": plain_bit,
            "dropped_bits": dropped_bits,
            "score_in_band": in_band,
            "gallery_mode": mode,
            "who": who_report,
        })
    );
    anyhow::ensure!(
        bit == Some(plain_bit) || in_band,
        "garbled bit differs from the plaintext decision"
    );
    Ok(())
}

/// Prints a verifier child's phases; returns its online milliseconds (all but negotiation)
/// and its bytes both ways.
fn print_phases(child: &serde_json::Value) -> (f64, f64) {
    println!(
        "  {:<11} {:>10} {:>14} {:>14}",
        "phase", "ms", "bytes sent", "bytes recv"
    );
    let (mut online_ms, mut bytes) = (0.0, 0.0);
    for p in child["phases"].as_array().cloned().unwrap_or_default() {
        let ms = p["ms"].as_f64().unwrap_or(0.0);
        if p["phase"] != "negotiate" {
            online_ms += ms;
        }
        bytes += p["sent"].as_f64().unwrap_or(0.0) + p["received"].as_f64().unwrap_or(0.0);
        println!(
            "  {:<11} {:>10.1} {:>14} {:>14}",
            p["phase"].as_str().unwrap_or("?"),
            ms,
            p["sent"],
            p["received"]
        );
    }
    (online_ms, bytes)
}

/// The synthetic gallery generated in memory and pretransformed.
fn in_memory(params: &ParameterSet, n: usize, d: usize, dropped_bits: u32) -> Result<Prepared> {
    let faces = SyntheticFaces {
        dimension: d,
        noise: 0.8,
    };
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let quantiser = Quantiser::for_dimension(d)?;
    eprintln!("generating {n} identities (d = {d}) ...");
    let mut ids = Vec::with_capacity(n);
    let mut rows: Vec<i8> = Vec::with_capacity(n * d);
    let mut probe_identity = Vec::new();
    for i in 0..n {
        let id = faces.identity(&mut rng);
        ids.push(format!("p{i}"));
        rows.extend(quantiser.quantise(&faces.capture(&id, &mut rng))?);
        if i == n / 2 {
            probe_identity = id;
        }
    }
    let probe = faces.capture(&probe_identity, &mut rng);
    // Plaintext decision in the same run, before the rows move into the packed gallery.
    let t = Instant::now();
    let (plain_bit, in_band, best) = plain_decision(&quantiser, &probe, &rows, dropped_bits)?;
    let plain_s = t.elapsed().as_secs_f64();
    let plain_who = best.map(|(_, t)| t);
    eprintln!("packing ...");
    let t = Instant::now();
    let gallery = Arc::new(HolderGallery::from_rows(
        params,
        d,
        ids,
        rows,
        GalleryMode::Pretransformed,
    )?);
    Ok(Prepared {
        gallery,
        probe,
        plain_bit,
        plain_who,
        plain_s,
        in_band,
        pack_s: t.elapsed().as_secs_f64(),
        mode: "memory",
    })
}

/// The synthetic gallery as cached quantised rows, streamed from the file per query.
fn streamed(
    params: &ParameterSet,
    n: usize,
    d: usize,
    dropped_bits: u32,
    cache_dir: &Path,
) -> Result<Prepared> {
    let rows = cache::open_or_generate(cache_dir, n, d)?;
    let quantiser = Quantiser::for_dimension(d)?;
    let probe = rows.probe.clone();
    // The plaintext decision, a piece of the file at a time.
    let t = Instant::now();
    let (mut plain_bit, mut in_band) = (false, false);
    let mut best: Option<(i64, usize)> = None;
    let mut buf = vec![0i8; 1 << 16 << 9];
    let piece = buf.len() / d;
    for first in (0..n).step_by(piece) {
        let part = &mut buf[..(n - first).min(piece) * d];
        rows.read_rows(first, part)?;
        let (bit, band, part_best) = plain_decision(&quantiser, &probe, part, dropped_bits)?;
        plain_bit |= bit;
        in_band |= band;
        if let Some((s, t)) = part_best
            && best.is_none_or(|(b, _)| s > b)
        {
            best = Some((s, first + t));
        }
    }
    let plain_who = best.map(|(_, t)| t);
    let plain_s = t.elapsed().as_secs_f64();
    eprintln!("checking the streamed rows ...");
    let t = Instant::now();
    let ids = (0..n).map(|i| format!("p{i}")).collect();
    let gallery = Arc::new(HolderGallery::streamed(
        params,
        d,
        ids,
        Arc::new(rows),
        &|_, _| {},
    )?);
    Ok(Prepared {
        gallery,
        probe,
        plain_bit,
        plain_who,
        plain_s,
        in_band,
        pack_s: t.elapsed().as_secs_f64(),
        mode: "stream",
    })
}

/// The first best score at or above τ and its row.
type Best = Option<(i64, usize)>;

/// (some score ≥ τ, some score within the coarse comparison's band of τ, [`Best`]) over
/// `rows`.
fn plain_decision(
    quantiser: &Quantiser,
    probe: &[f32],
    rows: &[i8],
    dropped_bits: u32,
) -> Result<(bool, bool, Best)> {
    let x = quantiser.quantise(probe)?;
    let tau = quantiser.threshold(THRESHOLD);
    let scores = plain::scores(&x, rows);
    // A coarse comparison may decide a score within its band either way (spec §4.1).
    let band = 1i64 << (dropped_bits + 1);
    let mut best: Best = None;
    for (t, &s) in scores.iter().enumerate() {
        if s as i64 >= tau && best.is_none_or(|(b, _)| s as i64 > b) {
            best = Some((s as i64, t));
        }
    }
    Ok((
        scores.iter().any(|&s| s as i64 >= tau),
        scores
            .iter()
            .any(|&s| dropped_bits > 0 && (s as i64 - tau).abs() < band),
        best,
    ))
}

pub(super) fn verifier_child(connect: &str, dir: &Path, probe: &Path, who: bool) -> Result<()> {
    let probe = read_embedding(probe)?;
    let rt = tokio::runtime::Runtime::new()?;
    let addr: std::net::SocketAddr = connect.parse()?;
    let mode = if who {
        Mode::IdentifyWho
    } else {
        Mode::Identify
    };
    let o = rt.block_on(ask(dir, addr, probe, mode))?;
    println!(
        "{}",
        serde_json::json!({
            "match": o.bit, "id": o.who.map(|w| w.id), "phases": phases_json(&o.timings),
            "peak_rss_mb": peak_rss_mb(),
        })
    );
    Ok(())
}
