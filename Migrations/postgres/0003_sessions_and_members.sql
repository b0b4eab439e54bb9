-- Sessions and room membership across the nodes of a cluster.
--
-- A row of `nicks` is a session: the nick it holds, the hash of its resume token, and the node
-- serving it. A session outlives its node for the grace period: when a node's lease runs out
-- (or it shuts down), its sessions lose their node and get `expires_at`, so that the client can
-- resume on any other node in time; otherwise any node deletes them once they expire.
ALTER TABLE nicks DROP CONSTRAINT nicks_node_fkey;
ALTER TABLE nicks ALTER COLUMN node DROP NOT NULL;
-- sha256 of the resume token, in hex: the database never holds a token a reader could resume.
ALTER TABLE nicks ADD COLUMN token_hash text UNIQUE;
ALTER TABLE nicks ADD COLUMN expires_at timestamptz;
ALTER TABLE nicks ADD CONSTRAINT nicks_node_or_expiry CHECK (node IS NOT NULL OR expires_at IS NOT NULL);
CREATE INDEX nicks_expires_at ON nicks (expires_at) WHERE node IS NULL;

-- Who is in which room, whichever node serves them: what `joined.members` and `presence` show.
CREATE TABLE members (
    room text NOT NULL,
    key text NOT NULL REFERENCES nicks (key) ON DELETE CASCADE,
    nick text NOT NULL,
    PRIMARY KEY (room, key)
);

CREATE INDEX members_key ON members (key);

-- A counter per room that changes with its membership, so that a node's poll reads one number
-- per room, and the member list only of rooms that changed.
CREATE TABLE room_presence (
    room text PRIMARY KEY,
    version bigint NOT NULL
);

CREATE FUNCTION parley_presence_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO room_presence (room, version) VALUES (coalesce(NEW.room, OLD.room), 1)
    ON CONFLICT (room) DO UPDATE SET version = room_presence.version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER members_presence AFTER INSERT OR DELETE ON members
FOR EACH ROW EXECUTE FUNCTION parley_presence_changed();
