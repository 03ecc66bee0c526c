import ClusterProtocol
import Foundation
import LogStore
import NIOCore
import XCTest

@testable import Brain

final class RangeRequestTests: XCTestCase {
    func testRangeFormsResolveAsS3Does() throws {
        XCTAssertEqual(try RangeRequest.resolve("bytes=0-9", size: 100), 0..<10)
        XCTAssertEqual(try RangeRequest.resolve("bytes=90-200", size: 100), 90..<100)
        XCTAssertEqual(try RangeRequest.resolve("bytes=95-", size: 100), 95..<100)
        XCTAssertEqual(try RangeRequest.resolve("bytes=-10", size: 100), 90..<100)
        XCTAssertEqual(try RangeRequest.resolve("bytes=-500", size: 100), 0..<100)
        XCTAssertNil(try RangeRequest.resolve("bytes=5-1", size: 100))
        XCTAssertNil(try RangeRequest.resolve("bytes=0-1,5-6", size: 100))
        XCTAssertNil(try RangeRequest.resolve("items=0-1", size: 100))
        XCTAssertNil(try RangeRequest.resolve(nil, size: 100))
        XCTAssertThrowsError(try RangeRequest.resolve("bytes=100-", size: 100)) {
            XCTAssertEqual(($0 as? S3Error)?.code.rawValue, "InvalidRange")
        }
        XCTAssertThrowsError(try RangeRequest.resolve("bytes=0-", size: 0))
    }
}

final class PreconditionTests: XCTestCase {
    let etag = "\"abc\""
    let lastModifiedMs: Int64 = 1_700_000_000_500  // Tue, 14 Nov 2023 22:13:20 GMT

    func evaluate(_ c: Preconditions.Conditions) -> Preconditions.Result {
        Preconditions.evaluate(c, etag: etag, lastModifiedMs: lastModifiedMs)
    }

    func testConditionalRequestsFollowRFCOrder() {
        XCTAssertEqual(evaluate(.init(ifMatch: "\"abc\"")), .proceed)
        XCTAssertEqual(evaluate(.init(ifMatch: "abc, \"zzz\"")), .proceed)
        XCTAssertEqual(evaluate(.init(ifMatch: "\"nope\"")), .preconditionFailed)
        XCTAssertEqual(evaluate(.init(ifNoneMatch: "*")), .notModified)
        XCTAssertEqual(evaluate(.init(ifNoneMatch: "\"other\"")), .proceed)
        XCTAssertEqual(evaluate(.init(ifModifiedSince: "Tue, 14 Nov 2023 22:13:20 GMT")), .notModified)
        XCTAssertEqual(evaluate(.init(ifModifiedSince: "Tue, 14 Nov 2023 22:13:19 GMT")), .proceed)
        XCTAssertEqual(evaluate(.init(ifUnmodifiedSince: "Tue, 14 Nov 2023 22:13:19 GMT")), .preconditionFailed)
        // If-Match that holds overrides a failing If-Unmodified-Since, as in S3.
        XCTAssertEqual(
            evaluate(.init(ifMatch: "\"abc\"", ifUnmodifiedSince: "Mon, 01 Jan 2001 00:00:00 GMT")), .proceed)
        // If-None-Match that fails overrides a holding If-Modified-Since.
        XCTAssertEqual(
            evaluate(.init(ifNoneMatch: "\"abc\"", ifModifiedSince: "Mon, 01 Jan 2001 00:00:00 GMT")), .notModified)
    }

