import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Spool
import Synchronization
import Testing
@testable import SpoolServer

/// A live server on 127.0.0.1, port 0, for tests that need real connections (raw bytes,
/// foreign `Host` headers, timeouts). It shuts down gracefully when `body` returns.
func withLiveServer<T: Sendable>(
    _ storage: any JobStorage = MemoryStorage(), configure: (inout SpoolServer.Configuration) -> Void = { _ in },
    _ body: @Sendable (_ port: Int) async throws -> T
) async throws -> T {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let server = makeServer(storage) {
        configure(&$0)
        $0.port = 0
        $0.onServerRunning = { port in continuation.yield(port) }
    }
    let group = ServiceGroup(configuration: .init(services: [.init(service: server)], logger: Logger(label: "test")))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        do {
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            tasks.cancelAll()
            throw error
        }
    }
}

/// What a raw connection saw: the bytes the server sent, and whether (and when) it closed.
struct RawExchange: Sendable {
    /// Everything the server sent.
    let received: String
    /// How long after the last write the server closed the connection.
    let closedAfter: Duration

    /// The status code of the first response, if one came.
    var status: Int? {
        guard received.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(received.dropFirst(9).prefix(3))
    }

    /// The value of header `name` in the first response (case-insensitive).
    func header(_ name: String) -> String? {
        let head = received.components(separatedBy: "\r\n\r\n").first ?? ""
        for line in head.components(separatedBy: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// The body of the first response, as JSON.
    var json: JSONValue? {
        guard let range = received.range(of: "\r\n\r\n") else { return nil }
        return try? JSONParser.parse(Array(received[range.upperBound...].utf8))
    }
}

enum RawHTTP {
    struct TimedOut: Error, CustomStringConvertible {
        let description: String
    }

    /// Connects to 127.0.0.1:`port`, writes each of `writes` in turn, then reads until the
    /// server closes the connection. Fails if it has not closed within `deadline` (a bound on
    /// a hung test, not a wait: the test waits on the close).
    static func exchange(port: Int, _ writes: [String], deadline: Duration = .seconds(20)) async throws -> RawExchange {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            for write in writes {
                try await outbound.write(ByteBuffer(string: write))
            }
            let clock = ContinuousClock()
            let start = clock.now
            let received = try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    var bytes = ByteBuffer()
                    do {
                        for try await chunk in inbound { bytes.writeImmutableBuffer(chunk) }
                    } catch let error as IOError where error.errnoCode == ECONNRESET {
                        // A reset is a close too.
                    }
                    return String(buffer: bytes)
                }
                group.addTask {
                    try await Task.sleep(for: deadline)  // the exchange's own deadline, not a wait for an event
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let text = first else {
                    throw TimedOut(description: "the server did not close the connection within \(deadline)")
                }
                return text
            }
            return RawExchange(received: received, closedAfter: clock.now - start)
        }
    }
}

/// A log handler that keeps every entry, to show what a request did not log.
struct CollectingLogHandler: LogHandler {
    let store: LogEntries
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.entries.withLock { $0.append((event.level, "\(event.message)")) }
    }
}

/// The entries a ``CollectingLogHandler`` keeps.
final class LogEntries: Sendable {
    let entries = Mutex<[(Logger.Level, String)]>([])

    /// A logger writing into these entries.
    var logger: Logger {
        Logger(label: "test") { _ in CollectingLogHandler(store: self) }
    }

    /// The entries at `level` or above.
    func atLeast(_ level: Logger.Level) -> [String] {
        entries.withLock { $0.filter { $0.0 >= level }.map(\.1) }
    }
}
