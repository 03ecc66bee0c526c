import ClusterProtocol
import Foundation
import Logging
import LogStore
import XCTest

@testable import Brain

final class MetadataStoreTests: XCTestCase {
    private var directory: String!
    private let logger = Logger(label: "test")

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "metadata-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func object(_ size: Int64) -> ObjectRecord { Self.object(size) }

    private static func object(_ size: Int64) -> ObjectRecord {
        ObjectRecord(
            size: size, etag: ObjectRecord.etag(md5: Array(repeating: 0xAB, count: 16)), lastModifiedMs: 1_700_000_000_123,
            headers: [StoredHeader(name: "content-type", value: "text/plain"), StoredHeader(name: "x-amz-meta-a", value: "b")],
            checksum: StoredChecksum(algorithm: .crc32, value: "AAAAAA=="),
            chunks: [ChunkPlacement(id: .random(), length: UInt32(size), agents: ["agent-1", "agent-2"])])
    }

    func testMutationsRoundTripThroughTheCodec() throws {
        let mutations: [Mutation] = [
            .createBucket(name: "b", creationDateMs: 42),
            .putObject(bucket: "b", key: "ünï/köy", object: object(10)),
            .deleteObject(bucket: "b", key: "k", marker: .null, markerTimeMs: 0),
            .deleteBucket(name: "b"),
            .createUpload(MultipartUpload(
                uploadID: "u1", bucket: "b", key: "k", initiatedMs: 7, headers: [StoredHeader(name: "content-type", value: "x/y")],
                checksumAlgorithm: .sha256)),
            .putPart(uploadID: "u1", partNumber: 3, part: PartRecord(
                size: 5, etag: "\"e\"", lastModifiedMs: 9, checksum: "c", chunks: object(5).chunks)),
            .completeUpload(uploadID: "u1", partNumbers: [1, 3], partETags: ["\"a\"", "\"e\""], object: object(9)),
            .abortUpload(uploadID: "u1"),
            .registerAgent(AgentMember(clientID: "agent-7", zone: "rack-2")),
            .setChunkReplicas(
                location: .object(bucket: "b", key: "k", version: .null, index: 3), chunkID: .random(), previousAgents: ["a"], agents: ["a", "b"]),
            .setChunkReplicas(
                location: .part(uploadID: "u", partNumber: 2, index: 0), chunkID: .random(), previousAgents: ["d"], agents: ["c"]),
            .setAgentDraining(clientID: "agent-7", draining: true),
            .removeAgent(clientID: "agent-7"),
            // Larger than the encoder's first buffer: serialized again at the size it counted.
            .putObject(bucket: "b", key: String(repeating: "k", count: 1000), object: ObjectRecord(
                size: 1, etag: "\"e\"", lastModifiedMs: 2,
                chunks: (0..<200).map { _ in ChunkPlacement(id: .random(), length: 3, agents: ["agent-1", "agent-2"]) })),
        ]
        for mutation in mutations {
            XCTAssertEqual(try MutationCodec.decode(MutationCodec.encode(mutation)), mutation)
            // The record serialized in place is the record framed the general way.
            XCTAssertEqual(try MutationCodec.encodeRecord(mutation), Record(type: .walMutation, payload: MutationCodec.encode(mutation)).encoded())
        }
        XCTAssertThrowsError(try MutationCodec.decode([3, 0, 1]))
    }

