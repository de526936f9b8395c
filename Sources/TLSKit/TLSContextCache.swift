/// Builds each distinct context once: a small, bounded, thread-safe cache of client and
/// server contexts for one backend and one set of hooks.
///
/// Configurations are `Hashable` values, so a program that makes a client per request (an
/// HTTPS client built for every call, a connection pool that rebuilds its configuration)
/// can ask the cache instead of the backend: the first request with a configuration builds
/// the context (`makeClientContext`: credentials parsed, the library's context made); later
/// requests with an equal configuration get that same context back, shared (contexts are
/// `Sendable` and make any number of connections). The least recently used entry is
/// dropped when the cache is full.
///
/// ```swift
/// let contexts = TLSContextCache(backend: try OpenSSLBackend())
/// let context = try contexts.clientContext(for: TLSClientConfiguration())  // built once
/// ```
///
/// **Hooks.** Hooks hold closures and a logger, which cannot be compared, so they are not
/// part of the key: a cache has one ``TLSContextHooks`` value, given when it is made, and
/// every context it builds uses it. Contexts that need other hooks need another cache (or a
/// call to the backend).
///
/// **Opt-in, not the backends' default**, because the key is the configuration *value*:
/// - credentials named by path (`.file(…)`) or by environment variable are read when the
///   context is built; a cached context keeps what it read. After a certificate, key or
///   trust store changes on disk, call ``removeAll()`` (or make a new cache).
/// - the warning that `.compatible` and TLSKitInsecure settings log is logged when a context
///   is built, so once per cached entry, not on every request.
/// - the cache holds up to ``capacity`` contexts (and their credentials) in memory.
///
/// Thread-safety: `Sendable`; any thread may ask. Two threads asking for the same new
/// configuration at once may both build it, but both get the one that is kept.
public final class TLSContextCache: Sendable {
    /// The backend the contexts are built with.
    public let backend: any TLSBackend
    /// The hooks every context of this cache is built with.
    public let hooks: TLSContextHooks
    /// How many contexts the cache keeps (client and server together). Default 32.
    public let capacity: Int

    private enum Key: Hashable, Sendable {
        case client(TLSClientConfiguration)
        case server(TLSServerConfiguration)
    }

    private enum Entry: Sendable {
        case client(any TLSClientContext)
        case server(any TLSServerContext)
    }

    private final class State: @unchecked Sendable {
        // @unchecked: every access holds `lock`.
        let lock = TLSMutex()
        var entries: [Key: (entry: Entry, lastUse: UInt64)] = [:]
        var clock: UInt64 = 0
        var builds = 0
    }

    private let state = State()

    /// A cache for `backend`'s contexts.
    ///
    /// - Parameters:
    ///   - backend: the backend that builds the contexts.
    ///   - hooks: the hooks every context is built with. Default: nothing attached.
    ///   - capacity: the most contexts kept; at least 1. Default 32.
    public init(backend: any TLSBackend, hooks: TLSContextHooks = TLSContextHooks(), capacity: Int = 32) {
        self.backend = backend
        self.hooks = hooks
        self.capacity = max(1, capacity)
    }

    /// The client context for `configuration`: the cached one if an equal configuration was
    /// built before, else a new one (built with the backend, then kept).
    ///
    /// - Throws: what ``TLSBackend/makeClientContext(_:hooks:)`` throws; a failure is not
    ///   cached, so the next call tries again.
    public func clientContext(for configuration: TLSClientConfiguration) throws(TLSError) -> any TLSClientContext {
        let key = Key.client(configuration)
        if case .client(let context)? = lookUp(key) { return context }
        let built = try backend.makeClientContext(configuration, hooks: hooks)
        guard case .client(let context) = keep(.client(built), for: key) else { return built }
        return context
    }

    /// The server context for `configuration` (see ``clientContext(for:)``).
    ///
    /// - Throws: what ``TLSBackend/makeServerContext(_:hooks:)`` throws; not cached.
    public func serverContext(for configuration: TLSServerConfiguration) throws(TLSError) -> any TLSServerContext {
        let key = Key.server(configuration)
        if case .server(let context)? = lookUp(key) { return context }
        let built = try backend.makeServerContext(configuration, hooks: hooks)
        guard case .server(let context) = keep(.server(built), for: key) else { return built }
        return context
    }

    /// Drops every cached context (connections already made keep theirs). Call it after
    /// credentials named by path changed on disk.
    public func removeAll() {
        state.lock.withLock { state.entries.removeAll() }
    }

    /// How many contexts the cache holds now.
    public var count: Int { state.lock.withLock { state.entries.count } }

    /// How many contexts the cache has built so far (a measure of its hit rate).
    public var builds: Int { state.lock.withLock { state.builds } }

    private func lookUp(_ key: Key) -> Entry? {
        state.lock.withLock {
            guard let found = state.entries[key] else { return nil }
            state.clock += 1
            state.entries[key] = (found.entry, state.clock)
            return found.entry
        }
    }

    /// Keeps `entry` unless another thread kept one for `key` first; returns the kept one.
    private func keep(_ entry: Entry, for key: Key) -> Entry {
        state.lock.withLock {
            state.builds += 1
            state.clock += 1
            if let existing = state.entries[key] {
                state.entries[key] = (existing.entry, state.clock)
                return existing.entry
            }
            if state.entries.count >= capacity,
                let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key
            {
                state.entries.removeValue(forKey: oldest)
            }
            state.entries[key] = (entry, state.clock)
            return entry
        }
    }
}
