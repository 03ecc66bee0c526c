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
    }

    public struct Repair: Codable, Sendable, Equatable {
        /// Chunk replicas waiting to be re-created; repair is not automatic yet, so this equals
        /// the under-replicated count until an agent comes back.
        public var pendingChunks: Int
        public var repairedChunks: Int
    }

    public var replication: Int
    public var agents: [Agent]
    public var chunks: Int
    public var underReplicatedChunks: Int
    public var unavailableChunks: Int
    public var repair: Repair

    /// Builds the status from the registry (live connections) and the metadata (members, chunks).
    static func current(registry: AgentRegistry, metadata: MetadataStore) -> ClusterStatus {
        var agents: [Agent] = []
        for member in metadata.agentMembers.sorted(by: { $0.clientID < $1.clientID }) {
            let connection = registry.connection(for: member.clientID)
            let stats = connection?.stats
            agents.append(
                Agent(
                    id: member.clientID, state: registry.state(of: member.clientID), address: connection?.address ?? "",
                    zone: member.zone, capacityBytes: stats?.capacityBytes ?? 0, usedBytes: stats?.usedBytes ?? 0,
                    freeBytes: stats?.freeBytes ?? 0, chunkCount: stats?.chunkCount ?? 0,
                    secondsSinceHeartbeat: stats.map { ($0.secondsSinceHeard * 10).rounded() / 10 }))
        }
        let upAgents = Set(agents.filter { $0.state == .up }.map(\.id))
        var chunks = 0, under = 0, unavailable = 0
        metadata.read { state in
            state.forEachChunk { chunk in
                chunks += 1
                let healthy = chunk.agents.filter(upAgents.contains).count
                if healthy < registry.replication { under += 1 }
                if healthy == 0 { unavailable += 1 }
            }
        }
        return ClusterStatus(
            replication: registry.replication, agents: agents, chunks: chunks, underReplicatedChunks: under,
            unavailableChunks: unavailable, repair: Repair(pendingChunks: under, repairedChunks: 0))
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
