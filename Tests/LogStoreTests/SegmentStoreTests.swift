import Foundation
import XCTest

@testable import LogStore

final class SegmentStoreTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "segment-store-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func open(segmentBytesMax: Int64 = 1 << 20) throws -> SegmentStore {
        try SegmentStore(configuration: SegmentStoreConfiguration(directory: directory, segmentBytesMax: segmentBytesMax))
    }

    private func key(_ i: UInt64) -> StoreKey { StoreKey(high: i, low: ~i) }

    func testPutGetDeleteSurviveReopening() async throws {
        var store = try open()
        try await store.put(key: key(1), payload: Array("one".utf8))
        try await store.put(key: key(2), payload: Array("two".utf8))
        try await store.put(key: key(1), payload: Array("one again".utf8))
        let deletedStored = try await store.delete(key: key(2))
        let deletedMissing = try await store.delete(key: key(3))
        XCTAssertTrue(deletedStored)
        XCTAssertFalse(deletedMissing)
        store = try open()
        let one = try await store.get(key: key(1))
        let two = try await store.get(key: key(2))
        XCTAssertEqual(one, Array("one again".utf8))
        XCTAssertNil(two)
        XCTAssertEqual(store.recordCount, 1)
    }

    func testSegmentsRollOverAtTheConfiguredSize() async throws {
        let store = try open(segmentBytesMax: 4096)
        for i in 0..<20 { try await store.put(key: key(UInt64(i)), payload: Array(repeating: UInt8(i), count: 1000)) }
        XCTAssertGreaterThanOrEqual(store.segmentCount, 5)
        let files = try FileIO.listDirectory(directory).filter { $0.hasPrefix("segment-") }
        for file in files {
            let size = try FileManager.default.attributesOfItem(atPath: directory + "/" + file)[.size] as! Int
            XCTAssertLessThanOrEqual(size, 4096, file)
        }
        let reopened = try open(segmentBytesMax: 4096)
        for i in 0..<20 {
            let payload = try await reopened.get(key: key(UInt64(i)))
            XCTAssertEqual(payload, Array(repeating: UInt8(i), count: 1000))
        }
    }

    func testTornTailOfNewestSegmentIsTruncatedOnRecovery() async throws {
        var store = try open()
        try await store.put(key: key(1), payload: Array(repeating: 1, count: 100))
        try await store.put(key: key(2), payload: Array(repeating: 2, count: 100))
        let path = directory + "/segment-00000001.sos"
        let fullSize = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(fullSize - 30))
        try handle.close()

        store = try open()
        XCTAssertEqual(store.recoveryReport.truncatedTails.count, 1)
        XCTAssertEqual(store.recoveryReport.truncatedTails.first?.offset, Int64(fullSize / 2))
        let first = try await store.get(key: key(1))
        let second = try await store.get(key: key(2))
        XCTAssertEqual(first, Array(repeating: 1, count: 100))
        XCTAssertNil(second)
        // New appends land after the cut and are readable after another restart.
        try await store.put(key: key(3), payload: [3])
        let third = try await open().get(key: key(3))
        XCTAssertEqual(third, [3])
    }

    func testCorruptRecordIsNeverServed() async throws {
        let store = try open()
        try await store.put(key: key(1), payload: Array(repeating: 9, count: 64))
        let path = directory + "/segment-00000001.sos"
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: 60)
        try handle.write(contentsOf: Data([0x00]))
        try handle.close()
        do {
            _ = try await store.get(key: key(1))
            XCTFail("served a corrupt record")
        } catch let error as LogStoreError {
            guard case .corruptRecord = error else { return XCTFail("wrong error \(error)") }
        }
    }

    func testConcurrentAppendsAreAllDurableAndReadable() async throws {
        let store = try open()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask { try await store.put(key: StoreKey(high: UInt64(i), low: ~UInt64(i)), payload: Array(repeating: UInt8(i % 256), count: 300)) }
            }
            try await group.waitForAll()
        }
        let reopened = try open()
        XCTAssertEqual(reopened.recordCount, 200)
        let sample = try await reopened.get(key: key(123))
        XCTAssertEqual(sample, Array(repeating: 123, count: 300))
    }
}
