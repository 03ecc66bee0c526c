import ClusterProtocol
import NIOCore
import NIOEmbedded
import XCTest

@testable import Brain

final class ReplyRouterTests: XCTestCase {
    private func connection() -> (AgentConnection, NIOAsyncChannelOutboundWriter<ClusterFrame>.TestSink) {
        let (outbound, sink) = NIOAsyncChannelOutboundWriter<ClusterFrame>.makeTestingWriter()
        let hello = Hello(clientID: "agent-1", agentNonce: [], proof: [], capacityBytes: 1 << 30, freeBytes: 1 << 30)
        return (AgentConnection(hello: hello, address: "test", outbound: outbound, requestTimeout: .seconds(30)), sink)
    }

    /// Before an agent is attached (the handshake) every frame goes on to the async channel.
    func testFramesPassThroughUntilAConnectionIsAttached() throws {
        let channel = EmbeddedChannel(handler: ReplyRouter())
        try channel.writeInbound(ClusterFrame(type: .ok, requestID: 7))
        let passed = try channel.readInbound(as: ClusterFrame.self)
        XCTAssertEqual(passed?.type, .ok)
        XCTAssertEqual(passed?.requestID, 7)
    }

    /// Once attached, a reply completes its request from the handler itself and goes no further;
    /// a heartbeat still goes on to the connection's task.
    func testRepliesGoToTheirRequestsAndOtherFramesGoOn() async throws {
        let router = ReplyRouter()
        let channel = EmbeddedChannel(handler: router)
        let (connection, sink) = connection()
        router.attach(connection)
        let delete = Task { try await connection.deleteChunk(ChunkID.random()) }
        var requests = sink.makeAsyncIterator()
        let sent = await requests.next()
        let request = try XCTUnwrap(sent)
        XCTAssertEqual(request.type, .deleteChunk)

        try channel.writeInbound(ClusterFrame(type: .ok, requestID: request.requestID))
        let passedOn = try channel.readInbound(as: ClusterFrame.self)
        if passedOn != nil { connection.close() }  // fails the request instead of leaving it waiting
        XCTAssertNil(passedOn, "the reply was passed on, not delivered")
        try await delete.value

        let heartbeat = Heartbeat(capacityBytes: 1 << 30, freeBytes: 1 << 29, chunkCount: 3).frame()
        try channel.writeInbound(heartbeat)
        XCTAssertEqual(try channel.readInbound(as: ClusterFrame.self)?.type, .heartbeat)
    }

    /// An error reply fails its request with the agent's error.
    func testAnErrorReplyFailsItsRequest() async throws {
        let router = ReplyRouter()
        let channel = EmbeddedChannel(handler: router)
        let (connection, sink) = connection()
        router.attach(connection)
        let delete = Task { try await connection.deleteChunk(ChunkID.random()) }
        var requests = sink.makeAsyncIterator()
        let sent = await requests.next()
        let request = try XCTUnwrap(sent)
        try channel.writeInbound(ErrorReply(code: .notFound, message: "no such chunk").frame(requestID: request.requestID))
        if try channel.readInbound(as: ClusterFrame.self) != nil { connection.close() }
        do {
            try await delete.value
            XCTFail("the request succeeded")
        } catch AgentRequestError.failed(let agent, let reply) {
            XCTAssertEqual(agent, "agent-1")
            XCTAssertEqual(reply.code, .notFound)
        }
    }
}
