import ClusterProtocol
import NIOCore
import Synchronization

/// Hands an agent's replies to the requests waiting for them on the connection's event loop.
/// Without it every reply first crossed into the connection's reader task (the async channel's
/// inbound stream) and only then into the request's task: one more task switch and async-sequence
/// hand-off per reply. Frames that are not replies (heartbeats, corrupt-chunk reports, a refusal),
/// and every frame before an agent connection is attached (the handshake), go on to the async channel.
final class ReplyRouter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ClusterFrame
    typealias InboundOut = ClusterFrame

    private let connection = Mutex<AgentConnection?>(nil)

    /// From now on replies go to `connection`'s waiting requests.
    func attach(_ connection: AgentConnection) {
        self.connection.withLock { $0 = connection }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.type {
        case .chunkData, .ok, .error:
            if let connection = connection.withLock({ $0 }) {
                connection.deliver(frame)
                return
            }
        default: break
        }
        context.fireChannelRead(data)
    }
}
