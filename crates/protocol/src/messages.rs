//! Session messages and their encoding.
//!
//! A message is one frame: the protocol version byte followed by the postcard encoding of
//! [`Message`]. Decoding consumes the whole frame or fails; every length inside a message is
//! checked against the negotiated session by the receiving session code.

use privface_ot::BufferChannel;
use serde::{Deserialize, Serialize};

pub use crate::abort::AbortCode;
use crate::error::{PeerMisbehaved, ProtocolError, Result};

/// Protocol version carried in every frame (and in the ALPN identifier).
pub const VERSION: u8 = 1;

/// TLS ALPN protocol identifier.
pub const ALPN: &[u8] = b"privface/1";

/// What the verifier asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// 1:N identification: does any enrolled identity match?
    Identify,
    /// 1:1 verification: does the claimed identity match?
    Verify {
        /// The claimed identity.
        identity: String,
    },
    /// Classification: which class of the named model does the input belong to? (spec §13)
    Classify {
        /// The model's name.
        model: String,
    },
    /// 1:N identification that says who: the id and label of the enrolled identity with the
    /// best score at or above τ, or no match (spec §15).
    IdentifyWho,
}

/// Who learns the result (the bit, or the class in classification).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputTo {
    /// The verifier only (default).
    Verifier,
    /// The holder only.
    Holder,
    /// Both.
    Both,
}

impl OutputTo {
    /// True when the verifier learns the bit.
    pub fn verifier(self) -> bool {
        matches!(self, OutputTo::Verifier | OutputTo::Both)
    }
    /// True when the holder learns the bit.
    pub fn holder(self) -> bool {
        matches!(self, OutputTo::Holder | OutputTo::Both)
    }
}

/// The verifier's opening message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Parameter sets the verifier accepts, in preference order.
    pub param_sets: Vec<String>,
    /// Embedding dimension of the probe.
    pub dimension: u32,
    /// 1:N or 1:1.
    pub mode: Mode,
    /// Who learns the bit.
    pub output: OutputTo,
}

/// The holder's terms for the session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    /// Parameter set name.
    pub params: String,
    /// Embedding dimension d.
    pub dimension: u32,
    /// Quantisation scale α.
    pub quant_scale: f32,
    /// Score threshold τ (integer, quantised units).
    pub threshold: i64,
    /// Number of scores n' (gallery size rounded up to a bucket).
    pub padded_count: u32,
    /// Group size g.
    pub group_size: u32,
    /// Share width k.
    pub share_bits: u32,
    /// Modulus-switch target b.
    pub switched_modulus_log: u32,
    /// Scores per comparison batch.
    pub batch: u32,
    /// Score blocks per round: the holder sends a round's blocks, then both run the comparison
    /// for those scores, so HE and garbling overlap and memory stays O(round).
    pub round_blocks: u32,
    /// Low score bits the comparison drops (0: exact; spec §4.1), the holder's precision.
    pub dropped_bits: u32,
}

