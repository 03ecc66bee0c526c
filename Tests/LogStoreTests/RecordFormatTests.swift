import XCTest

@testable import LogStore

final class RecordFormatTests: XCTestCase {
    func testRecordRoundTripsThroughEncoding() throws {
        let record = Record(type: .chunk, key: Array(0..<16), payload: Array("hello segment".utf8))
        let bytes = record.encoded()
        XCTAssertEqual(bytes.count, RecordFormat.headerByteCount + 16 + 13)
        XCTAssertEqual(Array(bytes[0..<4]), Array("SOSR".utf8))
        XCTAssertEqual(try Record(decoding: bytes), record)
    }

    func testEveryFlippedByteIsDetected() {
        let bytes = Record(type: .walMutation, payload: Array(repeating: 7, count: 40)).encoded()
        for index in bytes.indices {
            var damaged = bytes
            damaged[index] ^= 0x01
            XCTAssertThrowsError(try Record(decoding: damaged), "flip at \(index) went unnoticed")
        }
    }

    func testShortInputIsTruncatedNotACrash() {
        let bytes = Record(type: .chunk, key: Array(0..<16), payload: [1, 2, 3]).encoded()
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try Record(decoding: Array(bytes.prefix(length))))
        }
    }

    func testHeaderWithAbsurdLengthIsRejected() {
        var bytes = Record(type: .chunk, payload: [1]).encoded()
        bytes.storeLittleEndian(UInt32.max, at: 16)
        XCTAssertNil(RecordHeader(bytes))
    }
}

final class RecordScannerTests: XCTestCase {
    private func records(_ count: Int) -> [[UInt8]] {
        (0..<count).map { i in Record(type: .walMutation, payload: Array(repeating: UInt8(i), count: 10 + i)).encoded() }
    }

    func testScannerReadsAllRecordsInOrder() throws {
        let encoded = records(5)
        var scanner = RecordScanner(bytes: encoded.flatMap { $0 })
        var offsets: [Int64] = []
        while let event = try scanner.next() {
            guard case .record(let offset, _) = event else { return XCTFail("unexpected \(event)") }
            offsets.append(offset)
        }
        XCTAssertEqual(offsets.count, 5)
        XCTAssertEqual(offsets[1], Int64(encoded[0].count))
    }

    func testTornTailIsReportedAsInvalidTail() throws {
        let encoded = records(3)
        let whole = encoded.flatMap { $0 }
        let cut = whole.count - 5
        var scanner = RecordScanner(bytes: Array(whole.prefix(cut)))
        var events: [RecordScanner.Event] = []
        while let event = try scanner.next() { events.append(event) }
        XCTAssertEqual(events.count, 3)
        XCTAssertEqual(events.last, .invalidTail(offset: Int64(encoded[0].count + encoded[1].count), reason: .truncated))
    }

    /// A preallocated WAL file: its records end where its zeros begin; any other byte in the zeros
    /// is still reported, and without the option the zeros are an invalid tail.
    func testAZeroFilledTailEndsTheRecordsOnlyWhenAskedAndOnlyWhenAllZero() throws {
        let encoded = records(3)
        let recordBytes = encoded.flatMap { $0 }
        let end = Int64(recordBytes.count)
        for zeros in [1, 23, 24, 5000, (1 << 20) + 7] {
            let file = recordBytes + [UInt8](repeating: 0, count: zeros)
            var scanner = RecordScanner(bytes: file, zeroTailEnds: true)
            var events: [RecordScanner.Event] = []
            while let event = try scanner.next() { events.append(event) }
            XCTAssertEqual(events.count, 3, "\(zeros) zeros")
            XCTAssertEqual(scanner.offset, end)

            var plain = RecordScanner(bytes: file)
            var last: RecordScanner.Event?
            while let event = try plain.next() { last = event }
            XCTAssertEqual(last, .invalidTail(offset: end, reason: zeros < 24 ? .truncated : .badHeader))
        }
        for damage in [0, 4999] {
            var file = recordBytes + [UInt8](repeating: 0, count: 5000)
            file[Int(end) + damage] = 1
            var scanner = RecordScanner(bytes: file, zeroTailEnds: true)
            var last: RecordScanner.Event?
            while let event = try scanner.next() { last = event }
            XCTAssertEqual(last, .invalidTail(offset: end, reason: .badHeader), "a stray byte at \(damage)")
        }
        // Zeros inside the records (a page never written) are damage, with records after them.
        var holed = recordBytes
        for i in encoded[0].count..<(encoded[0].count + encoded[1].count) { holed[i] = 0 }
        var scanner = RecordScanner(bytes: holed + [0, 0, 0, 0], zeroTailEnds: true)
        var events: [RecordScanner.Event] = []
        while let event = try scanner.next() { events.append(event) }
        XCTAssertEqual(events.count, 3)
        XCTAssertEqual(events[1], .corrupt(offset: Int64(encoded[0].count), length: Int64(encoded[1].count), reason: .badHeader))
    }

    func testCorruptMiddleRecordIsSkippedAndReported() throws {
        let encoded = records(3)
        var whole = encoded.flatMap { $0 }
        whole[encoded[0].count + 30] ^= 0xFF
        var scanner = RecordScanner(bytes: whole)
        var events: [RecordScanner.Event] = []
        while let event = try scanner.next() { events.append(event) }
        XCTAssertEqual(events.count, 3)
        XCTAssertEqual(
            events[1],
            .corrupt(offset: Int64(encoded[0].count), length: Int64(encoded[1].count), reason: .checksumMismatch))
        guard case .record(_, let last) = events[2] else { return XCTFail("last record lost") }
        XCTAssertEqual(last.payload.first, 2)
    }
}
