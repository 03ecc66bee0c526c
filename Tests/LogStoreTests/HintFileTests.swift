import Foundation
import XCTest

@testable import LogStore

final class HintFileTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "hint-file-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func open() throws -> SegmentStore {
        try SegmentStore(configuration: SegmentStoreConfiguration(directory: directory, segmentBytesMax: 4096))
    }

    private func key(_ i: UInt64) -> StoreKey { StoreKey(high: i, low: ~i) }

    private func path(_ name: String) -> String { directory + "/" + name }

    /// Twenty 1000-byte chunks over segments of 4 KiB, key 3 deleted, key 4 overwritten.
    private func fillAndSeal() async throws -> SegmentStore {
        let store = try open()
        for i in 0..<20 { try await store.put(key: key(UInt64(i)), payload: Array(repeating: UInt8(i), count: 1000)) }
        try await store.delete(key: key(3))
        try await store.put(key: key(4), payload: [4, 4])
        await store.waitForMaintenance()
        return store
    }

    private func assertContents(_ store: SegmentStore, file: StaticString = #filePath, line: UInt = #line) async throws {
        XCTAssertEqual(store.recordCount, 19, file: file, line: line)
        for i in 0..<20 {
            let payload = try await store.get(key: key(UInt64(i)))
            let expected: [UInt8]? = i == 3 ? nil : i == 4 ? [4, 4] : Array(repeating: UInt8(i), count: 1000)
            XCTAssertEqual(payload, expected, "key \(i)", file: file, line: line)
        }
    }

    func testHintRoundTripsAndEveryFlippedByteIsDetected() throws {
        let entries = [
            HintEntry(kind: .chunk, flags: 1, length: 100, offset: 0, key: key(1)),
            HintEntry(kind: .corrupt, length: 60, offset: 100),
            HintEntry(kind: .tombstone, length: 40, offset: 160, key: key(1)),
        ]
        let bytes = HintFile.encode(segment: 7, segmentByteCount: 200, entries: entries)
        XCTAssertEqual(bytes.count, 32 + 3 * 32 + 8)
        let decoded = try HintFile.Decoded(bytes)
        XCTAssertEqual(decoded.segment, 7)
        XCTAssertEqual(decoded.segmentByteCount, 200)
        XCTAssertEqual(decoded.entries, entries)
        for index in bytes.indices {
            var damaged = bytes
            damaged[index] ^= 0x01
            XCTAssertThrowsError(try HintFile.Decoded(damaged), "flip at \(index) went unnoticed")
        }
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try HintFile.Decoded(Array(bytes.prefix(length))))
        }
    }

    func testHintBytesMatchTheExampleInFormatsDoc() {
        let key = StoreKey(bytes: Array(0..<16))!
        let bytes = HintFile.encode(
            segment: 1, segmentByteCount: 51, entries: [HintEntry(kind: .chunk, length: 51, offset: 0, key: key)])
        let hex = bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined(separator: " ")
        XCTAssertEqual(
            hex,
            "53 4f 53 48 01 00 00 00 01 00 00 00 01 00 00 00 33 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
                + "01 00 00 00 33 00 00 00 00 00 00 00 00 00 00 00 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f "
                + "c8 43 f1 54 fc a9 4c 56")
    }

    func testAnEntryWhoseOffsetWouldOverflowIsRejected() {
        var bytes = HintFile.encode(
            segment: 1, segmentByteCount: 100, entries: [HintEntry(kind: .chunk, length: 50, offset: 0, key: key(1))])
        bytes.storeLittleEndian(UInt64(Int64.max - 10), at: 32 + 8)
        bytes.storeLittleEndian(Checksum.xxh3(bytes, to: bytes.count - 8), at: bytes.count - 8)
        XCTAssertThrowsError(try HintFile.Decoded(bytes))
    }

    func testEntriesOutsideTheSegmentOrOverlappingAreRejected() {
        let overlapping = HintFile.encode(
            segment: 1, segmentByteCount: 200,
            entries: [HintEntry(kind: .chunk, length: 100, offset: 0, key: key(1)),
                      HintEntry(kind: .chunk, length: 100, offset: 50, key: key(2))])
        XCTAssertThrowsError(try HintFile.Decoded(overlapping))
        let outside = HintFile.encode(
            segment: 1, segmentByteCount: 200, entries: [HintEntry(kind: .chunk, length: 100, offset: 150, key: key(1))])
        XCTAssertThrowsError(try HintFile.Decoded(outside))
    }

    func testSealedSegmentsGetHintsAndStartupReadsOnlyTheActiveSegment() async throws {
        let store = try await fillAndSeal()
        let segments = store.segmentCount
        XCTAssertGreaterThanOrEqual(segments, 5)
        let hints = try FileIO.listDirectory(directory).filter { $0.hasSuffix(".hint") }
        XCTAssertEqual(hints.count, segments - 1, "every sealed segment has a hint, the active one none")

        let reopened = try open()
        XCTAssertEqual(reopened.recoveryReport.hintsLoaded, segments - 1)
        XCTAssertEqual(reopened.recoveryReport.hintsRebuilt, 0)
        try await assertContents(reopened)
    }

    func testMissingDamagedOrStaleHintIsRebuiltFromItsSegment() async throws {
        _ = try await fillAndSeal()
        try FileManager.default.removeItem(atPath: path("segment-00000001.hint"))
        var damaged = try Data(contentsOf: URL(fileURLWithPath: path("segment-00000002.hint")))
        damaged[40] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: path("segment-00000002.hint")))
        // A hint describing other bytes than its segment holds (here: one byte more) is stale.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path("segment-00000003.sos")))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()

        let reopened = try open()
        XCTAssertEqual(reopened.recoveryReport.hintsRebuilt, 3)
        XCTAssertEqual(reopened.recoveryReport.corruptions.count, 1, "the stray byte is reported")
        try await assertContents(reopened)
        let again = try open()
        XCTAssertEqual(again.recoveryReport.hintsRebuilt, 0, "rebuilt hints were written back")
        XCTAssertEqual(again.recoveryReport.corruptions.count, 1, "corruption listed in a hint is reported every time")
    }

    func testSealingReadsHeadersOnlyAndGetsTheEntriesAScanGets() async throws {
        // Records on both sides of the header window: small ones read a window at a time, large ones skipped.
        let store = try SegmentStore(configuration: SegmentStoreConfiguration(directory: directory, segmentBytesMax: 1 << 20))
        let sizes = [10, 70_000, 3, 200_000, 1000, 65_500, 65_536, 0, 12]
        for (i, size) in sizes.enumerated() { try await store.put(key: key(UInt64(i)), payload: Array(repeating: 7, count: size)) }
        try await store.delete(key: key(2))
        let file = try AppendOnlyFile(path: path("segment-00000001.sos"), create: false)
        let fromHeaders = try XCTUnwrap(try SegmentFiles.entriesFromHeaders(file))
        XCTAssertEqual(fromHeaders, try SegmentFiles.scan(file, isNewest: false).entries)
        XCTAssertEqual(fromHeaders.count, sizes.count + 1)
        XCTAssertEqual(fromHeaders.filter { $0.kind == .tombstone }.map(\.key), [key(2)])
    }

    func testSealingFallsBackToAScanWhenTheHeadersDoNotChainToTheEnd() async throws {
        _ = try await fillAndSeal()
        let segment = path("segment-00000001.sos")
        let intact = try AppendOnlyFile(path: segment, create: false)
        let entries = try XCTUnwrap(try SegmentFiles.entriesFromHeaders(intact))
        XCTAssertGreaterThanOrEqual(entries.count, 2)

        // A damaged payload is not seen from the headers (reads and the scrub verify payloads).
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: segment))
        try handle.seek(toOffset: UInt64(entries[0].offset) + 500)
        try handle.write(contentsOf: Data([0xAA]))
        XCTAssertEqual(try SegmentFiles.entriesFromHeaders(try AppendOnlyFile(path: segment, create: false)), entries)
        // A damaged length breaks the chain: no entries, so the caller scans.
        try handle.seek(toOffset: UInt64(entries[1].offset) + 16)
        try handle.write(contentsOf: Data([0x01]))
        XCTAssertNil(try SegmentFiles.entriesFromHeaders(try AppendOnlyFile(path: segment, create: false)))
        // So does a stray byte at the end.
        try handle.seek(toOffset: UInt64(entries[1].offset) + 16)
        try handle.write(contentsOf: Data([UInt8(truncatingIfNeeded: entries[1].length - 24 - 16)]))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        XCTAssertNil(try SegmentFiles.entriesFromHeaders(try AppendOnlyFile(path: segment, create: false)))
    }

    func testCorruptRecordInASealedSegmentIsReportedAndNeverServed() async throws {
        _ = try await fillAndSeal()
        try FileManager.default.removeItem(atPath: path("segment-00000001.hint"))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path("segment-00000001.sos")))
        try handle.seek(toOffset: 500)
        try handle.write(contentsOf: Data([0xAA, 0xBB]))
        try handle.close()

        let reopened = try open()
        XCTAssertEqual(reopened.recoveryReport.corruptions.count, 1)
        let first = try await reopened.get(key: key(0))
        XCTAssertNil(first, "a damaged record is kept out of the index")
        let second = try await reopened.get(key: key(1))
        XCTAssertEqual(second, Array(repeating: 1, count: 1000))
    }
}
