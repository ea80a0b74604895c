//! The holder's durable query ledger: privface-gallery's SQLite ledger (in the gallery file)
//! behind the protocol's [`QueryLedger`], so budgets and the audit log survive restarts.

use privface_gallery::{Ledger, QueryEntry};
use privface_protocol::{Charge, Mode, OutputTo, ProtocolError, QueryLedger, QueryRecord};

/// Queries per client unless `serve --budget` says otherwise.
pub const DEFAULT_BUDGET: u32 = 1000;

/// A `--budget` value: a number of queries per client, or `unlimited` (which must be said).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetLimit(pub Option<u32>);

impl std::fmt::Display for BudgetLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("unlimited"),
        }
    }
}

impl std::str::FromStr for BudgetLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "unlimited" => Ok(Self(None)),
            n => n
                .parse::<u32>()
                .map(|n| Self(Some(n)))
                .map_err(|_| format!("`{n}` is neither a number of queries nor `unlimited`")),
        }
    }
}

/// The wire name of an output destination in the audit log.
pub fn output_name(output: OutputTo) -> &'static str {
    match output {
        OutputTo::Verifier => "verifier",
        OutputTo::Holder => "holder",
        OutputTo::Both => "both",
    }
}

/// [`Ledger`] as the holder sessions' [`QueryLedger`].
pub struct SqliteLedger(pub Ledger);

impl QueryLedger for SqliteLedger {
    fn charge(&self, query: &QueryRecord<'_>) -> privface_protocol::Result<Charge> {
        let (mode, identity) = match query.mode {
            Mode::Identify => ("identify", None),
            Mode::IdentifyWho => ("identify-who", None),
            Mode::Verify { identity } => ("verify", Some(identity.as_str())),
            Mode::Classify { model } => ("classify", Some(model.as_str())),
        };
        let entry = QueryEntry {
            client: query.client,
            mode,
            identity,
            scores: query.scores,
            output: output_name(query.output),
        };
        match self.0.charge(&entry) {
            Ok(Some(id)) => Ok(Charge(id)),
            Ok(None) => Err(ProtocolError::BudgetExhausted(query.client.to_owned())),
            Err(e) => Err(ProtocolError::Internal(format!("query ledger: {e}"))),
        }
    }

    fn record_outcome(&self, charge: Charge, outcome: u32) -> privface_protocol::Result<()> {
        self.0
            .record_outcome(charge.0, outcome)
            .map_err(|e| ProtocolError::Internal(format!("query ledger: {e}")))
    }
}
