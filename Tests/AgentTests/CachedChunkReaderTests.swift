import ClusterProtocol
import Foundation
import LogStore
import NIOCore
import NIOEmbedded
import XCTest

@testable import Agent

final class CachedChunkReaderTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "cached-chunk-reader-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A store holding `payload` as chunk `id`, and a channel with the reader in front of it.
    private func reader(holding id: ChunkID, _ payload: [UInt8]) async throws -> (EmbeddedChannel, CachedChunkReader, SegmentStore) {
        let store = try SegmentStore(configuration: SegmentStoreConfiguration(directory: directory, segmentBytesMax: 1 << 20))
        try await store.put(key: StoreKey(id), payload: payload)
        let reader = CachedChunkReader(store: store)
        return (EmbeddedChannel(handler: reader), reader, store)
    }

    private func body(_ frames: [ClusterFrame]) -> [UInt8] { frames.flatMap { Array($0.body.readableBytesView) } }

    private func written(_ channel: EmbeddedChannel) throws -> [ClusterFrame] {
        var frames: [ClusterFrame] = []
        while let frame = try channel.readOutbound(as: ClusterFrame.self) { frames.append(frame) }
        return frames
    }

    /// Until the handshake is done the reader answers nothing: a peer that has not proven the
    /// cookie gets no chunk bytes from it.
    func testNothingIsAnsweredBeforeTheBrainIsAuthenticated() async throws {
        let id = ChunkID.random()
        let (channel, _, _) = try await reader(holding: id, Array(repeating: 7, count: 4096))
        try channel.writeInbound(GetChunk(chunkID: id).frame(requestID: 5))
        XCTAssertEqual(try channel.readInbound(as: ClusterFrame.self)?.type, .getChunk)
        XCTAssertEqual(try written(channel).count, 0)
    }

    /// A cached chunk is answered on the spot, whole or the asked range, with end-of-data.
    func testACachedChunkIsAnsweredWithoutGoingFurther() async throws {
        let id = ChunkID.random()
        let payload = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let (channel, reader, _) = try await reader(holding: id, payload)
        reader.enable()
        try channel.writeInbound(GetChunk(chunkID: id).frame(requestID: 5))
        XCTAssertNil(try channel.readInbound(as: ClusterFrame.self))
        let whole = try written(channel)
        XCTAssertEqual(whole.map(\.requestID), [5])
        XCTAssertEqual(whole.last?.flags.contains(.endOfData), true)
        XCTAssertEqual(body(whole), payload)

        try channel.writeInbound(GetChunk(chunkID: id, offset: 100, length: 50).frame(requestID: 6))
        XCTAssertEqual(body(try written(channel)), Array(payload[100..<150]))
    }

    /// What it cannot answer well goes on to the request handler: an unknown chunk, a bad range,
    /// a record that fails its checksum (marked corrupt, so the handler refuses it), other frames.
    func testWhatItCannotAnswerGoesOn() async throws {
        let id = ChunkID.random()
        let (channel, reader, store) = try await reader(holding: id, Array(repeating: 1, count: 64))
        reader.enable()
        let passedOn = [
            GetChunk(chunkID: .random()).frame(requestID: 1),
            GetChunk(chunkID: id, offset: 65).frame(requestID: 2),
            DeleteChunk(chunkID: id).frame(requestID: 3),
        ]
        for frame in passedOn { try channel.writeInbound(frame) }
        for frame in passedOn { XCTAssertEqual(try channel.readInbound(as: ClusterFrame.self)?.requestID, frame.requestID) }

        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: directory + "/segment-00000001.sos"))
        try handle.seek(toOffset: 60)
        try handle.write(contentsOf: Data([0xEE]))
        try handle.close()
        try channel.writeInbound(GetChunk(chunkID: id).frame(requestID: 4))
        XCTAssertEqual(try channel.readInbound(as: ClusterFrame.self)?.requestID, 4)
        XCTAssertEqual(try written(channel).count, 0, "served bytes that fail their checksum")
        XCTAssertTrue(store.corruptKeys.contains(StoreKey(id)))
    }
}

final class WireChunkTests: XCTestCase {
    /// A large chunk read into a NIO buffer comes back whole, and a range of it is the same bytes.
    func testAChunkReadIntoANIOBufferIsWholeAndRangesOfItAreTheAskedBytes() async throws {
        let directory = NSTemporaryDirectory() + "wire-chunk-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SegmentStore(configuration: SegmentStoreConfiguration(directory: directory, segmentBytesMax: 4 << 20))
        let id = ChunkID.random()
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ ($0 >> 9)) }
        try await store.put(key: StoreKey(id), payload: payload)
        let read = try await store.getPayload(key: StoreKey(id), as: WireChunk.self)
        let chunk = try XCTUnwrap(read)
        XCTAssertEqual(Array(chunk.bytes.readableBytesView), payload)
        let range = try AgentRequestHandler.requestedBytes(of: chunk, for: GetChunk(chunkID: id, offset: 1000, length: 5000))
        XCTAssertEqual(Array(range.readableBytesView), Array(payload[1000..<6000]))
        let tail = try AgentRequestHandler.requestedBytes(of: chunk, for: GetChunk(chunkID: id, offset: 1_048_000))
        XCTAssertEqual(Array(tail.readableBytesView), Array(payload[1_048_000...]))
        XCTAssertThrowsError(try AgentRequestHandler.requestedBytes(of: chunk, for: GetChunk(chunkID: id, offset: 1 << 21)))
    }
}
