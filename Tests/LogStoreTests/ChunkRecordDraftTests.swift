import Foundation
import XCTest

@testable import LogStore

final class ChunkRecordDraftTests: XCTestCase {
    private let key = StoreKey(high: 0x0102_0304_0506_0708, low: 0x1112_1314_1516_1718)

    private func draft(_ pieces: [[UInt8]]) -> ChunkRecordDraft {
        let draft = ChunkRecordDraft(key: key, payloadCapacity: pieces.reduce(0) { $0 + $1.count })
        for piece in pieces { draft.append(contentsOf: piece) }
        return draft
    }

    /// Sealed in place, a draft is exactly the record `Record.encoded` makes of the same key and payload.
    func testASealedDraftIsTheEncodedChunkRecord() throws {
        for pieces in [[], [[7]], [Array(0..<200), Array(repeating: 9, count: 4096), [1, 2, 3]]] as [[[UInt8]]] {
            let payload = Array(pieces.joined())
            let sealed = draft(pieces).takeSealed()
            XCTAssertEqual(sealed, Record(type: .chunk, key: key.bytes, payload: payload).encoded())
            let decoded = try Record(decoding: sealed)
            XCTAssertEqual(decoded.payload, payload)
            XCTAssertEqual(decoded.key, key.bytes)
        }
    }

    /// The point of a draft: its payload is not copied again when it becomes the record.
    func testSealingKeepsTheBytesWhereTheyWereAppended() {
        let record = draft([Array(repeating: 5, count: 1 << 20)])
        let filled = record.bytes.withUnsafeBufferPointer { $0.baseAddress }
        let sealed = record.takeSealed()
        XCTAssertEqual(sealed.withUnsafeBufferPointer { $0.baseAddress }, filled)
        XCTAssertTrue(record.bytes.isEmpty)
    }

    func testADraftIsCompressedWhenThatPays() throws {
        let payload = Array(repeating: UInt8(3), count: 64 << 10)
        let compressed = RecordCompression.lz4.chunkRecord(draft([payload]), savingsMin: 0.1)
        let decoded = try Record(decoding: compressed)
        XCTAssertTrue(decoded.flags.contains(.lz4))
        XCTAssertEqual(decoded.originalLength, payload.count)
        XCTAssertLessThan(compressed.count, payload.count / 10)

        let random = (0..<4096).map { _ in UInt8.random(in: 0...255) }
        let kept = RecordCompression.lz4.chunkRecord(draft([random]), savingsMin: 0.1)
        XCTAssertEqual(kept, Record(type: .chunk, key: key.bytes, payload: random).encoded())
    }

    func testAStoredDraftReadsBack() async throws {
        let directory = NSTemporaryDirectory() + "draft-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SegmentStore(configuration: SegmentStoreConfiguration(directory: directory, segmentBytesMax: 1 << 20))
        let payload = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 31) }
        try await store.put(draft([Array(payload[..<3000]), Array(payload[3000...])]))
        let read = try await store.get(key: key)
        XCTAssertEqual(read, payload)
    }
}
