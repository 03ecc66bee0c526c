import XCTest

@testable import Brain

final class CannedACLTests: XCTestCase {
    func testACLMutationsRoundTripAndApply() throws {
        for mutation: Mutation in [
            .setBucketACL(bucket: "b", acl: .publicRead), .setObjectACL(bucket: "b", key: "k", versionID: .null, acl: .authenticatedRead),
        ] {
            XCTAssertEqual(try MutationCodec.decode(MutationCodec.encode(mutation)), mutation)
        }
        var bad = MutationCodec.encode(.setBucketACL(bucket: "b", acl: .private))
        bad[bad.count - 1] = 9
        XCTAssertThrowsError(try MutationCodec.decode(bad))

        var state = MetadataState()
        XCTAssertEqual(state.apply(.setBucketACL(bucket: "b", acl: .publicRead)), .rejected(.noSuchBucket))
        _ = state.apply(.createBucket(name: "b", creationDateMs: 1))
        XCTAssertEqual(state.apply(.setBucketACL(bucket: "b", acl: .publicReadWrite)), .applied)
        XCTAssertEqual(state.bucket("b")?.info.acl, .publicReadWrite)
        XCTAssertEqual(state.apply(.setObjectACL(bucket: "b", key: "k", versionID: .null, acl: .publicRead)), .rejected(.noSuchKey))
        let object = ObjectRecord(
            size: 1, etag: "\"e\"", lastModifiedMs: 1, headers: [StoredHeader(name: "content-type", value: "a/b")],
            chunks: [ChunkPlacement(id: .random(), length: 1, agents: ["a"])])
        _ = state.apply(.putObject(bucket: "b", key: "k", object: object))
        // Changing an ACL keeps the object's chunks: nothing becomes garbage.
        XCTAssertEqual(state.apply(.setObjectACL(bucket: "b", key: "k", versionID: .null, acl: .publicRead)), .applied(garbage: []))
        XCTAssertEqual(state.bucket("b")?.objects[ObjectKey("k")]?.acl, .publicRead)
        XCTAssertEqual(state.bucket("b")?.objects[ObjectKey("k")]?.chunks, object.chunks)
        _ = state.apply(.setObjectACL(bucket: "b", key: "k", versionID: .null, acl: .private))
        XCTAssertEqual(state.bucket("b")?.objects[ObjectKey("k")]?.headers, object.headers)
    }

    func testCannedACLsGrantWhatS3Documents() {
        XCTAssertEqual(CannedACL(header: "bucket-owner-full-control"), .private)
        XCTAssertNil(CannedACL(header: "log-delivery-write"))
        XCTAssertFalse(CannedACL.private.grantsRead(authenticated: true))
        XCTAssertTrue(CannedACL.publicRead.grantsRead(authenticated: false))
        XCTAssertFalse(CannedACL.publicRead.grantsWrite)
        XCTAssertTrue(CannedACL.publicReadWrite.grantsWrite)
        XCTAssertFalse(CannedACL.authenticatedRead.grantsRead(authenticated: false))
        XCTAssertTrue(CannedACL.authenticatedRead.grantsRead(authenticated: true))
        for acl in CannedACL.allCases {
            let xml = ACLHandlers.policyXML(acl)
            XCTAssertEqual(xml.components(separatedBy: "<Grant>").count - 1, 1 + ACLHandlers.groupGrants(acl).count)
        }
    }
}
