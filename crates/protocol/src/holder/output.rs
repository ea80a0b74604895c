//! The end of a holder session (spec §8.2, §15.3): the verifier's output labels when the
//! holder learns the result, the decode bits after them when both do, and a
//! who-identification's label table whenever the verifier learns the result.

use privface_ot::Block;
use rand::{CryptoRng, Rng};

use super::negotiate::Answering;
use super::rounds::Comparing;
use super::{HolderSession, HolderState, Step};
use crate::comparison::Circuit;
use crate::error::Result;
use crate::messages::{Message, consumed};
use crate::model::Enrolled;

impl<R: Rng + CryptoRng> HolderSession<R> {
    /// OutputLabel: the verifier's output labels, each of which must be one of its wire's two.
    pub(super) fn on_output_label(
        mut c: Box<Comparing>,
        output_wires: &[Block],
        bytes: Vec<u8>,
    ) -> Step {
        let garbler = &mut c.garbler;
        garbler.channel().put(bytes);
        let value = garbler.decode_returned(output_wires)?;
        consumed(garbler.channel(), "OutputLabel")?;
        let mut out = Vec::new();
        if c.terms.reveal.evaluator {
            garbler.send_decode(output_wires)?;
            out.push(Message::Decode(garbler.channel().take_outgoing()));
            out.extend(label_table(&c, output_wires)?);
        }
        let mut answer = c.terms.circuit.answer(value, &c.terms.labels)?;
        // The holder decoded the winner's index itself: its identity is in its own gallery.
        if let (Circuit::Who(_), Answering::Shared(g), 1..) =
            (&c.terms.circuit, &c.terms.answering, value)
        {
            answer.who = privface_gc::who::read_entry(&g.who_entry(value as usize - 1))
                .map(|(id, label)| Enrolled { id, label });
        }
        Ok((
            HolderState::Done {
                answer,
                scores: c.scores,
            },
            out,
        ))
    }
}

/// The sealed label table of a who-identification, in `LabelTable` parts (spec §15.3); nothing
/// for the other circuits.
pub(super) fn label_table(c: &Comparing, output_wires: &[Block]) -> Result<Vec<Message>> {
    let (Circuit::Who(_), Answering::Shared(gallery)) = (&c.terms.circuit, &c.terms.answering)
    else {
        return Ok(Vec::new());
    };
    let table = c.garbler.seal(output_wires, &|t| gallery.who_entry(t))?;
    Ok(table
        .chunks(crate::LABEL_TABLE_PART * privface_gc::who::ENTRY_BYTES)
        .enumerate()
        .map(|(part, bytes)| Message::LabelTable {
            part: part as u32,
            bytes: bytes.to_vec(),
        })
        .collect())
}