    /// The bytes docs/formats.md specifies, written out by hand: WAL files from earlier versions
    /// must keep replaying, whatever the encoder is made of.
    func testAPutObjectIsEncodedByteForByteAsSpecified() throws {
        let etag = "\"" + String(repeating: "ab", count: 16) + "-2\""
        let chunk = ChunkPlacement(id: ChunkID(high: 1, low: 2), length: 3, agents: ["a"])
        var object = ObjectRecord(
            size: 5, etag: etag, lastModifiedMs: 6, headers: [StoredHeader(name: "n", value: "v")], partSizes: [5], chunks: [chunk])
        var fields: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 5] + [0, 36] + Array(etag.utf8) + [0, 0, 0, 0, 0, 0, 0, 6]
        fields += [0, 1, 0, 1, UInt8(ascii: "n"), 0, 1, UInt8(ascii: "v")] + [0]  // headers; no checksum
        fields += [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5]  // part sizes
        fields += [0, 0, 0, 1] + [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2] + [0, 0, 0, 3] + [1, 0, 1, UInt8(ascii: "a")]
        // Format version 1 (no version byte, no version id): the null version.
        let version1: [UInt8] = [3, 0, 1, UInt8(ascii: "b"), 0, 1, UInt8(ascii: "k")] + fields
        XCTAssertEqual(try MutationCodec.decode(version1), .putObject(bucket: "b", key: "k", object: object))
        // Format version 2: 0x82, the tag, then the version id and flags before the same fields.
        object.versionID = VersionID(high: 7, low: 8)
        var version2: [UInt8] = [0x82, 3, 0, 1, UInt8(ascii: "b"), 0, 1, UInt8(ascii: "k")]
        version2 += [0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 8] + [0] + fields
        XCTAssertEqual(MutationCodec.encode(.putObject(bucket: "b", key: "k", object: object)), version2)
        XCTAssertEqual(try MutationCodec.decode(version2), .putObject(bucket: "b", key: "k", object: object))
        // A format this brain does not know is refused, not guessed at.
        version2[0] = 0x83
        XCTAssertThrowsError(try MutationCodec.decode(version2))
    }

    func testReplayRebuildsTheStateThatWasAcknowledged() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        let outcome1 = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        XCTAssertEqual(outcome1, .applied)
        let outcome2 = try await store.commit(.createBucket(name: "b", creationDateMs: 2))
        XCTAssertEqual(outcome2, .rejected(.bucketAlreadyExists))
        let outcome3 = try await store.commit(.putObject(bucket: "b", key: "x", object: object(5)))
        XCTAssertEqual(outcome3, .applied)
        let outcome4 = try await store.commit(.putObject(bucket: "b", key: "y", object: object(6)))
        XCTAssertEqual(outcome4, .applied)
        let outcome5 = try await store.commit(.deleteBucket(name: "b"))
        XCTAssertEqual(outcome5, .rejected(.bucketNotEmpty))
        _ = try await store.commit(.deleteObject(bucket: "b", key: "x", marker: .null, markerTimeMs: 0))
        let outcome6 = try await store.commit(.putObject(bucket: "missing", key: "z", object: object(1)))
        XCTAssertEqual(outcome6, .rejected(.noSuchBucket))

        let replayed = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(replayed.buckets.map(\.name), ["b"])
        XCTAssertEqual(replayed.buckets.first?.creationDateMs, 1)
        XCTAssertNil(replayed.object(bucket: "b", key: "x"))
        XCTAssertEqual(replayed.object(bucket: "b", key: "y"), store.object(bucket: "b", key: "y"))
    }

    func testTornWALTailIsTruncatedAndCorruptionBeforeItRefusesToStart() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.createBucket(name: "first", creationDateMs: 1))
        _ = try await store.commit(.createBucket(name: "second", creationDateMs: 2))
        let path = store.walPath
        XCTAssertEqual(try WALFileTesting.fileSize(path), store.walFileBytes, "the file is zero-filled ahead of the records")
        let end = try WALFileTesting.recordsEnd(path)

        // In a zero-filled file, a record torn by a crash has zeros where its last bytes were due.
        try WALFileTesting.overwrite(path, at: end - 3, with: [0, 0, 0])
        XCTAssertEqual(try MetadataStore(directory: directory, logger: logger).buckets.map(\.name), ["first"])
        XCTAssertEqual(try WALFileTesting.fileSize(path), store.walFileBytes, "zero-filled again after the cut")
        XCTAssertLessThan(try WALFileTesting.recordsEnd(path), end - 3)

        // A file without the zeros (written so, or cut short) tears by ending early.
        _ = try await MetadataStore(directory: directory, logger: logger).commit(.createBucket(name: "second", creationDateMs: 2))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(try WALFileTesting.recordsEnd(path) - 3))
        try handle.close()
        XCTAssertEqual(try MetadataStore(directory: directory, logger: logger).buckets.map(\.name), ["first"])

        let reopened = try MetadataStore(directory: directory, logger: logger)
        _ = try await reopened.commit(.createBucket(name: "third", creationDateMs: 3))
        try WALFileTesting.overwrite(path, at: 30, with: [0xFF])
        XCTAssertThrowsError(try MetadataStore(directory: directory, logger: logger)) { error in
            XCTAssertTrue("\(error)".contains("offset 0"), "\(error)")
        }
    }

    /// A WAL over `RecordPipeline.threadedBytesMin` is read on a second thread: it must replay to
    /// the same state, a torn tail must still be cut, and damage deep inside must still refuse the
    /// start at its offset.
    func testALargeWALReplaysThroughThePipelineAndTornTailsAndDamageAreStillFound() async throws {
        let store = try MetadataStore(directory: directory, logger: logger, snapshotAfterWALBytes: .max)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        let count = 30_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<16 {
                group.addTask {
                    for n in stride(from: writer, to: count, by: 16) {
                        _ = try await store.commit(.putObject(bucket: "b", key: "key-\(n)", object: Self.object(Int64(n))))
                    }
                }
            }
            try await group.waitForAll()
        }
        _ = try await store.commit(.deleteObject(bucket: "b", key: "key-7", marker: .null, markerTimeMs: 0))
        let path = store.walPath
        let size = try WALFileTesting.recordsEnd(path)
        XCTAssertGreaterThan(size, RecordPipeline.threadedBytesMin)
        let expected = store.read { $0.bucket("b")?.objects.count }
        XCTAssertEqual(expected, count - 1)

        XCTAssertEqual(try MetadataStore(directory: directory, logger: logger).read { $0.bucket("b")?.objects.count }, expected)
        XCTAssertEqual(try MetadataStore(directory: directory, logger: logger).object(bucket: "b", key: "key-29999"), store.object(bucket: "b", key: "key-29999"))

        try WALFileTesting.overwrite(path, at: size, with: RecordFormat.magic + [1, 2, 3])  // a torn record in the zeros
        XCTAssertEqual(try MetadataStore(directory: directory, logger: logger).read { $0.bucket("b")?.objects.count }, expected)
        XCTAssertEqual(try WALFileTesting.recordsEnd(path), size, "the torn tail was cut")
        XCTAssertEqual(try WALFileTesting.fileSize(path), store.walFileBytes)

        try WALFileTesting.overwrite(path, at: size / 2, with: [0xFF, 0xFE, 0xFD, 0xFC])
        XCTAssertThrowsError(try MetadataStore(directory: directory, logger: logger)) { error in
            guard case MetadataError.corruptLog(let damagedPath, let offset, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(damagedPath, path)
            XCTAssertLessThanOrEqual(offset, Int64(size / 2))
            XCTAssertGreaterThan(offset, Int64(size / 2) - 1024, "the offset of the damaged record, not an earlier one")
        }
    }

    func testMultipartUploadCompletesOnlyWithUnchangedPartsAndFreesTheRest() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        _ = try await store.commit(.createUpload(MultipartUpload(
            uploadID: "u", bucket: "b", key: "k", initiatedMs: 1, headers: [], checksumAlgorithm: nil)))
        let part1 = PartRecord(size: 1, etag: "\"1\"", lastModifiedMs: 1, checksum: nil, chunks: object(1).chunks)
        let part2 = PartRecord(size: 2, etag: "\"2\"", lastModifiedMs: 1, checksum: nil, chunks: object(2).chunks)
        let part2Again = PartRecord(size: 2, etag: "\"2b\"", lastModifiedMs: 2, checksum: nil, chunks: object(2).chunks)
        _ = try await store.commit(.putPart(uploadID: "u", partNumber: 1, part: part1))
        _ = try await store.commit(.putPart(uploadID: "u", partNumber: 2, part: part2))
        let replacedPart = try await store.commit(.putPart(uploadID: "u", partNumber: 2, part: part2Again))
        XCTAssertEqual(replacedPart, .applied(garbage: part2.chunks))
        var completed = object(2)
        completed.chunks = part2.chunks
        let stale = try await store.commit(.completeUpload(uploadID: "u", partNumbers: [2], partETags: ["\"2\""], object: completed))
        XCTAssertEqual(stale, .rejected(.invalidPart))
        // Same ETag as the current part but the replaced part's chunks: still refused.
        let sameETagOldChunks = try await store.commit(
            .completeUpload(uploadID: "u", partNumbers: [2], partETags: ["\"2b\""], object: completed))
        XCTAssertEqual(sameETagOldChunks, .rejected(.invalidPart))
        completed.chunks = part2Again.chunks
        let done = try await store.commit(.completeUpload(uploadID: "u", partNumbers: [2], partETags: ["\"2b\""], object: completed))
        XCTAssertEqual(done, .applied(garbage: part1.chunks))
        XCTAssertNil(store.upload("u"))
        let aborted = try await store.commit(.abortUpload(uploadID: "u"))
        XCTAssertEqual(aborted, .rejected(.noSuchUpload))
        let replayed = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(replayed.object(bucket: "b", key: "k"), store.object(bucket: "b", key: "k"))
        XCTAssertNil(replayed.upload("u"))
    }

    func testRepairReplacesReplicasOnlyOfTheChunkItSawAndFreesTheDroppedCopies() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        let original = object(4)
        _ = try await store.commit(.putObject(bucket: "b", key: "k", object: original))
        let chunk = original.chunks[0]
        let location = ChunkLocation.object(bucket: "b", key: "k", version: .null, index: 0)
        let moved = try await store.commit(
            .setChunkReplicas(location: location, chunkID: chunk.id, previousAgents: chunk.agents, agents: ["agent-2", "agent-3"]))
        XCTAssertEqual(moved, .applied(garbage: [ChunkPlacement(id: chunk.id, length: chunk.length, agents: ["agent-1"])]))
        XCTAssertEqual(store.object(bucket: "b", key: "k")?.chunks[0].agents, ["agent-2", "agent-3"])
        // A second mover that started from the old replica list loses: compare-and-set.
        let raced = try await store.commit(
            .setChunkReplicas(location: location, chunkID: chunk.id, previousAgents: chunk.agents, agents: ["agent-4"]))
        XCTAssertEqual(raced, .rejected(.staleChunk))
        // The object was overwritten meanwhile: a repair of its old chunk must not touch the new one.
        _ = try await store.commit(.putObject(bucket: "b", key: "k", object: object(5)))
        let stale = try await store.commit(
            .setChunkReplicas(location: location, chunkID: chunk.id, previousAgents: ["agent-2", "agent-3"], agents: ["agent-9"]))
        XCTAssertEqual(stale, .rejected(.staleChunk))
        _ = try await store.commit(.registerAgent(AgentMember(clientID: "agent-2", zone: "z")))
        _ = try await store.commit(.setAgentDraining(clientID: "agent-2", draining: true))
        // Re-registering (a reconnect) keeps the drain.
        _ = try await store.commit(.registerAgent(AgentMember(clientID: "agent-2", zone: "z")))
        let replayed = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(replayed.member("agent-2")?.draining, true)
        XCTAssertEqual(replayed.object(bucket: "b", key: "k"), store.object(bucket: "b", key: "k"))
    }

    func testConcurrentCommitsApplyInLogOrder() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    _ = try await store.commit(.putObject(bucket: "b", key: "same", object: Self.object(Int64(i))))
                }
            }
            try await group.waitForAll()
        }
        // Whatever order the commits raced in, a replay must land on the object clients see now.
        let replayed = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(replayed.object(bucket: "b", key: "same"), store.object(bucket: "b", key: "same"))
    }
}

