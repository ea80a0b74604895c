//! The per-client query budget: every answered query leaks one bit, so each client may ask
//! only so many.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::{ProtocolError, Result};

/// Per-client query budget (client = certificate identity), shared by all sessions.
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
