//! The embedded store: [`SqliteStore`], one SQLite database holding readings and the fleet
//! repository.
//!
//! SQLite calls block, so every call runs on tokio's blocking pool. Writes go through one writer
//! connection (SQLite allows one writer at a time anyway); a file-backed store also keeps a few
//! reader connections, which in WAL mode read while the writer writes. An in-memory store has a
//! single connection for everything: private memory databases cannot be shared, and shared-cache
//! ones fail concurrent readers with `SQLITE_LOCKED` instead of waiting.

mod convert;
mod repository;
mod retention;
mod rollup;
mod schema;
mod telemetry;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use vehicleops_core::{Error, Result, StoreStatus};

/// The name this backend gives in errors and [`StoreStatus::backend`].
const BACKEND: &str = "sqlite";

/// How many reader connections a file-backed store opens. The machine class this targets has few
/// cores, and readers only help while the writer is busy.
const READER_CONNECTIONS: usize = 2;

/// How long a connection waits for a lock held by another connection (or process) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Rows written between background checkpoints. A checkpoint copies the WAL back into the
/// database file; run inline it would stall the writer, so a separate connection does it while
/// the writer goes on.
const CHECKPOINT_EVERY_ROWS: u64 = 100_000;

/// The writer's own automatic checkpoint, in WAL pages (4 KiB): only a backstop, for when
/// background checkpoints cannot keep up or cannot finish.
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 65_536;

/// The WAL file is cut back to this size when it restarts after a checkpoint, so one burst does
/// not leave a large file behind.
const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Prepared statements kept per connection; the store uses a few dozen distinct statements.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// Tuning for [`SqliteStore`]. The defaults suit the embedded pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Once the time-clustered table of new readings holds this many rows (or
    /// `compact_rows_per_vehicle` per vehicle, if more), its older half moves to the
    /// vehicle-clustered table. Larger means fewer, more efficient moves and more rows for
    /// queries to scan by time. Default 100,000.
    pub compact_after_rows: u64,
    /// Raises the threshold with the number of vehicles, so that each move carries several
    /// readings per vehicle: a move dirties at least one page per vehicle, and with thousands of
    /// vehicles and few rows each that page count is the cost. Default 40 (400,000 rows for
    /// 10,000 vehicles); 0 turns it off.
    pub compact_rows_per_vehicle: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            compact_after_rows: 100_000,
            compact_rows_per_vehicle: 40,
        }
    }
}

/// Maps a rusqlite error to the core error.
pub(crate) fn backend_error(err: rusqlite::Error) -> Error {
    Error::backend(BACKEND, err)
}

/// The embedded default store, implementing both
/// [`TimeSeriesStore`](vehicleops_core::TimeSeriesStore) and
/// [`FleetRepository`](vehicleops_core::FleetRepository).
///
/// Cloning is cheap and clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

struct Shared {
    writer: Mutex<Connection>,
    /// Empty for an in-memory store: reads then use the writer connection.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// `None` for an in-memory store.
    path: Option<PathBuf>,
    /// `None` for an in-memory store, which has no WAL.
    checkpointer: Option<Arc<Checkpointer>>,
    tiers: Arc<telemetry::Tiers>,
}

impl Drop for Shared {
    /// Closes the writer last. SQLite lets the connection that closes last (as far as file locks
    /// show; an idle connection holds none) delete the WAL and truncate the shared-memory index
    /// that other connections of this process still have mapped; touching it then is a SIGBUS.
    /// So the checkpointer and the readers go first, and a checkpoint in progress keeps the whole
    /// store alive until it is done (see `note_rows_written`).
    fn drop(&mut self) {
        self.checkpointer.take();
        self.readers.clear();
    }
}

