//! Encrypted classification of the digits fixture over the real protocol: loopback mutual TLS,
//! the `default` parameter set, the model quantised as `privface-holder model import` does.
//! Every one of the 450 test images gets the float model's label, except where the float
//! model's two best logits are closer than the decision band the spec states (§13.1); the
//! encrypted accuracy is printed next to the float one.

use std::path::Path;
use std::sync::Arc;

use privface::he::{GalleryMode, ParameterSet, Quantiser};
use privface::net::{
    ServeOptions, Timeouts, VerifyRequest, client_tls, pki, serve, server_tls, verify,
};
use privface::protocol::{
    HolderConfig, HolderGallery, HolderModel, Mode, OutputTo, QueryBudget, VerifierConfig,
};
use tokio::net::{TcpListener, TcpStream};

#[test]
fn every_test_image_gets_the_float_label_outside_the_stated_band() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/digits");
    let model = privface_gallery::read_model(
        "digits",
        &dir.join("weights.npy"),
        &dir.join("bias.npy"),
        &dir.join("labels.txt"),
        1.0,
    )
    .unwrap();
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test.json")).unwrap()).unwrap();
    let as_f32 = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let inputs: Vec<Vec<f32>> = test["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(as_f32)
        .collect();
    let logits: Vec<Vec<f32>> = test["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(as_f32)
        .collect();
    let predictions: Vec<u64> = test["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let truth: Vec<u64> = test["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(inputs.len() >= 200);

    let params = ParameterSet::default_64();
    let q = Quantiser::for_dimension(64).unwrap();
    let gallery = HolderGallery::new(
        &params,
        64,
        [("someone".to_string(), q.quantise(&[1.0; 64]).unwrap())],
        GalleryMode::OnTheFly,
    )
    .unwrap();
    let mut config = HolderConfig::new(
        params.clone(),
        Arc::new(gallery),
        q.threshold(0.9),
        Arc::new(QueryBudget::new(None)),
    );
    let held = HolderModel::new(&params, model.clone()).unwrap();
    config.models = Arc::new(
        [("digits".to_string(), Arc::new(held))]
            .into_iter()
            .collect(),
    );
    let pki = pki::mint(&["localhost"], "classifier").unwrap();
    let server_tls = server_tls(
        pki.ca_cert.as_bytes(),
        pki.holder_cert.as_bytes(),
        pki.holder_key.as_bytes(),
    )
    .unwrap();
    let client_tls = client_tls(
        pki.ca_cert.as_bytes(),
        pki.verifier_cert.as_bytes(),
        pki.verifier_key.as_bytes(),
    )
    .unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let labels: Vec<u32> = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = ServeOptions {
            max_sessions_per_client: 8,
            ..ServeOptions::default()
        };
        tokio::spawn(serve(
            listener,
            server_tls,
            Arc::new(config),
            options,
            std::future::pending(),
        ));
        // Four sessions at a time, each its own connection.
        let mut out = vec![0u32; inputs.len()];
        for chunk in (0..inputs.len()).collect::<Vec<_>>().chunks(4) {
            let sessions: Vec<_> = chunk
                .iter()
                .map(|&i| {
                    let request = VerifyRequest {
                        server_name: "localhost".into(),
                        config: VerifierConfig::default(),
                        probe: inputs[i].clone(),
                        mode: Mode::Classify {
                            model: "digits".into(),
                        },
                        output: OutputTo::Verifier,
                        timeouts: Timeouts::default(),
                    };
                    let tls = client_tls.clone();
                    tokio::spawn(async move {
                        let tcp = TcpStream::connect(addr).await.unwrap();
                        let o = verify(tcp, tls, request).await.unwrap();
                        assert_eq!(o.accept.params, "default");
                        (i, o.class.expect("the verifier learns the class").index)
                    })
                })
                .collect();
            for session in sessions {
                let (i, label) = session.await.unwrap();
                out[i] = label;
            }
        }
        out
    });

    let (mut in_band, mut encrypted_right, mut float_right, mut differ) = (0, 0, 0, 0);
    for i in 0..inputs.len() {
        let mut sorted = logits[i].clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let gap = (sorted[0] - sorted[1]) as f64;
        // The stored logits are rounded to 6 decimals: widen the band by that.
        let band = model.decision_band(&inputs[i]) + 2e-6;
        if gap > band {
            assert_eq!(
                labels[i] as u64, predictions[i],
                "image {i}: gap {gap} > band {band}"
            );
        } else {
            in_band += 1;
        }
        differ += usize::from(labels[i] as u64 != predictions[i]);
        encrypted_right += usize::from(labels[i] as u64 == truth[i]);
        float_right += usize::from(predictions[i] == truth[i]);
    }
    let n = inputs.len();
    println!(
        "{n} images: encrypted accuracy {:.4}, float {:.4}; {differ} labels differ from the \
         float model's, {in_band} images within the decision band",
        encrypted_right as f64 / n as f64,
        float_right as f64 / n as f64,
    );
    assert!(
        in_band * 20 < n,
        "{in_band} of {n} images in the band: the band is too wide to test"
    );
}
