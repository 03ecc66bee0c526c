import ClusterProtocol
import Logging
import LogStore
import NIOCore
import NIOPosix
import Synchronization

public struct AgentConfiguration: Sendable {
    public var brainHost: String
    public var brainPort: Int
    public var clientID: String
    public var directory: String
    public var cookie: String
    public var segmentBytesMax: Int64
    public var compression: RecordCompression = .none
    /// Share of a sealed segment's bytes that must be dead before compaction rewrites it.
    public var compactionDeadFractionMin: Double = 0.5
    /// How often the agent looks for segments to compact.
    public var compactionIntervalSeconds: Double = 60
    /// How often every record's checksum is verified in the background; 0 turns it off.
    public var scrubIntervalSeconds: Double = 24 * 3600
    public var commitPolicy: CommitPolicy = .everyWrite
    public var heartbeatIntervalSeconds: Double = 2
    /// Failure domain (rack, host, zone) the brain spreads replicas across; empty for none.
    public var zone = ""
    /// Pause between attempts to reach the brain, which may be (re)starting.
    public var reconnectDelaySeconds: Double = 1
    /// TLS to the brain's cluster port (`--tls-ca`): the brain's certificate must be signed by that CA.
    public var tls: ClusterTLS?

    public init(brainHost: String, brainPort: Int, clientID: String, directory: String, cookie: String, segmentBytesMax: Int64) {
        self.brainHost = brainHost
        self.brainPort = brainPort
        self.clientID = clientID
        self.directory = directory
        self.cookie = cookie
        self.segmentBytesMax = segmentBytesMax
    }

    var storeConfiguration: SegmentStoreConfiguration {
        var store = SegmentStoreConfiguration(directory: directory, segmentBytesMax: segmentBytesMax)
        store.compression = compression
        store.compactionDeadFractionMin = compactionDeadFractionMin
        store.commitPolicy = commitPolicy
        return store
    }
}

public enum AgentError: Error, CustomStringConvertible {
    /// The brain turned us away (wrong cookie, duplicate id, ...). Retrying will not help.
    case refusedByBrain(String)
    /// The brain could not prove it knows the cookie: it is not our cluster's brain.
    case brainFailedAuthentication
    /// The connection broke the protocol; the agent drops it and dials again.
    case protocolViolation(String)

    /// Whether dialing again cannot help.
    var isFatal: Bool {
        switch self {
        case .refusedByBrain, .brainFailedAuthentication: return true
        case .protocolViolation: return false
        }
    }

    public var description: String {
        switch self {
        case .refusedByBrain(let reason): return "the brain refused this agent: \(reason)"
        case .brainFailedAuthentication:
            return "the brain did not prove it knows the cluster cookie (wrong cookie on one side?); disconnecting"
        case .protocolViolation(let what): return "protocol violation by the brain: \(what)"
        }
    }
}

/// A storage agent: keeps chunks in a `SegmentStore` and serves the brain's requests over the
/// connection it dials. Reconnects when the brain goes away; stops for good when refused.
public final class StorageAgent: Sendable {
    public let configuration: AgentConfiguration
    public let store: SegmentStore
    let logger: Logger
    let maintenance: MaintenanceScheduler
    /// The one log line when the store stops taking writes after a failed fsync.
    let failures: StoreFailureLog
    /// Whether the brain has accepted this agent on the current connection (`/health/ready`).
    let registered = Mutex(false)
    let directoryLock: DirectoryLock

    public init(configuration: AgentConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.failures = StoreFailureLog(logger: logger)
        self.directoryLock = try DirectoryLock(directory: configuration.directory)
        self.store = try SegmentStore(configuration: configuration.storeConfiguration)
        self.maintenance = MaintenanceScheduler(store: store, configuration: configuration, logger: logger)
        let report = store.recoveryReport
        logger.info(
            "opened store",
            metadata: [
                "directory": "\(configuration.directory)", "segments": "\(report.segmentsScanned)",
                "chunks": "\(report.recordsIndexed)", "hintsLoaded": "\(report.hintsLoaded)",
                "hintsRebuilt": "\(report.hintsRebuilt)",
            ])
        for (path, offset) in report.truncatedTails {
            logger.warning("truncated torn tail", metadata: ["segment": "\(path)", "offset": "\(offset)"])
        }
        for corruption in report.corruptions {
            logger.error("corruption found at startup", metadata: ["detail": "\(corruption)"])
        }
    }

    /// Asks for a compaction pass now (operators: SIGUSR1), whatever the interval.
    public func requestCompaction() { maintenance.request(.compaction) }

    /// Asks for a scrub pass now (operators: SIGUSR2), whatever the interval.
    public func requestScrub() { maintenance.request(.scrub) }

    /// Compacts and scrubs the store until cancelled, for an agent the brain calls in-process
    /// (`InProcessAgent`) rather than over a connection.
    public func runMaintenance() async { await maintenance.run() }

    /// Whether the brain has accepted this agent on the current connection.
    public var isRegistered: Bool { registered.withLock { $0 } }

