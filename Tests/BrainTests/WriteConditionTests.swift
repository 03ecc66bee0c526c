import Foundation
import Logging
import XCTest

@testable import Brain

/// Conditional mutations: their WAL encoding, how they apply (atomically, in commit order), and
/// that a replay reaches the outcomes the writers were told.
final class WriteConditionTests: XCTestCase {
    private var directory: String!
    private let logger = Logger(label: "test")

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "conditions-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func object(_ body: String, lastModifiedMs: Int64 = 1_700_000_000_500) -> ObjectRecord {
        ObjectRecord(
            size: Int64(body.utf8.count), etag: "\"\(body)-etag\"", lastModifiedMs: lastModifiedMs, chunks: [ChunkPlacement(id: .random(), length: UInt32(body.utf8.count), agents: ["agent-1"])])
    }

    func testConditionalMutationsRoundTripThroughTheCodec() throws {
        let conditions = [
            WriteCondition(mustNotExist: true), WriteCondition(etag: "0123abcd"), WriteCondition(etag: "*"),
            WriteCondition(etag: "e", size: 5, lastModifiedSeconds: 1_700_000_000), WriteCondition(size: 0),
        ]
        let inner: [Mutation] = [
            .putObject(bucket: "b", key: "k", object: object("x")), .deleteObject(bucket: "b", key: "k", marker: .null, markerTimeMs: 0),
            .completeUpload(uploadID: "u", partNumbers: [1], partETags: ["\"e\""], object: object("y")),
        ]
        for condition in conditions {
            for mutation in inner {
                let conditional = Mutation.with(condition, mutation)
                XCTAssertEqual(try MutationCodec.decode(MutationCodec.encode(conditional)), conditional)
            }
        }
        XCTAssertEqual(Mutation.with(WriteCondition(), .deleteObject(bucket: "b", key: "k", marker: .null, markerTimeMs: 0)), .deleteObject(bucket: "b", key: "k", marker: .null, markerTimeMs: 0))
        // A condition only on the mutations that have an object to check, never nested, no unknown flags.
        let onBucket = MutationCodec.encode(.conditional(WriteCondition(mustNotExist: true), .createBucket(name: "b", creationDateMs: 1)))
        XCTAssertThrowsError(try MutationCodec.decode(onBucket))
        let nested = MutationCodec.encode(.conditional(WriteCondition(mustNotExist: true), .conditional(WriteCondition(size: 1), .deleteObject(bucket: "b", key: "k", marker: .null, markerTimeMs: 0))))
        XCTAssertThrowsError(try MutationCodec.decode(nested))
        var unknownFlag = MutationCodec.encode(.conditional(WriteCondition(mustNotExist: true), .deleteObject(bucket: "b", key: "k", marker: .null, markerTimeMs: 0)))
        unknownFlag[2] |= 0x10  // after the format version and the tag
        XCTAssertThrowsError(try MutationCodec.decode(unknownFlag))
    }

    func testConditionsDecideAgainstTheObjectWhenTheyApply() {
        let existing = object("abc", lastModifiedMs: 1_700_000_000_900)
        let bare = WriteCondition.bare(existing.etag)
        XCTAssertNil(WriteCondition(mustNotExist: true).rejection(of: nil, deleting: false))
        XCTAssertEqual(WriteCondition(mustNotExist: true).rejection(of: existing, deleting: false), .preconditionFailed)
        XCTAssertNil(WriteCondition(etag: bare).rejection(of: existing, deleting: false))
        XCTAssertNil(WriteCondition(etag: "*").rejection(of: existing, deleting: false))
        XCTAssertEqual(WriteCondition(etag: "other").rejection(of: existing, deleting: false), .preconditionFailed)
        XCTAssertEqual(WriteCondition(etag: bare).rejection(of: nil, deleting: false), .noSuchKey)
        XCTAssertNil(WriteCondition(etag: bare).rejection(of: nil, deleting: true))  // deleting nothing succeeds
        XCTAssertNil(WriteCondition(size: 3, lastModifiedSeconds: 1_700_000_000).rejection(of: existing, deleting: true))
        XCTAssertEqual(WriteCondition(size: 4).rejection(of: existing, deleting: true), .preconditionFailed)
        XCTAssertEqual(WriteCondition(lastModifiedSeconds: 1_700_000_001).rejection(of: existing, deleting: true), .preconditionFailed)
        XCTAssertEqual(WriteCondition.bare("W/\"abc\""), "abc")
    }

    func testConditionalCommitsApplyInOrderAndReplayTheSame() async throws {
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        let first = object("first"), second = object("second")
        let create = WriteCondition(mustNotExist: true)
        let applied = try await store.commit(.with(create, .putObject(bucket: "b", key: "k", object: first)))
        XCTAssertEqual(applied, .applied)
        let refused = try await store.commit(.with(create, .putObject(bucket: "b", key: "k", object: second)))
        XCTAssertEqual(refused, .rejected(.preconditionFailed))
        XCTAssertEqual(store.object(bucket: "b", key: "k"), first)
        // Compare-and-swap: the ETag read wins once; a second writer with the same stale ETag loses.
        let swap = WriteCondition(etag: WriteCondition.bare(first.etag))
        let swapped = try await store.commit(.with(swap, .putObject(bucket: "b", key: "k", object: second)))
        XCTAssertEqual(swapped, .applied(garbage: first.chunks))
        let stale = try await store.commit(.with(swap, .putObject(bucket: "b", key: "k", object: first)))
        XCTAssertEqual(stale, .rejected(.preconditionFailed))
        let wrongSize = try await store.commit(.with(WriteCondition(size: 99), .deleteObject(bucket: "b", key: "k", marker: .null, markerTimeMs: 0)))
        XCTAssertEqual(wrongSize, .rejected(.preconditionFailed))
        // Many racing creators of one key: exactly one is applied.
        let racers = (0..<16).map { object("w\($0)") }
        let outcomes = try await withThrowingTaskGroup(of: MutationOutcome.self) { group in
            for racer in racers {
                group.addTask { try await store.commit(.with(create, .putObject(bucket: "b", key: "race", object: racer))) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(outcomes.filter { $0 == .applied }.count, 1)
        XCTAssertEqual(outcomes.filter { $0 == .rejected(.preconditionFailed) }.count, 15)
        let winner = store.object(bucket: "b", key: "race")
        let replayed = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(replayed.object(bucket: "b", key: "k"), second)
        XCTAssertEqual(replayed.object(bucket: "b", key: "race"), winner)
    }
}
