import NIOCore

/// Holds a flush back until the event loop has run what is already queued on it, so that the
/// frames many requests write in one turn of the loop leave in one gathering write: one system
/// call, and one wake-up of the peer, instead of one per request (after Netty's
/// FlushConsolidationHandler).
///
/// Concurrent requests write a cluster connection from many tasks; each write arrives on the
/// event loop as a task of its own that writes and flushes. A flush during a read is held until
/// the read completes; any other flush runs as a task queued behind the ones already there.
/// Nothing waits on a timer, and a close sends what is held first. Once the held bytes reach
/// `heldBytesMax` (chunk data), they go at once: a write that large is worth its system call.
final class FlushCoalescingHandler: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = ByteBuffer

    static let heldBytesMax = 64 << 10

    private var isReading = false
    private var flushHeld = false
    private var flushQueued = false
    private var heldBytes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        isReading = true
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        isReading = false
        flushIfHeld(context: context)
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        heldBytes += unwrapOutboundIn(data).readableBytes
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        flushHeld = true
        if heldBytes >= Self.heldBytesMax { return flushIfHeld(context: context) }
        guard !isReading, !flushQueued else { return }
        flushQueued = true
        context.eventLoop.assumeIsolated().execute {
            self.flushQueued = false
            self.flushIfHeld(context: context)
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        flushIfHeld(context: context)
        context.close(mode: mode, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The queued task may still run; a flush on a closed channel would only fail its writes again.
        flushHeld = false
        context.fireChannelInactive()
    }

    private func flushIfHeld(context: ChannelHandlerContext) {
        guard flushHeld else { return }
        flushHeld = false
        heldBytes = 0
        context.flush()
    }
}
