//! Exports: a fleet's telemetry, alerts, commands or missions over a window, as CSV or Parquet,
//! streamed.
//!
//! The store is read a page at a time (10,000 records) and each page is encoded and handed on
//! before the next is read, so memory stays flat however long the window: one page, plus for
//! Parquet the row group being built (at most [`PARQUET_ROW_GROUP`] rows). A consumer that
//! stops reading holds the producer back (a bounded channel); one that goes away stops it.
//!
//! Each kind's columns are listed once ([`Column`]) and drive both encodings, so the CSV header
//! and the Parquet schema cannot drift apart. Times are UTC: RFC 3339 with microseconds in CSV,
//! `timestamp[us, tz=UTC]` in Parquet; absent values are empty cells / nulls.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use vehicleops_core::{
    Alert, Command, Error, FleetStore, Mission, RecordsQuery, ReportQuery, Result, Telemetry,
    TimeRange, VehicleDay,
};

use crate::Engine;
use crate::history::{HistoryPages, RecordPages};

/// Rows per Parquet row group: large enough for good compression and fast scans, small enough
/// that the group being built stays a few megabytes.
pub const PARQUET_ROW_GROUP: usize = 65_536;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportKind {
    Telemetry,
    Alerts,
    Commands,
    Missions,
}

impl ExportKind {
    pub const ALL: [ExportKind; 4] = [
        ExportKind::Telemetry,
        ExportKind::Alerts,
        ExportKind::Commands,
        ExportKind::Missions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportKind::Telemetry => "telemetry",
            ExportKind::Alerts => "alerts",
            ExportKind::Commands => "commands",
            ExportKind::Missions => "missions",
        }
    }

    /// Parses a kind's name (`telemetry`, `alerts`, `commands`, `missions`).
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| {
                Error::validation(
                    "kind",
                    format!(
                        "unknown export `{name}`; one of telemetry, alerts, commands, missions"
                    ),
                )
            })
    }

    /// The column names, in file order.
    pub fn columns(self) -> Vec<&'static str> {
        fn names<T>(columns: &[Column<T>]) -> Vec<&'static str> {
            columns.iter().map(|c| c.name).collect()
        }
        match self {
            ExportKind::Telemetry => names(TELEMETRY_COLUMNS),
            ExportKind::Alerts => names(ALERT_COLUMNS),
            ExportKind::Commands => names(COMMAND_COLUMNS),
            ExportKind::Missions => names(MISSION_COLUMNS),
        }
    }
}

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExportFormat {
    /// RFC 4180, a header row, UTF-8.
    #[default]
    Csv,
    /// Apache Parquet, snappy-compressed.
    Parquet,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }

    /// Parses `csv` or `parquet`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "csv" => Ok(ExportFormat::Csv),
            "parquet" => Ok(ExportFormat::Parquet),
            other => Err(Error::validation(
                "format",
                format!("unknown format `{other}`; csv or parquet"),
            )),
        }
    }

    /// The format a file name asks for: `.csv`, or `.parquet` / `.pq` (any case); a validation
    /// error naming `format` otherwise.
    pub fn for_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => Ok(ExportFormat::Csv),
            Some("parquet" | "pq") => Ok(ExportFormat::Parquet),
            _ => Err(Error::validation(
                "format",
                format!(
                    "cannot tell the format from `{}`; name a .csv or .parquet file or give the \
                     format",
                    path.display()
                ),
            )),
        }
    }

    /// The HTTP media type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// An export: one kind of record of one fleet (optionally one of its vehicles) over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    pub kind: ExportKind,
    pub format: ExportFormat,
    pub fleet_id: String,
    /// Only this vehicle's records (which must be the fleet's); every vehicle when `None`.
    pub vehicle_id: Option<String>,
    /// Inclusive at both ends; at most [`Engine::EXPORT_MAX_DAYS`] long. Telemetry by reading
    /// time, alerts by trigger time, commands by issue time, missions by creation time.
    pub range: TimeRange,
}