    /// Serves the brain until cancelled, or until the brain refuses this agent; compacts and
    /// scrubs the store in the background meanwhile.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.maintenance.run() }
            group.addTask { try await self.serveBrain() }
            // Whichever ends first (refusal, cancellation) ends the other.
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func serveBrain() async throws {
        while !Task.isCancelled {
            do {
                try await serveOneConnection()
                logger.warning("brain closed the connection; reconnecting")
            } catch let error as AgentError where error.isFatal {
                throw error
            } catch is CancellationError where Task.isCancelled {
                return
            } catch {
                logger.info(
                    "cannot reach the brain; retrying",
                    metadata: ["brain": "\(configuration.brainHost):\(configuration.brainPort)", "error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(configuration.reconnectDelaySeconds))
        }
    }

    private func serveOneConnection() async throws {
        let cachedReads = CachedChunkReader(store: store)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: configuration.brainHost, port: configuration.brainPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ClusterChannel.wrap(channel, frameHandler: cachedReads, tls: self.configuration.tls)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var frames = inbound.makeAsyncIterator()
            try await handshake(frames: &frames, outbound: outbound)
            cachedReads.enable()
            registered.withLock { $0 = true }
            defer { registered.withLock { $0 = false } }
            logger.info("registered with the brain", metadata: ["clientID": "\(configuration.clientID)"])
            var handler = AgentRequestHandler(store: store, outbound: outbound, logger: logger, failures: failures)
            // Discarding: finished request tasks must not pile up for the life of the connection.
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    // Ending the heartbeats is how the connection's end is handled, not an error.
                    do { try await self.sendHeartbeats(outbound) } catch is CancellationError {}
                }
                while let frame = try await frames.next() {
                    try handler.receive(frame, in: &group)
                }
                group.cancelAll()
            }
        }
    }

    private func handshake(
        frames: inout NIOAsyncChannelInboundStream<ClusterFrame>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ClusterFrame>
    ) async throws {
        guard let first = try await frames.next() else { throw AgentError.protocolViolation("closed before challenge") }
        if first.type == .refused { throw AgentError.refusedByBrain(try Refused(first).reason) }
        let challenge = try Challenge(first)
        guard challenge.protocolVersion == Challenge.protocolVersion else {
            throw AgentError.refusedByBrain(
                "the brain speaks cluster protocol version \(challenge.protocolVersion), this agent \(Challenge.protocolVersion); run the same SOS version on both")
        }
        let agentNonce = ClusterAuth.makeNonce()
        let proof = ClusterAuth.agentProof(
            cookie: configuration.cookie, brainNonce: challenge.brainNonce, agentNonce: agentNonce,
            clientID: configuration.clientID)
        try await outbound.write(
            Hello(
                clientID: configuration.clientID, agentNonce: agentNonce, proof: proof,
                capacityBytes: UInt64(max(0, capacityBytes())), freeBytes: UInt64(max(0, store.availableBytes())),
                role: .agent, zone: configuration.zone
            ).frame())
        guard let answer = try await frames.next() else {
            throw AgentError.protocolViolation("brain closed the connection during the handshake")
        }
        switch answer.type {
        case .refused:
            throw AgentError.refusedByBrain(try Refused(answer).reason)
        case .welcome:
            let expected = ClusterAuth.brainProof(
                cookie: configuration.cookie, brainNonce: challenge.brainNonce, agentNonce: agentNonce)
            guard ClusterAuth.proofsMatch(try Welcome(answer).proof, expected) else {
                try? await outbound.write(Refused(reason: "the brain's proof does not match this agent's cookie").frame())
                throw AgentError.brainFailedAuthentication
            }
        default:
            throw AgentError.protocolViolation("expected welcome, got \(answer.type)")
        }
    }

    /// Heartbeats, each followed by the corrupt chunks (from scrub or reads) not yet reported on
    /// this connection, so that the brain repairs them from another replica.
    private func sendHeartbeats(_ outbound: NIOAsyncChannelOutboundWriter<ClusterFrame>) async throws {
        var reported = Set<StoreKey>()
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(configuration.heartbeatIntervalSeconds))
            try await outbound.write(heartbeat().frame())
            let corrupt = store.corruptKeys.subtracting(reported)
            if !corrupt.isEmpty {
                let ids = corrupt.map(ChunkID.init)
                for var frame in ChunkIDList.frames(ids, requestID: 0) {
                    frame.type = .corruptChunks
                    frame.flags = []
                    try await outbound.write(frame)
                }
                reported.formUnion(corrupt)
            }
        }
    }

    func capacityBytes() -> Int64 { store.liveBytes + store.availableBytes() }

    /// What the agent tells the brain about its space and chunks.
    public func heartbeat() -> Heartbeat {
        Heartbeat(
            capacityBytes: UInt64(max(0, capacityBytes())), freeBytes: UInt64(max(0, store.availableBytes())),
            chunkCount: UInt64(store.recordCount), usedBytes: UInt64(max(0, store.liveBytes)))
    }
}
