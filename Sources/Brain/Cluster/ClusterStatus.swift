import Foundation

/// What `sos admin status` shows: each agent the cluster knows, and the replication health.
public struct ClusterStatus: Codable, Sendable, Equatable {
    public struct Agent: Codable, Sendable, Equatable {
        public var id: String
        public var state: AgentState
        public var address: String
        public var zone: String
        public var capacityBytes: UInt64
        public var usedBytes: UInt64
        public var freeBytes: UInt64
        public var chunkCount: UInt64
        public var secondsSinceHeartbeat: Double?
        public var draining: Bool
        /// Chunks whose replica list names this agent (what a drain waits to reach zero).
        public var referencedChunks: Int
    }

    public struct Repair: Codable, Sendable, Equatable {
        /// Under-replicated chunks not repaired yet.
        public var pendingChunks: Int
        public var repairedChunks: Int
        public var failedAttempts: Int
    }

    public var replication: Int
    public var agents: [Agent]
    public var chunks: Int
    public var underReplicatedChunks: Int
    public var unavailableChunks: Int
    public var repair: Repair
    public var rebalance: RebalanceService.Progress

    /// Builds the status from the registry (live connections) and the metadata (members, chunks).
    static func current(
        registry: AgentRegistry, metadata: MetadataStore, repair: RepairService.Counters, rebalance: RebalanceService.Progress
    ) -> ClusterStatus {
        var referenced: [String: Int] = [:]
        var chunks = 0, under = 0, unavailable = 0
        metadata.read { state in
            state.forEachChunk { chunk in
                chunks += 1
                for agent in chunk.agents { referenced[agent, default: 0] += 1 }
                let healthy = chunk.agents.filter { registry.isHealthyReplica(chunk: chunk.id, agent: $0) }.count
                if healthy < registry.replication { under += 1 }
                if !chunk.agents.contains(where: { registry.state(of: $0) != .down }) { unavailable += 1 }
            }
        }
        var agents: [Agent] = []
        for member in metadata.agentMembers.sorted(by: { $0.clientID < $1.clientID }) {
            let connection = registry.connection(for: member.clientID)
            let stats = connection?.stats
            agents.append(
                Agent(
                    id: member.clientID, state: registry.state(of: member.clientID), address: connection?.address ?? "",
                    zone: member.zone, capacityBytes: stats?.capacityBytes ?? 0, usedBytes: stats?.usedBytes ?? 0,
                    freeBytes: stats?.freeBytes ?? 0, chunkCount: stats?.chunkCount ?? 0,
                    secondsSinceHeartbeat: stats.map { ($0.secondsSinceHeard * 10).rounded() / 10 },
                    draining: member.draining, referencedChunks: referenced[member.clientID] ?? 0))
        }
        return ClusterStatus(
            replication: registry.replication, agents: agents, chunks: chunks, underReplicatedChunks: under,
            unavailableChunks: unavailable,
            repair: Repair(pendingChunks: under, repairedChunks: repair.repairedChunks, failedAttempts: repair.failedAttempts),
            rebalance: rebalance)
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
