//! The end of a verifier session (spec §8.2): Finish, then the output label to the holder
//! and, when both learn the bit, Decode after it.

use privface_ot::Block;

use super::{Comparing, VerifierState};
use crate::comparison::Circuit;
use crate::error::Result;
use crate::messages::{Message, consumed};
use crate::model::{Answer, Class};

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
        Circuit::Threshold(_) => Answer {
            bit: Some(value == 1),
            ..Answer::default()
        },
        Circuit::Argmax(_) => Answer {
            class: Some(Class::of(value, &c.terms.labels)?),
            ..Answer::default()
        },
    };
    Ok((
        VerifierState::Done {
            answer,
            accept: Box::new(c.terms.accept),
        },
        vec![],
    ))
}
