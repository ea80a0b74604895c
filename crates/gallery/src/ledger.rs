//! The holder's query ledger, in the gallery's own SQLite file: how many queries each client
//! has used, and an audit log of every query asked (spec §12: each answered query leaks one
//! bit, so the count is what bounds template reconstruction and must survive a restart).
//!
//! A charge is one `BEGIN IMMEDIATE` transaction that checks the client's count, raises it and
//! appends the audit row; it commits before the holder answers, so a crash can never refund a
//! query. A refused query is logged too (`charged = 0`) and changes no count.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{GalleryError, Result, now};

/// The ledger's tables; created on first use, so galleries of every schema gain them.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS budget (
        client TEXT PRIMARY KEY,
        used INTEGER NOT NULL,
        last INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        client TEXT NOT NULL,
        mode TEXT NOT NULL,
        identity TEXT,
        scores INTEGER NOT NULL,
        output TEXT NOT NULL,
        charged INTEGER NOT NULL,
        outcome INTEGER
    );";

/// How long a writer waits for another (a `budget reset` while the holder serves).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// One client's use of its budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientUsage {
    /// The client's identity (spec §9.1).
    pub client: String,
    /// Queries charged since the last reset.
    pub used: u64,
    /// Unix time of the last charge or reset.
    pub last: i64,
}

/// One row of the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// Unix time.
    pub time: i64,
    /// The client's identity.
    pub client: String,
    /// `identify`, `verify`, `classify`, or `reset` (an operator's budget reset).
    pub mode: String,
    /// The claimed identity in 1:1 mode, the model's name in classification.
    pub identity: Option<String>,
    /// n', the number of scores.
    pub scores: u32,
    /// Who was to learn the bit: `verifier`, `holder` or `both`.
    pub output: String,
    /// False for a query refused because the budget was used up.
    pub charged: bool,
    /// The outcome, when the holder learnt it: the bit (1 match, 0 no match), or the class
    /// index in classification.
    pub outcome: Option<u32>,
}

/// A query as the ledger records it.
#[derive(Clone, Copy, Debug)]
pub struct QueryEntry<'a> {
    /// The client's identity.
    pub client: &'a str,
    /// `identify`, `verify` or `classify`.
    pub mode: &'a str,
    /// The claimed identity in 1:1 mode, the model's name in classification.
    pub identity: Option<&'a str>,
    /// n'.
    pub scores: u32,
    /// `verifier`, `holder` or `both`.
    pub output: &'a str,
}

/// The query ledger of one gallery file.
pub struct Ledger {
    conn: Mutex<Connection>,
    limit: Option<u32>,
}

