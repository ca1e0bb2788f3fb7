-- Commands that cannot act late and are safe to retry: when a command expires (a vehicle that
-- receives it later refuses it), and the issuer's idempotency key. A retry with the same key
-- from the same issuer finds the original through the partial unique index, which also makes
-- one of two concurrent inserts with one key fail (the loser returns the winner).
ALTER TABLE commands ADD COLUMN expires_at INTEGER;
ALTER TABLE commands ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX commands_by_idempotency_key ON commands (issued_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
