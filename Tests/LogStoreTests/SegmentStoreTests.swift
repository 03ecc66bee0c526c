import Foundation
import Glibc
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

    func testLargeRecordsLeaveThePageCacheOnceDurableAndSmallOnesStay() async throws {
        let store = try open(segmentBytesMax: 64 << 20)
        let large = [UInt8](repeating: 7, count: 2 * SegmentStore.uncachedRecordBytesMin)
        try await store.put(key: key(1), payload: large)
        try await store.put(key: key(2), payload: [UInt8](repeating: 8, count: 4096))
        let path = directory + "/segment-00000001.sos"
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        if try Self.fileSystemType(of: directory) == "tmpfs" {
            throw XCTSkip("tmpfs keeps its pages: nothing can leave the page cache there")
        }
        // The drop runs in the background: poll the residency of the large record's pages.
        var residentInLarge = Int.max
        var lastPageResident = false
        for _ in 0..<100 {
            let resident = try Self.residentPages(path: path, size: size)
            residentInLarge = resident[1..<(large.count / pageSize)].filter { $0 }.count
            lastPageResident = resident.last ?? false
            if residentInLarge == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertEqual(residentInLarge, 0, "pages of a durable 2 MiB record still cached")
        XCTAssertTrue(lastPageResident, "the small record after it should stay cached")
        let readBack = try await store.get(key: key(1))
        XCTAssertEqual(readBack, large)
    }

    /// The type of the file system holding `path`, from the longest mount point above it.
    private static func fileSystemType(of path: String) throws -> String {
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8).split(separator: "\n")
        let fields = mounts.map { $0.split(separator: " ").map(String.init) }.filter { $0.count >= 3 }
        let above = fields.filter { path.hasPrefix($0[1] == "/" ? "/" : $0[1] + "/") }
        return above.max { $0[1].count < $1[1].count }?[2] ?? "unknown"
    }

    /// Which pages of the file at `path` are in the page cache (mincore of a read-only mapping).
    private static func residentPages(path: String, size: Int) throws -> [Bool] {
        let fd = Glibc.open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { Glibc.close(fd) }
        guard let map = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else {
            throw LogStoreError.io(operation: "mmap", path: path, errno: errno)
        }
        defer { munmap(map, size) }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var vector = [UInt8](repeating: 0, count: (size + pageSize - 1) / pageSize)
        XCTAssertEqual(mincore(map, size, &vector), 0)
        return vector.map { $0 & 1 == 1 }
    }

    func testSegmentsRollOverAtTheConfiguredSize() async throws {
        let store = try open(segmentBytesMax: 4096)
        for i in 0..<20 { try await store.put(key: key(UInt64(i)), payload: Array(repeating: UInt8(i), count: 1000)) }
        XCTAssertGreaterThanOrEqual(store.segmentCount, 5)
        // Segment files only: a hint being written in the background may be renamed under us.
        let files = try FileIO.listDirectory(directory).filter { $0.hasPrefix("segment-") && $0.hasSuffix(".sos") }
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

    /// Records over the inline-read size are read as header and key, then payload: each is checked,
    /// whatever part of the record a bad byte lands in.
    func testALargeRecordIsReadBackWholeAndABadByteInAnyPartOfItIsRefused() async throws {
        let store = try open()
        let payloadCount = 200 << 10
        let recordCount = RecordFormat.headerByteCount + 16 + payloadCount
        let payloads = (1...4).map { i in (0..<payloadCount).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) } }
        for (i, payload) in payloads.enumerated() { try await store.put(key: key(UInt64(i)), payload: payload) }
        for (i, payload) in payloads.enumerated() {
            let back = try await store.get(key: key(UInt64(i)))
            XCTAssertEqual(back, payload)
        }
        // Record 0 stays whole; 1, 2 and 3 get a bad byte in the header, the key, the payload's end.
        let badOffsets = [1: 20, 2: RecordFormat.headerByteCount + 5, 3: recordCount - 1]
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: directory + "/segment-00000001.sos"))
        for (record, offset) in badOffsets {
            try handle.seek(toOffset: UInt64(record * recordCount + offset))
            let byte = try XCTUnwrap(handle.readData(ofLength: 1).first)
            try handle.seek(toOffset: UInt64(record * recordCount + offset))
            try handle.write(contentsOf: Data([~byte]))
        }
        try handle.close()
        for record in badOffsets.keys.sorted() {
            do {
                _ = try await store.get(key: key(UInt64(record)))
                XCTFail("served record \(record) with a bad byte")
            } catch LogStoreError.corruptRecord {}
        }
        XCTAssertEqual(store.corruptKeys, Set([1, 2, 3].map { key(UInt64($0)) }))
        let whole = try await store.get(key: key(0))
        XCTAssertEqual(whole, payloads[0])
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