final class BucketIndexTests: XCTestCase {
    private func index(_ keys: [String]) -> BucketIndex {
        var index = BucketIndex(info: BucketInfo(name: "b", creationDateMs: 0))
        for key in keys {
            _ = index.put(ObjectKey(key), ObjectRecord(size: 0, etag: "\"\"", lastModifiedMs: 0, chunks: []))
        }
        return index
    }

    func testKeysListInUTF8ByteOrder() {
        let page = index(["b", "a", "é", "Z", "e\u{301}"]).list(prefix: "", delimiter: "", marker: nil, maxKeys: 10)
        XCTAssertEqual(page.objects.map(\.key.string), ["Z", "a", "b", "e\u{301}", "é"])
    }

    func testDelimiterGroupsCommonPrefixesAndPagesAcrossThem() {
        let idx = index(["a/1", "a/2", "a/3", "b", "c/x/1", "c/y", "d"])
        let first = idx.list(prefix: "", delimiter: "/", marker: nil, maxKeys: 2)
        XCTAssertEqual(first.commonPrefixes, ["a/"])
        XCTAssertEqual(first.objects.map(\.key.string), ["b"])
        XCTAssertTrue(first.isTruncated)
        let second = idx.list(prefix: "", delimiter: "/", marker: first.resumeMarker, maxKeys: 2)
        XCTAssertEqual(second.commonPrefixes, ["c/"])
        XCTAssertEqual(second.objects.map(\.key.string), ["d"])
        XCTAssertFalse(second.isTruncated)
        let resumedAfterPrefix = idx.list(prefix: "", delimiter: "/", marker: .commonPrefix("a/"), maxKeys: 10)
        XCTAssertEqual(resumedAfterPrefix.commonPrefixes, ["c/"])
        let nested = idx.list(prefix: "c/", delimiter: "/", marker: nil, maxKeys: 10)
        XCTAssertEqual(nested.commonPrefixes, ["c/x/"])
        XCTAssertEqual(nested.objects.map(\.key.string), ["c/y"])
    }

