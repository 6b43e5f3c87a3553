import NIOCore
import NIOPosix
import Synchronization

/// Where a Redis server is and how to log in to it.
struct RedisEndpoint: Sendable, Hashable {
    var host: String
    var port: Int
    /// The ACL user (`AUTH user pass`); nil for the default user.
    var user: String?
    var password: String?
    /// The logical database (`SELECT`).
    var database: Int

    /// `host:port/db`, never the password.
    var description: String { "\(host):\(port)/\(database)" }
}

/// The server answered a command with an error reply.
struct RedisReplyError: Error, Sendable, CustomStringConvertible {
    let message: String
    var description: String { message }
    /// The error's code: its first word (`ERR`, `NOSCRIPT`, `WRONGPASS`, …).
    var code: Substring { message.prefix { $0 != " " } }
}

/// One connection to a Redis server: commands are pipelined (many may be in flight; replies
/// come back in order). Safe to share between tasks.
///
/// A broken connection fails its pending commands with ``RESPConnectionClosed`` and stays
/// broken (``isActive`` false); the pool replaces it.
final class RESPConnection: Sendable {
    let channel: any Channel
    let endpoint: RedisEndpoint
    /// True when the server accepted `HELLO 3` (replies are RESP3).
    let resp3: Bool

    private init(channel: any Channel, endpoint: RedisEndpoint, resp3: Bool) {
        self.channel = channel
        self.endpoint = endpoint
        self.resp3 = resp3
    }

    /// Connects, logs in (`HELLO 3 AUTH`, or `AUTH` on servers without RESP3) and selects the
    /// database, all within `timeout`. With `replyTimeout`, a connection on which commands wait
    /// longer than that for the server's next reply is closed and they fail (set it above the
    /// timeout of any blocking command sent on it).
    /// - Throws: a connect error, ``RedisReplyError`` (a refused login or SELECT), or
    ///   ``RESPConnectionClosed``.
    static func connect(
        to endpoint: RedisEndpoint, timeout: Duration, replyTimeout: Duration? = nil, limits: RESPLimits = RESPLimits(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RESPConnection {
        func millis(_ duration: Duration) -> Int64 {
            let (seconds, attoseconds) = duration.components
            return max(1, seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000)
        }
        let replyLimit = replyTimeout.map { TimeAmount.milliseconds(millis($0)) }
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(millis(timeout)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RESPChannelHandler(limits: limits, replyTimeout: replyLimit))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port).get()
        do {
            return try await withThrowingTaskGroup(of: RESPConnection.self) { group in
                group.addTask { try await handshake(channel, endpoint) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw RESPConnectionClosed(reason: "no answer to the login within \(timeout)")
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    private static func handshake(_ channel: any Channel, _ endpoint: RedisEndpoint) async throws -> RESPConnection {
        var hello: [[UInt8]] = [Array("HELLO".utf8), Array("3".utf8)]
        if let password = endpoint.password {
            hello += [Array("AUTH".utf8), Array((endpoint.user ?? "default").utf8), Array(password.utf8)]
        }
        var resp3 = true
        if case .error(let message) = try await send(hello, on: channel) {
            let error = RedisReplyError(message: message)
            // A server older than 6 has no HELLO: log in the RESP2 way.
            guard error.code == "ERR" || error.code == "NOPROTO" else { throw error }
            resp3 = false
            if let password = endpoint.password {
                var auth: [[UInt8]] = [Array("AUTH".utf8)]
                if let user = endpoint.user { auth.append(Array(user.utf8)) }
                auth.append(Array(password.utf8))
                if case .error(let message) = try await send(auth, on: channel) { throw RedisReplyError(message: message) }
            }
        }
        if endpoint.database != 0 {
            if case .error(let message) = try await send([Array("SELECT".utf8), Array(String(endpoint.database).utf8)], on: channel) {
                throw RedisReplyError(message: message)
            }
        }
        return RESPConnection(channel: channel, endpoint: endpoint, resp3: resp3)
    }

    private static func send(_ arguments: [[UInt8]], on channel: any Channel) async throws -> RESPValue {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        channel.writeAndFlush(RESPRequest(arguments: arguments, promise: promise), promise: nil)
        return try await promise.futureResult.get()
    }

    /// True until the connection breaks or is closed.
    var isActive: Bool { channel.isActive }

    /// Sends one command and returns its reply (an error reply is returned, not thrown).
    /// - Throws: ``RESPConnectionClosed`` or ``RESPDecodingError`` when the connection breaks.
    func send(_ arguments: [[UInt8]]) async throws -> RESPValue {
        try await Self.send(arguments, on: channel)
    }

    /// Sends one command given as text arguments.
    func send(_ arguments: String...) async throws -> RESPValue {
        try await send(arguments.map { Array($0.utf8) })
    }

    /// Sends commands back to back in one flush and returns their replies in order.
    func pipeline(_ commands: [[[UInt8]]]) async throws -> [RESPValue] {
        let promises = commands.map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        for (command, promise) in zip(commands, promises) {
            channel.write(RESPRequest(arguments: command, promise: promise), promise: nil)
        }
        channel.flush()
        var replies: [RESPValue] = []
        replies.reserveCapacity(promises.count)
        for promise in promises { replies.append(try await promise.futureResult.get()) }
        return replies
    }

    /// Closes the connection; pending commands fail. Returns without waiting.
    func close() {
        channel.close(promise: nil)
    }
}

/// A few pipelined connections shared by every operation: a command goes to the next
/// connection in turn; a broken connection is replaced on next use.
///
/// Cost: no lock is held across I/O; connecting happens on first use of a slot.
final class RESPConnectionPool: Sendable {
    let endpoint: RedisEndpoint
    let size: Int
    let connectTimeout: Duration
    let replyTimeout: Duration?
    private let slots: Mutex<[RESPConnection?]>
    private let nextSlot = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    init(endpoint: RedisEndpoint, size: Int, connectTimeout: Duration, replyTimeout: Duration? = nil) {
        self.endpoint = endpoint
        self.replyTimeout = replyTimeout
        self.size = max(1, size)
        self.connectTimeout = connectTimeout
        self.slots = Mutex(Array(repeating: nil, count: max(1, size)))
    }

    /// A live connection (connecting one when the slot is empty or broken).
    /// - Throws: the connect error, or ``RESPConnectionClosed`` after ``close()``.
    func connection() async throws -> RESPConnection {
        guard !closed.load(ordering: .acquiring) else { throw RESPConnectionClosed(reason: "the pool is closed") }
        let slot = nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue % size
        if let connection = slots.withLock({ $0[slot] }), connection.isActive { return connection }
        let fresh = try await RESPConnection.connect(to: endpoint, timeout: connectTimeout, replyTimeout: replyTimeout)
        let kept: RESPConnection = slots.withLock { slots in
            if let current = slots[slot], current.isActive { return current }
            slots[slot] = fresh
            return fresh
        }
        if kept !== fresh { fresh.close() }
        if closed.load(ordering: .acquiring) {
            kept.close()
            throw RESPConnectionClosed(reason: "the pool is closed")
        }
        return kept
    }

    /// Sends one command on a pooled connection.
    func send(_ arguments: [[UInt8]]) async throws -> RESPValue {
        try await connection().send(arguments)
    }

    /// Closes every connection; later calls fail.
    func close() {
        closed.store(true, ordering: .releasing)
        let all = slots.withLock { slots in
            defer { slots = Array(repeating: nil, count: slots.count) }
            return slots
        }
        for connection in all { connection?.close() }
    }
}
