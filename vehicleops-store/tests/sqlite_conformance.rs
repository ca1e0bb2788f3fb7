//! The shared store conformance suite against the embedded store: in memory, file-backed, and
//! compacting after every couple of rows so every query reads both telemetry tables.
#![cfg(feature = "sqlite")]

use std::sync::Arc;

use vehicleops_store::testing::Store;
use vehicleops_store::{SqliteOptions, SqliteStore};

mod in_memory {
    use super::*;

    async fn fresh_stores() -> Store {
        Arc::new(SqliteStore::in_memory().expect("open in-memory store"))
    }

    vehicleops_store::store_conformance_tests!(fresh_stores);
}

/// The file-backed store reads through separate reader connections, so it runs the suite too.
mod file_backed {
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    async fn fresh_stores() -> Store {
        // Cargo's scratch directory for integration tests; each call gets its own file (tests run
        // in parallel), and leftovers of an earlier run are removed first.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sqlite-conformance");
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        let path = dir.join(format!("{}.db", NEXT.fetch_add(1, Ordering::Relaxed)));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        Arc::new(SqliteStore::open(&path).expect("open file store"))
    }

    vehicleops_store::store_conformance_tests!(fresh_stores);
}

/// With a tiny recent table, most readings the checks write have moved to the vehicle-clustered
/// table by the time they are read, and late readings go there directly.
mod compacting {
    use super::*;

    async fn fresh_stores() -> Store {
        let options = SqliteOptions {
            compact_after_rows: 2,
            compact_rows_per_vehicle: 0,
        };
        Arc::new(SqliteStore::in_memory_with(options).expect("open in-memory store"))
    }

    vehicleops_store::store_conformance_tests!(fresh_stores);
}
