-- Daily reports over long ranges read hours, not minutes: each vehicle-hour's figures with its
-- minutes' 60 s already shared between their statuses. Recomputed from `telemetry_minutes`
-- whenever a minute of the hour changes (same transaction), so the two always agree.
CREATE TABLE telemetry_hours (
    vehicle_id    TEXT    NOT NULL,
    hour          INTEGER NOT NULL, -- start, µs since the epoch, a multiple of 3,600,000,000
    readings      INTEGER NOT NULL,
    distance_m    REAL    NOT NULL,
    speed_kmh_sum REAL    NOT NULL,
    speed_kmh_max REAL    NOT NULL,
    driving_s     REAL    NOT NULL,
    idle_s        REAL    NOT NULL,
    stopped_s     REAL    NOT NULL,
    charging_s    REAL    NOT NULL,
    observed_s    REAL    NOT NULL, -- 60 s per minute with readings
    PRIMARY KEY (vehicle_id, hour)
) WITHOUT ROWID;

INSERT INTO telemetry_hours
SELECT vehicle_id, minute - (((minute % 3600000000) + 3600000000) % 3600000000),
       SUM(readings), SUM(distance_m), SUM(speed_kmh_sum), MAX(speed_kmh_max),
       SUM(60.0 * moving_readings / readings), SUM(60.0 * idle_readings / readings),
       SUM(60.0 * stopped_readings / readings), SUM(60.0 * charging_readings / readings),
       60.0 * COUNT(*)
FROM telemetry_minutes GROUP BY 1, 2;
