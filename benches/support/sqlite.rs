//! The SQLite baseline: what a user would build instead of pipeline-deps. WAL journal with
//! `synchronous=FULL` (every commit fsyncs the WAL: as durable as a redb commit), a specs
//! table keyed by (context, name) holding the spec as JSON, an index on the step type, and a
//! catalog row per context (step and type counts, revision) updated in the same transaction.

use std::path::Path;

use pipeline_deps::StepSpecification;
use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS catalog (
        context TEXT PRIMARY KEY,
        step_count INTEGER NOT NULL,
        step_type_count INTEGER NOT NULL,
        revision INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS specs (
        context TEXT NOT NULL,
        name TEXT NOT NULL,
        step_type TEXT NOT NULL,
        spec TEXT NOT NULL,
        PRIMARY KEY (context, name)
    );
    CREATE INDEX IF NOT EXISTS specs_by_type ON specs (context, step_type);
";

/// Opens (creating) a registry database in SQLite, WAL and `synchronous=FULL`.
pub fn open(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open sqlite");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous=FULL");
    conn.busy_timeout(std::time::Duration::from_secs(60))
        .expect("busy timeout");
    conn.execute_batch(SCHEMA).expect("schema");
    conn
}

/// Creates context `context` (an empty catalog row) if missing.
pub fn create_context(conn: &Connection, context: &str) {
    conn.execute(
        "INSERT OR IGNORE INTO catalog VALUES (?1, 0, 0, 0)",
        params![context],
    )
    .expect("create context");
}

/// Spec as stored: JSON.
pub fn json(spec: &StepSpecification) -> String {
    serde_json::to_string(spec).expect("a spec serialises")
}

/// Inserts one spec (refusing a taken name) and updates the counts, inside the caller's
/// transaction.
fn put(conn: &Connection, context: &str, name: &str, step_type: &str, json: &str) {
    let new_type: bool = conn
        .prepare_cached("SELECT 1 FROM specs WHERE context = ?1 AND step_type = ?2 LIMIT 1")
        .expect("prepare")
        .query_row(params![context, step_type], |_| Ok(()))
        .optional()
        .expect("type lookup")
        .is_none();
    conn.prepare_cached("INSERT INTO specs VALUES (?1, ?2, ?3, ?4)")
        .expect("prepare")
        .execute(params![context, name, step_type, json])
        .expect("insert (a taken name fails)");
    conn.prepare_cached(
        "UPDATE catalog SET step_count = step_count + 1, step_type_count = step_type_count + ?2, revision = revision + 1 WHERE context = ?1",
    )
    .expect("prepare")
    .execute(params![context, i64::from(new_type)])
    .expect("update catalog");
}

/// One durable registration: one transaction.
pub fn register(conn: &Connection, context: &str, name: &str, spec: &StepSpecification) {
    let json = json(spec);
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    put(conn, context, name, &spec.step_type, &json);
    conn.execute_batch("COMMIT").expect("commit");
}

/// Many registrations in one transaction.
pub fn register_many(conn: &Connection, context: &str, items: &[(String, StepSpecification)]) {
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    for (name, spec) in items {
        put(conn, context, name, &spec.step_type, &json(spec));
    }
    conn.execute_batch("COMMIT").expect("commit");
}

/// Deletes a context's specs and resets its counts.
pub fn clear(conn: &Connection, context: &str) {
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    conn.execute("DELETE FROM specs WHERE context = ?1", params![context])
        .expect("delete");
    conn.execute(
        "UPDATE catalog SET step_count = 0, step_type_count = 0, revision = revision + 1 WHERE context = ?1",
        params![context],
    )
    .expect("reset");
    conn.execute_batch("COMMIT").expect("commit");
}

/// One spec, decoded (what a caller of `get_specification` gets).
pub fn get(conn: &Connection, context: &str, name: &str) -> Option<StepSpecification> {
    let text: Option<String> = conn
        .prepare_cached("SELECT spec FROM specs WHERE context = ?1 AND name = ?2")
        .expect("prepare")
        .query_row(params![context, name], |row| row.get(0))
        .optional()
        .expect("select");
    text.map(|t| serde_json::from_str(&t).expect("stored JSON parses"))
}

/// Every context's counts.
pub fn stats(conn: &Connection) -> Vec<(String, i64, i64)> {
    conn.prepare_cached("SELECT context, step_count, step_type_count FROM catalog")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}