impl ExportRequest {
    /// A file name that says what the file holds, e.g.
    /// `fleet-a_telemetry_20261201T000000Z_20261202T000000Z.parquet`.
    pub fn file_name(&self) -> String {
        let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
        let scope = match &self.vehicle_id {
            Some(v) => format!("{}_{v}", self.fleet_id),
            None => self.fleet_id.clone(),
        };
        format!(
            "{}_{}_{}_{}.{}",
            portable(&scope),
            self.kind.as_str(),
            stamp(self.range.from),
            stamp(self.range.to),
            self.format.as_str()
        )
    }
}

/// A file name for a daily report, e.g. `fleet-a_report_2026-11-24_2026-11-30.csv`.
pub fn report_file_name(query: &ReportQuery, format: ExportFormat) -> String {
    let scope = match &query.vehicle_id {
        Some(v) => format!("{}_{v}", query.fleet_id),
        None => query.fleet_id.clone(),
    };
    format!(
        "{}_report_{}_{}.{}",
        portable(&scope),
        query.from,
        query.to,
        format.as_str()
    )
}

/// Ids are free text: a file name keeps ASCII letters, digits, `-` and `_`.
fn portable(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// An export under way: the file's bytes in chunks, in order. Reading it drives the export;
/// dropping it stops it.
pub struct ExportStream {
    chunks: mpsc::Receiver<Result<Vec<u8>>>,
    rows: Arc<AtomicU64>,
}

impl ExportStream {
    /// The next piece of the file; `None` at its end. An error ends the stream (what came before
    /// it is not a complete file).
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<u8>>> {
        self.chunks.recv().await
    }

    /// Records encoded so far (all of them once the stream has ended).
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Writes the whole file to `path` (replacing it) and returns how many records it holds.
    /// A failed export leaves no file behind.
    pub async fn write_to(self, path: impl AsRef<Path>) -> Result<u64> {
        self.write_to_with_progress(path, |_, _| {}).await
    }

    /// [`Self::write_to`], calling `progress(records, bytes)` after each piece written (for a
    /// progress bar).
    pub async fn write_to_with_progress(
        mut self,
        path: impl AsRef<Path>,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<u64> {
        let path = path.as_ref();
        let io =
            |e: std::io::Error| Error::backend_msg("export", format!("{}: {e}", path.display()));
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let written: Result<()> = async {
            let mut bytes = 0u64;
            while let Some(chunk) = self.next_chunk().await {
                let chunk = chunk?;
                file.write_all(&chunk).await.map_err(io)?;
                bytes += chunk.len() as u64;
                progress(self.rows(), bytes);
            }
            file.flush().await.map_err(io)
        }
        .await;
        if let Err(e) = written {
            drop(file);
            let _ = tokio::fs::remove_file(path).await;
            return Err(e);
        }
        Ok(self.rows())
    }
}

impl Engine {
    /// Longest window an export may span, in days.
    pub const EXPORT_MAX_DAYS: i64 = 366;

    /// Starts an export, read through the returned [`ExportStream`]: page by page from the
    /// store, so memory stays flat over any window. The request is checked first — the
    /// window's length, that the fleet is known (registered, or sent readings) and that the
    /// vehicle (registered, or known from its readings) is the fleet's — so a bad request
    /// fails here, before any byte; a store failure later ends the stream with the error.
    pub async fn export(&self, request: ExportRequest) -> Result<ExportStream> {
        if request.range.to - request.range.from > chrono::Duration::days(Self::EXPORT_MAX_DAYS) {
            return Err(Error::validation(
                "from",
                format!(
                    "an export may span at most {} days; split the range",
                    Self::EXPORT_MAX_DAYS
                ),
            ));
        }
        self.check_fleet_scope(&request.fleet_id, request.vehicle_id.as_deref())
            .await?;
        let store = self.store().clone();
        Ok(ExportStream::spawn(move |out| async move {
            match request.kind {
                ExportKind::Telemetry => export_telemetry(store, &request, out).await,
                ExportKind::Alerts => export_records::<Alert>(store, &request, out).await,
                ExportKind::Commands => export_records::<Command>(store, &request, out).await,
                ExportKind::Missions => export_records::<Mission>(store, &request, out).await,
            }
        }))
    }

    /// Checks that a fleet is known (registered, or readings were sent for it) and, when given,
    /// that the vehicle (registered, or known from its readings, as the API treats vehicles) is
    /// the fleet's: not found, or a validation error naming `vehicle_id`.
    pub(crate) async fn check_fleet_scope(
        &self,
        fleet_id: &str,
        vehicle_id: Option<&str>,
    ) -> Result<()> {
        let store = self.store();
        if store.get_fleet(fleet_id).await?.is_none()
            && store.latest_for_fleet(fleet_id).await?.is_empty()
        {
            return Err(Error::not_found("fleet", fleet_id));
        }
        if let Some(vehicle_id) = vehicle_id {
            let vehicle_fleet = match store.get_vehicle(vehicle_id).await? {
                Some(vehicle) => vehicle.fleet_id,
                None => match store.latest(vehicle_id).await? {
                    Some(reading) => reading.fleet_id,
                    None => return Err(Error::not_found("vehicle", vehicle_id)),
                },
            };
            if vehicle_fleet != fleet_id {
                return Err(Error::validation(
                    "vehicle_id",
                    format!("vehicle {vehicle_id} is not in fleet {fleet_id}"),
                ));
            }
        }
        Ok(())
    }
}

impl ExportStream {
    /// Runs `produce` on its own task, its output read through the stream; an error it returns
    /// ends the stream.
    pub(crate) fn spawn<F, Fut>(produce: F) -> Self
    where
        F: FnOnce(Output) -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        // Two chunks in flight: the store read of the next page overlaps the send of this one.
        let (tx, chunks) = mpsc::channel(2);
        let rows = Arc::new(AtomicU64::new(0));
        let out = Output {
            tx: tx.clone(),
            rows: rows.clone(),
        };
        tokio::spawn(async move {
            if let Err(e) = produce(out).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        ExportStream { chunks, rows }
    }
}

/// Where encoded pages go.
pub(crate) struct Output {
    tx: mpsc::Sender<Result<Vec<u8>>>,
    rows: Arc<AtomicU64>,
}

/// Why an export stopped early without an error: nobody reads it any more.
struct ReaderGone;

impl Output {
    async fn send(&self, bytes: Vec<u8>) -> std::result::Result<(), ReaderGone> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.tx.send(Ok(bytes)).await.map_err(|_| ReaderGone)
    }
}

/// Encodes pages of `T` in `format` and sends them on.
struct Writer<T: 'static> {
    columns: &'static [Column<T>],
    schema: SchemaRef,
    encoder: Encoder,
    out: Output,
}

enum Encoder {
    Csv { header: bool },
    Parquet(Box<ArrowWriter<Vec<u8>>>),
}

impl<T> Writer<T> {
    fn new(columns: &'static [Column<T>], format: ExportFormat, out: Output) -> Result<Self> {
        let schema = schema(columns);
        let encoder = match format {
            ExportFormat::Csv => Encoder::Csv { header: false },
            ExportFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP))
                    .set_created_by(format!("vehicleops {}", env!("CARGO_PKG_VERSION")))
                    .build();
                let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
                    .map_err(parquet_error)?;
                Encoder::Parquet(Box::new(writer))
            }
        };
        Ok(Writer {
            columns,
            schema,
            encoder,
            out,
        })
    }

    /// Encodes `rows` and sends what is ready.
    async fn page(&mut self, rows: &[T]) -> Result<std::result::Result<(), ReaderGone>> {
        if rows.is_empty() {
            return Ok(Ok(()));
        }
        let bytes = match &mut self.encoder {
            Encoder::Csv { header } => {
                let bytes = csv_page(self.columns, rows, !*header)?;
                *header = true;
                bytes
            }
            Encoder::Parquet(writer) => {
                writer
                    .write(&batch(self.columns, &self.schema, rows)?)
                    .map_err(parquet_error)?;
                // Bytes of row groups already flushed; taking them leaves the writer's own
                // offsets intact (it counts what it wrote, not what the vector holds).
                std::mem::take(writer.inner_mut())
            }
        };
        self.out
            .rows
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        Ok(self.out.send(bytes).await)
    }

    /// Ends the file: a header alone for an empty CSV, the last row group and footer for
    /// Parquet.
    async fn finish(mut self) -> Result<()> {
        let bytes = match &mut self.encoder {
            Encoder::Csv { header: true } => Vec::new(),
            Encoder::Csv { header: false } => csv_page::<T>(self.columns, &[], true)?,
            Encoder::Parquet(writer) => {
                writer.finish().map_err(parquet_error)?;
                std::mem::take(writer.inner_mut())
            }
        };
        let _ = self.out.send(bytes).await;
        Ok(())
    }
}

