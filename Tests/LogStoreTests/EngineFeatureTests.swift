import Foundation
import Synchronization
import XCTest

@testable import LogStore

/// lz4 records, scrub, and the append path's failure rules (commit policy, fsync error, ENOSPC).
final class EngineFeatureTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "engine-\(UUID().uuidString)"
        try FileIO.createDirectory(directory)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func open(_ compression: RecordCompression = .none) throws -> SegmentStore {
        var configuration = SegmentStoreConfiguration(directory: directory, segmentBytesMax: 1 << 20)
        configuration.compression = compression
        return try SegmentStore(configuration: configuration)
    }

    private func key(_ i: UInt64) -> StoreKey { StoreKey(high: i, low: ~i) }

    private var segmentPath: String { directory + "/segment-00000001.sos" }

    private func fileSize(_ path: String) throws -> Int { try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int }

    func testCompressiblePayloadIsStoredCompressedAndReadBackWhole() async throws {
        let text = Array(String(repeating: "the quick brown fox ", count: 500).utf8)
        let store = try open(.lz4)
        try await store.put(key: key(1), payload: text)
        XCTAssertLessThan(try fileSize(segmentPath), text.count / 4)
        let header = try XCTUnwrap(RecordHeader(Array(try Data(contentsOf: URL(fileURLWithPath: segmentPath)))))
        XCTAssertTrue(header.flags.contains(.lz4))
        XCTAssertEqual(header.originalLength, text.count)
        let back = try await store.get(key: key(1))
        XCTAssertEqual(back, text)
        let afterRestart = try await open(.none).get(key: key(1))
        XCTAssertEqual(afterRestart, text, "reading does not depend on the current setting")
    }

    /// Compressed to over the inline-read size, so read as header and key, then payload.
    func testALargeCompressedPayloadIsReadBackWhole() async throws {
        var generator = SystemRandomNumberGenerator()
        // Every 64 random bytes twice: about half compresses away.
        let payload = (0..<3200).flatMap { _ -> [UInt8] in
            let block = (0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) }
            return block + block
        }
        let store = try open(.lz4)
        try await store.put(key: key(1), payload: payload)
        let stored = try fileSize(segmentPath)
        XCTAssertLessThan(stored, payload.count * 3 / 4)
        XCTAssertGreaterThan(stored, 2 * Int(SegmentStore.inlineReadBytesMax))
        let back = try await store.get(key: key(1))
        XCTAssertEqual(back, payload)
    }

    func testPutWithoutCompressionAttemptStoresCompressibleBytesAsIs() async throws {
        let text = Array(String(repeating: "the quick brown fox ", count: 500).utf8)
        let store = try open(.lz4)
        try await store.put(key: key(1), payload: text, tryCompression: false)
        XCTAssertEqual(try fileSize(segmentPath), 24 + 16 + text.count)
        let back = try await store.get(key: key(1))
        XCTAssertEqual(back, text)
    }

    func testIncompressiblePayloadIsStoredAsIs() async throws {
        var rng = SystemRandomNumberGenerator()
        let noise = (0..<10_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let store = try open(.lz4)
        try await store.put(key: key(1), payload: noise)
        XCTAssertEqual(try fileSize(segmentPath), 24 + 16 + noise.count)
        let back = try await store.get(key: key(1))
        XCTAssertEqual(back, noise)
    }

    func testCompressionIsKeptOnlyWhenItSavesTheConfiguredShare() {
        let halfRepetitive = Array(String(repeating: "ab", count: 100).utf8) + (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 97) }
        XCTAssertNotNil(RecordCompression.compress(halfRepetitive, savingsMin: 0.1))
        XCTAssertNil(RecordCompression.compress(halfRepetitive, savingsMin: 0.9))
    }

    func testScrubReportsADamagedRecordAndItIsNeverServedAgain() async throws {
        let store = try open()
        try await store.put(key: key(1), payload: Array(repeating: 1, count: 1000))
        try await store.put(key: key(2), payload: Array(repeating: 2, count: 1000))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: segmentPath))
        try handle.seek(toOffset: 1040 + 500)
        try handle.write(contentsOf: Data([0xEE]))
        try handle.close()

        let report = try await store.scrub()
        XCTAssertEqual(report.recordsChecked, 1)
        XCTAssertEqual(report.corruptions.count, 1)
        XCTAssertEqual(report.corruptKeys, [key(2)])
        XCTAssertEqual(store.maintenanceCounters.corruptRecordsFound, 1)
        do {
            _ = try await store.get(key: key(2))
            XCTFail("served a record that scrub found damaged")
        } catch LogStoreError.corruptRecord {}
        let good = try await store.get(key: key(1))
        XCTAssertEqual(good, Array(repeating: 1, count: 1000))
        // Writing the key again (a repair) makes it readable again.
        try await store.put(key: key(2), payload: [2])
        let repaired = try await store.get(key: key(2))
        XCTAssertEqual(repaired, [2])
    }

    func testAFailedFsyncFailsEveryWaitingAppendAndEveryLaterOne() async throws {
        let failSync = Mutex(false)
        var syscalls = FileSyscalls.system
        syscalls.fdatasync = { fd in
            if failSync.withLock({ $0 }) {
                errno = EIO
                return -1
            }
            return fdatasync(fd)
        }
        let file = try AppendOnlyFile(path: directory + "/f", create: true, policy: .everyWrite, syscalls: syscalls)
        _ = try await file.append([1])
        failSync.withLock { $0 = true }
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<16 { group.addTask { (try? await file.append([2, 3])) != nil } }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        XCTAssertEqual(results, Array(repeating: false, count: 16), "no append is acknowledged without its fsync")
        failSync.withLock { $0 = false }
        do {
            _ = try await file.append([4])
            XCTFail("appended after an fsync failure")
        } catch LogStoreError.syncFailed {}
    }

    /// Small appends that arrive while a sync runs are left for the sync loop to write; when that
    /// sync fails they must fail with it, not wait forever for a write that never comes.
    func testAppendsArrivingDuringAFailingFsyncFailWithItAndNoneHangs() async throws {
        let syncs = Mutex(0)
        var syscalls = FileSyscalls.system
        syscalls.fdatasync = { fd in
            let number = syncs.withLock { count -> Int in
                count += 1
                return count
            }
            usleep(20_000)  // slow, so that the appends below arrive while it runs
            if number >= 2 {
                errno = EIO
                return -1
            }
            return fdatasync(fd)
        }
        let file = try AppendOnlyFile(path: directory + "/f", create: true, policy: .everyWrite, syscalls: syscalls)
        _ = try await file.append([1])
        let answered = expectation(description: "every append answered")
        let results = Mutex<[Bool]>([])
        Task {  // unstructured: if an append hangs, the wait below fails instead of the test hanging
            await withTaskGroup(of: Bool.self) { group in
                for i in 0..<64 {
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(i % 8))
                        return (try? await file.append([2])) != nil
                    }
                }
                for await result in group { results.withLock { $0.append(result) } }
            }
            answered.fulfill()
        }
        await fulfillment(of: [answered], timeout: 20)
        XCTAssertEqual(results.withLock { $0 }, Array(repeating: false, count: 64), "no append is acknowledged without its fsync")
    }

    /// Concurrent appends are written in batches (several per pwrite); each must still get its own
    /// offset, in a file that holds every record whole and nothing else.
    func testConcurrentAppendsGetDistinctOffsetsAndWholeRecords() async throws {
        let writes = Mutex(0)
        var syscalls = FileSyscalls.system
        syscalls.pwrite = { fd, buffer, count, offset in
            writes.withLock { $0 += 1 }
            return pwrite(fd, buffer, count, offset)
        }
        let path = directory + "/f"
        let file = try AppendOnlyFile(path: path, create: true, policy: .everyWrite, syscalls: syscalls)
        let records = (0..<200).map { Record(type: .chunk, key: key(UInt64($0)).bytes, payload: Array(repeating: UInt8($0 % 251), count: 1 + $0 * 97 % 40_000)).encoded() }
        let offsets = try await withThrowingTaskGroup(of: (Int, Int64).self) { group in
            for (index, record) in records.enumerated() { group.addTask { (index, try await file.append(record)) } }
            return try await group.reduce(into: [Int: Int64]()) { $0[$1.0] = $1.1 }
        }
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(bytes.count, records.reduce(0) { $0 + $1.count })
        for (index, record) in records.enumerated() {
            let offset = Int(offsets[index]!)
            XCTAssertEqual(Array(bytes[offset..<offset + record.count]), record, "record \(index)")
        }
        XCTAssertEqual(Set(offsets.values).count, records.count)
        XCTAssertLessThanOrEqual(writes.withLock { $0 }, records.count)
    }

    func testDiskFullFailsThatAppendLeavesTheFileConsistentAndLaterAppendsWork() async throws {
        let full = Mutex(false)
        var syscalls = FileSyscalls.system
        syscalls.pwrite = { fd, buffer, count, offset in
            if full.withLock({ $0 }) {
                // Half the bytes land, then the disk is full: the partial record must not stay.
                _ = pwrite(fd, buffer, count / 2, offset)
                errno = ENOSPC
                return -1
            }
            return pwrite(fd, buffer, count, offset)
        }
        let path = directory + "/f"
        let file = try AppendOnlyFile(path: path, create: true, policy: .everyWrite, syscalls: syscalls)
        let first = Record(type: .chunk, key: key(1).bytes, payload: [1, 2, 3]).encoded()
        _ = try await file.append(first)
        full.withLock { $0 = true }
        do {
            _ = try await file.append(Record(type: .chunk, key: key(2).bytes, payload: [4]).encoded())
            XCTFail("append succeeded on a full disk")
        } catch LogStoreError.diskFull {}
        XCTAssertEqual(try fileSize(path), first.count)
        full.withLock { $0 = false }
        let second = Record(type: .chunk, key: key(3).bytes, payload: [5]).encoded()
        let offset = try await file.append(second)
        XCTAssertEqual(offset, Int64(first.count))
        var scanner = RecordScanner(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        var records = 0
        while case .record = try scanner.next() { records += 1 }
        XCTAssertEqual(records, 2)
    }

    func testPutsRefusedByAFullDiskStartNoNewSegmentsAndWritesResumeWhereTheyStopped() async throws {
        let full = Mutex(false)
        var configuration = SegmentStoreConfiguration(directory: directory, segmentBytesMax: 1 << 20)
        configuration.syscalls.pwrite = { fd, buffer, count, offset in
            if full.withLock({ $0 }) {
                errno = ENOSPC
                return -1
            }
            return pwrite(fd, buffer, count, offset)
        }
        let store = try SegmentStore(configuration: configuration)
        let payload = [UInt8](repeating: 7, count: 300_000)
        try await store.put(key: key(0), payload: payload)
        full.withLock { $0 = true }
        for i in 1...20 {
            do {
                try await store.put(key: key(UInt64(i)), payload: payload)
                XCTFail("put succeeded on a full disk")
            } catch LogStoreError.diskFull {}
        }
        XCTAssertEqual(store.segmentIDs, [1], "refused puts must not seal the segment and start another")
        full.withLock { $0 = false }
        try await store.put(key: key(21), payload: payload)
        XCTAssertEqual(store.segmentIDs, [1])
        let first = try await store.get(key: key(0))
        let resumed = try await store.get(key: key(21))
        XCTAssertEqual(first, payload)
        XCTAssertEqual(resumed, payload)
        XCTAssertEqual(store.recordCount, 2)
    }

    func testACommitWindowSharesOneFsyncAmongConcurrentAppends() async throws {
        let syncs = Mutex(0)
        var syscalls = FileSyscalls.system
        syscalls.fdatasync = { fd in
            syncs.withLock { $0 += 1 }
            return fdatasync(fd)
        }
        let file = try AppendOnlyFile(
            path: directory + "/f", create: true, policy: .window(microseconds: 50_000, appendsMax: 32), syscalls: syscalls)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<32 { group.addTask { _ = try await file.append([UInt8(i)]) } }
            try await group.waitForAll()
        }
        XCTAssertEqual(file.size, 32)
        XCTAssertLessThanOrEqual(syncs.withLock { $0 }, 4, "appends gathered in the window share fsyncs")
    }

    /// After a sync that resumed many writers the next one waits for them to come back (gathering);
    /// a writer that then appends alone must still be synced and resumed, not wait for the others.
    func testALoneWriterAfterABurstIsSyncedWithoutWaitingForTheBurst() async throws {
        let syncs = Mutex(0)
        var syscalls = FileSyscalls.system
        syscalls.fdatasync = { fd in
            syncs.withLock { $0 += 1 }
            usleep(3000)  // a slow disk, so that the gathering bound is not zero
            return fdatasync(fd)
        }
        let file = try AppendOnlyFile(path: directory + "/f", create: true, policy: .everyWrite, syscalls: syscalls)
        for _ in 0..<3 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<32 { group.addTask { _ = try await file.append([UInt8(i)]) } }
                try await group.waitForAll()
            }
        }
        let afterBursts = syncs.withLock { $0 }
        let clock = ContinuousClock()
        for i in 0..<5 {
            let started = clock.now
            let offset = try await file.append([UInt8(i)])
            XCTAssertEqual(offset, 96 + Int64(i))
            XCTAssertLessThan(clock.now - started, .seconds(1), "a lone append waited for writers that never came")
        }
        XCTAssertEqual(syncs.withLock { $0 }, afterBursts + 5, "each lone append is acknowledged by a sync of its own")
        XCTAssertEqual(file.size, 101)
    }
}
