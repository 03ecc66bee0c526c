import ClusterProtocol
import Logging
import NIOCore
import NIOPosix

/// Accepts agent connections on the cluster port, authenticates them with the cookie
/// challenge-response, registers them, and routes their replies.
public struct ClusterServer: Sendable {
    let host: String
    let port: Int
    let cookie: String
    let registry: AgentRegistry
    let logger: Logger

    public init(host: String, port: Int, cookie: String, registry: AgentRegistry, logger: Logger) {
        self.host = host
        self.port = port
        self.cookie = cookie
        self.registry = registry
        self.logger = logger
    }

    /// Binds the cluster port. Returns the bound channel so callers learn the port before serving.
    public func bind() async throws -> NIOAsyncChannel<ClusterAsyncChannel, Never> {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try ClusterChannel.wrap(channel) }
            }
    }

    public func serve(_ server: NIOAsyncChannel<ClusterAsyncChannel, Never>) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { await self.handle(connection) }
                }
            }
        }
    }

    private func handle(_ channel: ClusterAsyncChannel) async {
        let peer = channel.channel.remoteAddress?.description ?? "unknown"
        do {
            try await channel.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                guard let agent = try await authenticate(frames: &frames, outbound: outbound, peer: peer) else { return }
                let connection = AgentConnection(
                    clientID: agent.clientID, outbound: outbound, freeBytes: agent.freeBytes,
                    capacityBytes: agent.capacityBytes)
                registry.register(connection)?.close()
                logger.info("agent registered", metadata: ["agent": "\(agent.clientID)", "peer": "\(peer)"])
                defer {
                    registry.unregister(connection)
                    connection.close()
                    logger.warning("agent disconnected", metadata: ["agent": "\(agent.clientID)"])
                }
                while let frame = try await frames.next() {
                    switch frame.type {
                    case .heartbeat: connection.update(from: try Heartbeat(frame))
                    case .refused:
                        let reason = try Refused(frame).reason
                        logger.error("agent refused the brain", metadata: ["agent": "\(agent.clientID)", "reason": "\(reason)"])
                        return
                    default: connection.deliver(frame)
                    }
                }
            }
        } catch {
            logger.info("cluster connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }

    /// Runs the brain's side of the handshake; nil (after telling the agent why) when refused.
    private func authenticate(
        frames: inout NIOAsyncChannelInboundStream<ClusterFrame>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ClusterFrame>, peer: String
    ) async throws -> Hello? {
        let brainNonce = ClusterAuth.makeNonce()
        try await outbound.write(Challenge(brainNonce: brainNonce).frame())
        guard let frame = try await frames.next() else { return nil }
        let hello = try Hello(frame)
        let expected = ClusterAuth.agentProof(
            cookie: cookie, brainNonce: brainNonce, agentNonce: hello.agentNonce, clientID: hello.clientID)
        guard ClusterAuth.proofsMatch(hello.proof, expected) else {
            logger.warning(
                "refused agent: wrong cookie", metadata: ["agent": "\(hello.clientID)", "peer": "\(peer)"])
            try await outbound.write(
                Refused(reason: "wrong cookie: this agent's cookie does not match the cluster's cookie").frame())
            return nil
        }
        guard !hello.clientID.isEmpty else {
            try await outbound.write(Refused(reason: "empty client id").frame())
            return nil
        }
        try await outbound.write(
            Welcome(proof: ClusterAuth.brainProof(cookie: cookie, brainNonce: brainNonce, agentNonce: hello.agentNonce))
                .frame())
        return hello
    }
}