    func testStartAfterAndPrefixBoundTheListing() {
        let idx = index(["p/a", "p/b", "p/c", "q"])
        let page = idx.list(prefix: "p/", delimiter: "", marker: .key("p/a"), maxKeys: 10)
        XCTAssertEqual(page.objects.map(\.key.string), ["p/b", "p/c"])
        XCTAssertFalse(page.isTruncated)
    }

    func testV1MarkerThatIsACommonPrefixResumesAfterEverythingUnderIt() {
        let idx = index(["a/1", "a/2", "b/1", "c"])
        let marker = ListMarker(v1Marker: "a/", prefix: "", delimiter: "/")
        XCTAssertEqual(marker, .commonPrefix("a/"))
        let page = idx.list(prefix: "", delimiter: "/", marker: marker, maxKeys: 1)
        XCTAssertEqual(page.commonPrefixes, ["b/"])
        XCTAssertEqual(ListMarker(v1Marker: "a/1", prefix: "", delimiter: "/"), .key("a/1"))
        XCTAssertEqual(ListMarker(v1Marker: "a/", prefix: "", delimiter: ""), .key("a/"))
    }
}

final class SortedObjectsTests: XCTestCase {
    private static func object(_ size: Int64) -> ObjectRecord {
        ObjectRecord(size: size, etag: "\"e\"", lastModifiedMs: 1, chunks: [])
    }

