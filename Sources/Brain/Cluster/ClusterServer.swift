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
    /// Membership lives in the WAL, so the brain knows its agents after a restart.
    let metadata: MetadataStore
    /// What `sos admin` asks for.
    let administration: ClusterAdministration
    /// TLS on the cluster port, when configured.
    let tls: ClusterTLS?
    let logger: Logger
    /// A peer that has not finished the handshake in this time is dropped.
    static let handshakeTimeout = Duration.seconds(10)

    public init(
        host: String, port: Int, cookie: String, registry: AgentRegistry, metadata: MetadataStore,
        administration: ClusterAdministration, tls: ClusterTLS?, logger: Logger
    ) {
        self.tls = tls
        self.administration = administration
        self.host = host
        self.port = port
        self.cookie = cookie
        self.registry = registry
        self.metadata = metadata
        self.logger = logger
    }

    /// Binds the cluster port. Returns the bound channel so callers learn the port before serving.
    public func bind() async throws -> NIOAsyncChannel<ClusterAsyncChannel, Never> {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try ClusterChannel.wrap(channel, frameHandler: ReplyRouter(), tls: tls) }
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
        let peer = channel.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown"
        do {
            try await channel.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                let handshake = Task { [channel] in
                    try await Task.sleep(for: Self.handshakeTimeout)
                    channel.channel.close(promise: nil)
                }
                let authenticated = try await authenticate(frames: &frames, outbound: outbound, peer: peer)
                handshake.cancel()
                guard let hello = authenticated else { return }
                switch hello.role {
                case .admin: try await serveAdmin(frames: &frames, outbound: outbound)
                case .agent:
                    let router = try await channel.channel.pipeline.handler(type: ReplyRouter.self).get()
                    try await serveAgent(hello, peer: peer, router: router, frames: &frames, outbound: outbound)
                }
            }
        } catch {
            logger.info("cluster connection ended", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }

    /// Serves an agent of this process (`sos server`) until cancelled: registered as a dialing
    /// agent is, called directly (`InProcessAgent`), its heartbeat and corrupt chunks polled at
    /// the interval an agent sends them.
    public func serveInProcess(_ agent: any InProcessAgent, heartbeatInterval: Duration = .seconds(2)) async throws {
        try await registerMember(clientID: agent.clientID, zone: agent.zone)
        let connection = AgentConnection(inProcess: agent)
        registry.register(connection)?.close()
        logger.info("agent registered", metadata: ["agent": "\(agent.clientID)", "peer": "in-process", "zone": "\(agent.zone)"])
        defer {
            registry.unregister(connection)
            connection.close()
        }
        var reported = Set<ChunkID>()
        while !Task.isCancelled {
            connection.update(from: agent.heartbeat())
            let corrupt = agent.corruptChunks().subtracting(reported)
            if !corrupt.isEmpty { reportCorrupt(Array(corrupt), on: agent.clientID) }
            reported.formUnion(corrupt)
            try await Task.sleep(for: heartbeatInterval)
        }
    }

    /// Replicas an agent found corrupt (scrub, reads) are marked for repair from another replica.
    private func reportCorrupt(_ ids: [ChunkID], on agent: String) {
        for id in ids { registry.reportBadReplica(chunk: id, agent: agent) }
        logger.error("agent reports corrupt chunks; repair will replace them", metadata: ["agent": "\(agent)", "count": "\(ids.count)"])
    }

    /// Membership lives in the WAL: an agent new to the cluster, or in a new zone, is recorded.
    private func registerMember(clientID: String, zone: String) async throws {
        if metadata.member(clientID)?.zone != zone || metadata.member(clientID) == nil {
            _ = try await metadata.commit(.registerAgent(AgentMember(clientID: clientID, zone: zone)))
        }
    }

    private func serveAgent(
        _ hello: Hello, peer: String, router: ReplyRouter,
        frames: inout NIOAsyncChannelInboundStream<ClusterFrame>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ClusterFrame>
    ) async throws {
        try await registerMember(clientID: hello.clientID, zone: hello.zone)
        let connection = AgentConnection(
            hello: hello, address: peer, outbound: outbound,
            requestTimeout: .milliseconds(Int64(registry.timeouts.requestSeconds * 1000)))
        router.attach(connection)
        registry.register(connection)?.close()
        logger.info("agent registered", metadata: ["agent": "\(hello.clientID)", "peer": "\(peer)", "zone": "\(hello.zone)"])
        let requestTimer = Task { await connection.expireRequestsUntilCancelled() }
        defer {
            requestTimer.cancel()
            registry.unregister(connection)
            connection.close()
            logger.warning("agent disconnected", metadata: ["agent": "\(hello.clientID)"])
        }
        while let frame = try await frames.next() {
            switch frame.type {
            case .heartbeat: connection.update(from: try Heartbeat(frame))
            case .corruptChunks:
                reportCorrupt(try ChunkIDList.decode(frame.body), on: hello.clientID)
            case .refused:
                let reason = try Refused(frame).reason
                logger.error("agent refused the brain", metadata: ["agent": "\(hello.clientID)", "reason": "\(reason)"])
                return
            // Replies reach `connection` through the router; anything else here is out of place.
            default: connection.deliver(frame)
            }
        }
    }

    /// `sos admin`: answers status, agent and key requests until the tool hangs up.
    private func serveAdmin(
        frames: inout NIOAsyncChannelInboundStream<ClusterFrame>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ClusterFrame>
    ) async throws {
        while let frame = try await frames.next() {
            switch frame.type {
            case .statusRequest:
                let json = try administration.status().json()
                try await outbound.write(ClusterFrame(type: .statusReply, requestID: frame.requestID, body: ByteBuffer(bytes: json)))
            case .adminCommand:
                do {
                    try await perform(try AdminCommandRequest(frame))
                    try await outbound.write(ClusterFrame(type: .ok, requestID: frame.requestID))
                } catch let reply as ErrorReply {
                    try await outbound.write(reply.frame(requestID: frame.requestID))
                }
            case .keyCommand:
                do {
                    let reply = try await administration.key(try KeyCommand(frame))
                    try await outbound.write(try reply.frame(requestID: frame.requestID))
                } catch let reply as ErrorReply {
                    try await outbound.write(reply.frame(requestID: frame.requestID))
                } catch let error as ClusterProtocolError {
                    try await outbound.write(ErrorReply(code: .badRequest, message: "\(error)").frame(requestID: frame.requestID))
                }
            default:
                try await outbound.write(
                    ErrorReply(code: .badRequest, message: "unsupported admin request \(frame.type)").frame(requestID: frame.requestID))
            }
        }
    }

    private func perform(_ request: AdminCommandRequest) async throws {
        switch request.command {
        case "rebalance": try administration.startRebalance()
        case "backup": try await administration.backup(to: request.argument)
        case "drain": try await administration.drain(request.argument)
        case "remove": try await administration.remove(request.argument)
        default: throw ErrorReply(code: .badRequest, message: "unknown admin command \(request.command)")
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
