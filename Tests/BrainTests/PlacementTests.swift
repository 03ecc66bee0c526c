import ClusterProtocol
import NIOCore
import XCTest

@testable import Brain

final class PlacementTests: XCTestCase {
    private var sinks: [NIOAsyncChannelOutboundWriter<ClusterFrame>.TestSink] = []

    /// A registry with connected, up agents `agent-1` ... `agent-N`, all with the same free space.
    private func registry(agents count: Int, replication: Int = 1) -> (AgentRegistry, [AgentConnection]) {
        let registry = AgentRegistry(replication: replication)
        let connections = (1...count).map { index in
            let (outbound, sink) = NIOAsyncChannelOutboundWriter<ClusterFrame>.makeTestingWriter()
            sinks.append(sink)
            let hello = Hello(clientID: "agent-\(index)", agentNonce: [], proof: [], capacityBytes: 1 << 40, freeBytes: 1 << 40)
            let connection = AgentConnection(hello: hello, address: "test", outbound: outbound, requestTimeout: .seconds(30))
            _ = registry.register(connection)
            return connection
        }
        return (registry, connections)
    }

    private func placedIDs(_ registry: AgentRegistry, bytes: Int, at now: ContinuousClock.Instant) throws -> [String] {
        try registry.placeChunk(byteCount: bytes, at: now).map(\.clientID)
    }

    func testSmallChunksInOnePeriodShareTheirAgents() throws {
        let (registry, _) = registry(agents: 3, replication: 2)
        let start = ContinuousClock.now
        let first = try placedIDs(registry, bytes: 4096, at: start)
        XCTAssertEqual(Set(first).count, 2)
        for step in 1..<50 {
            let at = start + AgentRegistry.smallChunkPeriod * (Double(step) / 50)
            XCTAssertEqual(try placedIDs(registry, bytes: AgentRegistry.smallChunkBytesMax, at: at), first)
        }
    }

    /// Each period picks again, by weight: over many periods every agent gets small chunks.
    func testEachPeriodPicksItsAgentsAgain() throws {
        let (registry, _) = registry(agents: 2)
        var start = ContinuousClock.now
        var used: Set<String> = []
        for _ in 0..<64 {
            used.formUnion(try placedIDs(registry, bytes: 100, at: start))
            start += AgentRegistry.smallChunkPeriod
        }
        XCTAssertEqual(used, ["agent-1", "agent-2"])
    }

    func testLargerChunksArePlacedOneByOne() throws {
        let (registry, _) = registry(agents: 2)
        let now = ContinuousClock.now
        let used = try (0..<64).map { _ in try placedIDs(registry, bytes: AgentRegistry.smallChunkBytesMax + 1, at: now) }
        XCTAssertEqual(Set(used.joined()), ["agent-1", "agent-2"])
    }

    /// An agent that stops taking new chunks within a period is replaced at once.
    func testAPeriodsAgentThatDrainsOrDisconnectsIsReplaced() throws {
        let (registry, connections) = registry(agents: 3)
        let now = ContinuousClock.now
        let first = try XCTUnwrap(placedIDs(registry, bytes: 4096, at: now).first)
        registry.setDraining([first])
        let second = try XCTUnwrap(placedIDs(registry, bytes: 4096, at: now).first)
        XCTAssertNotEqual(second, first)
        XCTAssertEqual(try placedIDs(registry, bytes: 4096, at: now), [second])

        connections.first { $0.clientID == second }!.close()
        let third = try XCTUnwrap(placedIDs(registry, bytes: 4096, at: now).first)
        XCTAssertFalse([first, second].contains(third))
        XCTAssertEqual(try placedIDs(registry, bytes: 4096, at: now), [third])
    }

    func testTooFewAgentsStillFailsThePlacement() throws {
        let (registry, connections) = registry(agents: 2, replication: 2)
        let now = ContinuousClock.now
        XCTAssertEqual(Set(try placedIDs(registry, bytes: 4096, at: now)), ["agent-1", "agent-2"])
        connections[0].close()
        XCTAssertThrowsError(try registry.placeChunk(byteCount: 4096, at: now)) { error in
            guard case PlacementError.notEnoughAgents(up: 1, required: 2) = error else { return XCTFail("\(error)") }
        }
    }
}
