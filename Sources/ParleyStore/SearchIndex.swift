import GRDB

/// Keeps the full-text index (`messages_fts`) in step with the messages table.
///
/// Every writer that inserts messages calls ``indexNewMessages(in:)`` in the same transaction,
/// after its inserts: the messages and their index entries then commit together, so search never
/// misses a committed message and a crash leaves nothing to catch up. Indexing a commit's messages
/// with one statement costs about a fifth of the per-row trigger it replaced (migration 0004).
/// Deletes and edits are still kept in step by triggers.
enum SearchIndex {
    /// Indexes every message above `search_index.indexed_through` and moves the mark to the
    /// newest message. Also picks up messages inserted around Parley since the last call.
    static func indexNewMessages(in db: Database) throws {
        let index = try db.cachedStatement(
            sql: """
                INSERT INTO messages_fts (rowid, text)
                SELECT seq, text FROM messages WHERE seq > (SELECT indexed_through FROM search_index)
                """
        )
        let advance = try db.cachedStatement(
            sql: """
                UPDATE search_index SET indexed_through = (SELECT max(seq) FROM messages)
                WHERE indexed_through < (SELECT max(seq) FROM messages)
                """
        )
        try index.execute()
        try advance.execute()
    }
}
