//! The end of a verifier session (spec §8.2): Finish, then the output label to the holder
//! and, when both learn the bit, Decode after it.

use privface_ot::Block;

use super::{Comparing, VerifierState};
use crate::comparison::Circuit;
use crate::error::PeerMisbehaved;
use crate::error::{ProtocolError, Result};
use crate::messages::Accept;
use crate::messages::{Message, consumed};
use crate::model::{Answer, Enrolled};

/// A who-identification's label table arriving part by part (spec §15.3): only the entry at
/// `position` is kept.
pub(super) struct ReadingTable {
    accept: Accept,
    valid: bool,
    position: usize,
    key: u128,
    entries: usize,
    part: u32,
    entry: Option<Vec<u8>>,
}

/// LabelTable: the next part; after the last, the identity (when some score reached τ).
pub(super) fn on_label_table(
    mut t: Box<ReadingTable>,
    part: u32,
    bytes: Vec<u8>,
) -> Result<(VerifierState, Vec<Message>)> {
    use privface_gc::who::ENTRY_BYTES;
    if part != t.part {
        return Err(PeerMisbehaved::OutOfOrder {
            message: "label table part",
            got: part,
            due: t.part,
        }
        .into());
    }
    let first = part as usize * crate::LABEL_TABLE_PART;
    let count = crate::LABEL_TABLE_PART.min(t.entries - first);
    if bytes.len() != count * ENTRY_BYTES {
        return Err(PeerMisbehaved::WrongLength {
            message: "LabelTable",
            got: bytes.len(),
            expected: count * ENTRY_BYTES,
        }
        .into());
    }
    if (first..first + count).contains(&t.position) {
        let at = (t.position - first) * ENTRY_BYTES;
        t.entry = Some(bytes[at..at + ENTRY_BYTES].to_vec());
    }
    t.part += 1;
    if first + count < t.entries {
        return Ok((VerifierState::ExpectLabelTable(t), vec![]));
    }
    let who = match (t.valid, &t.entry) {
        (false, _) => None,
        (true, Some(entry)) => {
            let (id, label) =
                privface_gc::who::open_entry(t.key, entry).ok_or(PeerMisbehaved::SealedEntry)?;
            Some(Enrolled { id, label })
        }
        (true, None) => return Err(ProtocolError::Internal("no entry at the position".into())),
    };
    Ok((
        VerifierState::Done {
            answer: Answer {
                bit: Some(t.valid),
                who,
                ..Answer::default()
            },
            accept: Box::new(t.accept),
        },
        vec![],
    ))
}

/// Finish: the OR tree (or the argmax's output); the labels go to the holder first when it is to learn the bit; the
/// bit is decoded here only when the verifier alone learns it.
pub(super) fn on_finish(
    mut c: Box<Comparing>,
    bytes: Vec<u8>,
) -> Result<(VerifierState, Vec<Message>)> {
    c.evaluator.channel().put(bytes);
    let reveal = c.terms.reveal;
    let output = c.evaluator.close(reveal.garbler)?;
    if !reveal.garbler {
        return decoded(c, output, "Finish");
    }
    consumed(c.evaluator.channel(), "Finish")?;
    let label = vec![Message::OutputLabel(c.evaluator.channel().take_outgoing())];
    let next = if reveal.evaluator {
        VerifierState::ExpectDecode {
            comparing: c,
            output,
        }
    } else {
        VerifierState::Done {
            answer: Answer::default(),
            accept: Box::new(c.terms.accept),
        }
    };
    Ok((next, label))
}

/// Decodes the result from the decode bits of `message`, already put in the channel.
pub(super) fn decoded(
    mut c: Box<Comparing>,
    output: Vec<Block>,
    message: &'static str,
) -> Result<(VerifierState, Vec<Message>)> {
    let value = c.evaluator.decode(&output)?;
    consumed(c.evaluator.channel(), message)?;
    let answer = match c.terms.circuit {
        Circuit::Who(spec) => {
            // The index stays in the labels: they give the one entry to open and its key.
            let (position, key) = privface_gc::who::table_position(&output[1..]);
            let entries = 1usize << spec.index_bits();
            return Ok((
                VerifierState::ExpectLabelTable(Box::new(ReadingTable {
                    accept: c.terms.accept,
                    valid: value == 1,
                    position,
                    key,
                    entries,
                    part: 0,
                    entry: None,
                })),
                vec![],
            ));
        }
        ref circuit => circuit.answer(value, &c.terms.labels)?,
    };
    Ok((
        VerifierState::Done {
            answer,
            accept: Box::new(c.terms.accept),
        },
        vec![],
    ))
}
