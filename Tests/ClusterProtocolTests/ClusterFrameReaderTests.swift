import NIOCore
import NIOEmbedded
import XCTest

@testable import ClusterProtocol

final class ClusterFrameReaderTests: XCTestCase {
    private let frames = [
        Challenge(brainNonce: ClusterAuth.makeNonce()).frame(),
        ClusterFrame(type: .ok, requestID: 4),
        PutChunk(chunkID: .random(), length: 5).frame(requestID: 7),
        ClusterFrame(type: .chunkData, flags: .endOfData, requestID: 7, body: ByteBuffer(bytes: [1, 2, 3, 4, 5])),
        ClusterFrame(type: .chunkData, requestID: 8, body: ByteBuffer()),
    ]

    /// Feeds `wire` to a fresh reader as reads of the given sizes (the rest as a last read).
    private func read(_ wire: ByteBuffer, inReadsOf sizes: [Int]) throws -> [ClusterFrame] {
        let channel = EmbeddedChannel(handler: ClusterFrameReader())
        var remaining = wire
        for size in sizes where remaining.readableBytes > 0 {
            try channel.writeInbound(remaining.readSlice(length: min(size, remaining.readableBytes))!)
        }
        if remaining.readableBytes > 0 { try channel.writeInbound(remaining) }
        var decoded: [ClusterFrame] = []
        while let frame = try channel.readInbound(as: ClusterFrame.self) { decoded.append(frame) }
        XCTAssertTrue(try channel.finish().isClean)
        return decoded
    }

    func testFramesComeOutWholeWhereverTheReadsSplitThem() throws {
        let wire = try encoded(frames)
        for first in 0...wire.readableBytes {
            for second in [1, 3, 9, 10, 11, 40] {
                XCTAssertEqual(try read(wire, inReadsOf: [first, second]), frames, "reads of \(first), \(second), rest")
            }
        }
        XCTAssertEqual(try read(wire, inReadsOf: Array(repeating: 1, count: wire.readableBytes)), frames, "one byte per read")
    }

    func testALargeBodySpanningManyReadsComesOutWholeAndAlone() throws {
        let big = ByteBuffer(bytes: (0..<ClusterFrame.bodyBytesMax).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) })
        let sent = [
            ClusterFrame(type: .chunkData, requestID: 1, body: big),
            ClusterFrame(type: .ok, requestID: 2),
            ClusterFrame(type: .chunkData, flags: .endOfData, requestID: 1, body: big.getSlice(at: 77, length: 300_001)!),
        ]
        let wire = try encoded(sent)
        var rng = SystemRandomNumberGenerator()
        for sizes in [[65_536], [5, 70_000, 3], (0..<200).map { _ in Int.random(in: 1...20_000, using: &rng) }] {
            let received = try read(wire, inReadsOf: Array(repeating: sizes, count: 100).flatMap { $0 })
            XCTAssertEqual(received, sent, "reads of \(sizes.prefix(4))...")
            // The body that spanned reads is a buffer of its own, not a slice of a bigger one.
            XCTAssertEqual(received.first?.body.capacity, ClusterFrame.bodyBytesMax)
        }
    }

    func testAnOversizedLengthIsRefusedBeforeItsBodyAndNothingAfterIsRead() throws {
        let channel = EmbeddedChannel(handler: ClusterFrameReader())
        var length = ByteBuffer()
        length.writeInteger(UInt32(6 + ClusterFrame.bodyBytesMax + 1))
        try channel.writeInbound(length.readSlice(length: 2)!)
        XCTAssertThrowsError(try channel.writeInbound(length)) {
            XCTAssertEqual($0 as? ClusterProtocolError, .frameTooLarge(ClusterFrame.bodyBytesMax + 1))
        }
        try channel.writeInbound(try encoded([ClusterFrame(type: .ok, requestID: 1)]))
        XCTAssertNil(try channel.readInbound(as: ClusterFrame.self))
        _ = try? channel.finish()
    }

    func testAnUnknownTypeIsRefusedOnceItsHeaderIsThere() throws {
        var wire = try encoded([ClusterFrame(type: .chunkData, requestID: 1, body: ByteBuffer(repeating: 1, count: 100))])
        wire.setInteger(UInt8(99), at: 4)
        let channel = EmbeddedChannel(handler: ClusterFrameReader())
        try channel.writeInbound(wire.readSlice(length: 7)!)
        XCTAssertThrowsError(try channel.writeInbound(wire.readSlice(length: 3)!)) {
            XCTAssertEqual($0 as? ClusterProtocolError, .unknownMessageType(99))
        }
        _ = try? channel.finish()
    }

    func testALengthBelowTheHeaderIsMalformed() throws {
        var wire = ByteBuffer()
        wire.writeInteger(UInt32(5))
        wire.writeBytes([0, 0, 0, 0, 0, 0])
        let channel = EmbeddedChannel(handler: ClusterFrameReader())
        XCTAssertThrowsError(try channel.writeInbound(wire)) {
            XCTAssertEqual($0 as? ClusterProtocolError, .malformed("frame length 5 below 6"))
        }
        _ = try? channel.finish()
    }
}
