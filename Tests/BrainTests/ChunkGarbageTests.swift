import ClusterProtocol
import Logging
import XCTest

@testable import Brain

final class ChunkGarbageTests: XCTestCase {
    private static func chunk() -> ChunkPlacement { ChunkPlacement(id: .random(), length: 1, agents: ["gone"]) }

    /// Entries wait out the delay, then the worker takes them all (here the agent is unknown, so
    /// each deletion fails and is left to reconcile), and the queue does not keep them.
    func testEntriesAreHeldForTheDelayThenTaken() async throws {
        let garbage = ChunkGarbage(delaySeconds: 0.3)
        garbage.enqueue((0..<3000).map { _ in Self.chunk() })
        XCTAssertEqual(garbage.pendingCount, 3000)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let worker = Task { [logger] in await garbage.run(registry: AgentRegistry(), logger: logger) }
        defer { worker.cancel() }
        try await Task.sleep(for: .milliseconds(150))
        XCTAssertEqual(garbage.pendingCount, 3000, "nothing is deleted before the delay")
        for _ in 0..<100 where garbage.pendingCount > 0 { try await Task.sleep(for: .milliseconds(50)) }
        XCTAssertEqual(garbage.pendingCount, 0)
        garbage.enqueue([Self.chunk()])
        XCTAssertEqual(garbage.pendingCount, 1)
    }
}