    /// Random puts (new and overwriting), removes and in-place changes must leave the same
    /// contents as a Dictionary, walked in UTF-8 byte order.
    func testMatchesADictionaryAcrossBlockSplits() {
        var objects = SortedObjects()
        var reference: [String: Int64] = [:]
        var rng = SystemRandomNumberGenerator()
        for round in 0..<8000 {
            let key = "k\(UInt16.random(in: 0...4000, using: &rng))"
            switch round % 4 {
            case 0:
                XCTAssertEqual(objects.removeValue(forKey: ObjectKey(key))?.size, reference.removeValue(forKey: key))
            case 1:
                let found = objects.modify(ObjectKey(key)) { $0.size += 1 }
                XCTAssertEqual(found, reference[key] != nil)
                reference[key]? += 1
            default:
                let size = Int64(round)
                XCTAssertEqual(objects.updateValue(Self.object(size), forKey: ObjectKey(key))?.size, reference.updateValue(size, forKey: key))
            }
            XCTAssertEqual(objects[ObjectKey(key)]?.size, reference[key])
        }
        let walked = objects.map { ($0.key.string, $0.object.size) }
        let expected = reference.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
        XCTAssertEqual(walked.map(\.0), expected.map(\.key))
        XCTAssertEqual(walked.map(\.1), expected.map(\.value))
        XCTAssertEqual(objects.count, reference.count)
        XCTAssertGreaterThan(reference.count, SortedObjects.blockEntriesMax * 2, "test must cross block splits")
    }
}

final class SnapshotTests: XCTestCase {
    private var directory: String!
    private let logger = Logger(label: "test")

    private static func object(_ size: Int64) -> ObjectRecord {
        ObjectRecord(
            size: size, etag: "\"e\"", lastModifiedMs: 5, headers: [StoredHeader(name: "content-type", value: "a/b")],
            chunks: [ChunkPlacement(id: .random(), length: UInt32(size), agents: ["agent-1"])])
    }

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "snapshot-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func object(_ size: Int64) -> ObjectRecord { Self.object(size) }

