import ClusterProtocol
import Logging
import NIOCore
import Synchronization

/// `sos admin rebalance`: moves chunk replicas from the fullest agents to the emptiest until every
/// up agent holds within `toleranceFraction` of the mean share of referenced bytes. A move copies
/// the replica to the new agent, commits the new replica list, then drops the old copy.
public final class RebalanceService: Sendable {
    let registry: AgentRegistry
    let metadata: MetadataStore
    let chunks: ChunkRouter
    let logger: Logger
    let chunksPerSecondMax: Double
    /// Agents within this fraction of the mean are left alone; it keeps moves from ping-ponging.
    static let toleranceFraction = 0.1
    private let state = Mutex(Progress())

    public struct Progress: Sendable, Codable, Equatable {
        public var running = false
        public var movedChunks = 0
        public var failedMoves = 0
    }

    public init(registry: AgentRegistry, metadata: MetadataStore, chunks: ChunkRouter, logger: Logger, chunksPerSecondMax: Double) {
        self.registry = registry
        self.metadata = metadata
        self.chunks = chunks
        self.logger = logger
        self.chunksPerSecondMax = chunksPerSecondMax
    }

    public var progress: Progress { state.withLock { $0 } }

    /// Starts a rebalance unless one is running; returns false if one was.
    public func start() -> Bool {
        let started = state.withLock { s -> Bool in
            if s.running { return false }
            s.running = true
            return true
        }
        guard started else { return false }
        Task {
            await self.rebalance()
            self.state.withLock { $0.running = false }
        }
        return true
    }

    private func rebalance() async {
        var locations: [String: [(ChunkLocation, ChunkPlacement)]] = [:]
        var load: [String: Int64] = [:]
        let eligible = Set(registry.connectedClientIDs.filter { registry.state(of: $0) == .up && !registry.isDraining($0) })
        guard eligible.count > 1 else { return }
        for id in eligible { load[id] = 0 }
        metadata.read { state in
            state.forEachChunkLocation { location, chunk in
                for agent in chunk.agents where eligible.contains(agent) {
                    load[agent, default: 0] += Int64(chunk.length)
                    locations[agent, default: []].append((location, chunk))
                }
            }
        }
        let mean = Double(load.values.reduce(0, +)) / Double(eligible.count)
        let high = mean * (1 + Self.toleranceFraction), low = mean * (1 - Self.toleranceFraction)
        for source in load.keys.sorted(by: { load[$0]! > load[$1]! }) where Double(load[source]!) > high {
            for (location, chunk) in locations[source] ?? [] {
                guard Double(load[source]!) > mean, !Task.isCancelled else { break }
                let targets = load.keys.filter { Double(load[$0]!) < low && !chunk.agents.contains($0) }
                guard let target = targets.min(by: { load[$0]! < load[$1]! }),
                    let connection = registry.connection(for: target)
                else { break }
                if await move(chunk, at: location, from: source, to: connection) {
                    load[source]! -= Int64(chunk.length)
                    load[target]! += Int64(chunk.length)
                }
                try? await Task.sleep(for: .milliseconds(Int64(1000 / chunksPerSecondMax)))
            }
        }
        logger.info("rebalance finished", metadata: ["moved": "\(progress.movedChunks)"])
    }

    private func move(_ chunk: ChunkPlacement, at location: ChunkLocation, from source: String, to target: AgentConnection) async -> Bool {
        do {
            var received = ByteBuffer()
            for try await var piece in chunks.bytes(of: [chunk], range: 0..<Int64(chunk.length)) { received.writeBuffer(&piece) }
            try await target.putChunk(chunk.id, bytes: received)
            let agents = chunk.agents.map { $0 == source ? target.clientID : $0 }
            switch try await metadata.commit(
                .setChunkReplicas(location: location, chunkID: chunk.id, previousAgents: chunk.agents, agents: agents))
            {
            case .applied(let garbage):
                chunks.discard(garbage)
                state.withLock { $0.movedChunks += 1 }
                BrainMetrics.rebalanceMovedChunks.increment()
                return true
            case .rejected:
                chunks.discard([ChunkPlacement(id: chunk.id, length: chunk.length, agents: [target.clientID])])
                return false
            }
        } catch {
            state.withLock { $0.failedMoves += 1 }
            BrainMetrics.rebalanceFailedMoves.increment()
            logger.warning("rebalance move failed", metadata: ["chunk": "\(chunk.id)", "error": "\(error)"])
            return false
        }
    }
}
