import Foundation
import Logging
import XCTest

@testable import Brain

/// Access keys as metadata: their mutations' encoding, what applying them does, and that they
/// survive a snapshot and a restart.
final class AccessKeyMetadataTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "keys-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private let record = AccessKeyRecord(
        accessKeyID: "SOSAPPKEY", secretKey: "app-secret-key", name: "app", createdMs: 1_700_000_000_000,
        mayCreateBuckets: true, buckets: ["a": [.read], "b": .all])

    func testKeyMutationsRoundTripAndRefuseBytesThatWouldNotReencode() throws {
        let mutations: [Mutation] = [
            .putAccessKey(record),
            .putAccessKey(AccessKeyRecord(accessKeyID: "K", secretKey: "s", name: "", createdMs: 0)),
            .deleteAccessKey(accessKeyID: "K"),
            .changeKeyPermissions(accessKeyID: "K", bucket: "b", grant: [.read, .owner], revoke: [.write]),
            .setKeyMayCreateBuckets(accessKeyID: "K", allowed: false),
            .createOwnedBucket(name: "b", creationDateMs: 5, owner: "K"),
        ]
        for mutation in mutations {
            XCTAssertEqual(try MutationCodec.decode(MutationCodec.encode(mutation)), mutation)
        }
        // Buckets out of order, or permissions beyond the three bits, would not re-encode the same.
        var bytes = MutationCodec.encode(.putAccessKey(AccessKeyRecord(
            accessKeyID: "K", secretKey: "s", name: "n", createdMs: 0, buckets: ["a": [.read], "b": [.read]])))
        let first = bytes.firstIndex(of: UInt8(ascii: "a"))!
        let second = bytes.lastIndex(of: UInt8(ascii: "b"))!
        bytes.swapAt(first, second)
        XCTAssertThrowsError(try MutationCodec.decode(bytes))
        var wide = MutationCodec.encode(.changeKeyPermissions(accessKeyID: "K", bucket: "b", grant: [.read], revoke: []))
        wide[wide.count - 2] = 0x08
        XCTAssertThrowsError(try MutationCodec.decode(wide))
        XCTAssertFalse("\(record)".contains(record.secretKey))
    }

    func testPermissionsChangeOnlyOnExistingKeysAndBucketsAndDieWithTheBucket() {
        var state = MetadataState()
        XCTAssertEqual(state.apply(.putAccessKey(AccessKeyRecord(accessKeyID: "K", secretKey: "secret-1", name: "k", createdMs: 0))), .applied)
        XCTAssertEqual(state.apply(.putAccessKey(AccessKeyRecord(accessKeyID: "K", secretKey: "other", name: "k", createdMs: 0))),
                       .rejected(.accessKeyExists))
        XCTAssertEqual(state.apply(.changeKeyPermissions(accessKeyID: "K", bucket: "b", grant: [.read], revoke: [])),
                       .rejected(.noSuchBucket))
        _ = state.apply(.createBucket(name: "b", creationDateMs: 1))
        XCTAssertEqual(state.apply(.changeKeyPermissions(accessKeyID: "nobody", bucket: "b", grant: [.read], revoke: [])),
                       .rejected(.noSuchAccessKey))
        _ = state.apply(.changeKeyPermissions(accessKeyID: "K", bucket: "b", grant: [.read, .write], revoke: []))
        XCTAssertEqual(state.accessKeys["K"]?.permissions(on: "b"), [.read, .write])
        _ = state.apply(.changeKeyPermissions(accessKeyID: "K", bucket: "b", grant: [], revoke: [.write]))
        XCTAssertEqual(state.accessKeys["K"]?.permissions(on: "b"), [.read])
        // A key creating a bucket owns it; deleting the bucket takes every key's permissions on it away.
        XCTAssertEqual(state.apply(.createOwnedBucket(name: "own", creationDateMs: 2, owner: "nobody")), .rejected(.noSuchAccessKey))
        XCTAssertNil(state.bucket("own"))
        XCTAssertEqual(state.apply(.createOwnedBucket(name: "own", creationDateMs: 2, owner: "K")), .applied)
        XCTAssertEqual(state.accessKeys["K"]?.permissions(on: "own"), .all)
        _ = state.apply(.deleteBucket(name: "own"))
        _ = state.apply(.createBucket(name: "own", creationDateMs: 3))
        XCTAssertEqual(state.accessKeys["K"]?.permissions(on: "own"), [])
        XCTAssertEqual(state.apply(.deleteAccessKey(accessKeyID: "K")), .applied)
        XCTAssertEqual(state.apply(.deleteAccessKey(accessKeyID: "K")), .rejected(.noSuchAccessKey))
    }

    func testKeysSurviveASnapshotAndARestart() async throws {
        let logger = Logger(label: "test")
        let store = try MetadataStore(directory: directory, logger: logger)
        _ = try await store.commit(.createBucket(name: "a", creationDateMs: 1))
        _ = try await store.commit(.createBucket(name: "b", creationDateMs: 1))
        var withoutBuckets = record
        withoutBuckets.buckets = [:]
        _ = try await store.commit(.putAccessKey(withoutBuckets))
        _ = try await store.commit(.changeKeyPermissions(accessKeyID: record.accessKeyID, bucket: "a", grant: [.read], revoke: []))
        try await store.snapshotNow()
        _ = try await store.commit(.changeKeyPermissions(accessKeyID: record.accessKeyID, bucket: "b", grant: .all, revoke: []))
        let reopened = try MetadataStore(directory: directory, logger: logger)
        XCTAssertEqual(reopened.accessKey(record.accessKeyID), record)
        // The secrets are in these files: only the brain's user may enter the directory.
        let mode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? NSNumber
        XCTAssertEqual(mode?.intValue, 0o700)
    }
}
