import ClusterProtocol
import Logging

/// What an operator may ask of the cluster, from `sos admin` (the cluster port) and from the
/// console (root only): its status, draining, removing and rebalancing agents, metadata backups,
/// access keys. Refusals are `ErrorReply`s, which both callers pass on.
public struct ClusterAdministration: Sendable {
    let registry: AgentRegistry
    let metadata: MetadataStore
    let repair: RepairService
    let rebalance: RebalanceService
    let keys: KeyAdministration
    let logger: Logger

    init(
        registry: AgentRegistry, metadata: MetadataStore, repair: RepairService, rebalance: RebalanceService,
        rootAccessKeyID: String?, logger: Logger
    ) {
        self.registry = registry
        self.metadata = metadata
        self.repair = repair
        self.rebalance = rebalance
        self.keys = KeyAdministration(metadata: metadata, rootAccessKeyID: rootAccessKeyID)
        self.logger = logger
    }

    func status() -> ClusterStatus {
        ClusterStatus.current(registry: registry, metadata: metadata, repair: repair.progress, rebalance: rebalance.progress)
    }

    /// Moves replicas from the fullest agents to the emptiest, in the background.
    func startRebalance() throws {
        guard rebalance.start() else { throw ErrorReply(code: .badRequest, message: "a rebalance is already running") }
        logger.notice("rebalance started")
    }

    /// Writes the metadata as of now to `directory` (an absolute path on the brain's machine).
    func backup(to directory: String) async throws {
        guard directory.hasPrefix("/") else {
            throw ErrorReply(code: .badRequest, message: "a backup directory must be an absolute path")
        }
        do {
            _ = try await metadata.backup(to: directory)
        } catch let error as MetadataError {
            throw ErrorReply(code: .badRequest, message: "\(error)")
        } catch {
            throw ErrorReply(code: .internalError, message: "backup to \(directory) failed: \(error)")
        }
    }

    /// No new chunks go to `agent`, and repair moves its chunks away.
    func drain(_ agent: String) async throws {
        try checkMember(agent)
        _ = try await metadata.commit(.setAgentDraining(clientID: agent, draining: true))
        registry.setDraining(Set(metadata.agentMembers.filter(\.draining).map(\.clientID)))
        logger.notice("draining agent", metadata: ["agent": "\(agent)"])
    }

    /// Forgets an agent that no chunk references any more.
    func remove(_ agent: String) async throws {
        try checkMember(agent)
        var referenced = 0
        metadata.read { $0.forEachChunk { chunk in if chunk.agents.contains(agent) { referenced += 1 } } }
        guard referenced == 0 else {
            throw ErrorReply(
                code: .badRequest, message: "agent \(agent) still holds \(referenced) chunk(s); drain it and wait for repair first")
        }
        _ = try await metadata.commit(.removeAgent(clientID: agent))
        registry.connection(for: agent)?.close()
        logger.notice("removed agent", metadata: ["agent": "\(agent)"])
    }

    /// `sos admin key ...`; logs every change (never a secret).
    func key(_ command: KeyCommand) async throws -> KeyReply {
        let reply = try await keys.perform(command)
        if command.action != .list && command.action != .info {
            logger.notice("access key \(command.action.rawValue)", metadata: ["accessKeyID": "\(reply.keys.first?.accessKeyID ?? "")"])
        }
        return reply
    }

    private func checkMember(_ agent: String) throws {
        guard metadata.member(agent) != nil else { throw ErrorReply(code: .notFound, message: "no agent named \(agent) in this cluster") }
    }
}
