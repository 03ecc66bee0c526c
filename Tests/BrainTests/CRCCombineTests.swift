import XCTest

@testable import Brain

/// Combining CRCs gives the CRC of the joined bytes, for every CRC a FULL_OBJECT checksum uses.
final class CRCCombineTests: XCTestCase {
    private func crc(_ algorithm: ChecksumAlgorithm, _ bytes: [UInt8]) -> UInt64 {
        var running = RunningChecksum(algorithm)
        bytes.withUnsafeBytes { running.update($0) }
        return CRCCombine.forAlgorithm(algorithm)!.value(running.digest())!
    }

    func testCombinedCRCsAreTheCRCOfTheWhole() {
        var generator = SystemRandomNumberGenerator()
        for algorithm in [ChecksumAlgorithm.crc32, .crc32c, .crc64nvme] {
            let combine = CRCCombine.forAlgorithm(algorithm)!
            for (firstLength, secondLength) in [(0, 0), (1, 0), (0, 7), (5, 1), (100, 3000), (4096, 65_537), (70_000, 1)] {
                let first = (0..<firstLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let second = (0..<secondLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
                XCTAssertEqual(
                    combine.combine(crc(algorithm, first), crc(algorithm, second), secondLength: Int64(secondLength)),
                    crc(algorithm, first + second), "\(algorithm.name) \(firstLength)+\(secondLength)")
            }
        }
        XCTAssertNil(CRCCombine.forAlgorithm(.sha256))
    }
}