fn parquet_error(e: impl std::fmt::Display) -> Error {
    Error::backend_msg("parquet", e.to_string())
}

/// The fleet's readings, vehicle by vehicle (by id), each oldest first. The vehicles are the
/// fleet's registered ones and any that report for it; a reading is exported when it was sent
/// for the fleet (a vehicle that moved between fleets appears in each for its own time there).
async fn export_telemetry(
    store: Arc<dyn FleetStore>,
    request: &ExportRequest,
    out: Output,
) -> Result<()> {
    let vehicles = match &request.vehicle_id {
        Some(v) => vec![v.clone()],
        None => {
            let mut ids: Vec<String> = store
                .list_vehicles(&request.fleet_id)
                .await?
                .into_iter()
                .map(|v| v.id)
                .chain(
                    store
                        .latest_for_fleet(&request.fleet_id)
                        .await?
                        .into_iter()
                        .map(|t| t.vehicle_id),
                )
                .collect();
            ids.sort();
            ids.dedup();
            ids
        }
    };
    let mut writer = Writer::new(TELEMETRY_COLUMNS, request.format, out)?;
    for vehicle_id in vehicles {
        let mut pages = HistoryPages::new(&vehicle_id, request.range);
        while let Some(mut page) = pages.next(&*store).await? {
            page.retain(|t| t.fleet_id == request.fleet_id);
            if writer.page(&page).await?.is_err() {
                return Ok(());
            }
        }
    }
    writer.finish().await
}

