import ClusterProtocol
import Synchronization

public enum PlacementError: Error, CustomStringConvertible {
    case notEnoughAgents(up: Int, required: Int)

    public var description: String {
        switch self {
        case .notEnoughAgents(let up, let required):
            return "only \(up) storage agent(s) are up but every chunk needs \(required) replicas"
        }
    }
}

/// How the brain judges an agent from its connection and heartbeats.
public enum AgentState: String, Sendable, Codable, CaseIterable {
    /// Connected and heard from recently: gets new chunks and serves reads first.
    case up
    /// Connected but silent past the suspect timeout: no new chunks; reads try it last.
    case suspect
    /// Disconnected, or silent past the down timeout: nothing is sent to it.
    case down
}

public struct AgentTimeouts: Sendable {
    public var suspectAfterSeconds: Double
    public var downAfterSeconds: Double
    public var requestSeconds: Double
    /// How long an agent must have been down before repair replaces its replicas: a restart or a
    /// brain that just started (and has not heard from anyone yet) must not trigger mass copying.
    public var repairAfterDownSeconds: Double

    public init(
        suspectAfterSeconds: Double = 6, downAfterSeconds: Double = 20, requestSeconds: Double = 30,
        repairAfterDownSeconds: Double = 120
    ) {
        precondition(suspectAfterSeconds > 0 && downAfterSeconds >= suspectAfterSeconds && requestSeconds > 0)
        self.suspectAfterSeconds = suspectAfterSeconds
        self.downAfterSeconds = downAfterSeconds
        self.requestSeconds = requestSeconds
        self.repairAfterDownSeconds = repairAfterDownSeconds
    }
}

/// The agents connected right now, their states, and where new chunks go.
public final class AgentRegistry: Sendable {
    private let agents = Mutex<[String: AgentConnection]>([:])
    /// Agents being drained: no new chunks; their replicas do not count as healthy.
    private let draining = Mutex<Set<String>>([])
    /// Replicas that failed a read (error, timeout, corrupt record); repair replaces them.
    private let badReplicas = Mutex<Set<BadReplica>>([])
    /// When each agent was last connected and heard from; the brain's start for those never seen.
    private let lastSeen = Mutex<[String: ContinuousClock.Instant]>([:])
    private let startedAt = ContinuousClock.now

    struct BadReplica: Hashable {
        var chunk: ChunkID
        var agent: String
    }
    public let timeouts: AgentTimeouts
    /// Replicas per chunk (R).
    public let replication: Int
    /// The agents small chunks go to until the current placement period ends (see `placeChunk`).
    private let smallChunkAgents = Mutex<SmallChunkAgents?>(nil)

    struct SmallChunkAgents {
        var agents: [AgentConnection]
        var until: ContinuousClock.Instant
    }

    /// Chunks up to this size share their agents within a placement period: their appends cost an
    /// agent little beside the fsync, which concurrent appends to one file share.
    static let smallChunkBytesMax = 64 << 10
    /// How long small chunks keep going to the same agents. Long against a group commit (about a
    /// millisecond here), short enough that the periods' weighted picks follow free space closely.
    static let smallChunkPeriod = Duration.milliseconds(100)

    public init(replication: Int = 1, timeouts: AgentTimeouts = AgentTimeouts()) {
        precondition((1...3).contains(replication), "replication factor must be 1, 2 or 3")
        self.replication = replication
        self.timeouts = timeouts
    }

    /// Adds a connection; a newer connection from the same client id replaces the older one.
    func register(_ connection: AgentConnection) -> AgentConnection? {
        agents.withLock { $0.updateValue(connection, forKey: connection.clientID) }
    }

    func unregister(_ connection: AgentConnection) {
        agents.withLock { agents in
            if agents[connection.clientID] === connection { agents[connection.clientID] = nil }
        }
        lastSeen.withLock { $0[connection.clientID] = .now }
    }

    public func connection(for clientID: String) -> AgentConnection? { agents.withLock { $0[clientID] } }

    public var connectedClientIDs: [String] { agents.withLock { $0.keys.sorted() } }

    public func state(of clientID: String) -> AgentState {
        guard let connection = connection(for: clientID) else { return .down }
        return state(of: connection)
    }

    func state(of connection: AgentConnection) -> AgentState {
        if connection.isClosed { return .down }
        let silent = connection.stats.secondsSinceHeard
        if silent >= timeouts.downAfterSeconds { return .down }
        if silent >= timeouts.suspectAfterSeconds { return .suspect }
        return .up
    }

    /// The connections to try for a chunk held by `replicas`: up agents first, then suspect ones.
    func readOrder(_ replicas: [String]) -> [AgentConnection] {
        let candidates = replicas.compactMap { id in connection(for: id).map { ($0, state(of: $0)) } }
        return candidates.filter { $0.1 == .up }.map(\.0) + candidates.filter { $0.1 == .suspect }.map(\.0)
    }

