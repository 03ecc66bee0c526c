import ClusterProtocol
import Logging
import Synchronization

/// Finds chunk replicas no object references (a crash between an agent's write and the brain's
/// commit, a failed PUT, a delete while the agent was away, a replica moved by repair) and deletes
/// them once they have stayed unreferenced for the grace period. The grace period protects chunks
/// of uploads still in progress, which are stored before they are referenced. Replicas an agent
/// should hold and does not are reported bad, for repair.
public final class ReconcileService: Sendable {
    let registry: AgentRegistry
    let metadata: MetadataStore
    let logger: Logger
    public let intervalSeconds: Double
    public let graceSeconds: Double
    private let state = Mutex(State())

    private struct State {
        /// When each unreferenced replica was first seen: (agent, chunk) -> time.
        var firstSeen: [String: [ChunkID: ContinuousClock.Instant]] = [:]
        var deletedReplicas = 0
    }

    public init(registry: AgentRegistry, metadata: MetadataStore, logger: Logger, intervalSeconds: Double, graceSeconds: Double) {
        self.registry = registry
        self.metadata = metadata
        self.logger = logger
        self.intervalSeconds = intervalSeconds
        self.graceSeconds = graceSeconds
    }

    public var deletedReplicas: Int { state.withLock { $0.deletedReplicas } }

    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int64(intervalSeconds * 1000)))
            await pass()
        }
    }

    public func pass() async {
        for clientID in registry.connectedClientIDs where registry.state(of: clientID) == .up {
            guard let agent = registry.connection(for: clientID) else { continue }
            do {
                let referencedBefore = referencedChunks(on: clientID)
                let held = try await agent.listChunks()
                // Read the references after the listing too: a chunk committed meanwhile counts as referenced.
                let referenced = referencedChunks(on: clientID)
                reportMissing(referencedBefore.intersection(referenced).subtracting(held), on: clientID)
                let now = ContinuousClock.now
                let expired = state.withLock { s -> [ChunkID] in
                    var seen = s.firstSeen[clientID] ?? [:]
                    var next: [ChunkID: ContinuousClock.Instant] = [:]
                    var expired: [ChunkID] = []
                    for id in held where !referenced.contains(id) {
                        let first = seen.removeValue(forKey: id) ?? now
                        if AgentConnection.seconds(first.duration(to: now)) >= graceSeconds {
                            expired.append(id)
                        } else {
                            next[id] = first
                        }
                    }
                    s.firstSeen[clientID] = next
                    return expired
                }
                for id in expired {
                    try await agent.deleteChunk(id)
                    state.withLock { $0.deletedReplicas += 1 }
                    BrainMetrics.reconcileDeletedReplicas.increment()
                }
                if !expired.isEmpty {
                    logger.info("deleted unreferenced chunk replicas", metadata: ["agent": "\(clientID)", "count": "\(expired.count)"])
                }
            } catch {
                logger.warning("reconcile of an agent failed", metadata: ["agent": "\(clientID)", "error": "\(error)"])
            }
        }
    }

    private func referencedChunks(on clientID: String) -> Set<ChunkID> {
        var referenced = Set<ChunkID>()
        metadata.read { state in
            state.forEachChunk { chunk in if chunk.agents.contains(clientID) { referenced.insert(chunk.id) } }
        }
        return referenced
    }

    /// Replicas the metadata placed on an agent before its listing began and still does, which it
    /// does not hold: it lost them (a disk replaced or emptied under the same id, a damaged
    /// segment). They no longer count toward R, so repair re-creates them from the other replicas.
    private func reportMissing(_ missing: Set<ChunkID>, on clientID: String) {
        guard !missing.isEmpty else { return }
        for id in missing { registry.reportBadReplica(chunk: id, agent: clientID) }
        logger.warning(
            "an agent does not hold replicas placed on it; repair re-creates them",
            metadata: ["agent": "\(clientID)", "count": "\(missing.count)"])
    }
}