impl Engine {
    /// A daily report ([`Engine::fleet_report`]) as a file: one row per vehicle and day, by day
    /// then vehicle. The report is computed (and checked) first, so a bad query fails here.
    pub async fn export_report(
        &self,
        query: ReportQuery,
        format: ExportFormat,
    ) -> Result<ExportStream> {
        let report = self.fleet_report(query).await?;
        Ok(ExportStream::spawn(move |out| async move {
            let mut writer = Writer::new(REPORT_COLUMNS, format, out)?;
            for page in report.days.chunks(RecordsQuery::MAX_LIMIT as usize) {
                if writer.page(page).await?.is_err() {
                    return Ok(());
                }
            }
            writer.finish().await
        }))
    }
}

/// Alerts, commands and missions: what [`export_records`] needs to page through them.
#[async_trait]
trait FleetRecord: Sized + Send + Sync + 'static {
    const COLUMNS: &'static [Column<Self>];
    /// `(time, id)`: the keyset order of [`RecordsQuery`].
    fn key(&self) -> (DateTime<Utc>, &str);
    fn vehicle_id(&self) -> &str;
    async fn page(store: &dyn FleetStore, query: &RecordsQuery) -> Result<Vec<Self>>;
}

#[async_trait]
impl FleetRecord for Alert {
    const COLUMNS: &'static [Column<Self>] = ALERT_COLUMNS;
    fn key(&self) -> (DateTime<Utc>, &str) {
        (self.triggered_at, &self.id)
    }
    fn vehicle_id(&self) -> &str {
        &self.vehicle_id
    }
    async fn page(store: &dyn FleetStore, query: &RecordsQuery) -> Result<Vec<Self>> {
        store.alerts_between(query).await
    }
}

#[async_trait]
impl FleetRecord for Command {
    const COLUMNS: &'static [Column<Self>] = COMMAND_COLUMNS;
    fn key(&self) -> (DateTime<Utc>, &str) {
        (self.issued_at, &self.id)
    }
    fn vehicle_id(&self) -> &str {
        &self.vehicle_id
    }
    async fn page(store: &dyn FleetStore, query: &RecordsQuery) -> Result<Vec<Self>> {
        store.commands_between(query).await
    }
}