/// Every message of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// V → H: open the session.
    Hello(Hello),
    /// H → V: terms.
    Accept(Accept),
    /// H → V: refusal.
    Reject(AbortCode),
    /// V → H: the base-OT sender's point A (32 bytes).
    BaseOtOffer(#[serde(with = "serde_bytes")] Vec<u8>),
    /// H → V: the base-OT receiver's 128 points B_i (32 bytes each).
    BaseOtReply(#[serde(with = "serde_bytes")] Vec<u8>),
    /// V → H: ciphertext `index` of the query (0 is the public key).
    QueryPart {
        /// Position in the query.
        index: u32,
        /// The seeded ciphertext's encoding.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// H → V: response block `index` with `count` scores.
    Scores {
        /// Block index.
        index: u32,
        /// Scores in the block.
        count: u32,
        /// The packed block.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// V → H: OT extension columns and correction bits for comparison batch `batch`.
    OtExtension {
        /// Batch index (from 0, over the whole session).
        batch: u32,
        /// 128 columns, then the packed correction bits.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// H → V: the garbled tables of comparison batch `batch`.
    Tables {
        /// Batch index.
        batch: u32,
        /// The tables, in gate order.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// H → V: the tables of the final OR tree, then the decode bit when the verifier learns
    /// the result.
    Finish(#[serde(with = "serde_bytes")] Vec<u8>),
    /// V → H: the verifier's output label (16 bytes), when the holder learns the result.
    OutputLabel(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Either way: the session is over, with a reason.
    Abort(AbortCode),
    /// H → V: the decode bit (one byte), when both learn the result: sent only after the
    /// holder has decoded the verifier's output label (spec §8.2).
    Decode(#[serde(with = "serde_bytes")] Vec<u8>),
    /// H → V, right after `Accept` in classification: the model's labels (C of them, or 2 for
    /// a binary model), the names of the class indices the argmax can output (spec §13.2).
    Labels(Vec<String>),
    /// H → V, after the output in who-identification: part `part` of the sealed label table
    /// (spec §15.3).
    LabelTable {
        /// Part index, from 0.
        part: u32,
        /// Consecutive 64-byte entries.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
}

/// A postcard output that appends to a vector, copying byte slices with one `memcpy`.
struct AppendToVec<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendToVec<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

impl Message {
    /// The message's name, for logs and errors (never its content).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "Hello",
            Message::Accept(_) => "Accept",
            Message::Reject(_) => "Reject",
            Message::QueryPart { .. } => "QueryPart",
            Message::Scores { .. } => "Scores",
            Message::BaseOtOffer(_) => "BaseOtOffer",
            Message::BaseOtReply(_) => "BaseOtReply",
            Message::OtExtension { .. } => "OtExtension",
            Message::Tables { .. } => "Tables",
            Message::Finish(_) => "Finish",
            Message::OutputLabel(_) => "OutputLabel",
            Message::Abort(_) => "Abort",
            Message::Decode(_) => "Decode",
            Message::Labels(_) => "Labels",
            Message::LabelTable { .. } => "LabelTable",
        }
    }

    /// Encodes as one frame body: version byte, then postcard.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        self.encode_into(&mut out);
        out
    }

    /// Appends the frame body to `out` (one pass, byte fields copied in bulk).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        postcard::serialize_with_flavor::<Self, AppendToVec<'_>, ()>(self, AppendToVec(out))
            .expect("messages always serialise");
    }

    /// An upper estimate of the body's length, for preallocation.
    pub fn encoded_len_hint(&self) -> usize {
        let payload = match self {
            Message::BaseOtOffer(b)
            | Message::BaseOtReply(b)
            | Message::Finish(b)
            | Message::OutputLabel(b) => b.len(),
            Message::QueryPart { bytes, .. }
            | Message::Scores { bytes, .. }
            | Message::OtExtension { bytes, .. }
            | Message::Tables { bytes, .. }
            | Message::LabelTable { bytes, .. } => bytes.len(),
            _ => 0,
        };
        payload + 64
    }

    /// Decodes a frame body, consuming all of it.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let (&version, rest) = body.split_first().ok_or(PeerMisbehaved::EmptyFrame)?;
        if version != VERSION {
            return Err(ProtocolError::Version(version));
        }
        let (message, trailing) = postcard::take_from_bytes::<Message>(rest)
            .map_err(|e| PeerMisbehaved::Undecodable(e.to_string()))?;
        if !trailing.is_empty() {
            return Err(PeerMisbehaved::TrailingBytes {
                message: "frame",
                count: trailing.len(),
            }
            .into());
        }
        Ok(message)
    }
}

/// Checks that the comparison engine consumed a received payload exactly.
pub(crate) fn consumed(channel: &BufferChannel, message: &'static str) -> Result<()> {
    match channel.remaining() {
        0 => Ok(()),
        count => Err(PeerMisbehaved::TrailingBytes { message, count }.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_fields_are_length_then_raw_bytes() {
        // serde_bytes only speeds the codec up: the wire form is postcard's (varint length,
        // then the bytes), as the spec says.
        let m = Message::Finish(vec![7, 8, 9]);
        assert_eq!(m.encode(), vec![VERSION, 9, 3, 7, 8, 9]);
    }

    #[test]
    fn messages_round_trip_and_decoding_is_strict() {
        let m = Message::Hello(Hello {
            param_sets: vec!["default".into()],
            dimension: 512,
            mode: Mode::Verify {
                identity: "alice".into(),
            },
            output: OutputTo::Both,
        });
        let bytes = m.encode();
        assert_eq!(Message::decode(&bytes).unwrap(), m);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Message::decode(&longer),
            Err(ProtocolError::Misbehaved(
                PeerMisbehaved::TrailingBytes { .. }
            ))
        ));
        let mut other_version = bytes.clone();
        other_version[0] = 2;
        assert!(matches!(
            Message::decode(&other_version),
            Err(ProtocolError::Version(2))
        ));
        assert!(Message::decode(&[]).is_err());
        assert!(Message::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Message::decode(&[VERSION, 0xff, 0xff]).is_err());
    }
}
