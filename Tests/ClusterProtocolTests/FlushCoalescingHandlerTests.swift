import NIOCore
import NIOEmbedded
import XCTest

@testable import ClusterProtocol

final class FlushCoalescingHandlerTests: XCTestCase {
    /// Counts the flushes that get past the coalescer, on their way to the socket.
    private final class FlushCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var flushes = 0
        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }
    }

    private func makeChannel() throws -> (EmbeddedChannel, FlushCounter) {
        let counter = FlushCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler())
        return (channel, counter)
    }

    private func sent(_ channel: EmbeddedChannel) throws -> [String] {
        var strings: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { strings.append(String(buffer: buffer)) }
        return strings
    }

    func testFlushesInOneTurnOfTheLoopLeaveAsOne() throws {
        let (channel, counter) = try makeChannel()
        for text in ["a", "b", "c"] { channel.writeAndFlush(ByteBuffer(string: text), promise: nil) }
        XCTAssertEqual(try sent(channel), [], "held until the loop has run what was queued")
        channel.embeddedEventLoop.run()
        XCTAssertEqual(try sent(channel), ["a", "b", "c"])
        XCTAssertEqual(counter.flushes, 1)

        channel.writeAndFlush(ByteBuffer(string: "d"), promise: nil)
        channel.embeddedEventLoop.run()
        XCTAssertEqual(try sent(channel), ["d"], "a later turn flushes again")
        XCTAssertEqual(counter.flushes, 2)
        XCTAssertTrue(try channel.finish().isClean)
    }

    func testAFlushDuringAReadWaitsForTheReadToComplete() throws {
        let (channel, counter) = try makeChannel()
        channel.pipeline.fireChannelRead(NIOAny(ByteBuffer(string: "request")))
        channel.writeAndFlush(ByteBuffer(string: "reply 1"), promise: nil)
        channel.writeAndFlush(ByteBuffer(string: "reply 2"), promise: nil)
        channel.embeddedEventLoop.run()
        XCTAssertEqual(try sent(channel), [], "still reading")
        channel.pipeline.fireChannelReadComplete()
        XCTAssertEqual(try sent(channel), ["reply 1", "reply 2"])
        XCTAssertEqual(counter.flushes, 1)
        channel.embeddedEventLoop.run()
        XCTAssertEqual(counter.flushes, 1, "nothing left to flush")
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) }, "request")
        XCTAssertTrue(try channel.finish().isClean)
    }

    func testACloseSendsWhatIsHeldFirst() throws {
        let (channel, _) = try makeChannel()
        var outcome: Result<Void, any Error>?
        channel.writeAndFlush(ByteBuffer(string: "last words")).whenComplete { outcome = $0 }
        XCTAssertNil(outcome, "held until the loop turns")
        try channel.close().wait()
        XCTAssertEqual(try sent(channel), ["last words"])
        guard case .success = outcome else { return XCTFail("written before the close, not failed by it: \(String(describing: outcome))") }
    }

    func testHeldBytesPastTheLimitGoAtOnce() throws {
        let (channel, counter) = try makeChannel()
        let big = String(repeating: "x", count: FlushCoalescingHandler.heldBytesMax - 1)
        channel.writeAndFlush(ByteBuffer(string: big), promise: nil)
        XCTAssertEqual(try sent(channel), [], "one byte short: held")
        channel.writeAndFlush(ByteBuffer(string: "y"), promise: nil)
        XCTAssertEqual(try sent(channel), [big, "y"], "at the limit: sent without waiting for the loop")
        XCTAssertEqual(counter.flushes, 1)
        channel.writeAndFlush(ByteBuffer(string: "z"), promise: nil)
        channel.embeddedEventLoop.run()
        XCTAssertEqual(try sent(channel), ["z"], "the count starts again after a flush")
        XCTAssertEqual(counter.flushes, 2)
    }

    func testWritesWithoutAFlushStayUnsent() throws {
        let (channel, counter) = try makeChannel()
        channel.write(ByteBuffer(string: "unflushed"), promise: nil)
        channel.embeddedEventLoop.run()
        XCTAssertEqual(try sent(channel), [])
        XCTAssertEqual(counter.flushes, 0)
        channel.flush()
        channel.embeddedEventLoop.run()
        XCTAssertEqual(try sent(channel), ["unflushed"])
    }
}
