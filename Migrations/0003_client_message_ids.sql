-- Idempotent send: a `say` may carry `mid`, an id the client chose for the message. A repeated
-- `mid` in the same room (a retry after a reconnect, or after a server restart) stores nothing
-- new. Messages without one (older clients, imports) are not constrained.
ALTER TABLE messages ADD COLUMN mid TEXT;
CREATE UNIQUE INDEX messages_by_mid ON messages (room, mid) WHERE mid IS NOT NULL;
