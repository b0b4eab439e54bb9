-- The nodes of a cluster and the nicks their sessions hold, so that a nick is unique across
-- every node.
--
-- A node renews its lease (`expires_at`, on the database's clock) every few seconds. Any node
-- deletes the nodes whose lease ran out, and their nicks go with them (ON DELETE CASCADE): a
-- nick held by a node that died becomes free once its lease has expired.
CREATE TABLE nodes (
    id text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE TABLE nicks (
    -- The case-folded nick, computed by Parley (PostgreSQL's lower() depends on the locale).
    key text PRIMARY KEY,
    nick text NOT NULL,
    node text NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    -- Which of the node's claims holds it, so that a late release of an earlier claim of the
    -- same nick cannot free a newer one.
    claim text NOT NULL
);

CREATE INDEX nicks_node ON nicks (node);
