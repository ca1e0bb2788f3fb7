-- Who did what and when: logins, commands, missions, alert acknowledgements. Listed newest
-- first over a window (by time, or a fleet's by time); retention deletes by time.
CREATE TABLE audit_log (
    id         TEXT    PRIMARY KEY,
    at         INTEGER NOT NULL, -- µs since the epoch
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    fleet_id   TEXT,
    vehicle_id TEXT,
    target_id  TEXT,
    source     TEXT,
    detail     TEXT    NOT NULL
);
CREATE INDEX audit_by_time ON audit_log (at, id);
CREATE INDEX audit_by_fleet ON audit_log (fleet_id, at, id) WHERE fleet_id IS NOT NULL;
