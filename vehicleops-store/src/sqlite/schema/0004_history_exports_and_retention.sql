-- Exports read a fleet's alerts, commands and missions of a window in pages, oldest first by
-- (time, id); retention deletes ended records older than a cutoff, fleet-wide.
CREATE INDEX commands_by_fleet ON commands (fleet_id, issued_at, id);
CREATE INDEX missions_by_fleet_created ON missions (fleet_id, created_at, id);
CREATE INDEX alerts_by_time ON alerts (triggered_at);
CREATE INDEX commands_by_time ON commands (issued_at);
CREATE INDEX missions_by_time ON missions (created_at);
