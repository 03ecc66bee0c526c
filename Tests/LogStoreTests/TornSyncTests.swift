import Foundation
import Synchronization
import XCTest

@testable import LogStore

/// A power cut during an fdatasync over zero-filled room: what recovery may take for a torn sync
/// (`TornSync`), and the writer's bound that makes that safe (`AppendOnlyFile`'s unsyncedBytesMax).
final class TornSyncTests: XCTestCase {
    private let bound: Int64 = 256 << 10

    /// Back-to-back records of 100..300 bytes from offset 0 to about `bytes`, then zeros to `size`.
    private func file(records bytes: Int, size: Int) -> (data: [UInt8], offsets: [Int]) {
        var data: [UInt8] = []
        var offsets: [Int] = []
        var n: UInt64 = 0
        while data.count < bytes {
            offsets.append(data.count)
            data += Record(type: .walMutation, key: [], payload: (0..<(100 + Int(n % 200))).map { UInt8(truncatingIfNeeded: Int(n) &+ $0 | 1) }).encoded()
            n += 1
        }
        return (data + [UInt8](repeating: 0, count: size - data.count), offsets)
    }

    private func isTorn(_ data: [UInt8], at offset: Int, bound: Int64? = nil) throws -> Bool {
        try TornSync.isTornSync(damageAt: Int64(offset), size: Int64(data.count), unsyncedBytesMax: bound ?? self.bound) { start, count in
            Array(data[Int(start)..<min(data.count, Int(start) + count)])
        }
    }

    /// The first offset the scanner reports as damaged, and whether it resynchronised after it.
    private func firstDamage(_ data: [UInt8]) throws -> (offset: Int, corrupt: Bool)? {
        var scanner = RecordScanner(bytes: data, zeroTailEnds: true)
        while let event = try scanner.next() {
            switch event {
            case .record: continue
            case .corrupt(let offset, _, _): return (Int(offset), true)
            case .invalidTail(let offset, _): return (Int(offset), false)
            }
        }
        return nil
    }

    func testALostPageBetweenStoredOnesIsATornSync() throws {
        var (data, _) = file(records: 64 << 10, size: 1 << 20)
        // The sync began at 40,000 (mid-page); the page holding it was lost, later ones stored.
        for i in 40_000..<40_960 { data[i] = 0 }
        let damage = try XCTUnwrap(try firstDamage(data))
        XCTAssertTrue(damage.corrupt, "zeros between records are a corrupt stretch, not a tail")
        XCTAssertTrue(try isTorn(data, at: damage.offset))

        // A wholly lost page further on, a stored one before it.
        var (other, _) = file(records: 64 << 10, size: 1 << 20)
        for i in 45_056..<49_152 { other[i] = 0 }
        let otherDamage = try XCTUnwrap(try firstDamage(other))
        XCTAssertTrue(otherDamage.corrupt)
        XCTAssertTrue(try isTorn(other, at: otherDamage.offset))
    }

    func testDamageWithoutALostSectorOrBeyondTheReachIsNot() throws {
        let (clean, offsets) = file(records: 64 << 10, size: 1 << 20)
        var flipped = clean
        flipped[offsets[100] + 30] ^= 0xFF  // a changed byte: no sector reads as zeros
        XCTAssertEqual(try firstDamage(flipped)?.offset, offsets[100])
        XCTAssertFalse(try isTorn(flipped, at: offsets[100]))

        var far = clean
        for i in 4096..<8192 { far[i] = 0 }  // lost, but 60 KiB of records follow: more than a sync holds
        let damage = try XCTUnwrap(try firstDamage(far))
        XCTAssertFalse(try isTorn(far, at: damage.offset, bound: 32 << 10))
        XCTAssertTrue(try isTorn(far, at: damage.offset, bound: 64 << 10))

        var stray = clean
        for i in 40_960..<45_056 { stray[i] = 0 }
        stray[900_000] = 1  // not zero-filled room beyond the reach
        XCTAssertFalse(try isTorn(stray, at: try XCTUnwrap(try firstDamage(stray)).offset))
    }

    /// An append larger than the bound is written alone: the record's own length is its reach,
    /// when its header survived.
    func testALargeRecordReachesAsFarAsItsHeaderSays() throws {
        let big = Record(type: .walMutation, key: [], payload: [UInt8](repeating: 7, count: 600 << 10)).encoded()
        var data = big + [UInt8](repeating: 0, count: 1 << 20)
        for i in 4096..<8192 { data[i] = 0 }
        XCTAssertTrue(try isTorn(data, at: 0))
        for i in 0..<24 { data[i] = 0 }  // the header lost too: nothing tells how far the sync went
        XCTAssertFalse(try isTorn(data, at: 0))
    }

    /// Whatever the load, no write leaves more than the bound past the end of the last completed
    /// fdatasync, except one append larger than the bound written right after one.
    func testTheWriterNeverLeavesMoreThanTheBoundUnsynced() async throws {
        let directory = NSTemporaryDirectory() + "torn-\(UUID().uuidString)"
        try FileIO.createDirectory(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        struct Disk { var writtenEnd: Int64 = 0; var durableEnd: Int64 = 0; var violations: [String] = []; var syncs = 0 }
        let disk = Mutex(Disk())
        let bound = self.bound
        var syscalls = FileSyscalls.system
        syscalls.pwrite = { fd, buffer, count, offset in
            disk.withLock { d in
                let end = Int64(offset) + Int64(count)
                if end - d.durableEnd > bound && Int64(offset) != d.durableEnd {
                    d.violations.append("write [\(offset), \(end)) with durable end \(d.durableEnd)")
                }
            }
            let n = pwrite(fd, buffer, count, offset)
            disk.withLock { $0.writtenEnd = max($0.writtenEnd, Int64(offset) + Int64(n)) }
            return n
        }
        syscalls.fdatasync = { fd in
            let covers = disk.withLock { d -> Int64 in
                d.syncs += 1
                return d.writtenEnd
            }
            usleep(3_000)  // a slow disk, so that writes pile up behind each sync
            let result = fdatasync(fd)
            disk.withLock { $0.durableEnd = max($0.durableEnd, covers) }
            return result
        }
        let file = try AppendOnlyFile(path: directory + "/f", create: true, policy: .everyWrite, syscalls: syscalls, unsyncedBytesMax: bound)
        let sizes = (0..<200).map { $0 % 50 == 7 ? 300 << 10 : ($0 % 3 == 0 ? 20 << 10 : 1 + $0 * 37 % 4000) }
        let records = sizes.enumerated().map { Record(type: .chunk, key: [UInt8(truncatingIfNeeded: $0)], payload: [UInt8](repeating: UInt8(truncatingIfNeeded: $0), count: $1)).encoded() }
        let offsets = try await withThrowingTaskGroup(of: (Int, Int64).self) { group in
            for (index, record) in records.enumerated() { group.addTask { (index, try await file.append(record)) } }
            return try await group.reduce(into: [Int: Int64]()) { $0[$1.0] = $1.1 }
        }
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/f")))
        for (index, record) in records.enumerated() {
            let offset = Int(offsets[index]!)
            XCTAssertEqual(Array(bytes[offset..<offset + record.count]), record, "record \(index)")
        }
        let final = disk.withLock { $0 }
        XCTAssertEqual(final.violations, [])
        XCTAssertEqual(bytes.count, records.reduce(0) { $0 + $1.count })
        XCTAssertGreaterThan(final.syncs, 1)
    }
}