    private func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory).sorted() }

    private func everything(_ store: MetadataStore) -> [String] {
        store.read { state in
            var lines = state.bucketInfos.map { "bucket \($0.name)" }
            state.forEachChunkLocation { location, chunk in lines.append("\(location) \(chunk.id) \(chunk.agents)") }
            lines += state.agents.values.map { "agent \($0.clientID) \($0.draining)" }
            lines += state.uploads.values.map { "upload \($0.uploadID) \($0.parts.count)" }
            return lines.sorted()
        }
    }

    /// A snapshot over `RecordPipeline.threadedBytesMin` is decoded on a second thread: it must load
    /// the same state, and a damaged record deep inside must still refuse it (and stop the thread).
    func testLargeSnapshotsLoadThroughThePipelineAndDamageIsStillFound() throws {
        var state = MetadataState()
        _ = state.apply(.createBucket(name: "big", creationDateMs: 1))
        for i in 0..<40_000 {
            _ = state.apply(.putObject(bucket: "big", key: "key-\(i)", object: object(Int64(i))))
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Snapshot.write(state, generation: 3, directory: directory)
        let path = directory + "/" + Snapshot.fileName(generation: 3)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertGreaterThan(Int64(bytes.count), RecordPipeline.threadedBytesMin)
        let loaded = try Snapshot.load(path: path, generation: 3)
        XCTAssertEqual(Array(loaded.bucket("big")!.objects.map(\.key)), Array(state.bucket("big")!.objects.map(\.key)))
        XCTAssertEqual(loaded.bucket("big")!.objects.map(\.object), state.bucket("big")!.objects.map(\.object))
        bytes[bytes.count * 2 / 3] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Snapshot.load(path: path, generation: 3)) { error in
            XCTAssertTrue("\(error)".contains("unusable"), "\(error)")
        }
    }

    func testRecoveryFromSnapshotPlusWALTailRebuildsTheSameStateAndOldFilesGo() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.registerAgent(AgentMember(clientID: "agent-1", zone: "z")))
        _ = try await store.commit(.setAgentDraining(clientID: "agent-1", draining: true))
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        for i in 0..<50 { _ = try await store.commit(.putObject(bucket: "b", key: "k\(i)", object: object(Int64(i + 1)))) }
        _ = try await store.commit(.createUpload(MultipartUpload(
            uploadID: "u", bucket: "b", key: "m", initiatedMs: 1, headers: [], checksumAlgorithm: .crc32)))
        _ = try await store.commit(.putPart(uploadID: "u", partNumber: 1, part: PartRecord(
            size: 1, etag: "\"p\"", lastModifiedMs: 1, checksum: "x", chunks: object(1).chunks)))
        try await store.snapshotNow()
        XCTAssertEqual(try files(), ["snapshot-00000002.snap", "wal-00000001.log", "wal-00000002.log"])
        _ = try await store.commit(.deleteObject(bucket: "b", key: "k3", marker: .null, markerTimeMs: 0))
        try await store.snapshotNow()
        _ = try await store.commit(.putObject(bucket: "b", key: "after", object: object(9)))
        try await store.snapshotNow()
        // Two snapshots are kept, and the WAL from the older of them on.
        XCTAssertEqual(
            try files(), ["snapshot-00000003.snap", "snapshot-00000004.snap", "wal-00000003.log", "wal-00000004.log"])
        let reopened = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(everything(reopened), everything(store))
        XCTAssertNil(reopened.object(bucket: "b", key: "k3"))
        XCTAssertEqual(reopened.member("agent-1")?.draining, true)
    }

    func testADamagedNewestSnapshotFallsBackToThePreviousOne() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        try await store.snapshotNow()
        _ = try await store.commit(.putObject(bucket: "b", key: "one", object: object(1)))
        try await store.snapshotNow()
        _ = try await store.commit(.putObject(bucket: "b", key: "two", object: object(2)))
        let newest = directory + "/snapshot-00000003.snap"
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: newest))
        try handle.seek(toOffset: 40)
        try handle.write(contentsOf: Data([0xEE]))
        try handle.close()
        let reopened = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(everything(reopened), everything(store))
    }

    func testWithEverySnapshotDamagedAndTheFirstWALGoneTheRefusalNamesTheSnapshots() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        try await store.snapshotNow()
        _ = try await store.commit(.putObject(bucket: "b", key: "one", object: object(1)))
        try await store.snapshotNow()
        for name in ["snapshot-00000002.snap", "snapshot-00000003.snap"] {
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: directory + "/" + name))
            try handle.seek(toOffset: 30)
            try handle.write(contentsOf: Data([0xEE]))
            try handle.close()
        }
        XCTAssertThrowsError(try MetadataStore(directory: directory, logger: logger)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("snapshot-00000002.snap") && text.contains("snapshot-00000003.snap"), text)
            XCTAssertTrue(text.contains("before generation 2 was already removed"), text)
        }
    }

    func testAnUnfinishedSnapshotLeftByACrashIsRemovedAtStartup() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        try await store.snapshotNow()
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/snapshot-00000003.snap.tmp", contents: Data([1, 2, 3])))
        let reopened = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(try files(), ["snapshot-00000002.snap", "wal-00000001.log", "wal-00000002.log"])
        XCTAssertEqual(everything(reopened), everything(store))
    }

    /// Each WAL file is zero-filled ahead of its records. Three quarters full, the store moves to a
    /// new generation filled beforehand and cuts the old file's unused zeros; a snapshot still
    /// comes once the WAL across generations passes its threshold, and all of it replays.
    func testWALFilesAreZeroFilledAheadAndSwitchedBeforeTheirZerosRunOut() async throws {
        let fileBytes: Int64 = 64 << 10
        let snapshotAfter: Int64 = 400 << 10
        let store = try MetadataStore(
            directory: directory, logger: logger, snapshotAfterWALBytes: snapshotAfter, walPreallocationBytes: fileBytes)
        XCTAssertEqual(try WALFileTesting.fileSize(store.walPath), fileBytes)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        var committed = 0
        func commitSome() async throws {
            guard committed < 20_000 else {
                XCTFail("the store did not switch files or snapshot")
                throw CancellationError()
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in committed..<committed + 16 {
                    group.addTask { _ = try await store.commit(.putObject(bucket: "b", key: "k\(n % 3000)", object: Self.object(Int64(n)))) }
                }
                try await group.waitForAll()
            }
            committed += 16
        }
        func walFiles() throws -> [String] { try files().filter { $0.hasPrefix("wal-") } }

        while try walFiles().count < 5 { try await commitSome() }
        await store.waitForWALSwitch()
        XCTAssertFalse(try files().contains { $0.hasSuffix(".snap") }, "no snapshot before 400 KiB of WAL")
        XCTAssertFalse(try files().contains(MetadataStore.nextWALFileName))
        for name in try walFiles().dropLast() {
            let path = directory + "/" + name
            let end = try WALFileTesting.recordsEnd(path)
            XCTAssertEqual(try WALFileTesting.fileSize(path), end, "\(name): the unused zeros were cut")
            XCTAssertGreaterThanOrEqual(end, fileBytes / 4 * 3, name)
        }
        XCTAssertEqual(try WALFileTesting.fileSize(store.walPath), fileBytes)

        // No file comes near 400 KiB: the snapshot comes from the WAL counted across them.
        while !(try files().contains { $0.hasSuffix(".snap") }) { try await commitSome() }
        try await store.snapshotNow()  // waits for the one under way, then makes one more
        let wals = try walFiles()
        XCTAssertEqual(try WALFileTesting.recordsEnd(store.walPath), 0)

        // A crash between a switch and the cut leaves zeros after an older file's records; a crash
        // while the next file was being filled leaves that file. Neither stops a restart.
        let older = directory + "/" + wals[wals.count - 2]
        try WALFileTesting.overwrite(older, at: try WALFileTesting.fileSize(older), with: [UInt8](repeating: 0, count: 5000))
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/" + MetadataStore.nextWALFileName, contents: Data([1, 2])))
        let reopened = try MetadataStore(
            directory: directory, logger: logger, snapshotAfterWALBytes: snapshotAfter, walPreallocationBytes: fileBytes)
        XCTAssertFalse(try files().contains(MetadataStore.nextWALFileName))
        XCTAssertEqual(reopened.read { $0.bucket("b")?.objects.count }, min(committed, 3000))
        for n in [0, 1499, 2999] {
            XCTAssertEqual(reopened.object(bucket: "b", key: "k\(n)"), store.object(bucket: "b", key: "k\(n)"))
        }
    }

    /// A commit that saw its file three quarters full may return after another commit's switch
    /// has finished: its request to switch must then be dropped, not switch again away from the
    /// new, nearly empty file (CI once saw such a file cut to 0 bytes).
    func testASwitchRequestedFromAnOlderWALGenerationIsDropped() async throws {
        let store = try MetadataStore(directory: directory, logger: logger, walPreallocationBytes: 64 << 10)
        func generation() throws -> UInt64 {
            try XCTUnwrap(MetadataStore.walGeneration(fromFileName: URL(fileURLWithPath: store.walPath).lastPathComponent))
        }
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        let before = try generation()
        try await store.snapshotNow()
        let current = try generation()
        XCTAssertGreaterThan(current, before)

        store.startRollInBackground(snapshot: false, from: before)
        await store.waitForWALSwitch()
        XCTAssertEqual(try generation(), current, "a request from an older generation switched files")

        // The same request from the current generation does switch.
        store.startRollInBackground(snapshot: false, from: current)
        await store.waitForWALSwitch()
        XCTAssertEqual(try generation(), current + 1)
    }

    func testCommitsDuringASnapshotAreNeitherLostNorReordered() async throws {
        let store = try MetadataStore(directory: directory, logger: logger, snapshotAfterWALBytes: 4096)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for i in 0..<60 {
                        _ = try await store.commit(.putObject(bucket: "b", key: "k\(i % 7)", object: Self.object(Int64(writer * 100 + i))))
                    }
                }
            }
            group.addTask { for _ in 0..<5 { try await store.snapshotNow() } }
            try await group.waitForAll()
        }
        // A commit may have started a snapshot in the background. A second store opened meanwhile
        // would read the WAL file that snapshot trims (CI saw "corrupt at offset 5085" that way).
        await store.waitForWALSwitch()
        let reopened = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(everything(reopened), everything(store))
        for i in 0..<7 { XCTAssertEqual(reopened.object(bucket: "b", key: "k\(i)"), store.object(bucket: "b", key: "k\(i)")) }
    }
}

