import XCTest

@testable import Brain

final class CompressionHintTests: XCTestCase {
    private func hint(_ headers: [String: String]) -> Bool {
        CompressionHint.isIncompressible(headers.map { StoredHeader(name: $0.key, value: $0.value) })
    }

    func testCompressedFormatsAreHintedAndTextIsNot() {
        for type in ["image/jpeg", "IMAGE/PNG", "video/mp4", "audio/mpeg", "application/zip", "application/gzip; x=1", "font/woff2", "\t Image/JPEG ; q=1"] {
            XCTAssertTrue(hint(["content-type": type]), type)
        }
        for type in ["text/plain", "application/json", "image/svg+xml", "audio/wav", "application/octet-stream", "", "nonsense"] {
            XCTAssertFalse(hint(["content-type": type]), type)
        }
        XCTAssertTrue(hint(["content-type": "text/csv", "content-encoding": "gzip"]))
        XCTAssertTrue(hint(["content-encoding": "aws-chunked, br"]))
        XCTAssertFalse(hint(["content-encoding": "identity"]))
        XCTAssertFalse(hint([:]))
    }
}
