-- What a restarted process reloads: open alert episodes by vehicle, commands still under way and
-- active missions (the latter served by missions_one_active_per_vehicle). Partial indexes hold
-- only the few rows still open, so the reload reads nothing else however long the history.
CREATE INDEX alerts_open_by_vehicle ON alerts (vehicle_id, triggered_at)
    WHERE cleared_at IS NULL;
CREATE INDEX commands_pending ON commands (issued_at)
    WHERE status IN ('DISPATCHED', 'DELIVERED');