final class RepairWALTests: XCTestCase {
    func testRepairCutsAtTheDamageKeepsABackupAndTheBrainStartsAgain() async throws {
        let directory = NSTemporaryDirectory() + "repair-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "test")
        let store = try MetadataStore(directory: directory, logger: logger)
        for name in ["aaa", "bbb", "ccc"] { _ = try await store.commit(.createBucket(name: name, creationDateMs: 1)) }
        let path = store.walPath
        let recordBytes = Int(try WALFileTesting.recordsEnd(path)) / 3
        try WALFileTesting.overwrite(path, at: Int64(recordBytes + 30), with: [0xFF])  // inside the second record
        XCTAssertThrowsError(try MetadataStore(directory: directory, logger: logger)) {
            XCTAssertTrue("\($0)".contains("offset \(recordBytes)"), "\($0)")
        }
        let report = try MetadataStore.repairWAL(directory: directory)
        XCTAssertTrue(report.contains("offset \(recordBytes)"), report)
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: directory).contains { $0.contains(".bak-") })
        XCTAssertEqual(try MetadataStore(directory: directory, logger: logger).buckets.map(\.name), ["aaa"])
    }
}

final class CompactValuesTests: XCTestCase {
    func testETagsPrintBackExactlyAsGiven() {
        for text in [
            "\"0123456789abcdef0123456789abcdef\"", "\"00000000000000000000000000000000-10000\"",
            "\"ffffffffffffffffffffffffffffffff-1\"", "\"0123456789ABCDEF0123456789ABCDEF\"", "\"abc\"", "",
            "\"0123456789abcdef0123456789abcdef-0\"", "\"0123456789abcdef0123456789abcdef-01\"", "no quotes at all, 34 chars long...",
        ] {
            XCTAssertEqual(StoredETag(text).text, text)
        }
        guard case .md5(_, _, 3) = StoredETag("\"0123456789abcdef0123456789abcdef-3\"") else { return XCTFail("not compact") }
        guard case .text = StoredETag("\"0123456789ABCDEF0123456789ABCDEF\"") else { return XCTFail("upper case must stay text") }
        // A single PUT's ETag is the quoted lower-case hex of its MD5, byte order kept.
        XCTAssertEqual(ObjectRecord.etag(md5: (0..<16).map { UInt8($0 * 17) }), "\"00112233445566778899aabbccddeeff\"")
        XCTAssertEqual(ObjectRecord.etag(md5: [UInt8](repeating: 0x0F, count: 16)), "\"" + String(repeating: "0f", count: 16) + "\"")
    }

