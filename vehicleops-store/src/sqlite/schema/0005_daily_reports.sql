-- Daily reports share each minute's 60 s between the statuses its readings had: the rollups
-- count readings per status (ALERT is `alerts`; LOW_BATTERY and OFFLINE are the rest).
ALTER TABLE telemetry_minutes ADD COLUMN moving_readings   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE telemetry_minutes ADD COLUMN idle_readings     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE telemetry_minutes ADD COLUMN stopped_readings  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE telemetry_minutes ADD COLUMN charging_readings INTEGER NOT NULL DEFAULT 0;

-- Counted again from the archived readings still held (rollups whose readings retention
-- removed keep no status times).
UPDATE telemetry_minutes AS m
SET moving_readings = c.moving, idle_readings = c.idle, stopped_readings = c.stopped,
    charging_readings = c.charging
FROM (SELECT vehicle_id, ts - (((ts % 60000000) + 60000000) % 60000000) AS minute,
             SUM(status = 'MOVING') AS moving, SUM(status = 'IDLE') AS idle,
             SUM(status = 'STOPPED') AS stopped, SUM(status = 'CHARGING') AS charging
      FROM telemetry GROUP BY 1, 2) AS c
WHERE m.vehicle_id = c.vehicle_id AND m.minute = c.minute;

-- Reports count the missions that ended in their days.
CREATE INDEX missions_by_fleet_ended ON missions (fleet_id, completed_at, id)
    WHERE completed_at IS NOT NULL;