impl Ledger {
    /// Opens the ledger of the gallery at `path` with `limit` queries per client (`None`:
    /// unlimited, which must be asked for explicitly by the caller).
    ///
    /// # Errors
    /// [`GalleryError::NotAGallery`] when `path` is not a gallery.
    pub fn open(path: &Path, limit: Option<u32>) -> Result<Self> {
        // Checks that this is a gallery of a schema this build reads.
        drop(crate::Gallery::open(path)?);
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
            limit,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (rusqlite rolls
        // back on drop), so the connection is still sound.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The limit per client.
    pub fn limit(&self) -> Option<u32> {
        self.limit
    }

    /// Charges one query: `Some(audit id)` when the client had a query left (the charge and
    /// its audit row are committed before this returns), `None` when its budget is used up
    /// (the refusal is logged, no count changes).
    pub fn charge(&self, query: &QueryEntry<'_>) -> Result<Option<i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let used: u64 = tx
            .query_row(
                "SELECT used FROM budget WHERE client = ?1",
                params![query.client],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .unwrap_or(0) as u64;
        let charged = self.limit.is_none_or(|limit| used < limit as u64);
        let time = now();
        if charged {
            tx.execute(
                "INSERT INTO budget (client, used, last) VALUES (?1, 1, ?2)
                 ON CONFLICT(client) DO UPDATE SET used = used + 1, last = ?2",
                params![query.client, time],
            )?;
        }
        tx.execute(
            "INSERT INTO audit (time, client, mode, identity, scores, output, charged)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                time,
                query.client,
                query.mode,
                query.identity,
                query.scores,
                query.output,
                charged
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(charged.then_some(id))
    }

    /// Records the outcome the holder learnt for the charged query `id` (the bit as 0 or 1, or
    /// the class index).
    pub fn record_outcome(&self, id: i64, outcome: u32) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE audit SET outcome = ?2 WHERE id = ?1 AND charged = 1",
            params![id, outcome],
        )?;
        if n != 1 {
            return Err(GalleryError::UnknownQuery(id));
        }
        Ok(())
    }

    /// Every client's use, most recent first.
    pub fn clients(&self) -> Result<Vec<ClientUsage>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT client, used, last FROM budget ORDER BY last DESC, client")?;
        let rows = stmt.query_map([], |r| {
            Ok(ClientUsage {
                client: r.get(0)?,
                used: r.get::<_, i64>(1)? as u64,
                last: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Gives `client` its whole budget back (an operator's decision, logged as a `reset` row);
    /// false when the client never asked.
    pub fn reset(&self, client: &str) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let time = now();
        let n = tx.execute(
            "UPDATE budget SET used = 0, last = ?2 WHERE client = ?1",
            params![client, time],
        )?;
        if n == 1 {
            tx.execute(
                "INSERT INTO audit (time, client, mode, scores, output, charged)
                 VALUES (?1, ?2, 'reset', 0, '', 0)",
                params![time, client],
            )?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// The last `count` audit rows, oldest first.
    pub fn audit(&self, count: usize) -> Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, time, client, mode, identity, scores, output, charged, outcome
             FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?1) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![count as i64], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                time: r.get(1)?,
                client: r.get(2)?,
                mode: r.get(3)?,
                identity: r.get(4)?,
                scores: r.get::<_, i64>(5)? as u32,
                output: r.get(6)?,
                charged: r.get(7)?,
                outcome: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Gallery;

    fn query<'a>(client: &'a str) -> QueryEntry<'a> {
        QueryEntry {
            client,
            mode: "identify",
            identity: None,
            scores: 16,
            output: "both",
        }
    }

    #[test]
    fn charges_survive_a_restart_and_stop_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sqlite");
        drop(Gallery::create(&path, 8).unwrap());
        {
            let ledger = Ledger::open(&path, Some(3)).unwrap();
            for _ in 0..2 {
                assert!(ledger.charge(&query("alice")).unwrap().is_some());
            }
            let id = ledger.charge(&query("bob")).unwrap().unwrap();
            ledger.record_outcome(id, 1).unwrap();
        }
        // A new process: the counts are where they were.
        let ledger = Ledger::open(&path, Some(3)).unwrap();
        assert!(ledger.charge(&query("alice")).unwrap().is_some());
        assert_eq!(ledger.charge(&query("alice")).unwrap(), None);
        assert_eq!(ledger.charge(&query("alice")).unwrap(), None);
        let usage = ledger.clients().unwrap();
        let alice = usage.iter().find(|u| u.client == "alice").unwrap();
        assert_eq!(alice.used, 3, "refusals do not count");
        let audit = ledger.audit(100).unwrap();
        assert_eq!(audit.len(), 6);
        assert_eq!(audit.iter().filter(|a| !a.charged).count(), 2);
        assert_eq!(audit[2].outcome, Some(1));
        assert_eq!(audit[0].outcome, None);
        // An operator's reset gives the budget back and is logged.
        assert!(ledger.reset("alice").unwrap());
        assert!(!ledger.reset("nobody").unwrap());
        assert!(ledger.charge(&query("alice")).unwrap().is_some());
        assert_eq!(ledger.audit(2).unwrap()[0].mode, "reset");
        // The gallery itself still opens and lists.
        assert_eq!(Gallery::open(&path).unwrap().count().unwrap(), 0);
    }

    #[test]
    fn concurrent_charges_are_counted_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sqlite");
        drop(Gallery::create(&path, 8).unwrap());
        let ledger = std::sync::Arc::new(Ledger::open(&path, Some(50)).unwrap());
        // Two ledgers on one file, as two holder processes would be.
        let other = std::sync::Arc::new(Ledger::open(&path, Some(50)).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let l = if i % 2 == 0 {
                    ledger.clone()
                } else {
                    other.clone()
                };
                std::thread::spawn(move || {
                    (0..10)
                        .filter(|_| l.charge(&query("carol")).unwrap().is_some())
                        .count()
                })
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 50);
        assert_eq!(ledger.clients().unwrap()[0].used, 50);
    }

    #[test]
    fn a_file_that_is_not_a_gallery_has_no_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.sqlite");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        assert!(matches!(
            Ledger::open(&path, None),
            Err(GalleryError::NotAGallery(_))
        ));
        assert!(Ledger::open(&dir.path().join("missing"), None).is_err());
    }
}
