-- Full-text search over message text for `parley history --grep`, and an index on time for
-- `--since`/`--until` and `parley prune`.
--
-- `messages_fts` is an external-content FTS5 table: it stores only the index, and reads the text
-- from `messages` by `seq`. The triggers keep it in step with every insert, delete and update,
-- whoever makes them (the server, `parley import`, `parley prune`, or sqlite3 by hand).
-- `unicode61` splits words on spaces and punctuation in any script and folds case and diacritics
-- (so `zoe` finds `Zoë`); scripts written without spaces (Chinese, Japanese) index a whole run of
-- characters as one word, so there a search matches whole runs or their prefixes (`小千*`).
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text,
    content = 'messages',
    content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);
END;

CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;

CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);
END;

CREATE INDEX messages_by_time ON messages (created_at);
