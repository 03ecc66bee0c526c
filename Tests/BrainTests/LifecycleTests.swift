import Foundation
import XCTest

@testable import Brain

/// Lifecycle rules: parsing and checks, what a rule decides at a given time, the day clock, and the
/// WAL encoding.
final class LifecycleTests: XCTestCase {
    private let clock = LifecycleClock(daySeconds: 10)
    private let document = """
        <LifecycleConfiguration>
        <Rule><ID>tmp</ID><Filter><And><Prefix>tmp/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>
        <ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status>
        <Expiration><Days>2</Days></Expiration></Rule>
        <Rule><ID>old</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status>
        <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>
        <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>
        <Rule><ID>off</ID><Prefix>x/</Prefix><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>
        </LifecycleConfiguration>
        """

    private func object(size: Int64, at ms: Int64, tags: String = "") -> ObjectRecord {
        var object = ObjectRecord(size: size, etag: "\"e\"", lastModifiedMs: ms, chunks: [], versionID: .random())
        object.headers = ObjectRecord.headers([], withTagging: tags)
        return object
    }

    func testRulesDecideByFilterAndDayBoundary() throws {
        let rules = try LifecycleConfiguration(parsing: try XMLNode.parse(Data(document.utf8)))
        XCTAssertEqual(try LifecycleConfiguration(text: rules.xml), rules)
        // Created at 3 s with 2 ten-second days: 23 s, rounded up to the next day boundary, 30 s.
        let match = object(size: 20, at: 3000, tags: "k=v")
        XCTAssertEqual(rules.expiration(of: ObjectKey("tmp/a"), match, clock: clock)?.atMs, 30_000)
        XCTAssertEqual(rules.expiration(of: ObjectKey("tmp/a"), match, clock: clock)?.ruleID, "tmp")
        XCTAssertNil(rules.expiration(of: ObjectKey("tmp/a"), object(size: 5, at: 3000, tags: "k=v"), clock: clock))
        XCTAssertNil(rules.expiration(of: ObjectKey("tmp/a"), object(size: 20, at: 3000), clock: clock))
        XCTAssertNil(rules.expiration(of: ObjectKey("other"), match, clock: clock))
        XCTAssertNil(rules.expiration(of: ObjectKey("x/1"), match, clock: clock))  // a disabled rule
        XCTAssertFalse(rules.removesLoneDeleteMarker(ObjectKey("a")))

        // Five noncurrent versions (newest first), noncurrent since 4, 3, ... 0 s: the two newest stay
        // whatever their age; each other goes a day after it became noncurrent, rounded up to the
        // next day boundary (the one since 0 s at 10 s, the others at 20 s).
        let older = (0..<5).map { (object(size: 1, at: 0), Int64(4 - $0) * 1000) }
        XCTAssertEqual(rules.expiredNoncurrent(ObjectKey("k"), older, nowMs: 9_999, clock: clock), [])
        XCTAssertEqual(
            rules.expiredNoncurrent(ObjectKey("k"), older, nowMs: 10_000, clock: clock).map(\.versionID), [older[4].0.versionID])
        XCTAssertEqual(
            rules.expiredNoncurrent(ObjectKey("k"), older, nowMs: 20_000, clock: clock).map(\.versionID),
            older.suffix(3).map(\.0.versionID))
        let upload = MultipartUpload(uploadID: "u", bucket: "b", key: "k", initiatedMs: 1000, headers: [], checksumAlgorithm: nil)
        XCTAssertFalse(rules.abortsUpload(upload, nowMs: 9_999, clock: clock))
        XCTAssertTrue(rules.abortsUpload(upload, nowMs: 20_000, clock: clock))
    }

    func testBadConfigurationsAreRefusedAndTheWALKeepsGoodOnes() throws {
        for bad in [
            "<LifecycleConfiguration/>",
            "<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter/></Rule></LifecycleConfiguration>",
            "<LifecycleConfiguration><Rule><Status>On</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>",
            "<LifecycleConfiguration><Rule><Status>Enabled</Status><Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>",
            "<LifecycleConfiguration><Rule><Status>Enabled</Status><Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>",
        ] {
            XCTAssertThrowsError(try LifecycleConfiguration(parsing: try XMLNode.parse(Data(bad.utf8))), bad)
        }
        let rules = try LifecycleConfiguration(parsing: try XMLNode.parse(Data(document.utf8)))
        let mutation = Mutation.setBucketLifecycle(bucket: "b", lifecycle: rules.xml)
        XCTAssertEqual(try MutationCodec.decode(MutationCodec.encode(mutation)), mutation)
        var state = MetadataState()
        _ = state.apply(.createBucket(name: "b", creationDateMs: 1))
        XCTAssertEqual(state.apply(mutation), .applied)
        XCTAssertEqual(state.bucket("b")?.info.lifecycle, rules)
        XCTAssertTrue(Snapshot.mutations(of: state).contains(mutation))
    }
}