#[async_trait]
impl FleetRecord for Mission {
    const COLUMNS: &'static [Column<Self>] = MISSION_COLUMNS;
    fn key(&self) -> (DateTime<Utc>, &str) {
        (self.created_at, &self.id)
    }
    fn vehicle_id(&self) -> &str {
        &self.vehicle_id
    }
    async fn page(store: &dyn FleetStore, query: &RecordsQuery) -> Result<Vec<Self>> {
        store.missions_between(query).await
    }
}

/// The fleet's records of the window, oldest first.
async fn export_records<T: FleetRecord>(
    store: Arc<dyn FleetStore>,
    request: &ExportRequest,
    out: Output,
) -> Result<()> {
    let mut writer = Writer::new(T::COLUMNS, request.format, out)?;
    let mut pages = RecordPages::new(&request.fleet_id, request.range);
    let store: &dyn FleetStore = &*store;
    while let Some(mut page) = pages
        .next(|query| async move { T::page(store, &query).await }, T::key)
        .await?
    {
        if let Some(v) = &request.vehicle_id {
            page.retain(|r| r.vehicle_id() == v);
        }
        if writer.page(&page).await?.is_err() {
            return Ok(());
        }
    }
    writer.finish().await
}

// ---------------------------------------------------------------------------------------------
// Columns
// ---------------------------------------------------------------------------------------------

/// One cell of a row.
enum Cell<'a> {
    Text(&'a str),
    Owned(String),
    Float(f64),
    UInt(u64),
    Bool(bool),
    Time(DateTime<Utc>),
    Null,
}

impl<'a> Cell<'a> {
    fn opt_text(value: &'a Option<String>) -> Self {
        value.as_deref().map_or(Cell::Null, Cell::Text)
    }

    fn opt_time(value: Option<DateTime<Utc>>) -> Self {
        value.map_or(Cell::Null, Cell::Time)
    }

    /// An enum by its wire name (its serde string).
    fn wire_name<E: serde::Serialize>(value: &E) -> Self {
        match serde_json::to_value(value) {
            Ok(serde_json::Value::String(s)) => Cell::Owned(s),
            other => Cell::Owned(format!("{other:?}")),
        }
    }

    fn json<E: serde::Serialize>(value: &E) -> Self {
        Cell::Owned(serde_json::to_string(value).unwrap_or_default())
    }
}

/// A column's type in Parquet (every column may hold nulls).
#[derive(Clone, Copy)]
enum ColumnType {
    Text,
    Float,
    UInt,
    Bool,
    Time,
}

/// One column of an export: its name, type and how a record fills it.
struct Column<T> {
    name: &'static str,
    ty: ColumnType,
    cell: fn(&T) -> Cell<'_>,
}

const fn col<T>(name: &'static str, ty: ColumnType, cell: fn(&T) -> Cell<'_>) -> Column<T> {
    Column { name, ty, cell }
}

use ColumnType::{Bool, Float, Text, Time, UInt};

const TELEMETRY_COLUMNS: &[Column<Telemetry>] = &[
    col("vehicle_id", Text, |t| Cell::Text(&t.vehicle_id)),
    col("fleet_id", Text, |t| Cell::Text(&t.fleet_id)),
    col("timestamp", Time, |t| Cell::Time(t.timestamp)),
    col("seq", UInt, |t| Cell::UInt(t.seq)),
    col("latitude", Float, |t| Cell::Float(t.latitude)),
    col("longitude", Float, |t| Cell::Float(t.longitude)),
    col("speed_kmh", Float, |t| Cell::Float(t.speed_kmh)),
    col("battery_pct", Float, |t| Cell::Float(t.battery_pct)),
    col("engine_temp_c", Float, |t| Cell::Float(t.engine_temp_c)),
    col("load_pct", Float, |t| Cell::Float(t.load_pct)),
    col("heading_deg", Float, |t| Cell::Float(t.heading_deg)),
    col("status", Text, |t| Cell::Text(t.status.as_str())),
    col("map_id", Text, |t| {
        t.pose
            .as_ref()
            .map_or(Cell::Null, |p| Cell::Text(&p.map_id))
    }),
    col("map_x", Float, |t| {
        t.pose.as_ref().map_or(Cell::Null, |p| Cell::Float(p.x))
    }),
    col("map_y", Float, |t| {
        t.pose.as_ref().map_or(Cell::Null, |p| Cell::Float(p.y))
    }),
    col("map_theta", Float, |t| {
        t.pose.as_ref().map_or(Cell::Null, |p| Cell::Float(p.theta))
    }),
];

