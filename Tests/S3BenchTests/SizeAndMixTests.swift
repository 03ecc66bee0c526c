import XCTest

@testable import S3Bench

final class SizeAndMixTests: XCTestCase {
    func testSizes() {
        XCTAssertEqual(SizeDistribution(parsing: "4KiB"), .fixed(4096))
        XCTAssertEqual(SizeDistribution(parsing: "1KiB..1MiB"), .uniform(1024, 1 << 20))
        XCTAssertEqual(SizeDistribution(parsing: "10MB"), .fixed(10_000_000))
        XCTAssertEqual(SizeDistribution(parsing: "0"), .fixed(0))
        XCTAssertNil(SizeDistribution(parsing: "1MiB..1KiB"))
        XCTAssertNil(SizeDistribution(parsing: "lots"))
        var rng = SplitMix64(seed: 7)
        for _ in 0..<1000 { XCTAssertTrue((1024...2048).contains(SizeDistribution.uniform(1024, 2048).next(using: &rng))) }
    }

    func testMixAndEndpoint() {
        XCTAssertEqual(LoadConfiguration.parseMix("get=60,put=40")?.map(\.1), [60, 40])
        XCTAssertNil(LoadConfiguration.parseMix("list=1"))
        XCTAssertNil(LoadConfiguration.parseMix("get=0"))
        XCTAssertEqual(S3Endpoint.parse("http://127.0.0.1:9000/").map { "\($0.host) \($0.port) \($0.isTLS)" }, "127.0.0.1 9000 false")
        XCTAssertEqual(S3Endpoint.parse("http://s3.local").map { "\($0.host) \($0.port)" }, "s3.local 80")
        XCTAssertEqual(S3Endpoint.parse("https://s3.local:8443").map { "\($0.host) \($0.port) \($0.isTLS)" }, "s3.local 8443 true")
        XCTAssertEqual(S3Endpoint.parse("https://s3.amazonaws.com").map { "\($0.host) \($0.port)" }, "s3.amazonaws.com 443")
        XCTAssertNil(S3Endpoint.parse("ftp://s3.local"))
    }
}
