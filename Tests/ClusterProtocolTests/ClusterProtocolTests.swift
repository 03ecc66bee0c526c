import NIOCore
import NIOEmbedded
import XCTest

@testable import ClusterProtocol

final class FrameCodecTests: XCTestCase {
    func testFramesRoundTripAcrossArbitrarySplits() throws {
        let frames = [
            Challenge(brainNonce: ClusterAuth.makeNonce()).frame(),
            PutChunk(chunkID: .random(), length: 5).frame(requestID: 7),
            PutChunk(chunkID: .random(), length: 9, incompressible: true).frame(requestID: 8),
            ClusterFrame(type: .chunkData, flags: .endOfData, requestID: 7, body: ByteBuffer(bytes: [1, 2, 3, 4, 5])),
        ]
        let wire = try encoded(frames)
        for split in 0...wire.readableBytes {
            var buffer = ByteBuffer(bytes: wire.readableBytesView.prefix(split))
            var decoded: [ClusterFrame] = []
            while let frame = try ClusterFrameDecoder.decodeFrame(from: &buffer) { decoded.append(frame) }
            buffer.writeBytes(wire.readableBytesView.dropFirst(split))
            while let frame = try ClusterFrameDecoder.decodeFrame(from: &buffer) { decoded.append(frame) }
            XCTAssertEqual(decoded, frames, "split at \(split)")
        }
    }

    /// The channel's writer sends large bodies as buffers of their own: the bytes on the wire must
    /// still be exactly what the encoder makes, frame after frame.
    func testTheChannelWriterSendsWhatTheEncoderEncodes() throws {
        let big = ByteBuffer(bytes: (0..<ClusterFrame.dataBytesPerFrameMax).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let frames = [
            PutChunk(chunkID: .random(), length: 5).frame(requestID: 7),
            ClusterFrame(type: .chunkData, requestID: 3, body: big),
            ClusterFrame(type: .chunkData, requestID: 3, body: ByteBuffer(bytes: Array(repeating: 9, count: ClusterFrameWriter.copiedBodyBytesMax))),
            ClusterFrame(type: .chunkData, flags: .endOfData, requestID: 3, body: big.getSlice(at: 0, length: ClusterFrameWriter.copiedBodyBytesMax + 1)!),
            ClusterFrame(type: .ok, requestID: 9),
        ]
        let channel = EmbeddedChannel(handler: ClusterFrameWriter())
        for frame in frames { try channel.writeOutbound(frame) }
        var wire = ByteBuffer()
        while var piece = try channel.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&piece) }
        XCTAssertEqual(wire, try encoded(frames))
        XCTAssertTrue(try channel.finish().isClean)
    }

    func testOversizedFrameIsRejectedBeforeBuffering() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(ClusterFrame.bodyBytesMax + 7))
        XCTAssertThrowsError(try ClusterFrameDecoder.decodeFrame(from: &buffer)) {
            XCTAssertEqual($0 as? ClusterProtocolError, .frameTooLarge(ClusterFrame.bodyBytesMax + 1))
        }
    }

    func testUnknownMessageTypeIsAnError() throws {
        var frame = try encoded([ClusterFrame(type: .ok, requestID: 1)])
        frame.setInteger(UInt8(99), at: 4)
        XCTAssertThrowsError(try ClusterFrameDecoder.decodeFrame(from: &frame))
    }

    func testChunkDataIsSplitIntoBoundedFramesEndingWithTheEndFlag() {
        let bytes = ByteBuffer(bytes: Array(repeating: 1, count: ClusterFrame.dataBytesPerFrameMax * 2 + 1))
        let frames = ClusterChannel.dataFrames(bytes, requestID: 3)
        XCTAssertEqual(frames.map(\.body.readableBytes), [ClusterFrame.dataBytesPerFrameMax, ClusterFrame.dataBytesPerFrameMax, 1])
        XCTAssertEqual(frames.map { $0.flags.contains(.endOfData) }, [false, false, true])
        let empty = ClusterChannel.dataFrames(ByteBuffer(), requestID: 3)
        XCTAssertEqual(empty.count, 1)
        XCTAssertTrue(empty[0].flags.contains(.endOfData))
    }

    func testMessagesDecodeWhatTheyEncode() throws {
        let hello = Hello(clientID: "agent-1", agentNonce: ClusterAuth.makeNonce(), proof: Array(repeating: 5, count: 32),
                          capacityBytes: 10, freeBytes: 4)
        XCTAssertEqual(try Hello(hello.frame()), hello)
        let heartbeat = Heartbeat(capacityBytes: 1, freeBytes: 2, chunkCount: 3)
        XCTAssertEqual(try Heartbeat(heartbeat.frame()), heartbeat)
        let error = ErrorReply(code: .diskFull, message: "full")
        XCTAssertEqual(try ErrorReply(error.frame(requestID: 9)), error)
        var truncated = hello.frame()
        truncated.body = truncated.body.getSlice(at: 0, length: 10)!
        XCTAssertThrowsError(try Hello(truncated))
    }
}

