import ClusterProtocol
import Foundation
import Logging
import LogStore
import XCTest

@testable import Brain

/// Object versions in the metadata: what each mutation does to a key's versions, listings with
/// delete markers, ListObjectVersions paging, the WAL encoding of format version 2, snapshots, and
/// a WAL of format version 1 replaying and upgrading.
final class VersioningTests: XCTestCase {
    private var directory: String!
    private let logger = Logger(label: "test")

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "versioning-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func object(_ size: Int64, _ versionID: VersionID = .null) -> ObjectRecord {
        ObjectRecord(
            size: size, etag: "\"e\(size)\"", lastModifiedMs: 5, headers: [StoredHeader(name: "content-type", value: "a/b")],
            chunks: [ChunkPlacement(id: .random(), length: UInt32(size), agents: ["agent-1"])], versionID: versionID)
    }

    private func object(_ size: Int64, _ versionID: VersionID = .null) -> ObjectRecord { Self.object(size, versionID) }

    private func garbage(_ outcome: MutationOutcome) -> [ChunkID] {
        guard case .applied(let garbage) = outcome else {
            XCTFail("rejected: \(outcome)")
            return []
        }
        return garbage.map(\.id)
    }

    private func versions(_ state: MetadataState, _ key: String) -> [String] {
        state.bucket("b")!.versions(of: ObjectKey(key)).map { ($0.isDeleteMarker ? "marker " : "") + $0.versionID.text }
    }

    func testVersionsAccumulateMarkersHideAndDeletingByIDPromotesTheNext() {
        var state = MetadataState()
        _ = state.apply(.createBucket(name: "b", creationDateMs: 1))
        let null = object(1)
        XCTAssertEqual(garbage(state.apply(.putObject(bucket: "b", key: "k", object: null))), [])
        _ = state.apply(.setBucketVersioning(bucket: "b", versioning: .enabled))
        let (a, b) = (VersionID.random(), VersionID.random())
        let first = object(2, a), second = object(3, b)
        XCTAssertEqual(garbage(state.apply(.putObject(bucket: "b", key: "k", object: first))), [])
        XCTAssertEqual(garbage(state.apply(.putObject(bucket: "b", key: "k", object: second))), [])
        XCTAssertEqual(versions(state, "k"), [b.text, a.text, "null"])
        XCTAssertEqual(state.bucket("b")!.current(ObjectKey("k")), second)

        let marker = VersionID.random()
        XCTAssertEqual(garbage(state.apply(.deleteObject(bucket: "b", key: "k", marker: marker, markerTimeMs: 9))), [])
        XCTAssertNil(state.bucket("b")!.current(ObjectKey("k")))
        XCTAssertEqual(versions(state, "k"), ["marker " + marker.text, b.text, a.text, "null"])
        XCTAssertEqual(state.bucket("b")!.version(ObjectKey("k"), a), first)

        // Deleting a version frees its chunks; deleting the latest makes the next one current.
        XCTAssertEqual(garbage(state.apply(.deleteVersion(bucket: "b", key: "k", versionID: a, bypassGovernance: false, nowMs: 0))), first.chunks.map(\.id))
        XCTAssertEqual(garbage(state.apply(.deleteVersion(bucket: "b", key: "k", versionID: marker, bypassGovernance: false, nowMs: 0))), [])
        XCTAssertEqual(state.bucket("b")!.current(ObjectKey("k")), second)
        XCTAssertEqual(state.apply(.deleteVersion(bucket: "b", key: "k", versionID: a, bypassGovernance: false, nowMs: 0)), .rejected(.noSuchVersion))

        // Suspended: the null version is replaced wherever it is, and a delete leaves a null marker.
        _ = state.apply(.setBucketVersioning(bucket: "b", versioning: .suspended))
        let newNull = object(4)
        XCTAssertEqual(garbage(state.apply(.putObject(bucket: "b", key: "k", object: newNull))), null.chunks.map(\.id))
        XCTAssertEqual(versions(state, "k"), ["null", b.text])
        XCTAssertEqual(
            garbage(state.apply(.deleteObject(bucket: "b", key: "k", marker: .null, markerTimeMs: 9))), newNull.chunks.map(\.id))
        XCTAssertEqual(versions(state, "k"), ["marker null", b.text])
        XCTAssertFalse(state.bucket("b")!.isEmpty)
        XCTAssertEqual(state.apply(.deleteBucket(name: "b")), .rejected(.bucketNotEmpty))
        _ = state.apply(.deleteVersion(bucket: "b", key: "k", versionID: .null, bypassGovernance: false, nowMs: 0))
        _ = state.apply(.deleteVersion(bucket: "b", key: "k", versionID: b, bypassGovernance: false, nowMs: 0))
        XCTAssertTrue(state.bucket("b")!.isEmpty)

        // A bucket that never had versioning: a delete removes the object, no marker.
        _ = state.apply(.createBucket(name: "plain", creationDateMs: 1))
        let plain = object(5)
        _ = state.apply(.putObject(bucket: "plain", key: "k", object: plain))
        XCTAssertEqual(
            garbage(state.apply(.deleteObject(bucket: "plain", key: "k", marker: .random(), markerTimeMs: 9))), plain.chunks.map(\.id))
        XCTAssertTrue(state.bucket("plain")!.isEmpty)
    }

    func testEveryVersionsChunksAreReferencedAndRepairMovesANoncurrentOnesReplicas() {
        var state = MetadataState()
        _ = state.apply(.createBucket(name: "b", creationDateMs: 1))
        _ = state.apply(.setBucketVersioning(bucket: "b", versioning: .enabled))
        let old = object(1, .random()), new = object(2, .random())
        _ = state.apply(.putObject(bucket: "b", key: "k", object: old))
        _ = state.apply(.putObject(bucket: "b", key: "k", object: new))
        var seen: [ChunkLocation: ChunkID] = [:]
        state.forEachChunkLocation { seen[$0] = $1.id }
        let oldLocation = ChunkLocation.object(bucket: "b", key: "k", version: old.versionID, index: 0)
        XCTAssertEqual(seen, [oldLocation: old.chunks[0].id, .object(bucket: "b", key: "k", version: new.versionID, index: 0): new.chunks[0].id])
        let moved = state.apply(.setChunkReplicas(
            location: oldLocation, chunkID: old.chunks[0].id, previousAgents: ["agent-1"], agents: ["agent-2"]))
        XCTAssertEqual(moved, .applied(garbage: [ChunkPlacement(id: old.chunks[0].id, length: 1, agents: ["agent-1"])]))
        XCTAssertEqual(state.bucket("b")!.version(ObjectKey("k"), old.versionID)?.chunks[0].agents, ["agent-2"])
        XCTAssertEqual(state.bucket("b")!.current(ObjectKey("k")), new)
    }

    func testListingsSkipDeleteMarkersAndPrefixesWithNothingCurrent() {
        var index = BucketIndex(info: BucketInfo(name: "b", creationDateMs: 1))
        for key in ["a", "dir/x", "dir2/y", "m", "z"] { _ = index.put(ObjectKey(key), object(1, .random())) }
        for key in ["dir/x", "m"] { _ = index.put(ObjectKey(key), .deleteMarker(.random(), timeMs: 2)) }
        XCTAssertEqual(index.list(prefix: "", delimiter: "", marker: nil, maxKeys: 10).objects.map(\.key.string), ["a", "dir2/y", "z"])
        let grouped = index.list(prefix: "", delimiter: "/", marker: nil, maxKeys: 10)
        XCTAssertEqual(grouped.commonPrefixes, ["dir2/"])
        XCTAssertEqual(grouped.objects.map(\.key.string), ["a", "z"])
        // A page that ends where only markers follow is not truncated.
        let page = index.list(prefix: "", delimiter: "", marker: .key("dir2/y"), maxKeys: 1)
        XCTAssertEqual(page.objects.map(\.key.string), ["z"])
        XCTAssertFalse(page.isTruncated)
    }

    func testVersionListingsPageToExactlyTheWholeListing() {
        var index = BucketIndex(info: BucketInfo(name: "b", creationDateMs: 1))
        for key in ["a", "b/1", "b/2", "c"] {
            for _ in 0..<3 { _ = index.put(ObjectKey(key), object(1, .random())) }
        }
        _ = index.put(ObjectKey("c"), .deleteMarker(.random(), timeMs: 2))
        for delimiter in ["", "/"] {
            let whole = index.listVersions(prefix: "", delimiter: delimiter, marker: nil, versionIDMarker: nil, maxKeys: 1000)
            XCTAssertFalse(whole.isTruncated)
            for size in 1...4 {
                var entries: [String] = [], prefixes: [String] = []
                var marker: ListMarker?, versionMarker: VersionID?
                while true {
                    let page = index.listVersions(prefix: "", delimiter: delimiter, marker: marker, versionIDMarker: versionMarker, maxKeys: size)
                    XCTAssertLessThanOrEqual(page.versions.count + page.commonPrefixes.count, size)
                    entries += page.versions.map { "\($0.key) \($0.version.versionID) \($0.isLatest)" }
                    prefixes += page.commonPrefixes
                    guard page.isTruncated, let next = page.nextKeyMarker else { break }
                    marker = ListMarker(v1Marker: next, prefix: "", delimiter: delimiter)
                    versionMarker = page.nextVersionIDMarker
                }
                XCTAssertEqual(entries, whole.versions.map { "\($0.key) \($0.version.versionID) \($0.isLatest)" }, "page size \(size)")
                XCTAssertEqual(prefixes, whole.commonPrefixes)
            }
            XCTAssertEqual(whole.versions.filter(\.isLatest).count, delimiter.isEmpty ? 4 : 2)
        }
    }

    func testVersionedMutationsRoundTripThroughTheCodec() throws {
        let id = VersionID(high: 0x0123_4567_89ab_cdef, low: 42)
        XCTAssertEqual(VersionID(text: id.text), id)
        XCTAssertEqual(id.text.count, VersionID.textCount)
        XCTAssertEqual(VersionID(text: "null"), .null)
        for bad in ["", "NULL", String(repeating: "0", count: 32), String(repeating: "g", count: 32), id.text.uppercased()] {
            XCTAssertNil(VersionID(text: bad), bad)
        }
        let mutations: [Mutation] = [
            .setBucketVersioning(bucket: "b", versioning: .enabled),
            .setBucketVersioning(bucket: "b", versioning: .suspended),
            .putObject(bucket: "b", key: "k", object: object(3, id)),
            .putObject(bucket: "b", key: "k", object: .deleteMarker(id, timeMs: 77)),
            .deleteObject(bucket: "b", key: "k", marker: id, markerTimeMs: 77),
            .deleteVersion(bucket: "b", key: "k", versionID: id, bypassGovernance: false, nowMs: 0),
            .setObjectACL(bucket: "b", key: "k", versionID: id, acl: .publicRead),
            .setObjectTagging(bucket: "b", key: "k", versionID: id, tagging: "a=1"),
            .setChunkReplicas(
                location: .object(bucket: "b", key: "k", version: id, index: 1), chunkID: .random(), previousAgents: ["a"], agents: ["b"]),
            .conditional(WriteCondition(mustNotExist: true), .putObject(bucket: "b", key: "k", object: object(3, id))),
        ]
        for mutation in mutations {
            XCTAssertEqual(try MutationCodec.decode(MutationCodec.encode(mutation)), mutation)
            XCTAssertTrue(UntrustedInput.walMutation(MutationCodec.encode(mutation)))
        }
        // Unversioned is where a bucket starts, never a state to set.
        var unversioned = MutationCodec.encode(.setBucketVersioning(bucket: "b", versioning: .enabled))
        unversioned[unversioned.count - 1] = 0
        XCTAssertThrowsError(try MutationCodec.decode(unversioned))
    }

    func testSnapshotsAndReplayKeepVersionsInOrder() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        _ = try await store.commit(.putObject(bucket: "b", key: "k", object: object(1)))
        _ = try await store.commit(.setBucketVersioning(bucket: "b", versioning: .enabled))
        for size in 2...4 { _ = try await store.commit(.putObject(bucket: "b", key: "k", object: object(Int64(size), .random()))) }
        _ = try await store.commit(.deleteObject(bucket: "b", key: "k", marker: .random(), markerTimeMs: 8))
        _ = try await store.commit(.putObject(bucket: "b", key: "other", object: object(5, .random())))
        let expected = store.read { versions($0, "k") }
        XCTAssertEqual(expected.count, 5)
        let replayed = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(replayed.read { versions($0, "k") }, expected)
        try await replayed.snapshotNow()
        let loaded = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(loaded.read { versions($0, "k") }, expected)
        XCTAssertEqual(loaded.versioning(bucket: "b"), .enabled)
        XCTAssertEqual(loaded.read { $0.bucket("b")!.versions(of: ObjectKey("k")) }, store.read { $0.bucket("b")!.versions(of: ObjectKey("k")) })
    }

    /// The fuzz corpus's seeds of format version 2 are mutations that decode (and round-trip), so
    /// that fuzzing starts from the layouts as they are.
    func testTheFuzzSeedsOfFormatVersion2Decode() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../Fuzz/Corpus/FuzzWALAndSnapshot")
        let seeds = try FileManager.default.contentsOfDirectory(atPath: corpus.path).filter { $0.hasPrefix("wal-v2-") }
        XCTAssertGreaterThanOrEqual(seeds.count, 8)
        for seed in seeds {
            let bytes = Array(try Data(contentsOf: corpus.appendingPathComponent(seed)))
            XCTAssertEqual(bytes.first, 0, seed)  // the fuzz target's selector: a WAL payload
            XCTAssertTrue(UntrustedInput.walMutation(Array(bytes.dropFirst())), seed)
        }
    }

    /// A brain of the previous version wrote its WAL in format version 1: it replays, and the next
    /// snapshot holds it in the current format.
    func testAWALOfFormatVersion1ReplaysAndIsUpgradedByTheNextSnapshot() async throws {
        let plain = object(7)
        // Format 1 payloads: the tag first; createBucket, putObject (object without version id), setObjectACL (no version id).
        let create: [UInt8] = [1, 0, 1, UInt8(ascii: "b")] + [0, 0, 0, 0, 0, 0, 0, 1]
        var put = MutationCodec.encode(.putObject(bucket: "b", key: "k", object: plain))
        put.removeFirst()  // the format version byte
        put.removeSubrange(7..<24)  // the version id and flags after tag, bucket and key
        let acl: [UInt8] = [19, 0, 1, UInt8(ascii: "b"), 0, 1, UInt8(ascii: "k"), CannedACL.publicRead.rawValue]
        XCTAssertEqual(try MutationCodec.decode(put), .putObject(bucket: "b", key: "k", object: plain))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var wal: [UInt8] = []
        for payload in [create, put, acl] { wal += Record(type: .walMutation, payload: payload).encoded() }
        try Data(wal).write(to: URL(fileURLWithPath: directory + "/wal-00000001.log"))

        let store = try MetadataStore(directory: directory, logger: logger)
        var expected = plain
        expected.headers = ObjectRecord.headers(plain.headers, withACL: .publicRead)
        XCTAssertEqual(store.object(bucket: "b", key: "k"), expected)
        XCTAssertEqual(store.versioning(bucket: "b"), .unversioned)
        try await store.snapshotNow()
        let snapshot = try FileManager.default.contentsOfDirectory(atPath: directory).first { $0.hasSuffix(".snap") }!
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + snapshot)))
        XCTAssertEqual(bytes[RecordFormat.headerByteCount], Snapshot.formatVersion)
        XCTAssertEqual(try MetadataStore(directory: directory, logger: logger).object(bucket: "b", key: "k"), expected)
    }
}
