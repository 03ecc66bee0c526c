import Crypto
import NIOCore
import XCTest

@testable import Brain

final class PipelinedDigestsTests: XCTestCase {
    private func bytes(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 131) ^ ($0 >> 7) &+ seed) }
    }

    /// Chunks hashed on their own tasks, then a tail hashed inline, give the digests of the whole
    /// body in order, whatever the depth.
    func testChunksHashedOnTasksGiveTheDigestsOfTheWholeBodyInOrder() async throws {
        let chunks = (0..<9).map { bytes(100_000 + $0 * 777, seed: $0) }
        let tail = bytes(1234, seed: 99)
        let whole = chunks.flatMap { $0 } + tail
        var expectations = BodyDigests.Expectations()
        expectations.checksumAlgorithm = .sha256
        var oneBuffer = BodyDigests(expectations)
        whole.withUnsafeBytes { oneBuffer.update($0) }
        let expected = try oneBuffer.verify()
        XCTAssertEqual(expected.md5, Array(Insecure.MD5.hash(data: whole)))
        for depth in [1, 2, 5] {
            var digester = PipelinedDigests(BodyDigests(expectations), depth: depth)
            for chunk in chunks { await digester.add(ByteBuffer(bytes: chunk)) }
            var digests = await digester.finish()
            tail.withUnsafeBytes { digests.update($0) }
            let result = try digests.verify()
            XCTAssertEqual(result.md5, expected.md5, "depth \(depth)")
            XCTAssertEqual(result.checksum, expected.checksum, "depth \(depth)")
            XCTAssertEqual(result.size, Int64(whole.count), "depth \(depth)")
        }
    }

    /// A declared Content-MD5 is still checked against the bytes as hashed through the pipeline.
    func testAContentMD5ThatDoesNotMatchIsStillRefused() async throws {
        let chunks = (0..<3).map { bytes(50_000, seed: $0) }
        var expectations = BodyDigests.Expectations()
        expectations.contentMD5 = Array(Insecure.MD5.hash(data: chunks[0] + chunks[2] + chunks[1]))
        var digester = PipelinedDigests(BodyDigests(expectations), depth: 2)
        for chunk in chunks { await digester.add(ByteBuffer(bytes: chunk)) }
        let digests = await digester.finish()
        XCTAssertThrowsError(try digests.verify())
    }

    func testNothingAddedLeavesTheDigestsAsGiven() async throws {
        var digester = PipelinedDigests(BodyDigests(BodyDigests.Expectations()), depth: 2)
        let digests = await digester.finish()
        XCTAssertEqual(try digests.verify().md5, Array(Insecure.MD5.hash(data: [UInt8]())))
    }
}
