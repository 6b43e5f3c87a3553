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
        // See `pipeline`: a write on a channel closed meanwhile must fail the reply too.
        channel.writeAndFlush(RESPRequest(arguments: arguments, promise: promise)).whenFailure { promise.fail($0) }
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
            // A write that never reaches the handler (the channel closed and its pipeline was
            // emptied in between) fails only its write future: fail the reply with it, or the
            // caller would wait forever. (A reply already failed by the handler stays as it was.)
            channel.write(RESPRequest(arguments: command, promise: promise)).whenFailure { promise.fail($0) }
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
/// connection in turn; a broken connection is replaced on next use, by one connect per slot
/// (callers arriving meanwhile wait for that connect rather than opening their own).
///
/// Cost: no lock is held across I/O; connecting happens on first use of a slot.
final class RESPConnectionPool: Sendable {
    let endpoint: RedisEndpoint
    let size: Int
    let connectTimeout: Duration
    let replyTimeout: Duration?
    private enum Slot {
        case empty
        case connecting(EventLoopFuture<RESPConnection>)
        case ready(RESPConnection)
    }
    private enum Step {
        case use(RESPConnection)
        case wait(EventLoopFuture<RESPConnection>)
        case connect(EventLoopPromise<RESPConnection>)
    }
    private let slots: Mutex<[Slot]>
    private let nextSlot = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)
    private let group: any EventLoopGroup

    init(
        endpoint: RedisEndpoint, size: Int, connectTimeout: Duration, replyTimeout: Duration? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.endpoint = endpoint
        self.replyTimeout = replyTimeout
        self.size = max(1, size)
        self.connectTimeout = connectTimeout
        self.group = group
        self.slots = Mutex(Array(repeating: .empty, count: max(1, size)))
    }

    /// A live connection (connecting one when the slot is empty or broken).
    /// - Throws: the connect error, or ``RESPConnectionClosed`` after ``close()``.
    func connection() async throws -> RESPConnection {
        let slot = nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue % size
        // Bounded: a wait ends with a connection or an error; a connect cancelled under another
        // caller's feet is retried at most twice.
        for attempt in 0..<3 {
            guard !closed.load(ordering: .acquiring) else { throw RESPConnectionClosed(reason: "the pool is closed") }
            let step: Step = slots.withLock { slots in
                switch slots[slot] {
                case .ready(let connection) where connection.isActive:
                    return .use(connection)
                case .connecting(let future):
                    return .wait(future)
                case .empty, .ready:
                    let promise = group.next().makePromise(of: RESPConnection.self)
                    slots[slot] = .connecting(promise.futureResult)
                    return .connect(promise)
                }
            }
            switch step {
            case .use(let connection):
                return connection
            case .wait(let future):
                do {
                    return try await future.get()
                } catch is CancellationError where !Task.isCancelled && attempt < 2 {
                    continue  // the caller that was connecting was cancelled, not us
                }
            case .connect(let promise):
                do {
                    let connection = try await RESPConnection.connect(
                        to: endpoint, timeout: connectTimeout, replyTimeout: replyTimeout, group: group)
                    slots.withLock { $0[slot] = .ready(connection) }
                    promise.succeed(connection)
                    if closed.load(ordering: .acquiring) {
                        connection.close()
                        throw RESPConnectionClosed(reason: "the pool is closed")
                    }
                    return connection
                } catch {
                    slots.withLock { slots in
                        if case .connecting(let future) = slots[slot], future === promise.futureResult { slots[slot] = .empty }
                    }
                    promise.fail(error)
                    throw error
                }
            }
        }
        throw RESPConnectionClosed(reason: "could not get a connection")
    }

    /// Sends one command on a pooled connection.
    func send(_ arguments: [[UInt8]]) async throws -> RESPValue {
        try await connection().send(arguments)
    }

    /// Closes every connection; later calls fail.
    func close() {
        closed.store(true, ordering: .releasing)
        let all: [Slot] = slots.withLock { slots in
            defer { slots = Array(repeating: .empty, count: slots.count) }
            return slots
        }
        for case .ready(let connection) in all { connection.close() }
    }
}