    func testInternedArraysShareStorageAndTheTableIsBounded() {
        let interner = Interner<[String]>(entriesMax: 2)
        let first = interner.intern(["agent-1", "agent-2"])
        let second = interner.intern(["agent-1", "agent-2"])
        XCTAssertEqual(first.withUnsafeBufferPointer { $0.baseAddress }, second.withUnsafeBufferPointer { $0.baseAddress })
        _ = interner.intern(["b"])
        let third = interner.intern(["c"])
        let fourth = interner.intern(["c"])
        XCTAssertEqual(third, fourth)
        XCTAssertNotEqual(third.withUnsafeBufferPointer { $0.baseAddress }, fourth.withUnsafeBufferPointer { $0.baseAddress }, "past the bound values pass through")
    }
}

final class ObjectKeyOrderTests: XCTestCase {
    /// memcmp order over UTF-8 must agree with the generic byte comparison, including empty keys,
    /// proper prefixes and non-ASCII (where byte order differs from Unicode scalar order).
    func testOrderIsUTF8ByteOrder() {
        let keys = ["", "a", "a/", "a/b", "ab", "é", "e\u{301}", "\u{FFFD}", "日本", "z", "\u{1F600}", "a\u{0}b"]
        for x in keys {
            for y in keys {
                XCTAssertEqual(ObjectKey(x) < ObjectKey(y), Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8)), "\(x) < \(y)")
                XCTAssertEqual(ObjectKey(x) == ObjectKey(y), Array(x.utf8) == Array(y.utf8), "\(x) == \(y)")
                XCTAssertEqual(ObjectKey(x).precedes(bytes: Array(y.utf8)), Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8)))
            }
            XCTAssertFalse(ObjectKey(x).precedes(bytes: []))
        }
    }
}

/// Reading and damaging WAL files the way the tests need.
enum WALFileTesting {
    /// Where the records of the WAL file at `path` end (its zero-filled room follows).
    static func recordsEnd(_ path: String) throws -> Int64 {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var scanner = RecordScanner(bytes: bytes, zeroTailEnds: true)
        while let event = try scanner.next() {
            guard case .record = event else { XCTFail("\(event)"); break }
        }
        return scanner.offset
    }

    static func fileSize(_ path: String) throws -> Int64 {
        Int64(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int)
    }

    static func overwrite(_ path: String, at offset: Int64, with bytes: [UInt8]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }
}
