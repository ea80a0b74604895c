//! The verifier's answer to the holder's terms (spec §9.3, §13.2): check them (and, in
//! classification, the model's labels), quantise the probe, then send the base-OT offer and
//! the encrypted query without waiting.

use privface_gc::{Reveal, ThresholdSpec, WhoSpec};
use privface_he::{InputQuantiser, ParameterSet, Quantiser, SessionShape, VerifierKey};
use privface_ot::IknpReceiver;
use rand::{CryptoRng, Rng};

use super::terms::{check_accept, check_classification};
use super::{AwaitingLabels, Terms, VerifierSession, VerifierState};
use crate::comparison::Circuit;
use crate::error::{ProtocolError, Result};
use crate::messages::{Accept, Message, Mode};

impl<R: Rng + CryptoRng> VerifierSession<R> {
    /// The holder's terms arrived: check them, then send the base-OT offer and the query (in
    /// classification, once the model's labels have arrived too).
    pub(super) fn accepted(&mut self, accept: Accept) -> Result<(VerifierState, Vec<Message>)> {
        let d = self.probe.len();
        if let Mode::Classify { .. } = self.mode {
            let (params, shape) = check_classification(&self.config, &accept, d)?;
            let input = InputQuantiser::new(d, accept.quant_scale)?.quantise(&self.probe)?;
            let awaiting = AwaitingLabels {
                accept,
                params,
                shape,
                input,
            };
            return Ok((VerifierState::ExpectLabels(Box::new(awaiting)), vec![]));
        }
        let (params, shape) = check_accept(&self.config, &accept, d)?;
        let quantiser = Quantiser::with_scale(d, accept.quant_scale)?;
        let x = quantiser.quantise(&self.probe)?;
        let threshold = ThresholdSpec {
            share_bits: shape.share_bits,
            threshold: privface_he::coarse_threshold(accept.threshold, shape.dropped_bits),
        };
        let circuit = if let Mode::IdentifyWho = self.mode {
            if accept.dropped_bits != 0 {
                // Spec §15.2: a coarse comparison would tie rows it cannot tell apart.
                return Err(ProtocolError::Refused(format!(
                    "{} dropped bits in a who-identification",
                    accept.dropped_bits
                )));
            }
            Circuit::Who(WhoSpec {
                threshold,
                scores: accept.padded_count as usize,
            })
        } else {
            Circuit::Threshold(threshold)
        };
        self.send_query(accept, &params, shape, &x, circuit, Vec::new())
    }

    /// The base-OT offer and the encrypted query.
    pub(super) fn send_query(
        &mut self,
        accept: Accept,
        params: &ParameterSet,
        shape: SessionShape,
        x: &[i8],
        circuit: Circuit,
        labels: Vec<String>,
    ) -> Result<(VerifierState, Vec<Message>)> {
        let setup = IknpReceiver::start(&mut self.channel, &mut self.rng)?;
        let mut out = vec![Message::BaseOtOffer(self.channel.take_outgoing())];
        let key = VerifierKey::generate(params, &mut self.rng);
        let query = key.encrypt_query(&shape, x, &mut self.rng)?;
        for (i, ct) in std::iter::once(&query.public_key)
            .chain(&query.chunks)
            .enumerate()
        {
            let mut bytes = Vec::with_capacity(privface_he::SeededCiphertext::encoded_len(params));
            ct.encode_into(params, &mut bytes);
            out.push(Message::QueryPart {
                index: i as u32,
                bytes,
            });
        }
        let reveal = Reveal {
            evaluator: self.output.verifier(),
            garbler: self.output.holder(),
        };
        Ok((
            VerifierState::ExpectBaseOtReply {
                terms: Box::new(Terms {
                    accept,
                    shape,
                    key,
                    reveal,
                    circuit,
                    labels,
                }),
                setup: Box::new(setup),
            },
            out,
        ))
    }
}
