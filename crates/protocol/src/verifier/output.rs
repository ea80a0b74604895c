//! The end of a verifier session (spec §8.2): Finish, then the output label to the holder
//! and, when both learn the bit, Decode after it.

use privface_ot::Block;

use super::{Comparing, VerifierState};
use crate::error::Result;
use crate::messages::{Message, consumed};

/// Finish: the OR tree; the label goes to the holder first when it is to learn the bit; the
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
            bit: None,
            accept: Box::new(c.terms.accept),
        }
    };
    Ok((next, label))
}

/// Decodes the bit from the decode byte of `message`, already put in the channel.
pub(super) fn decoded(
    mut c: Box<Comparing>,
    output: Block,
    message: &'static str,
) -> Result<(VerifierState, Vec<Message>)> {
    let bit = c.evaluator.decode(output)?;
    consumed(c.evaluator.channel(), message)?;
    Ok((
        VerifierState::Done {
            bit: Some(bit),
            accept: Box::new(c.terms.accept),
        },
        vec![],
    ))
}
