import Metrics
import Telemetry

/// The brain's gauges read off live state at each scrape (agents, chunk health, rebalance), and
/// its readiness: metadata open (it is, once the brain serves) and enough agents up for the
/// replication factor.
struct ClusterMetrics: Sendable {
    let registry: AgentRegistry
    let metadata: MetadataStore
    let repair: RepairService
    let rebalance: RebalanceService

    func collect() {
        for member in metadata.agentMembers {
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
        let found = repair.progress
        BrainMetrics.chunksUnderReplicated.record(found.underReplicatedChunks)
        BrainMetrics.chunksUnavailable.record(found.unavailableChunks)
        BrainMetrics.rebalanceRunning.record(rebalance.progress.running ? 1 : 0)
    }

    func readiness() -> Readiness {
        let up = registry.connectedClientIDs.filter { registry.state(of: $0) == .up }.count
        guard up >= registry.replication else {
            return Readiness(isReady: false, reason: "\(up) storage agent(s) up, the replication factor needs \(registry.replication)")
        }
        return .ready
    }
}