    func testHTTPDatesParseInAllThreeForms() {
        XCTAssertEqual(HTTPDate.parseSeconds("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777)
        XCTAssertEqual(HTTPDate.parseSeconds("Sunday, 06-Nov-94 08:49:37 GMT"), 784_111_777)
        XCTAssertEqual(HTTPDate.parseSeconds("Sun Nov  6 08:49:37 1994"), 784_111_777)
        XCTAssertNil(HTTPDate.parseSeconds("yesterday"))
        XCTAssertEqual(HTTPDate.rfc1123(ms: 784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}

final class AWSChunkedDecoderTests: XCTestCase {
    private func decode(_ text: String, pieceSize: Int) throws -> (String, [String: String]) {
        var decoder = AWSChunkedDecoder()
        var output = ""
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            let piece = ByteBuffer(bytes: bytes[index..<min(bytes.count, index + pieceSize)])
            for decoded in try decoder.feed(piece) { output += String(buffer: decoded) }
            index += pieceSize
        }
        try decoder.finish()
        return (output, decoder.trailers)
    }

    func testSignedAndTrailerBodiesDecodeAcrossAnySplit() throws {
        let signed = "5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=0\r\n\r\n"
        let trailer = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"
        let bareNewlines = "5\nhello\n0\nx-amz-checksum-crc32:NhCmhg==\n"
        for pieceSize in [1, 2, 3, 7, 1000] {
            XCTAssertEqual(try decode(signed, pieceSize: pieceSize).0, "hello world")
            let (body, trailers) = try decode(trailer, pieceSize: pieceSize)
            XCTAssertEqual(body, "hello")
            XCTAssertEqual(trailers["x-amz-checksum-crc32"], "NhCmhg==")
            XCTAssertEqual(try decode(bareNewlines, pieceSize: pieceSize).1["x-amz-checksum-crc32"], "NhCmhg==")
        }
    }

    func testMalformedFramingIsRejected() {
        XCTAssertThrowsError(try decode("zz\r\nhello\r\n0\r\n\r\n", pieceSize: 4))
        XCTAssertThrowsError(try decode("5\r\nhello world\r\n0\r\n\r\n", pieceSize: 4))
        XCTAssertThrowsError(try decode("5\r\nhel", pieceSize: 4))
    }
}

final class ChecksumTests: XCTestCase {
    private func digest(_ algorithm: ChecksumAlgorithm, _ text: String) -> String {
        var checksum = RunningChecksum(algorithm)
        Array(text.utf8).withUnsafeBytes { checksum.update($0) }
        return checksum.digest().map { String($0, radix: 16).leftPadded(2) }.joined()
    }

    func testChecksumsMatchTheirCheckValues() {
        // The standard check input "123456789" for each CRC; SHA digests of "abc".
        XCTAssertEqual(digest(.crc32, "123456789"), "cbf43926")
        XCTAssertEqual(digest(.crc32c, "123456789"), "e3069283")
        XCTAssertEqual(digest(.crc64nvme, "123456789"), "ae8b14860a799888")
        XCTAssertEqual(digest(.sha1, "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(
            digest(.sha256, "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}

final class AddressingTests: XCTestCase {
    func testVirtualHostedBucketComesFromTheHost() {
        XCTAssertEqual(S3Request.bucket(fromHost: "photos.s3.local:9000", domain: "s3.local"), "photos")
        XCTAssertNil(S3Request.bucket(fromHost: "s3.local:9000", domain: "s3.local"))
        XCTAssertNil(S3Request.bucket(fromHost: "127.0.0.1:9000", domain: "s3.local"))
    }

    func testPercentEncodingRoundTripsAwkwardKeys() {
        for key in ["a b", "plus+sign", "100%", "ünï/cödé", "//double", "x&y=z"] {
            XCTAssertEqual(PercentEncoding.decode(PercentEncoding.encode(key)), key)
        }
        XCTAssertEqual(PercentEncoding.encode("a+b c"), "a%2Bb%20c")
        XCTAssertNil(PercentEncoding.decode("%zz"))
    }
}

/// Inputs the fuzz targets found; each once crashed the brain or broke a round trip.
final class FuzzRegressionTests: XCTestCase {
    func testXMLWithInvalidUTF8IsMalformedNotACrash() {
        var body = Array("<CompleteMultipartUpload><Part></Part></CompleteMultipartUpload>".utf8)
        body[12] = 0xFF  // inside the element name
        XCTAssertThrowsError(try UntrustedInput.xml(body))
        XCTAssertThrowsError(try UntrustedInput.xml(Array("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>".utf8)))
        XCTAssertNoThrow(try UntrustedInput.xml(Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>ü</a>".utf8)))
    }

    func testWALStringsWithInvalidUTF8AreRefusedSoDecodingRoundTrips() {
        let base64 = "AAMABXNlZWRzAAJrNAAAAAAAAAAGACIiYTY1ZjhmMzRlMWRjODU1YTBiYTBkNTVlM2IzZTNjZTkiAAABohKKBuoAAgAMY29udGVudC10eXBlAAp0ZXh0L3BsYWluAAx4LWFt2i1tZXRhLWEAAWIBAAAIbkx0emJ3PT0AAAAAAAAAARQJJkiqdZSg1ozcHYjlyEQAAAAGAQACYTE="
        let input = Array(Data(base64Encoded: base64)!)
        XCTAssertFalse(UntrustedInput.walMutation(Array(input.dropFirst())))
    }

    func testANonCanonicalChecksumTypeByteIsRefused() {
        let object = ObjectRecord(
            size: 1, etag: "\"e\"", lastModifiedMs: 1, checksum: StoredChecksum(algorithm: .crc32, value: "AAAAAA=="),
            chunks: [ChunkPlacement(id: ChunkID(high: 1, low: 2), length: 1, agents: ["a"])])
        var bytes = MutationCodec.encode(.putObject(bucket: "b", key: "k", object: object))
        XCTAssertTrue(UntrustedInput.walMutation(bytes))
        let typeByte = bytes.indices.first { bytes[$0] == 1 && bytes[$0 + 1] == 0 && bytes[$0 + 2] == 0 && bytes[$0 + 3] == 8 }!
        bytes[typeByte + 1] = 2  // "composite" must be 0 or 1
        XCTAssertFalse(UntrustedInput.walMutation(bytes))
    }

    func testHTTPDatesWithHugeOrOutOfRangeFieldsAreNotDates() {
        XCTAssertNil(UntrustedInput.httpDate("Sun, 06 Nov +44444444444444 08:49:37 GMT"))
        XCTAssertNil(UntrustedInput.httpDate("Sun, 06 Nov 1994 99:49:37 GMT"))
        XCTAssertNil(UntrustedInput.httpDate("Sun, 06 Nov 1994 08:49:-9223372036854775808 GMT"))
        let base64 = "BFN1LiwFKzBTdS4sBSswICsxMCBAeXk5BFMAAHVuLCwgMDYgTm92IDA2IE4gMD0zLTc2IE5vdiAwNiBOb3YgMTk5IDE5OTQgMDk5NCAwODo0OTozNyBHTVR2IDE5ODi5ICswNgBfMABEIDA4AAAAAABldm85OSArNDQ0NDQ0NDQ0NDQ0NDQgKzA2IDA4RF8wICsxMCBAeXk5uSArMDYAXzAARCAwOAAAAAAAZXZvOTkgKzIyMjIyMjIyMjIyMjIyICtPYmplY3QwIDYwOERfcGUAAAAiAA0KJlQ="
        let input = Array(Data(base64Encoded: base64)!)
        _ = UntrustedInput.httpDate(String(decoding: input.dropFirst(), as: UTF8.self))
    }
}

final class ErrorMappingTests: XCTestCase {
    /// A full or poisoned WAL must reach the client as a retryable 503 that says why, not a bare 500.
    func testAFullOrPoisonedMetadataLogAnswers503SayingWhy() throws {
        let full = try XCTUnwrap(ObjectHandlers.s3Error(for: LogStoreError.diskFull(path: "/m/wal-00000001.log")) as? S3Error)
        XCTAssertEqual(full.status.code, 503)
        XCTAssertEqual(full.code, .serviceUnavailable)
        XCTAssertTrue(full.message.contains("full"), full.message)
        let poisoned = try XCTUnwrap(
            ObjectHandlers.s3Error(for: LogStoreError.syncFailed(path: "/m/wal-00000001.log", errno: EIO)) as? S3Error)
        XCTAssertEqual(poisoned.status.code, 503)
        XCTAssertTrue(poisoned.message.contains("restarted"), poisoned.message)
    }
}
