import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Hummingbird's HTTP/1 channel with both of the server's connection limits: the idle limit
/// (Hummingbird's own `idleTimeout`) and a limit on reading a request's head
/// (``HeadTimeoutHandler``), so neither an idle keep-alive connection nor a client that sends
/// its headers slowly holds a descriptor for long.
struct TimedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    let headerTimeout: TimeAmount

    /// A builder for `Application(server:)`.
    /// - Parameters:
    ///   - idleTimeout: how long a connection may carry nothing before it is closed.
    ///   - headerTimeout: how long a request's head may take, from its first byte.
    static func builder(idleTimeout: TimeAmount, headerTimeout: TimeAmount) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            TimedHTTP1Channel(
                base: HTTP1Channel(
                    responder: responder,
                    configuration: .init(additionalChannelHandlers: [RequestHeadObserver()], idleTimeout: idleTimeout)
                ),
                headerTimeout: headerTimeout
            )
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let headerTimeout = headerTimeout
        return channel.eventLoop.makeCompletedFuture {
            // First in the pipeline: it sees the raw bytes before the HTTP decoder does.
            try channel.pipeline.syncOperations.addHandler(HeadTimeoutHandler(timeout: headerTimeout), position: .first)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// What ``RequestHeadObserver`` tells ``HeadTimeoutHandler`` (as outbound user events, which
/// travel from the decoded side of the pipeline to the socket side).
enum RequestHeadEvent {
    /// A request's head was read in full.
    case headRead
    /// A request was read in full: the next byte starts a new one.
    case requestRead
}

/// Closes a connection whose request head is not complete ``timeout`` after its first byte.
///
/// Sits first in the pipeline and sees raw bytes: the first byte read while no request is
/// under way starts the clock; ``RequestHeadObserver`` (after the HTTP decoder) stops it when
/// the head is decoded, and says when the request has been read so that the next byte starts it
/// again. Bytes of a next request that arrive before the current one has been read in full (a
/// pipelining client) are left to the idle limit.
final class HeadTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private enum State {
        /// Between requests: the idle limit applies.
        case waiting
        /// The first bytes of a head arrived: the head limit runs.
        case readingHead(Scheduled<Void>)
        /// The head was read: the request's body and handling are not limited here.
        case inRequest
    }

    private let timeout: TimeAmount
    private var state = State.waiting

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .waiting = state, unwrapInboundIn(data).readableBytes > 0 {
            let scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                context.close(promise: nil)
            }
            state = .readingHead(scheduled)
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? RequestHeadEvent else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch event {
        case .headRead:
            if case .readingHead(let scheduled) = state { scheduled.cancel() }
            state = .inRequest
        case .requestRead:
            if case .readingHead(let scheduled) = state { scheduled.cancel() }
            state = .waiting
        }
        promise?.succeed()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if case .readingHead(let scheduled) = state { scheduled.cancel() }
        state = .waiting
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .readingHead(let scheduled) = state { scheduled.cancel() }
        state = .waiting
        context.fireChannelInactive()
    }
}

/// Tells ``HeadTimeoutHandler`` when a request's head, and then the whole request, was read.
final class RequestHeadObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            context.triggerUserOutboundEvent(RequestHeadEvent.headRead, promise: nil)
        case .end:
            context.triggerUserOutboundEvent(RequestHeadEvent.requestRead, promise: nil)
        case .body:
            break
        }
        context.fireChannelRead(data)
    }
}