const ALERT_COLUMNS: &[Column<Alert>] = &[
    col("id", Text, |a| Cell::Text(&a.id)),
    col("vehicle_id", Text, |a| Cell::Text(&a.vehicle_id)),
    col("fleet_id", Text, |a| Cell::Text(&a.fleet_id)),
    col("alert_type", Text, |a| Cell::Text(a.alert_type.as_str())),
    col("severity", Text, |a| Cell::Text(a.severity.as_str())),
    col("value", Float, |a| Cell::Float(a.value)),
    col("threshold", Float, |a| Cell::Float(a.threshold)),
    col("message", Text, |a| Cell::Text(&a.message)),
    col("triggered_at", Time, |a| Cell::Time(a.triggered_at)),
    col("cleared_at", Time, |a| Cell::opt_time(a.cleared_at)),
    col("acknowledged", Bool, |a| Cell::Bool(a.acknowledged)),
    col("acknowledged_by", Text, |a| {
        Cell::opt_text(&a.acknowledged_by)
    }),
    col("acknowledged_at", Time, |a| {
        Cell::opt_time(a.acknowledged_at)
    }),
    col("notes", Text, |a| Cell::opt_text(&a.notes)),
];

const COMMAND_COLUMNS: &[Column<Command>] = &[
    col("id", Text, |c| Cell::Text(&c.id)),
    col("vehicle_id", Text, |c| Cell::Text(&c.vehicle_id)),
    col("fleet_id", Text, |c| Cell::Text(&c.fleet_id)),
    col("command", Text, |c| Cell::Text(c.command.as_str())),
    col("params", Text, |c| Cell::json(&c.params)),
    col("status", Text, |c| Cell::Text(c.status.as_str())),
    col("issued_by", Text, |c| Cell::Text(&c.issued_by)),
    col("issued_at", Time, |c| Cell::Time(c.issued_at)),
    col("delivered_at", Time, |c| Cell::opt_time(c.delivered_at)),
    col("executed_at", Time, |c| Cell::opt_time(c.executed_at)),
    col("expires_at", Time, |c| Cell::opt_time(c.expires_at)),
    col("failure_reason", Text, |c| {
        Cell::opt_text(&c.failure_reason)
    }),
];

const MISSION_COLUMNS: &[Column<Mission>] = &[
    col("id", Text, |m| Cell::Text(&m.id)),
    col("fleet_id", Text, |m| Cell::Text(&m.fleet_id)),
    col("vehicle_id", Text, |m| Cell::Text(&m.vehicle_id)),
    col("mission_type", Text, |m| {
        Cell::Text(m.mission_type.as_str())
    }),
    col("priority", Text, |m| Cell::wire_name(&m.priority)),
    col("status", Text, |m| Cell::Text(m.status.as_str())),
    col("waypoints", Text, |m| Cell::json(&m.waypoints)),
    col("completed_waypoints", UInt, |m| {
        Cell::UInt(u64::from(m.completed_waypoints))
    }),
    col("created_at", Time, |m| Cell::Time(m.created_at)),
    col("started_at", Time, |m| Cell::opt_time(m.started_at)),
    col("completed_at", Time, |m| Cell::opt_time(m.completed_at)),
    col("estimated_completion", Time, |m| {
        Cell::opt_time(m.estimated_completion)
    }),
    col("failure_reason", Text, |m| {
        Cell::opt_text(&m.failure_reason)
    }),
];

