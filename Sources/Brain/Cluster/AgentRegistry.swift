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
public enum AgentState: String, Sendable, Codable {
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

    public init(suspectAfterSeconds: Double = 6, downAfterSeconds: Double = 20, requestSeconds: Double = 30) {
        precondition(suspectAfterSeconds > 0 && downAfterSeconds >= suspectAfterSeconds && requestSeconds > 0)
        self.suspectAfterSeconds = suspectAfterSeconds
        self.downAfterSeconds = downAfterSeconds
        self.requestSeconds = requestSeconds
    }
}

/// The agents connected right now, their states, and where new chunks go.
public final class AgentRegistry: Sendable {
    private let agents = Mutex<[String: AgentConnection]>([:])
    public let timeouts: AgentTimeouts
    /// Replicas per chunk (R).
    public let replication: Int

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

    /// Picks `replication` distinct up agents for a new chunk: random, weighted by free space, so
    /// emptier agents fill faster; each further replica prefers a zone not used yet.
    public func placeChunk(byteCount: Int) throws -> [AgentConnection] {
        var candidates = agents.withLock { Array($0.values) }.filter { state(of: $0) == .up }
        guard candidates.count >= replication else {
            throw PlacementError.notEnoughAgents(up: candidates.count, required: replication)
        }
        var chosen: [AgentConnection] = []
        while chosen.count < replication {
            let usedZones = Set(chosen.map(\.zone))
            let freshZone = candidates.filter { $0.zone.isEmpty || !usedZones.contains($0.zone) }
            let pool = freshZone.isEmpty ? candidates : freshZone
            let pick = Self.weightedPick(pool)
            chosen.append(pick)
            candidates.removeAll { $0 === pick }
        }
        for agent in chosen { agent.reserve(byteCount) }
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
