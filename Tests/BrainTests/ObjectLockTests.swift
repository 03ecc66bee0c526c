import Foundation
import Logging
import XCTest

@testable import Brain

/// Object Lock in the metadata: what retention and legal holds refuse, judged by the time each
/// mutation carries (so a replay judges alike), the WAL encoding, and snapshots.
final class ObjectLockTests: XCTestCase {
    private static let day: Int64 = 86_400_000
    private let now: Int64 = 1_800_000_000_000

    private func lockedState() -> MetadataState {
        var state = MetadataState()
        _ = state.apply(.createLockedBucket(name: "b", creationDateMs: 1, owner: ""))
        return state
    }

    private func version(_ id: VersionID, at time: Int64, _ retention: ObjectRetention? = nil, hold: Bool = false) -> ObjectRecord {
        var object = ObjectRecord(
            size: 1, etag: "\"e\"", lastModifiedMs: time, chunks: [ChunkPlacement(id: .random(), length: 1, agents: ["a"])],
            versionID: id)
        object.headers = ObjectRetention.headers([], retention: retention, legalHold: hold)
        return object
    }

    private func delete(_ id: VersionID, at time: Int64, bypass: Bool = false) -> Mutation {
        .deleteVersion(bucket: "b", key: "k", versionID: id, bypassGovernance: bypass, nowMs: time)
    }

    func testRetentionAndLegalHoldsRefuseDeletionUntilTheirTime() {
        var state = lockedState()
        XCTAssertEqual(state.bucket("b")!.info.versioning, .enabled)
        let (compliance, governance, held) = (VersionID.random(), VersionID.random(), VersionID.random())
        _ = state.apply(.putObject(bucket: "b", key: "k", object: version(compliance, at: now, ObjectRetention(mode: .compliance, untilMs: now + Self.day))))
        _ = state.apply(.putObject(bucket: "b", key: "k", object: version(governance, at: now, ObjectRetention(mode: .governance, untilMs: now + Self.day))))
        _ = state.apply(.putObject(bucket: "b", key: "k", object: version(held, at: now, hold: true)))

        XCTAssertEqual(state.apply(delete(compliance, at: now + 1, bypass: true)), .rejected(.objectLocked))
        XCTAssertEqual(state.apply(delete(governance, at: now + 1)), .rejected(.objectLocked))
        XCTAssertEqual(state.apply(delete(held, at: now + 10 * Self.day, bypass: true)), .rejected(.objectLocked))
        // Shortening COMPLIANCE is refused even with the bypass; extending it is not.
        let shorter = ObjectRetention(mode: .compliance, untilMs: now + 1000)
        XCTAssertEqual(
            state.apply(.setObjectRetention(bucket: "b", key: "k", versionID: compliance, retention: shorter, bypassGovernance: true, nowMs: now)),
            .rejected(.objectLocked))
        let longer = ObjectRetention(mode: .compliance, untilMs: now + 2 * Self.day)
        XCTAssertEqual(
            state.apply(.setObjectRetention(bucket: "b", key: "k", versionID: compliance, retention: longer, bypassGovernance: false, nowMs: now)),
            .applied)
        XCTAssertEqual(state.bucket("b")!.version(ObjectKey("k"), compliance)?.retention, longer)

        // GOVERNANCE yields to the bypass; a retention that is over protects nothing; a lifted hold neither.
        guard case .applied = state.apply(delete(governance, at: now + 1, bypass: true)) else { return XCTFail("bypass refused") }
        XCTAssertEqual(state.apply(delete(compliance, at: now + Self.day + 1)), .rejected(.objectLocked))
        guard case .applied = state.apply(delete(compliance, at: now + 2 * Self.day)) else { return XCTFail("over, yet refused") }
        XCTAssertEqual(state.apply(.setObjectLegalHold(bucket: "b", key: "k", versionID: held, on: false)), .applied)
        guard case .applied = state.apply(delete(held, at: now)) else { return XCTFail("hold lifted, yet refused") }
        XCTAssertTrue(state.bucket("b")!.isEmpty)
    }

    func testLockedBucketsStayVersionedAndLockNeedsVersioning() {
        var state = lockedState()
        XCTAssertEqual(state.apply(.setBucketVersioning(bucket: "b", versioning: .suspended)), .rejected(.invalidBucketState))
        _ = state.apply(.createBucket(name: "plain", creationDateMs: 1))
        XCTAssertEqual(
            state.apply(.setObjectLockConfiguration(bucket: "plain", configuration: ObjectLockConfiguration())), .rejected(.invalidBucketState))
        XCTAssertEqual(
            state.apply(.setObjectLegalHold(bucket: "plain", key: "k", versionID: .null, on: true)), .rejected(.invalidBucketState))
        // A null version under a hold cannot be replaced in place by a null write either.
        _ = state.apply(.setBucketVersioning(bucket: "plain", versioning: .enabled))
        _ = state.apply(.setObjectLockConfiguration(bucket: "plain", configuration: ObjectLockConfiguration()))
        _ = state.apply(.putObject(bucket: "plain", key: "k", object: version(.null, at: now, hold: true)))
        XCTAssertEqual(state.apply(.putObject(bucket: "plain", key: "k", object: version(.null, at: now))), .rejected(.objectLocked))
    }

    func testLockMutationsRoundTripAndSnapshotsKeepTheConfiguration() throws {
        let id = VersionID.random()
        let mutations: [Mutation] = [
            .createLockedBucket(name: "b", creationDateMs: 3, owner: "AKEY"),
            .createLockedBucket(name: "b", creationDateMs: 3, owner: ""),
            .setObjectLockConfiguration(bucket: "b", configuration: ObjectLockConfiguration(defaultMode: .compliance, years: 2)),
            .setObjectLockConfiguration(bucket: "b", configuration: ObjectLockConfiguration()),
            .setObjectRetention(
                bucket: "b", key: "k", versionID: id, retention: ObjectRetention(mode: .governance, untilMs: now), bypassGovernance: true,
                nowMs: now),
            .setObjectRetention(bucket: "b", key: "k", versionID: id, retention: nil, bypassGovernance: false, nowMs: now),
            .setObjectLegalHold(bucket: "b", key: "k", versionID: id, on: true),
            .deleteVersion(bucket: "b", key: "k", versionID: id, bypassGovernance: true, nowMs: now),
        ]
        for mutation in mutations {
            XCTAssertEqual(try MutationCodec.decode(MutationCodec.encode(mutation)), mutation)
            XCTAssertTrue(UntrustedInput.walMutation(MutationCodec.encode(mutation)))
        }

        var state = lockedState()
        let configuration = ObjectLockConfiguration(defaultMode: .governance, days: 7)
        _ = state.apply(.setObjectLockConfiguration(bucket: "b", configuration: configuration))
        let locked = version(.random(), at: now, ObjectRetention(mode: .compliance, untilMs: now + Self.day), hold: true)
        _ = state.apply(.putObject(bucket: "b", key: "k", object: locked))
        let directory = NSTemporaryDirectory() + "lock-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Snapshot.write(state, generation: 2, directory: directory)
        let loaded = try Snapshot.load(path: directory + "/" + Snapshot.fileName(generation: 2), generation: 2)
        XCTAssertEqual(loaded.bucket("b")!.info.objectLock, configuration)
        XCTAssertEqual(loaded.bucket("b")!.info.versioning, .enabled)
        XCTAssertEqual(loaded.bucket("b")!.current(ObjectKey("k")), locked)
        XCTAssertEqual(configuration.defaultRetention(nowMs: now), ObjectRetention(mode: .governance, untilMs: now + 7 * Self.day))
    }
}
