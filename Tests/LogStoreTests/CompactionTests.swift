import Foundation
import XCTest

@testable import LogStore

final class CompactionTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "compaction-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func open() throws -> SegmentStore {
        try SegmentStore(configuration: SegmentStoreConfiguration(directory: directory, segmentBytesMax: 4096))
    }

    private func key(_ i: UInt64) -> StoreKey { StoreKey(high: i, low: ~i) }

    private func payload(_ i: Int, _ version: Int = 0) -> [UInt8] { Array(repeating: UInt8((i + version) % 256), count: 900) }

    private func directoryBytes() throws -> Int {
        try FileIO.listDirectory(directory).filter { $0.hasSuffix(".sos") }.reduce(0) {
            $0 + (try FileManager.default.attributesOfItem(atPath: directory + "/" + $1)[.size] as! Int)
        }
    }

    /// Thirty keys over many 4 KiB segments; then every even key overwritten (version 1), every
    /// key divisible by 3 deleted. Returns what the store must hold.
    private func churn(_ store: SegmentStore) async throws -> [UInt64: [UInt8]] {
        var expected: [UInt64: [UInt8]] = [:]
        for i in 0..<30 {
            try await store.put(key: key(UInt64(i)), payload: payload(i))
            expected[UInt64(i)] = payload(i)
        }
        for i in stride(from: 0, to: 30, by: 2) {
            try await store.put(key: key(UInt64(i)), payload: payload(i, 1))
            expected[UInt64(i)] = payload(i, 1)
        }
        for i in stride(from: 0, to: 30, by: 3) {
            try await store.delete(key: key(UInt64(i)))
            expected[UInt64(i)] = nil
        }
        await store.waitForMaintenance()
        return expected
    }

    private func assertHolds(
        _ store: SegmentStore, _ expected: [UInt64: [UInt8]], file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        XCTAssertEqual(store.recordCount, expected.count, "no lost and no resurrected record", file: file, line: line)
        for i in 0..<30 {
            let value = try await store.get(key: key(UInt64(i)))
            XCTAssertEqual(value, expected[UInt64(i)], "key \(i)", file: file, line: line)
        }
    }

    func testCompactionReclaimsDeadBytesAndKeepsEveryLiveRecord() async throws {
        let store = try open()
        let expected = try await churn(store)
        let before = try directoryBytes()
        let report = try await store.compact(deadFractionMin: 0.5)
        XCTAssertFalse(report.segmentsRewritten.isEmpty && report.segmentsDeleted.isEmpty)
        XCTAssertTrue(report.segmentsSkipped.isEmpty, "\(report.segmentsSkipped)")
        XCTAssertEqual(try directoryBytes(), before - Int(report.bytesReclaimed))
        XCTAssertGreaterThan(report.bytesReclaimed, 0)
        try await assertHolds(store, expected)
        try await assertHolds(try open(), expected)
    }

    func testSegmentsUnderTheThresholdAreLeftAlone() async throws {
        let store = try open()
        for i in 0..<20 { try await store.put(key: key(UInt64(i)), payload: payload(i)) }
        try await store.delete(key: key(0))
        await store.waitForMaintenance()
        let report = try await store.compact(deadFractionMin: 0.9)
        XCTAssertTrue(report.segmentsRewritten.isEmpty && report.segmentsDeleted.isEmpty)
    }

    func testTombstoneIsKeptWhileAnOlderSegmentStillHoldsTheDeletedRecord() async throws {
        let store = try open()
        // Segment 1: key 100 and three records that stay live, so segment 1 is never worth compacting.
        try await store.put(key: key(100), payload: [1])
        for i in 0..<3 { try await store.put(key: key(UInt64(i)), payload: payload(i)) }
        // Segment 2: the tombstone for key 100 next to records that are all overwritten later.
        for i in 10..<14 { try await store.put(key: key(UInt64(i)), payload: payload(i)) }
        try await store.delete(key: key(100))
        for i in 10..<14 { try await store.put(key: key(UInt64(i)), payload: payload(i, 1)) }
        await store.waitForMaintenance()
        let report = try await store.compact(deadFractionMin: 0.5)
        XCTAssertEqual(report.segmentsRewritten, [2])
        let reopened = try open()
        let deleted = try await reopened.get(key: key(100))
        XCTAssertNil(deleted, "the record in segment 1 must not come back")
        // Once segment 1 no longer holds it, the tombstone can go too.
        try await reopened.delete(key: key(0))
        try await reopened.delete(key: key(1))
        try await reopened.delete(key: key(2))
        _ = try await reopened.compact(deadFractionMin: 0.01)
        XCTAssertFalse(FileManager.default.fileExists(atPath: SegmentFiles.segmentPath(1, in: directory)))
        for id in reopened.segmentIDs.dropLast() {
            let size = try FileManager.default.attributesOfItem(atPath: SegmentFiles.segmentPath(id, in: directory))[.size] as! Int
            let hint = try XCTUnwrap(SegmentFiles.loadHint(id, segmentByteCount: Int64(size), in: directory))
            XCTAssertFalse(hint.entries.contains { $0.key == key(100) }, "segment \(id) still holds the tombstone")
        }
        let stillDeleted = try await open().get(key: key(100))
        XCTAssertNil(stillDeleted)
    }

    func testACrashAtAnyStepOfCompactionLosesAndResurrectsNothing() async throws {
        for step in CompactionStep.allCases {
            try? FileManager.default.removeItem(atPath: directory)
            let store = try open()
            let expected = try await churn(store)
            store.crashPoint.withLock { $0 = step }
            do {
                _ = try await store.compact(deadFractionMin: 0.01)
                XCTFail("compaction did not reach \(step)")
            } catch is SimulatedCrash {}
            let recovered = try open()
            try await assertHolds(recovered, expected)
            XCTAssertFalse(try FileIO.listDirectory(directory).contains { $0.hasSuffix(".tmp") }, "\(step)")
            // Compaction after the crash finishes the job, and the result survives another restart.
            _ = try await recovered.compact(deadFractionMin: 0.01)
            try await assertHolds(recovered, expected)
            try await assertHolds(try open(), expected)
        }
    }

    func testReadsAndWritesGoOnDuringCompaction() async throws {
        let store = try open()
        var expected = try await churn(store)
        let liveKeys = stride(from: 1, to: 30, by: 6).map { key(UInt64($0)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await store.compact(deadFractionMin: 0.01, bytesPerSecond: 64 << 10) }
            group.addTask {
                for round in 0..<5 {
                    for liveKey in liveKeys {
                        let value = try await store.get(key: liveKey)
                        XCTAssertNotNil(value, "round \(round) key \(liveKey)")
                    }
                }
            }
            for i in stride(from: 1, to: 30, by: 4) {
                try await store.put(key: key(UInt64(i)), payload: payload(i, 2))
                expected[UInt64(i)] = payload(i, 2)
            }
            try await group.waitForAll()
        }
        try await assertHolds(store, expected)
        try await assertHolds(try open(), expected)
    }
}