/// Runs WAL checkpoints off the writer's path.
struct Checkpointer {
    conn: Mutex<Connection>,
    running: AtomicBool,
    rows_since_last: AtomicU64,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .field("readers", &self.shared.readers.len())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    ///
    /// The file uses write-ahead logging with `synchronous=NORMAL`: a committed batch survives a
    /// crash of the process; a power loss may drop the last few commits but never corrupts the
    /// file. This blocks while it opens and migrates; call it before serving or from
    /// `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// [`open`](Self::open) with explicit options.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut writer = Connection::open(&path).map_err(backend_error)?;
        configure(&writer)?;
        // WAL is a property of the file: set once by the writer, readers then share it.
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(backend_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::backend_msg(
                BACKEND,
                format!(
                    "{} cannot use write-ahead logging (journal mode {mode})",
                    path.display()
                ),
            ));
        }
        writer
            .execute_batch(&format!(
                "PRAGMA synchronous = NORMAL;
                 PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES};
                 PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES};"
            ))
            .map_err(backend_error)?;
        schema::migrate(&mut writer)?;
        let tiers = telemetry::Tiers::load(&writer, &options)?;

        let checkpointer = Connection::open(&path).map_err(backend_error)?;
        configure(&checkpointer)?;
        let checkpointer = Checkpointer {
            conn: Mutex::new(checkpointer),
            running: AtomicBool::new(false),
            rows_since_last: AtomicU64::new(0),
        };

        let readers = (0..READER_CONNECTIONS)
            .map(|_| {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let reader = Connection::open_with_flags(&path, flags).map_err(backend_error)?;
                configure(&reader)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::from_parts(
            writer,
            readers,
            Some(path),
            Some(Arc::new(checkpointer)),
            tiers,
        ))
    }

    /// A fresh, private in-memory database, gone when the last clone is dropped. Meant for tests,
    /// demos and short-lived runs.
    pub fn in_memory() -> Result<Self> {
        Self::in_memory_with(SqliteOptions::default())
    }

    /// [`in_memory`](Self::in_memory) with explicit options.
    pub fn in_memory_with(options: SqliteOptions) -> Result<Self> {
        let mut conn = Connection::open_in_memory().map_err(backend_error)?;
        configure(&conn)?;
        schema::migrate(&mut conn)?;
        let tiers = telemetry::Tiers::load(&conn, &options)?;
        Ok(Self::from_parts(conn, Vec::new(), None, None, tiers))
    }

    fn from_parts(
        writer: Connection,
        readers: Vec<Mutex<Connection>>,
        path: Option<PathBuf>,
        checkpointer: Option<Arc<Checkpointer>>,
        tiers: telemetry::Tiers,
    ) -> Self {
        SqliteStore {
            shared: Arc::new(Shared {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
                path,
                checkpointer,
                tiers: Arc::new(tiers),
            }),
        }
    }

    /// The writer's state of the two telemetry tables.
    fn tiers(&self) -> Arc<telemetry::Tiers> {
        Arc::clone(&self.shared.tiers)
    }

    /// The database file, `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.shared.path.as_deref()
    }

    /// Counts `rows` newly written and, every [`CHECKPOINT_EVERY_ROWS`], starts a passive
    /// checkpoint on the blocking pool unless one is still running. Passive: it never waits for
    /// (or blocks) the writer or readers; frames it cannot copy yet are copied next time.
    fn note_rows_written(&self, rows: u64) {
        let Some(checkpointer) = &self.shared.checkpointer else {
            return;
        };
        let since = checkpointer
            .rows_since_last
            .fetch_add(rows, Ordering::Relaxed)
            + rows;
        if since < CHECKPOINT_EVERY_ROWS || checkpointer.running.swap(true, Ordering::AcqRel) {
            return;
        }
        checkpointer.rows_since_last.store(0, Ordering::Relaxed);
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let Some(checkpointer) = &shared.checkpointer else {
                return;
            };
            let conn = checkpointer
                .conn
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                tracing::warn!(error = %e, "background WAL checkpoint failed");
            }
            checkpointer.running.store(false, Ordering::Release);
        });
    }

    /// Runs `work` with the writer connection on the blocking pool.
    async fn with_writer<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        run_blocking(move || {
            // A panic while holding the lock leaves no open transaction behind (rusqlite rolls
            // back on drop), so the connection is still sound.
            let mut conn = shared.writer.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut conn)
        })
        .await
    }

    /// Runs `work` with a reader connection (the writer for in-memory stores) on the blocking
    /// pool.
    async fn with_reader<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        run_blocking(move || {
            let slot = if shared.readers.is_empty() {
                &shared.writer
            } else {
                let i = shared.next_reader.fetch_add(1, Ordering::Relaxed) % shared.readers.len();
                &shared.readers[i]
            };
            let conn = slot.lock().unwrap_or_else(PoisonError::into_inner);
            work(&conn)
        })
        .await
    }

    /// Backend, SQLite version and the settings in use.
    async fn store_status(&self) -> Result<StoreStatus> {
        let file_backed = self.shared.path.is_some();
        self.with_reader(move |conn| {
            let version: String = conn
                .query_row("SELECT sqlite_version()", [], |row| row.get(0))
                .map_err(backend_error)?;
            let features = if file_backed {
                vec!["file".into(), "wal".into(), "synchronous=normal".into()]
            } else {
                vec!["in-memory".into()]
            };
            Ok(StoreStatus {
                backend: BACKEND.into(),
                version,
                features,
            })
        })
        .await
    }
}

/// Per-connection settings.
fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    // foreign_keys: vehicles must belong to a known fleet.
    // temp_store / cache_size: sorting and grouping for analytics stay in memory; 64 MiB of page
    // cache keeps the hot end of the telemetry b-tree resident while ingesting.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )
    .map_err(backend_error)
}

async fn run_blocking<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::backend_msg(BACKEND, format!("blocking database task failed: {e}")))?
}
