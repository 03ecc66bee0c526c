import Metrics
import Synchronization
import Telemetry

/// The brain's gauges read off live state at each scrape (agents, chunk health, rebalance), and
/// its readiness: metadata open (it is, once the brain serves) and enough agents up, and not
/// draining, for the replication factor.
final class ClusterMetrics: Sendable {
    let registry: AgentRegistry
    let metadata: MetadataStore
    let repair: RepairService
    let rebalance: RebalanceService
    /// Agents whose gauges were served: those that leave the cluster lose theirs.
    private let served = Mutex<Set<String>>([])

    init(registry: AgentRegistry, metadata: MetadataStore, repair: RepairService, rebalance: RebalanceService) {
        self.registry = registry
        self.metadata = metadata
        self.repair = repair
        self.rebalance = rebalance
    }

    func collect() {
        let members = metadata.agentMembers
        for member in members {
            let agent = member.clientID
            let state = registry.state(of: agent)
            for candidate in AgentState.allCases {
                Gauge(label: BrainMetrics.agentStateName, dimensions: [("agent", agent), ("state", candidate.rawValue)])
                    .record(candidate == state ? 1 : 0)
            }
            Gauge(label: BrainMetrics.agentDrainingName, dimensions: [("agent", agent)]).record(member.draining ? 1 : 0)
            // An agent not connected keeps its last figures: its disk did not empty because it went away.
            guard let stats = registry.connection(for: agent)?.stats else { continue }
            Gauge(label: BrainMetrics.agentCapacityName, dimensions: [("agent", agent)]).record(Int64(clamping: stats.capacityBytes))
            Gauge(label: BrainMetrics.agentUsedName, dimensions: [("agent", agent)]).record(Int64(clamping: stats.usedBytes))
            Gauge(label: BrainMetrics.agentChunksName, dimensions: [("agent", agent)]).record(Int64(clamping: stats.chunkCount))
        }
        let current = Set(members.map(\.clientID))
        let gone = served.withLock { served -> Set<String> in
            defer { served = current }
            return served.subtracting(current)
        }
        for agent in gone { Self.gauges(of: agent).forEach { $0.destroy() } }
        let found = repair.progress
        BrainMetrics.chunksUnderReplicated.record(found.underReplicatedChunks)
        BrainMetrics.chunksUnavailable.record(found.unavailableChunks)
        BrainMetrics.rebalanceRunning.record(rebalance.progress.running ? 1 : 0)
    }

    /// Every gauge with an `agent` label for `agent`.
    private static func gauges(of agent: String) -> [Gauge] {
        AgentState.allCases.map {
            Gauge(label: BrainMetrics.agentStateName, dimensions: [("agent", agent), ("state", $0.rawValue)])
        } + [BrainMetrics.agentDrainingName, BrainMetrics.agentCapacityName, BrainMetrics.agentUsedName, BrainMetrics.agentChunksName].map {
            Gauge(label: $0, dimensions: [("agent", agent)])
        }
    }

    func readiness() -> Readiness {
        let up = registry.connectedClientIDs.filter { registry.state(of: $0) == .up && !registry.isDraining($0) }.count
        guard up >= registry.replication else {
            return Readiness(
                isReady: false,
                reason: "\(up) storage agent(s) up and not draining, the replication factor needs \(registry.replication)")
        }
        return .ready
    }
}
