import Foundation
import XCTest

@testable import Brain

final class XMLRequestBodyTests: XCTestCase {
    private func parse(_ text: String) throws -> XMLNode { try XMLNode.parse(Data(text.utf8)) }

    func testDeleteBodyKeepsKeysExactlyAsSent() throws {
        let root = try parse("""
            <?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet> true </Quiet>
              <Object><Key> spaced key </Key></Object><!-- a comment -->
              <Object><Key>a&amp;b&lt;c&#x263A;<![CDATA[<raw>]]></Key></Object>
            </Delete>
            """)
        XCTAssertEqual(root.name, "Delete")
        XCTAssertEqual(root.child("Quiet")?.trimmedText, "true")
        XCTAssertEqual(root.all("Object").compactMap { $0.child("Key")?.text }, [" spaced key ", "a&b<c☺<raw>"])
    }

    func testMalformedDeepOrDTDBodiesAreRefused() {
        for body in [
            "<a></b>", "<a>&undefined;</a>", "", "just text", "<a><b></a>",
            String(repeating: "<a>", count: XMLNode.depthMax + 1) + String(repeating: "</a>", count: XMLNode.depthMax + 1),
            "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>",
            "<!DOCTYPE a SYSTEM \"http://127.0.0.1:1/evil.dtd\"><a/>",
        ] {
            XCTAssertThrowsError(try parse(body), body) { error in
                XCTAssertEqual((error as? S3Error)?.code, .malformedXML, body)
            }
        }
        let deepest = String(repeating: "<a>", count: XMLNode.depthMax) + String(repeating: "</a>", count: XMLNode.depthMax)
        XCTAssertNoThrow(try parse(deepest))
    }

    /// FoundationXML's XMLParser leaked a string per parse error (found by fuzzing: the S3 fuzz target
    /// ran out of memory); a stream of malformed bodies must not grow the brain.
    func testMalformedBodiesDoNotLeak() throws {
        let bodies = ["<Delete><Object><Key>a</Key></Obj", "<a></b>", "<a>&bogus;</a>"].map { Data($0.utf8) }
        for body in bodies { _ = try? XMLNode.parse(body) }
        let before = try residentBytes()
        for index in 0..<150_000 { _ = try? XMLNode.parse(bodies[index % bodies.count]) }
        let grown = try residentBytes() - before
        XCTAssertLessThan(grown, 4 << 20, "150,000 malformed bodies grew the process by \(grown) bytes")
    }

    private func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return try XCTUnwrap(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])) * 1024
    }
}
