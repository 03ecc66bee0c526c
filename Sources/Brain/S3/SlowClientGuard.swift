import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// How fast a client must send a request it has begun. Idle keep-alive connections are not
/// covered: the idle timeout closes those.
public struct ClientPacing: Sendable {
    /// A request head must arrive whole within this many seconds of its first byte, and a body is
    /// judged over windows of this length.
    public var windowSeconds: Int64 = 20
    /// The least body rate a client may keep over a window in which the server was waiting for it.
    public var bodyBytesPerSecondMin: Int64 = 1024

    public init() {}
}

/// Times out a client that drips a request (a byte a second, slowloris), so it cannot hold a
/// connection and its request's resources for ever: 400 RequestTimeout as S3 answers, then close.
///
/// Time the server itself was not reading (backpressure while a chunk is stored) is not the
/// client's fault: a body window only counts when the server asked for bytes during most of it.
/// Raw byte arrivals come from a `RequestBytesObserver` this handler puts at the front of the
/// pipeline, since a head that never completes is invisible after the HTTP decoder.
final class SlowClientGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Phase { case betweenRequests, head, body }

    private let pacing: ClientPacing
    private var phase = Phase.betweenRequests
    private var responseStarted = false
    private var headDeadline: Scheduled<Void>?
    private var bodyWindow: Scheduled<Void>?
    private var windowBytes: Int64 = 0
    private var windowWaitedNanoseconds: Int64 = 0
    /// When the server asked for bytes that have not come yet; nil while it is not reading.
    private var readRequestedAt: NIODeadline?

    init(pacing: ClientPacing) {
        self.pacing = pacing
    }

    func handlerAdded(context: ChannelHandlerContext) {
        try? context.pipeline.syncOperations.addHandler(RequestBytesObserver(guard: self, context: context), position: .first)
    }

    func handlerRemoved(context: ChannelHandlerContext) { stopTimers() }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimers()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            headDeadline?.cancel()
            headDeadline = nil
            phase = .body
            responseStarted = false
            windowBytes = 0
            windowWaitedNanoseconds = 0
        case .body: break
        case .end:
            stopTimers()
            phase = .betweenRequests
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if readRequestedAt == nil { readRequestedAt = .now() }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(let head) = unwrapOutboundIn(data), head.status.kind != .informational { responseStarted = true }
        context.write(data, promise: promise)
    }

    // MARK: From the observer at the front of the pipeline

    fileprivate func bytesArrived(_ count: Int) {
        windowBytes += Int64(count)
        if phase == .betweenRequests { phase = .head }
    }

    /// Timers are armed only here, once the bytes of a read have been through the decoder: a
    /// request that arrived whole in one read (most small PUTs and every GET) has ended by now and
    /// needs none. Scheduling and cancelling two timers per request was 2% of a 4 KiB PUT's CPU.
    fileprivate func readCompleted(context: ChannelHandlerContext) {
        if let requested = readRequestedAt {
            windowWaitedNanoseconds += (NIODeadline.now() - requested).nanoseconds
            readRequestedAt = nil
        }
        switch phase {
        case .head where headDeadline == nil:
            headDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(pacing.windowSeconds)) { [weak self] in
                guard let self, self.phase == .head else { return }
                self.timeOut(context: context)
            }
        case .body where bodyWindow == nil: scheduleCloseOfWindow(context: context)
        default: break
        }
    }

    // MARK: Judging

    private func scheduleCloseOfWindow(context: ChannelHandlerContext) {
        bodyWindow = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(pacing.windowSeconds)) { [weak self] in
            self?.closeOfWindow(context: context)
        }
    }

    private func closeOfWindow(context: ChannelHandlerContext) {
        guard phase == .body else { return }
        let now = NIODeadline.now()
        var waited = windowWaitedNanoseconds
        if let requested = readRequestedAt {
            waited += (now - requested).nanoseconds
            readRequestedAt = now
        }
        let window = TimeAmount.seconds(pacing.windowSeconds).nanoseconds
        let starved = waited >= window * 9 / 10
        if starved && windowBytes < pacing.bodyBytesPerSecondMin * pacing.windowSeconds {
            return timeOut(context: context)
        }
        windowBytes = 0
        windowWaitedNanoseconds = 0
        scheduleCloseOfWindow(context: context)
    }

    private func timeOut(context: ChannelHandlerContext) {
        stopTimers()
        guard context.channel.isActive else { return }
        if responseStarted { return context.close(promise: nil) }
        let error = S3Error(.requestTimeout, "Your socket connection to the server was not read from or written to within the timeout period.")
        let body = ByteBuffer(string: error.xml(requestID: S3Router.makeRequestID()))
        let head = HTTPResponse(
            status: error.status,
            headerFields: [.contentType: "application/xml", .contentLength: "\(body.readableBytes)", .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func stopTimers() {
        headDeadline?.cancel()
        headDeadline = nil
        bodyWindow?.cancel()
        bodyWindow = nil
    }
}

/// Reports the raw bytes a connection receives to its `SlowClientGuard`, before HTTP decoding.
private final class RequestBytesObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let slowClientGuard: SlowClientGuard
    /// The guard's own context: its timers and its responses belong after the HTTP codec.
    private let guardContext: ChannelHandlerContext

    init(guard slowClientGuard: SlowClientGuard, context: ChannelHandlerContext) {
        self.slowClientGuard = slowClientGuard
        self.guardContext = context
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        slowClientGuard.bytesArrived(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        slowClientGuard.readCompleted(context: guardContext)
        context.fireChannelReadComplete()
    }
}
