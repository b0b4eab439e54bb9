public import ParleyCore

/// Where nicks are claimed when several servers share one chat: a nick one node's session
/// holds cannot be claimed on another.
///
/// The hub still decides nicks among its own connections; the registry is asked before the hub
/// opens a session with a nick, and told when the hub ends one.
public protocol NickRegistry: Sendable {
    /// Claims `nick` for a new session of this node; throws `nick_taken` when any node holds it,
    /// `unavailable` when the registry cannot be reached.
    func claim(_ nick: Nick) async throws(ChatError)

    /// Frees a nick this node claimed (its session ended, or the join that claimed it failed).
    /// Never waits; releases and claims take effect in the order they were made.
    func release(_ nick: Nick)
}
