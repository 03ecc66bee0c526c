import Foundation
import XCTest

@testable import Brain

/// A bucket's CORS rules: parsing and checks, matching, the WAL encoding and snapshots.
final class CORSTests: XCTestCase {
    private let document = """
        <CORSConfiguration><CORSRule><ID>app</ID><AllowedOrigin>https://*.example.com</AllowedOrigin>
        <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader>
        <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>60</MaxAgeSeconds></CORSRule>
        <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule></CORSConfiguration>
        """

    func testRulesMatchByOriginMethodAndHeaders() throws {
        let cors = try CORSConfiguration(parsing: try XMLNode.parse(Data(document.utf8)))
        XCTAssertEqual(cors.rule(origin: "https://a.example.com", method: "PUT", headers: ["x-amz-meta-k"])?.id, "app")
        XCTAssertNil(cors.rule(origin: "https://a.example.com", method: "PUT", headers: ["authorization"]))
        XCTAssertNil(cors.rule(origin: "http://a.example.com", method: "GET"))
        XCTAssertNotNil(cors.rule(origin: "http://anywhere", method: "HEAD"))
        XCTAssertNil(cors.rule(origin: "http://anywhere", method: "DELETE"))
        // What the WAL keeps parses back to the same rules.
        XCTAssertEqual(try CORSConfiguration(text: cors.xml), cors)
        for bad in [
            "<CORSConfiguration/>", "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
            "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>",
            "<CORSConfiguration><CORSRule><AllowedOrigin>*.*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
        ] {
            XCTAssertThrowsError(try CORSConfiguration(parsing: try XMLNode.parse(Data(bad.utf8))), bad)
        }
    }

    func testTheConfigurationTravelsThroughTheWALAndSnapshots() throws {
        let cors = try CORSConfiguration(parsing: try XMLNode.parse(Data(document.utf8)))
        for mutation in [Mutation.setBucketCors(bucket: "b", cors: cors.xml), .setBucketCors(bucket: "b", cors: "")] {
            XCTAssertEqual(try MutationCodec.decode(MutationCodec.encode(mutation)), mutation)
        }
        var state = MetadataState()
        _ = state.apply(.createBucket(name: "b", creationDateMs: 1))
        XCTAssertEqual(state.apply(.setBucketCors(bucket: "b", cors: cors.xml)), .applied)
        XCTAssertEqual(state.bucket("b")?.info.cors, cors)
        XCTAssertEqual(Snapshot.mutations(of: state).filter { if case .setBucketCors = $0 { true } else { false } }.count, 1)
        _ = state.apply(.setBucketCors(bucket: "b", cors: ""))
        XCTAssertNil(state.bucket("b")?.info.cors)
        XCTAssertEqual(state.apply(.setBucketCors(bucket: "none", cors: "")), .rejected(.noSuchBucket))
    }
}
