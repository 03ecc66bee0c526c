import ClusterProtocol
import LogStore
import NIOCore
import Synchronization

/// Answers a `getChunk` for a small record already in the page cache right on the connection's
/// event loop: the read never waits for the disk, and the reply skips the trip through the
/// connection's task, a request task of its own and the async writer back to the event loop.
/// Every other frame, and any `getChunk` this cannot answer whole and well (not cached, large,
/// missing, corrupt, a bad range, the channel not writable), goes on to `AgentRequestHandler`,
/// which answers it the usual way. Off until the handshake has authenticated the brain.
final class CachedChunkReader: ChannelInboundHandler, Sendable {
    typealias InboundIn = ClusterFrame
    typealias InboundOut = ClusterFrame
    typealias OutboundOut = ClusterFrame

    private let store: SegmentStore
    private let enabled = Mutex(false)

    init(store: SegmentStore) {
        self.store = store
    }

    /// Called once the brain has proven it knows the cookie.
    func enable() {
        enabled.withLock { $0 = true }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.type == .getChunk, context.channel.isWritable, enabled.withLock({ $0 }),
            let request = try? GetChunk(frame),
            let payload = try? store.cachedPayload(key: StoreKey(request.chunkID), as: WireChunk.self),
            let bytes = try? AgentRequestHandler.requestedBytes(of: payload, for: request)
        else {
            context.fireChannelRead(data)
            return
        }
        for reply in ClusterChannel.dataFrames(bytes, requestID: frame.requestID) {
            context.write(wrapOutboundOut(reply), promise: nil)
        }
        context.flush()
    }
}
