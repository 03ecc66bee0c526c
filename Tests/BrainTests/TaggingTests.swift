import HTTPTypes
import XCTest

@testable import Brain

/// Tag sets: the header and XML forms, S3's limits, the text the metadata keeps, and the
/// mutations that keep it (WAL and snapshot).
final class TaggingTests: XCTestCase {
    func testQueryTextRoundTripsAndDecodesAsFormsDo() throws {
        let tags = try XCTUnwrap(TagSet(queryText: "a=1&b=two+words&c=%C3%BC%26%3D&empty&d="))
        XCTAssertEqual(tags.tags.map(\.key), ["a", "b", "c", "empty", "d"])
        XCTAssertEqual(tags.tags.map(\.value), ["1", "two words", "ü&=", "", ""])
        XCTAssertEqual(TagSet(queryText: tags.queryText), tags)
        XCTAssertEqual(TagSet(queryText: "")?.tags, [])
        XCTAssertNil(TagSet(queryText: "a=%zz"))
    }

    func testLimits() throws {
        func tags(_ pairs: [(String, String)]) -> TagSet { TagSet(tags: pairs.map { TagSet.Tag(key: $0.0, value: $0.1) }) }
        XCTAssertNoThrow(try tags((0..<10).map { ("k\($0)", "v") }).check(tagsMax: TagSet.objectTagsMax))
        XCTAssertNoThrow(try tags([(String(repeating: "ü", count: 128), String(repeating: "é", count: 256))]).check(tagsMax: 10))
        for bad in [
            tags((0..<11).map { ("k\($0)", "v") }), tags([("", "v")]), tags([(String(repeating: "k", count: 129), "v")]),
            tags([("k", String(repeating: "v", count: 257))]), tags([("k", "1"), ("k", "2")]), tags([("AWS:x", "v")]),
        ] {
            XCTAssertThrowsError(try bad.check(tagsMax: TagSet.objectTagsMax)) { XCTAssertEqual(($0 as? S3Error)?.code, .invalidTag) }
        }
        XCTAssertNoThrow(try tags((0..<50).map { ("k\($0)", "v") }).check(tagsMax: TagSet.bucketTagsMax))
        var headers = HTTPFields()
        headers[TagSet.header] = "a=1&a=2"
        XCTAssertThrowsError(try TagSet.fromHeader(headers)) { XCTAssertEqual(($0 as? S3Error)?.code, .invalidTag) }
        XCTAssertNil(try TagSet.fromHeader(HTTPFields()))
    }

    func testTaggingMutationsRoundTripAndSnapshotsKeepBucketTags() throws {
        let mutations: [Mutation] = [
            .setObjectTagging(bucket: "b", key: "k", versionID: .null, tagging: "a=1"), .setObjectTagging(bucket: "b", key: "k", versionID: .null, tagging: ""),
            .setBucketTagging(bucket: "b", tagging: "env=prod"),
        ]
        for mutation in mutations { XCTAssertEqual(try MutationCodec.decode(MutationCodec.encode(mutation)), mutation) }

        var state = MetadataState()
        XCTAssertEqual(state.apply(.setBucketTagging(bucket: "b", tagging: "x=1")), .rejected(.noSuchBucket))
        _ = state.apply(.createBucket(name: "b", creationDateMs: 1))
        XCTAssertEqual(state.apply(.setObjectTagging(bucket: "b", key: "k", versionID: .null, tagging: "x=1")), .rejected(.noSuchKey))
        let object = ObjectRecord(size: 1, etag: "\"e\"", lastModifiedMs: 1, chunks: [])
        _ = state.apply(.putObject(bucket: "b", key: "k", object: object))
        XCTAssertEqual(state.apply(.setObjectTagging(bucket: "b", key: "k", versionID: .null, tagging: "x=1")), .applied)
        XCTAssertEqual(state.apply(.setBucketTagging(bucket: "b", tagging: "env=prod")), .applied)
        XCTAssertEqual(state.bucket("b")?.objects[ObjectKey("k")]?.tagging, "x=1")

        var rebuilt = MetadataState()
        for mutation in Snapshot.mutations(of: state) { _ = rebuilt.apply(mutation) }
        XCTAssertEqual(rebuilt.bucket("b")?.info.tagging, "env=prod")
        XCTAssertEqual(rebuilt.bucket("b")?.objects[ObjectKey("k")]?.tagging, "x=1")
    }
}