    func setDraining(_ ids: Set<String>) { draining.withLock { $0 = ids } }

    func isDraining(_ clientID: String) -> Bool { draining.withLock { $0.contains(clientID) } }

    func reportBadReplica(chunk: ChunkID, agent: String) { _ = badReplicas.withLock { $0.insert(BadReplica(chunk: chunk, agent: agent)) } }

    func clearBadReplicas(chunk: ChunkID) { badReplicas.withLock { $0 = $0.filter { $0.chunk != chunk } } }

    /// Whether the replica of `chunk` on `agent` counts toward R right now: up, not draining, not known bad.
    func isHealthyReplica(chunk: ChunkID, agent: String) -> Bool {
        state(of: agent) == .up && !needsReplacement(chunk: chunk, agent: agent)
    }

    /// Whether repair should replace the replica of `chunk` on `agent`: its agent is draining, or
    /// has been down for `repairAfterDownSeconds`, or the replica failed a read.
    func needsReplacement(chunk: ChunkID, agent: String) -> Bool {
        if isDraining(agent) || badReplicas.withLock({ $0.contains(BadReplica(chunk: chunk, agent: agent)) }) { return true }
        guard state(of: agent) == .down else { return false }
        let since: ContinuousClock.Instant
        if let connection = connection(for: agent) {
            since = ContinuousClock.now - .milliseconds(Int64(connection.stats.secondsSinceHeard * 1000))
        } else {
            since = lastSeen.withLock { $0[agent] } ?? startedAt
        }
        return AgentConnection.seconds(since.duration(to: .now)) >= timeouts.repairAfterDownSeconds
    }

    /// Picks `replication` distinct up agents for a new chunk: random, weighted by free space, so
    /// emptier agents fill faster; each further replica prefers a zone not used yet.
    ///
    /// Chunks up to `smallChunkBytesMax` placed within one `smallChunkPeriod` all go to the same
    /// agents (picked as above when the period begins), so that concurrent small PUTs share each
    /// agent's fsyncs instead of splitting them across agents. With two agents, spread one by one,
    /// 4 KiB PUTs took 56-62 instead of 38-45 us of agent CPU each (docs/architecture.md, Placement).
    public func placeChunk(byteCount: Int) throws -> [AgentConnection] {
        try placeChunk(byteCount: byteCount, at: .now)
    }

    func placeChunk(byteCount: Int, at now: ContinuousClock.Instant) throws -> [AgentConnection] {
        let chosen: [AgentConnection]
        if byteCount <= Self.smallChunkBytesMax {
            chosen = smallChunkAgents.withLock { current in
                if let current, now < current.until, current.agents.allSatisfy(stillTakesNewChunks) { return current.agents }
                let picked = pickAgents(count: replication, excluding: [], zonesInUse: [])
                current = picked.count == replication ? SmallChunkAgents(agents: picked, until: now + Self.smallChunkPeriod) : nil
                return picked
            }
        } else {
            chosen = pickAgents(count: replication, excluding: [], zonesInUse: [])
        }
        guard chosen.count == replication else {
            throw PlacementError.notEnoughAgents(up: chosen.count, required: replication)
        }
        for agent in chosen { agent.reserve(byteCount) }
        return chosen
    }

    /// Whether new chunks may go to `connection`: its agent is up and not draining.
    private func takesNewChunks(_ connection: AgentConnection) -> Bool {
        state(of: connection) == .up && !isDraining(connection.clientID)
    }

    /// As `takesNewChunks`, for a connection picked earlier, which its agent may have replaced since.
    private func stillTakesNewChunks(_ connection: AgentConnection) -> Bool {
        takesNewChunks(connection) && self.connection(for: connection.clientID) === connection
    }

    /// Up to `count` distinct up, non-draining agents not in `excluding`, each preferring a zone
    /// not in `zonesInUse` nor already picked.
    func pickAgents(count: Int, excluding: Set<String>, zonesInUse: Set<String>) -> [AgentConnection] {
        var candidates = agents.withLock { Array($0.values) }.filter { takesNewChunks($0) && !excluding.contains($0.clientID) }
        var chosen: [AgentConnection] = []
        var usedZones = zonesInUse
        while chosen.count < count, !candidates.isEmpty {
            let freshZone = candidates.filter { $0.zone.isEmpty || !usedZones.contains($0.zone) }
            let pick = Self.weightedPick(freshZone.isEmpty ? candidates : freshZone)
            chosen.append(pick)
            usedZones.insert(pick.zone)
            candidates.removeAll { $0 === pick }
        }
        return chosen
    }

    private static func weightedPick(_ pool: [AgentConnection]) -> AgentConnection {
        let weights = pool.map { Double($0.freeBytes) + 1 }
        var pick = Double.random(in: 0..<weights.reduce(0, +))
        for (candidate, weight) in zip(pool, weights) {
            if pick < weight { return candidate }
            pick -= weight
        }
        return pool[pool.count - 1]
    }
}
