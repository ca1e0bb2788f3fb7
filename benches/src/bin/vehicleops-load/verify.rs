//! The loss and duplicate check: every produced reading (vehicle, seq 1..=k) must be stored
//! exactly once. Counted per vehicle in the store, compared with what the producer sent.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use sqlx::PgPool;

/// Stored rows of one vehicle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredCounts {
    pub rows: u64,
    pub distinct_seqs: u64,
    pub max_seq: u64,
}

/// The outcome of the check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub produced: u64,
    pub stored_rows: u64,
    /// Produced readings not in the store.
    pub lost: u64,
    /// Rows beyond the first for the same reading.
    pub duplicated: u64,
    /// Stored readings the producer never sent (seq beyond what it sent).
    pub unexpected: u64,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.unexpected == 0
    }
}

/// Compares the producer's per-vehicle counts (`sent[i]` readings with seq 1..=sent[i] for
/// vehicle `ids[i]`) with the store's.
pub fn compare(ids: &[String], sent: &[u64], stored: &HashMap<String, StoredCounts>) -> Verdict {
    let mut v = Verdict::default();
    for (id, &k) in ids.iter().zip(sent) {
        v.produced += k;
        let s = stored.get(id).copied().unwrap_or_default();
        v.stored_rows += s.rows;
        v.duplicated += s.rows - s.distinct_seqs;
        let beyond = s.max_seq.saturating_sub(k);
        v.unexpected += beyond;
        v.lost += k.saturating_sub(s.distinct_seqs - beyond.min(s.distinct_seqs));
    }
    v.unexpected += stored
        .iter()
        .filter(|(id, _)| !ids.contains(id))
        .map(|(_, s)| s.distinct_seqs)
        .sum::<u64>();
    v
}

/// Per-vehicle counts of the run's vehicles in PostgreSQL.
pub async fn postgres_counts(pool: &PgPool, prefix: &str) -> Result<HashMap<String, StoredCounts>> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT vehicle_id, count(*), count(DISTINCT seq), max(seq)
           FROM vehicleops.telemetry WHERE vehicle_id LIKE $1 GROUP BY vehicle_id",
    )
    .bind(format!("{prefix}-%"))
    .fetch_all(pool)
    .await
    .context("counting stored readings")?;
    Ok(rows
        .into_iter()
        .map(|(id, rows, distinct, max)| {
            (
                id,
                StoredCounts {
                    rows: rows as u64,
                    distinct_seqs: distinct as u64,
                    max_seq: max as u64,
                },
            )
        })
        .collect())
}

/// Per-vehicle counts in an embedded (SQLite) store file, read after the server stopped.
/// Every reading lives in exactly one of `telemetry` and `telemetry_recent`.
pub fn sqlite_counts(path: &Path, prefix: &str) -> Result<HashMap<String, StoredCounts>> {
    let conn =
        rusqlite::Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut stmt = conn.prepare(
        "SELECT vehicle_id, count(*), count(DISTINCT seq), max(seq) FROM (
             SELECT vehicle_id, seq FROM telemetry WHERE vehicle_id LIKE ?1
             UNION ALL
             SELECT vehicle_id, seq FROM telemetry_recent WHERE vehicle_id LIKE ?1)
         GROUP BY vehicle_id",
    )?;
    let rows = stmt.query_map([format!("{prefix}-%")], |r| {
        Ok((
            r.get::<_, String>(0)?,
            StoredCounts {
                rows: r.get::<_, i64>(1)? as u64,
                distinct_seqs: r.get::<_, i64>(2)? as u64,
                max_seq: r.get::<_, i64>(3)? as u64,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["v-0".into(), "v-1".into()]
    }

    fn counts(rows: u64, distinct_seqs: u64, max_seq: u64) -> StoredCounts {
        StoredCounts {
            rows,
            distinct_seqs,
            max_seq,
        }
    }

    #[test]
    fn exact_store_passes() {
        let stored = HashMap::from([
            ("v-0".into(), counts(3, 3, 3)),
            ("v-1".into(), counts(2, 2, 2)),
        ]);
        let v = compare(&ids(), &[3, 2], &stored);
        assert!(v.ok(), "{v:?}");
        assert_eq!((v.produced, v.stored_rows), (5, 5));
    }

    #[test]
    fn missing_vehicle_and_missing_rows_are_lost() {
        let stored = HashMap::from([("v-0".into(), counts(2, 2, 3))]);
        let v = compare(&ids(), &[3, 2], &stored);
        assert_eq!(v.lost, 3);
        assert!(!v.ok());
    }

    #[test]
    fn duplicates_and_strangers_are_reported() {
        let stored = HashMap::from([
            ("v-0".into(), counts(4, 3, 3)),
            ("v-1".into(), counts(3, 3, 3)),
            ("v-9".into(), counts(1, 1, 1)),
        ]);
        let v = compare(&ids(), &[3, 2], &stored);
        assert_eq!(v.duplicated, 1);
        assert_eq!(v.unexpected, 2);
        assert_eq!(v.lost, 0);
    }
}
