import Foundation
import Logging
import LogStore
import XCTest

@testable import Brain

/// A power cut during a WAL fdatasync can leave zeros between records (the disk stored a later
/// sector of the sync and not an earlier one): the brain cuts that sync off and starts, while
/// damage further back than a sync can reach still refuses the start (docs/formats.md, section 4).
final class TornWALTests: XCTestCase {
    private var directory: String!
    private let logger = Logger(label: "test")

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "torn-wal-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func object(_ n: Int) -> ObjectRecord {
        ObjectRecord(
            size: Int64(n), etag: "\"e\"", lastModifiedMs: 1, headers: [StoredHeader(name: "content-type", value: "a/b")],
            chunks: [ChunkPlacement(id: .random(), length: UInt32(n), agents: ["agent-1"])])
    }

    /// A store whose WAL holds a bucket and `count` objects (from 16 concurrent writers, so that
    /// syncs are shared); returns the WAL path and where its records end.
    private func filledStore(count: Int) async throws -> (path: String, end: Int64) {
        let store = try MetadataStore(directory: directory, logger: logger, snapshotAfterWALBytes: .max)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<16 {
                group.addTask {
                    for n in stride(from: writer, to: count, by: 16) {
                        _ = try await store.commit(.putObject(bucket: "b", key: "key-\(n)", object: Self.object(n)))
                    }
                }
            }
            try await group.waitForAll()
        }
        return (store.walPath, try WALFileTesting.recordsEnd(store.walPath))
    }

    /// Offsets of the records of the file at `path`, in order.
    private func recordOffsets(_ path: String) throws -> [Int64] {
        var scanner = RecordScanner(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), zeroTailEnds: true)
        var offsets: [Int64] = []
        while let event = try scanner.next() {
            if case .record(let offset, _) = event { offsets.append(offset) }
        }
        return offsets
    }

    private func objectCount() throws -> Int? {
        try MetadataStore(directory: directory, logger: logger).read { $0.bucket("b")?.objects.count }
    }

    func testZerosBetweenTheLastRecordsAreCutAsATornSync() async throws {
        let (path, end) = try await filledStore(count: 2_000)
        let offsets = try recordOffsets(path)
        // A lost 4 KiB page about 20 KiB before the end of the records, stored records after it.
        let page = (end - 20_000) / 4096 * 4096
        try WALFileTesting.overwrite(path, at: page, with: [UInt8](repeating: 0, count: 4096))
        let damaged = try XCTUnwrap(offsets.last { $0 < page }, "the record the lost page begins in")
        let kept = offsets.filter { $0 < damaged }.count - 1  // less the bucket's creation

        XCTAssertEqual(try objectCount(), kept, "every record before the torn sync, none after")
        XCTAssertEqual(try WALFileTesting.recordsEnd(path), damaged, "cut where the damage began")
        let store = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(try WALFileTesting.fileSize(path), store.walFileBytes, "zero-filled again")
        _ = try await store.commit(.putObject(bucket: "b", key: "after", object: Self.object(1)))
        XCTAssertEqual(try objectCount(), kept + 1, "commits go on after the cut and replay")
    }

    func testZerosFurtherBackThanASyncReachesStillRefuseTheStart() async throws {
        let (path, end) = try await filledStore(count: 12_000)
        XCTAssertGreaterThan(end, MetadataStore.walUnsyncedBytesMax + 8192, "enough records for damage out of reach")
        let page = (end - MetadataStore.walUnsyncedBytesMax - 8192) / 4096 * 4096
        try WALFileTesting.overwrite(path, at: page, with: [UInt8](repeating: 0, count: 4096))
        XCTAssertThrowsError(try MetadataStore(directory: directory, logger: logger)) { error in
            guard case MetadataError.corruptLog(let damagedPath, let offset, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(damagedPath, path)
            XCTAssertLessThanOrEqual(offset, page)
        }
    }
}
