import ClusterProtocol
import Synchronization

public enum PlacementError: Error, CustomStringConvertible {
    case noAgents

    public var description: String { "no storage agent is connected" }
}

/// The agents connected right now, and where new chunks go.
public final class AgentRegistry: Sendable {
    private let agents = Mutex<[String: AgentConnection]>([:])

    public init() {}

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

    /// Picks an agent for a new chunk of `byteCount` bytes: random, weighted by free space, so
    /// emptier agents fill faster while agents with equal space share the load.
    public func placeChunk(byteCount: Int) throws -> AgentConnection {
        let candidates = agents.withLock { Array($0.values) }.filter { !$0.isClosed }
        guard !candidates.isEmpty else { throw PlacementError.noAgents }
        let weights = candidates.map { Double($0.freeBytes) + 1 }
        var pick = Double.random(in: 0..<weights.reduce(0, +))
        var chosen = candidates[candidates.count - 1]
        for (candidate, weight) in zip(candidates, weights) {
            if pick < weight {
                chosen = candidate
                break
            }
            pick -= weight
        }
        chosen.reserve(byteCount)
        return chosen
    }
}
