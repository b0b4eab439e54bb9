-- Messages are added to the search index once per commit, by one statement over every message
-- not yet indexed, instead of by a trigger per inserted row. The trigger made FTS5 write a new
-- index segment for each row, about 24 µs a message; indexing a commit's messages together costs
-- about 5. The writer runs that statement in the same transaction as the messages (see
-- `SearchIndex.indexNewMessages`), so a committed message is always searchable and a crash leaves
-- nothing to catch up.
--
-- `search_index.indexed_through` is the highest `seq` whose message is in the index: every message
-- at or below it is indexed, none above it is. Rows inserted around Parley (sqlite3 by hand) are
-- indexed by the next write of the server or of `parley import`, or when the server starts.
DROP TRIGGER messages_fts_after_insert;

CREATE TABLE search_index (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    indexed_through INTEGER NOT NULL
);
INSERT INTO search_index (singleton, indexed_through) SELECT 1, coalesce(max(seq), 0) FROM messages;

-- A deleted message leaves the index only if it was in it. `seq` is a plain rowid, so deleting
-- the newest messages lets their numbers be used again: the mark then comes down to the newest
-- message left, or a new message below it would never be indexed.
DROP TRIGGER messages_fts_after_delete;
CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.seq, old.text WHERE old.seq <= (SELECT indexed_through FROM search_index);
    UPDATE search_index SET indexed_through = (SELECT coalesce(max(seq), 0) FROM messages)
        WHERE indexed_through > (SELECT coalesce(max(seq), 0) FROM messages);
END;

DROP TRIGGER messages_fts_after_update;
CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF text ON messages
WHEN old.seq <= (SELECT indexed_through FROM search_index)
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);
END;