final class ShortStringTests: XCTestCase {
    func testStringsRoundTripAndInvalidUTF8IsRefusedNotRepaired() throws {
        for string in ["", "k", "ünï/köy 🎉", String(repeating: "x", count: 70_000)] {
            var buffer = ByteBuffer()
            buffer.writeShortString(string)
            XCTAssertEqual(try buffer.readShortString(), String(string.utf8.prefix(Int(UInt16.max)))!)
            XCTAssertEqual(buffer.readableBytes, 0)
        }
        // A lone continuation byte, a truncated sequence, an overlong encoding, a surrogate:
        // decoding would turn each into U+FFFD; the reader must refuse them instead.
        for invalid: [UInt8] in [[0x61, 0x80], [0xE2, 0x82], [0xC0, 0xAF], [0xED, 0xA0, 0x80]] {
            var buffer = ByteBuffer()
            buffer.writeInteger(UInt16(invalid.count))
            buffer.writeBytes(invalid)
            XCTAssertThrowsError(try buffer.readShortString(), "\(invalid)")
        }
    }
}

final class ClusterAuthTests: XCTestCase {
    func testProofsMatchOnlyWithTheSameCookieAndNonces() {
        let brainNonce = ClusterAuth.makeNonce(), agentNonce = ClusterAuth.makeNonce()
        let proof = ClusterAuth.agentProof(cookie: "secret", brainNonce: brainNonce, agentNonce: agentNonce, clientID: "a")
        XCTAssertTrue(ClusterAuth.proofsMatch(
            proof, ClusterAuth.agentProof(cookie: "secret", brainNonce: brainNonce, agentNonce: agentNonce, clientID: "a")))
        XCTAssertFalse(ClusterAuth.proofsMatch(
            proof, ClusterAuth.agentProof(cookie: "Secret", brainNonce: brainNonce, agentNonce: agentNonce, clientID: "a")))
        XCTAssertFalse(ClusterAuth.proofsMatch(
            proof, ClusterAuth.agentProof(cookie: "secret", brainNonce: ClusterAuth.makeNonce(), agentNonce: agentNonce, clientID: "a")))
        XCTAssertFalse(ClusterAuth.proofsMatch(
            proof, ClusterAuth.agentProof(cookie: "secret", brainNonce: brainNonce, agentNonce: agentNonce, clientID: "b")))
        // The brain's proof differs from the agent's, so one cannot be replayed as the other.
        XCTAssertFalse(ClusterAuth.proofsMatch(
            proof, ClusterAuth.brainProof(cookie: "secret", brainNonce: brainNonce, agentNonce: agentNonce)))
    }
}

final class PutChunkHintTests: XCTestCase {
    func testIncompressibleHintTravelsAsAFrameFlag() throws {
        let id = ChunkID.random()
        let hinted = PutChunk(chunkID: id, length: 9, incompressible: true).frame(requestID: 3)
        XCTAssertEqual(hinted.flags, .incompressible)
        XCTAssertEqual(try PutChunk(hinted), PutChunk(chunkID: id, length: 9, incompressible: true))
        XCTAssertEqual(hinted.body, PutChunk(chunkID: id, length: 9).frame(requestID: 3).body, "the body does not change")
        XCTAssertFalse(try PutChunk(PutChunk(chunkID: id, length: 9).frame(requestID: 3)).incompressible)
    }
}
