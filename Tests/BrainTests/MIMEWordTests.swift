import XCTest

@testable import Brain

/// Non-ASCII user metadata: RFC 2047 encoded words decoded on the way in, non-ASCII values encoded
/// on the way out.
final class MIMEWordTests: XCTestCase {
    func testEncodedWordsRoundTrip() {
        XCTAssertEqual(MIMEWord.decoded("=?UTF-8?B?Y2Fmw6k=?="), "café")
        XCTAssertEqual(MIMEWord.decoded("=?utf-8?q?caf=C3=A9_au_lait?="), "café au lait")
        XCTAssertEqual(MIMEWord.encoded("café"), "=?UTF-8?B?Y2Fmw6k=?=")
        XCTAssertEqual(MIMEWord.encoded("plain ascii"), "plain ascii")
        for notAWord in ["plain", "=?UTF-8?B?", "=?ISO-8859-1?B?Y2Fm?=", "=?UTF-8?X?abc?=", "=?UTF-8?B?!!!?=", "=?UTF-8?Q?bad=Z?=",
            "=?UTF-8?Q?end=C?=", "=?UTF-8?B?/w==?="]
        {
            XCTAssertEqual(MIMEWord.decoded(notAWord), notAWord)  // kept as sent
        }
    }
}
