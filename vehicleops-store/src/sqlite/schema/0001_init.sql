-- VehicleOps embedded store, schema version 1.

-- Readings (all but the newest, see telemetry_recent). The natural key is the primary key of a WITHOUT ROWID table, so the uniqueness
-- check and the storage are one b-tree: one insert touches one index, and the history and
-- latest queries (by vehicle, by time) read it in key order.
CREATE TABLE telemetry (
    vehicle_id    TEXT    NOT NULL,
    ts            INTEGER NOT NULL, -- microseconds since the Unix epoch
    seq           INTEGER NOT NULL,
    fleet_id      TEXT    NOT NULL,
    latitude      REAL    NOT NULL,
    longitude     REAL    NOT NULL,
    speed_kmh     REAL    NOT NULL,
    battery_pct   REAL    NOT NULL,
    engine_temp_c REAL    NOT NULL,
    load_pct      REAL    NOT NULL,
    status        TEXT    NOT NULL,
    heading_deg   REAL    NOT NULL,
    distance_m    REAL    NOT NULL,
    pose_x        REAL,
    pose_y        REAL,
    pose_theta    REAL,
    pose_map_id   TEXT,
    PRIMARY KEY (vehicle_id, ts, seq)
) WITHOUT ROWID;

-- The newest readings, clustered by time. A batch from many vehicles appends here in a few pages,
-- where in `telemetry` it would dirty one page per vehicle (each written to the WAL at commit).
-- Once it holds enough rows the older half moves to `telemetry` in one sorted sweep, many
-- readings per vehicle at a time. Every reading with ts >= `recent_from` (telemetry_meta) is
-- here and every older one is in `telemetry`, so each key has exactly one home and INSERT OR
-- IGNORE into that home stays idempotent.
CREATE TABLE telemetry_recent (
    vehicle_id    TEXT    NOT NULL,
    ts            INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    fleet_id      TEXT    NOT NULL,
    latitude      REAL    NOT NULL,
    longitude     REAL    NOT NULL,
    speed_kmh     REAL    NOT NULL,
    battery_pct   REAL    NOT NULL,
    engine_temp_c REAL    NOT NULL,
    load_pct      REAL    NOT NULL,
    status        TEXT    NOT NULL,
    heading_deg   REAL    NOT NULL,
    distance_m    REAL    NOT NULL,
    pose_x        REAL,
    pose_y        REAL,
    pose_theta    REAL,
    pose_map_id   TEXT,
    PRIMARY KEY (ts, vehicle_id, seq)
) WITHOUT ROWID;

CREATE TABLE telemetry_meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
-- Initially everything is recent.
INSERT INTO telemetry_meta (key, value) VALUES ('recent_from', -9223372036854775808);

-- Per-vehicle, per-minute aggregates of the readings in `telemetry` (never of the recent table),
-- maintained as readings arrive there. Series with whole-minute buckets and summaries read whole
-- minutes of a window from here instead of every reading: 30 days are 43,200 rows instead of
-- 2,592,000 at 1 Hz.
CREATE TABLE telemetry_minutes (
    vehicle_id        TEXT    NOT NULL,
    minute            INTEGER NOT NULL, -- start, µs since the epoch, a multiple of 60,000,000
    readings          INTEGER NOT NULL,
    alerts            INTEGER NOT NULL, -- readings with status ALERT
    distance_m        REAL    NOT NULL,
    speed_kmh_sum     REAL    NOT NULL,
    speed_kmh_min     REAL    NOT NULL,
    speed_kmh_max     REAL    NOT NULL,
    battery_pct_sum   REAL    NOT NULL,
    battery_pct_min   REAL    NOT NULL,
    battery_pct_max   REAL    NOT NULL,
    engine_temp_c_sum REAL    NOT NULL,
    engine_temp_c_min REAL    NOT NULL,
    engine_temp_c_max REAL    NOT NULL,
    load_pct_sum      REAL    NOT NULL,
    load_pct_min      REAL    NOT NULL,
    load_pct_max      REAL    NOT NULL,
    PRIMARY KEY (vehicle_id, minute)
) WITHOUT ROWID;

-- Which vehicles have reported under which fleet. Kept beside `telemetry` so the fleet queries
-- find their vehicles without a second index on the (large, hot) telemetry table.
CREATE TABLE telemetry_streams (
    fleet_id   TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    PRIMARY KEY (fleet_id, vehicle_id)
) WITHOUT ROWID;

CREATE TABLE fleets (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE vehicles (
    id             TEXT PRIMARY KEY,
    fleet_id       TEXT NOT NULL REFERENCES fleets (id),
    name           TEXT,
    home_latitude  REAL,
    home_longitude REAL
);
CREATE INDEX vehicles_by_fleet ON vehicles (fleet_id, id);

CREATE TABLE operators (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    fleet_ids     TEXT NOT NULL, -- JSON array of fleet ids
    password_hash TEXT NOT NULL
);

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    vehicle_id      TEXT    NOT NULL,
    fleet_id        TEXT    NOT NULL,
    alert_type      TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    value           REAL    NOT NULL,
    threshold       REAL    NOT NULL,
    message         TEXT    NOT NULL,
    alert_key       TEXT,
    triggered_at    INTEGER NOT NULL,
    cleared_at      INTEGER,
    acknowledged    INTEGER NOT NULL DEFAULT 0,
    acknowledged_by TEXT,
    acknowledged_at INTEGER,
    notes           TEXT
);
CREATE INDEX alerts_by_fleet ON alerts (fleet_id, triggered_at);
CREATE INDEX alerts_by_vehicle ON alerts (vehicle_id, triggered_at);

CREATE TABLE commands (
    id             TEXT PRIMARY KEY,
    vehicle_id     TEXT    NOT NULL,
    fleet_id       TEXT    NOT NULL,
    command        TEXT    NOT NULL,
    params         TEXT    NOT NULL, -- JSON CommandParams
    status         TEXT    NOT NULL,
    issued_by      TEXT    NOT NULL,
    issued_at      INTEGER NOT NULL,
    delivered_at   INTEGER,
    executed_at    INTEGER,
    failure_reason TEXT
);
CREATE INDEX commands_by_vehicle ON commands (vehicle_id, issued_at);

CREATE TABLE missions (
    id                   TEXT PRIMARY KEY,
    fleet_id             TEXT    NOT NULL,
    vehicle_id           TEXT    NOT NULL,
    mission_type         TEXT    NOT NULL,
    priority             TEXT    NOT NULL,
    waypoints            TEXT    NOT NULL, -- JSON array of Waypoint
    status               TEXT    NOT NULL,
    completed_waypoints  INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    started_at           INTEGER,
    completed_at         INTEGER,
    estimated_completion INTEGER,
    failure_reason       TEXT
);
-- At most one active mission per vehicle: the database enforces it, so the check and the insert
-- are one atomic step.
CREATE UNIQUE INDEX missions_one_active_per_vehicle ON missions (vehicle_id)
    WHERE status IN ('ASSIGNED', 'IN_PROGRESS');
CREATE INDEX missions_by_fleet ON missions (fleet_id, status);