const REPORT_COLUMNS: &[Column<VehicleDay>] = &[
    col("day", Text, |d| Cell::Owned(d.day.to_string())),
    col("vehicle_id", Text, |d| Cell::Text(&d.vehicle_id)),
    col("readings", UInt, |d| Cell::UInt(d.figures.readings)),
    col("distance_km", Float, |d| Cell::Float(d.figures.distance_km)),
    col("driving_s", Float, |d| Cell::Float(d.figures.driving_s)),
    col("idle_s", Float, |d| Cell::Float(d.figures.idle_s)),
    col("stopped_s", Float, |d| Cell::Float(d.figures.stopped_s)),
    col("charging_s", Float, |d| Cell::Float(d.figures.charging_s)),
    col("other_s", Float, |d| Cell::Float(d.figures.other_s)),
    col("avg_speed_kmh", Float, |d| {
        d.figures.avg_speed_kmh.map_or(Cell::Null, Cell::Float)
    }),
    col("max_speed_kmh", Float, |d| {
        d.figures.max_speed_kmh.map_or(Cell::Null, Cell::Float)
    }),
    col("alerts", UInt, |d| Cell::UInt(d.figures.alerts)),
    col("alerts_by_type", Text, |d| {
        Cell::json(&d.figures.alerts_by_type)
    }),
    col("missions_completed", UInt, |d| {
        Cell::UInt(d.figures.missions_completed)
    }),
];

// ---------------------------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------------------------

/// `rows` as CSV, after the header row when `header`.
fn csv_page<T>(columns: &[Column<T>], rows: &[T], header: bool) -> Result<Vec<u8>> {
    let csv_error = |e: csv::Error| Error::backend_msg("csv", e.to_string());
    let mut out = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 160));
    if header {
        out.write_record(columns.iter().map(|c| c.name))
            .map_err(csv_error)?;
    }
    let mut record: Vec<String> = Vec::with_capacity(columns.len());
    for row in rows {
        record.clear();
        record.extend(columns.iter().map(|c| match (c.cell)(row) {
            Cell::Text(s) => s.to_owned(),
            Cell::Owned(s) => s,
            Cell::Float(v) => v.to_string(),
            Cell::UInt(v) => v.to_string(),
            Cell::Bool(v) => v.to_string(),
            Cell::Time(t) => t.to_rfc3339_opts(SecondsFormat::Micros, true),
            Cell::Null => String::new(),
        }));
        out.write_record(&record).map_err(csv_error)?;
    }
    out.into_inner()
        .map_err(|e| Error::backend_msg("csv", e.to_string()))
}

fn schema<T>(columns: &[Column<T>]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| {
                let ty = match c.ty {
                    Text => DataType::Utf8,
                    Float => DataType::Float64,
                    UInt => DataType::UInt64,
                    Bool => DataType::Boolean,
                    Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                };
                Field::new(c.name, ty, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// `rows` as one Arrow batch, column by column.
fn batch<T>(columns: &[Column<T>], schema: &SchemaRef, rows: &[T]) -> Result<RecordBatch> {
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|c| -> ArrayRef {
            let cells = rows.iter().map(|r| (c.cell)(r));
            match c.ty {
                Text => {
                    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
                    for cell in cells {
                        match cell {
                            Cell::Text(s) => b.append_value(s),
                            Cell::Owned(s) => b.append_value(s),
                            _ => b.append_null(),
                        }
                    }
                    Arc::new(b.finish())
                }
                Float => {
                    let mut b = Float64Builder::with_capacity(rows.len());
                    for cell in cells {
                        b.append_option(match cell {
                            Cell::Float(v) => Some(v),
                            _ => None,
                        });
                    }
                    Arc::new(b.finish())
                }
                UInt => {
                    let mut b = UInt64Builder::with_capacity(rows.len());
                    for cell in cells {
                        b.append_option(match cell {
                            Cell::UInt(v) => Some(v),
                            _ => None,
                        });
                    }
                    Arc::new(b.finish())
                }
                Bool => {
                    let mut b = BooleanBuilder::with_capacity(rows.len());
                    for cell in cells {
                        b.append_option(match cell {
                            Cell::Bool(v) => Some(v),
                            _ => None,
                        });
                    }
                    Arc::new(b.finish())
                }
                Time => {
                    let mut b =
                        TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
                    for cell in cells {
                        b.append_option(match cell {
                            Cell::Time(t) => Some(t.timestamp_micros()),
                            _ => None,
                        });
                    }
                    Arc::new(b.finish())
                }
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), arrays).map_err(parquet_error)
}
