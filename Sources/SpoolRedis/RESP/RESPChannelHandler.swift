import NIOCore

/// A command on its way to the server, with the promise its reply completes.
struct RESPRequest: Sendable {
    var arguments: [[UInt8]]
    var promise: EventLoopPromise<RESPValue>
}

/// The connection closed (or broke) before the reply arrived.
struct RESPConnectionClosed: Error, Sendable, CustomStringConvertible {
    var reason: String
    var description: String { "the Redis connection closed: \(reason)" }
}

/// Pipelines commands on one channel: writes each as it comes and completes the promises in
/// order as replies arrive (Redis answers in order). Push messages are dropped (the driver
/// subscribes to nothing). A malformed reply fails every pending command and closes the
/// channel; so does the channel closing, and so does a server that sends nothing for
/// `replyTimeout` while commands wait (a hung server or a half-open connection).
final class RESPChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RESPRequest
    typealias OutboundOut = ByteBuffer

    private var decoder: RESPDecoder
    private var pending = CircularBuffer<EventLoopPromise<RESPValue>>()
    private var failure: (any Error)?
    private let replyTimeout: TimeAmount?
    private var timer: Scheduled<Void>?

    init(limits: RESPLimits = RESPLimits(), replyTimeout: TimeAmount? = nil) {
        decoder = RESPDecoder(limits: limits)
        self.replyTimeout = replyTimeout
    }

    /// Restarts the reply timer while commands wait; stops it when none does.
    private func armTimer(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        guard let replyTimeout, !pending.isEmpty, failure == nil else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: replyTimeout) {
            self.timer = nil
            let seconds = Double(replyTimeout.nanoseconds) / 1e9
            self.failAll(RESPConnectionClosed(reason: "no reply within \(seconds) s; closed it"), context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            request.promise.fail(failure)
            promise?.fail(failure)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 64 + request.arguments.reduce(0) { $0 + $1.count + 16 })
        RESPEncoder.writeCommand(request.arguments, into: &buffer)
        pending.append(request.promise)
        if pending.count == 1 { armTimer(context: context) }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.feed(unwrapInboundIn(data))
        do {
            while let value = try decoder.next() {
                if case .push = value { continue }
                guard let promise = pending.popFirst() else {
                    failAll(RESPDecodingError(message: "a reply nobody asked for"), context: context)
                    return
                }
                promise.succeed(value)
            }
            armTimer(context: context)
        } catch {
            failAll(error, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(failure ?? RESPConnectionClosed(reason: "the server closed it"), context: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error, context: context)
    }

    /// Records the first failure, closes the channel, then fails every waiting command (so a
    /// caller that sees the error finds the connection already closed).
    private func failAll(_ error: any Error, context: ChannelHandlerContext?) {
        if failure == nil { failure = error }
        timer?.cancel()
        timer = nil
        var waiting = pending
        pending.removeAll()
        context?.close(promise: nil)
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}
