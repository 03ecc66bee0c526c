import ClusterProtocol
import Logging
import NIOCore
import Synchronization

/// Brings every chunk back to R healthy replicas: for each chunk with fewer (its agent is down,
/// draining, or served bad bytes), it reads a surviving replica, writes new ones on other agents
/// (zone-aware), and commits the new replica list. Rate-limited, one chunk at a time.
public final class RepairService: Sendable {
    let registry: AgentRegistry
    let metadata: MetadataStore
    let chunks: ChunkRouter
    let logger: Logger
    public let intervalSeconds: Double
    /// Upper bound on repair work, so that it never crowds out client traffic.
    public let chunksPerSecondMax: Double
    private let counters = Mutex(Counters())

    public struct Counters: Sendable, Equatable {
        public var repairedChunks = 0
        public var failedAttempts = 0
        /// Under-replicated chunks found by the latest pass that could not be repaired yet.
        public var waitingChunks = 0
        /// What the latest pass found: chunks short of replicas, and chunks with none on an agent not down.
        public var underReplicatedChunks = 0
        public var unavailableChunks = 0
    }

    public init(
        registry: AgentRegistry, metadata: MetadataStore, chunks: ChunkRouter, logger: Logger,
        intervalSeconds: Double = 10, chunksPerSecondMax: Double = 50
    ) {
        self.registry = registry
        self.metadata = metadata
        self.chunks = chunks
        self.logger = logger
        self.intervalSeconds = intervalSeconds
        self.chunksPerSecondMax = chunksPerSecondMax
    }

    public var progress: Counters { counters.withLock { $0 } }

    public func run() async {
        while !Task.isCancelled {
            await pass()
            try? await Task.sleep(for: .milliseconds(Int64(intervalSeconds * 1000)))
        }
    }

    /// One scan over every chunk; repairs what it can and counts what has to wait.
    public func pass() async {
        var work: [(ChunkLocation, ChunkPlacement, healthy: [String])] = []
        var unavailable = 0
        metadata.read { state in
            state.forEachChunkLocation { location, chunk in
                let kept = chunk.agents.filter { !registry.needsReplacement(chunk: chunk.id, agent: $0) }
                if kept.count < registry.replication { work.append((location, chunk, kept)) }
                if !chunk.agents.contains(where: { registry.state(of: $0) != .down }) { unavailable += 1 }
            }
        }
        counters.withLock {
            $0.underReplicatedChunks = work.count
            $0.unavailableChunks = unavailable
        }
        var waiting = 0
        for (location, chunk, healthy) in work {
            guard !Task.isCancelled else { return }
            if await repair(chunk, at: location, healthy: healthy) {
                counters.withLock { $0.repairedChunks += 1 }
                BrainMetrics.repairedChunks.increment()
            } else {
                waiting += 1
            }
            try? await Task.sleep(for: .milliseconds(Int64(1000 / chunksPerSecondMax)))
        }
        counters.withLock { $0.waitingChunks = waiting }
    }

    private func repair(_ chunk: ChunkPlacement, at location: ChunkLocation, healthy: [String]) async -> Bool {
        let zones = Set(healthy.compactMap { registry.connection(for: $0)?.zone })
        let targets = registry.pickAgents(
            count: registry.replication - healthy.count, excluding: Set(chunk.agents), zonesInUse: zones)
        // Nothing to copy to, or nothing left to copy from: wait for an agent to come (back).
        guard !targets.isEmpty, chunks.canRead([chunk]) else { return false }
        do {
            var received = ByteBuffer()
            for try await var piece in chunks.bytes(of: [chunk], range: 0..<Int64(chunk.length)) { received.writeBuffer(&piece) }
            let bytes = received
            try await withThrowingTaskGroup(of: Void.self) { group in
                for target in targets { group.addTask { try await target.putChunk(chunk.id, bytes: bytes) } }
                try await group.waitForAll()
            }
            let newAgents = healthy + targets.map(\.clientID)
            switch try await metadata.commit(
                .setChunkReplicas(location: location, chunkID: chunk.id, previousAgents: chunk.agents, agents: newAgents))
            {
            case .applied(let garbage):
                chunks.discard(garbage)
                registry.clearBadReplicas(chunk: chunk.id)
                logger.info("repaired chunk", metadata: ["chunk": "\(chunk.id)", "replicas": "\(newAgents)"])
                return newAgents.count >= registry.replication
            case .rejected:
                // Overwritten or deleted meanwhile: the copies just made belong to nothing.
                chunks.discard([ChunkPlacement(id: chunk.id, length: chunk.length, agents: targets.map(\.clientID))])
                return true
            }
        } catch {
            counters.withLock { $0.failedAttempts += 1 }
            BrainMetrics.failedRepairs.increment()
            logger.warning("chunk repair failed; will retry", metadata: ["chunk": "\(chunk.id)", "error": "\(error)"])
            return false
        }
    }
}
