//! The object's SQL schema: an ordered list of versioned migrations and the version storage
//! records (table `schema_version`). Version 0 is the layout before any table: the KV keys
//! `hub`, `forwards` and `s:<sid>` only, which every version keeps as they are, so an object
//! written by it upgrades in place. To change the schema, append a migration with the next
//! version (statements that may run again harmlessly: `IF NOT EXISTS`); never edit one that
//! shipped. The plan is pure (tested natively); [`migrate`] applies it to an object's storage.

/// One step of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: u32,
    /// What the step adds, for logs and readers.
    pub what: &'static str,
    pub sql: &'static [&'static str],
}

/// Every migration, in order of version (1, 2, ...).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "the connection state recovery outbox",
        sql: &[
            "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, pid TEXT NOT NULL, \
             at INTEGER NOT NULL, packet TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS outbox_pid ON outbox (pid)",
        ],
    },
    Migration {
        version: 2,
        what: "the prompt history",
        sql: &[HISTORY_TABLES],
    },
];

/// The history table. `AUTOINCREMENT`: a `seq` is never reused, even after `clear-history`,
/// so a cursor never points into newer rows. `HISTORY_MAX_ITEMS` lives in `history_bound`
/// (written by the history module when it changed) and a trigger drops the rows beyond it within each
/// insert (`session::history::count_cutoff`), so recording a prompt is one statement.
pub const HISTORY_TABLES: &str = "CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    response TEXT,
    status TEXT NOT NULL,
    code TEXT,
    created_at INTEGER NOT NULL,
    completed_at INTEGER,
    truncated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS history_by_request ON history (request_id);
CREATE TABLE IF NOT EXISTS history_bound (max_items INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS history_keep_newest AFTER INSERT ON history BEGIN
    DELETE FROM history WHERE seq <= NEW.seq - (SELECT max_items FROM history_bound);
END;";

/// Where the version is recorded (one row).
pub const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)";

/// The version the code expects.
pub fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The migrations an object at version `stored` still needs, in order.
pub fn pending(stored: u32) -> &'static [Migration] {
    let first = MIGRATIONS
        .iter()
        .position(|m| m.version > stored)
        .unwrap_or(MIGRATIONS.len());
    &MIGRATIONS[first..]
}

/// Brings the object's tables to [`latest`]; returns the version it found.
#[cfg(target_arch = "wasm32")]
pub fn migrate(sql: &worker::SqlStorage) -> worker::Result<u32> {
    sql.exec_raw(VERSION_TABLE, None)?;
    let mut stored = 0;
    for row in sql.exec_raw("SELECT version FROM schema_version", None)? {
        let v = js_sys::Reflect::get(&row?, &"version".into()).ok();
        stored = stored.max(v.and_then(|v| v.as_f64()).unwrap_or(0.0) as u32);
    }
    for m in pending(stored) {
        for q in m.sql {
            sql.exec_raw(q, None)?;
        }
    }
    if stored != latest() {
        sql.exec_raw("DELETE FROM schema_version", None)?;
        let version = vec![f64::from(latest()).into()];
        sql.exec_raw("INSERT INTO schema_version (version) VALUES (?)", version)?;
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.what);
            assert!(!m.sql.is_empty());
        }
        assert_eq!(latest(), MIGRATIONS.len() as u32);
    }

    #[test]
    fn the_previous_layout_gets_every_step_and_the_latest_none() {
        assert_eq!(pending(0), MIGRATIONS, "version 0: the KV keys only");
        assert!(pending(latest()).is_empty());
        assert!(
            pending(latest() + 1).is_empty(),
            "a newer object is left alone"
        );
        for v in 0..latest() {
            assert_eq!(pending(v).first().map(|m| m.version), Some(v + 1));
        }
    }

    #[test]
    fn every_statement_may_run_again() {
        for m in MIGRATIONS {
            for q in m.sql {
                assert!(q.contains("IF NOT EXISTS"), "{q}");
            }
        }
        assert!(VERSION_TABLE.contains("IF NOT EXISTS"));
    }

    #[test]
    fn the_outbox_table_holds_what_an_entry_holds() {
        let outbox = MIGRATIONS
            .iter()
            .flat_map(|m| m.sql)
            .find(|q| q.contains("TABLE IF NOT EXISTS outbox"));
        let q = outbox.expect("a migration creates the outbox");
        for col in [
            "seq INTEGER PRIMARY KEY",
            "pid TEXT",
            "at INTEGER",
            "packet TEXT",
        ] {
            assert!(q.contains(col), "{col}");
        }
    }
}
