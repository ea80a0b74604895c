//! The per-client query budget and audit log: every answered query leaks one bit, so each
//! client may ask only so many, and the holder keeps a record of what was asked.
//!
//! [`QueryLedger`] is what a holder session needs: charge a query before answering it, and
//! attach the outcome when the holder learns it. [`QueryBudget`] keeps the counts in memory
//! (tests, demos); a holder that faces the internet uses a durable ledger (privface-gallery's
//! SQLite ledger, which the holder binary wires in), so a restart forgets nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::{ProtocolError, Result};
use crate::messages::{Mode, OutputTo};

/// What the holder records about a query when it charges it.
#[derive(Clone, Copy, Debug)]
pub struct QueryRecord<'a> {
    /// The client's identity (spec §9.1).
    pub client: &'a str,
    /// The mode, with the claimed identity in 1:1 mode.
    pub mode: &'a Mode,
    /// n', the number of scores the session compares.
    pub scores: u32,
    /// Who learns the result.
    pub output: OutputTo,
}

/// A charged query, to which the outcome is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charge(pub i64);

/// Where a holder charges its queries.
pub trait QueryLedger: Send + Sync {
    /// Takes one query from `query.client`'s budget and records it, as one atomic step: on
    /// `Ok` the charge is durable (a crash afterwards never refunds it), on `Err` nothing
    /// changed. [`ProtocolError::BudgetExhausted`] when the client has no query left.
    fn charge(&self, query: &QueryRecord<'_>) -> Result<Charge>;

    /// Records the outcome of a charged query when the holder learns it: the bit (0 or 1) of
    /// identification and verification, the class index of classification.
    fn record_outcome(&self, charge: Charge, outcome: u32) -> Result<()>;
}

/// Per-client query budget (client = certificate identity) kept in memory, shared by all
/// sessions of one process; it keeps no audit log and forgets everything on exit.
pub struct QueryBudget {
    limit: Option<u32>,
    used: Mutex<HashMap<String, u32>>,
}

impl QueryBudget {
    /// At most `limit` queries per client (`None`: unlimited).
    pub fn new(limit: Option<u32>) -> Self {
        Self {
            limit,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one query from `client`'s budget.
    pub fn consume(&self, client: &str) -> Result<()> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let mut used = self
            .used
            .lock()
            .map_err(|_| ProtocolError::Internal("budget lock poisoned".into()))?;
        let n = used.entry(client.to_owned()).or_insert(0);
        if *n >= limit {
            return Err(ProtocolError::BudgetExhausted(client.to_owned()));
        }
        *n += 1;
        Ok(())
    }
}

impl QueryLedger for QueryBudget {
    fn charge(&self, query: &QueryRecord<'_>) -> Result<Charge> {
        self.consume(query.client)?;
        Ok(Charge(0))
    }

    fn record_outcome(&self, _: Charge, _: u32) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_past_the_limit() {
        let b = QueryBudget::new(Some(2));
        b.consume("a").unwrap();
        b.consume("a").unwrap();
        assert!(matches!(
            b.consume("a"),
            Err(ProtocolError::BudgetExhausted(_))
        ));
        b.consume("b").unwrap();
        QueryBudget::new(None).consume("a").unwrap();
    }
}
