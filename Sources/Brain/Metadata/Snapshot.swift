import LogStore
import NIOCore

/// A brain snapshot: the whole metadata state as of the start of WAL generation G, in the record
/// framing of the WAL. The state is written as the mutations that rebuild it from nothing, between
/// a header and an end record (docs/formats.md, "Snapshots").
enum Snapshot {
    /// 2 since object versions (its mutations in `MutationCodec.formatVersion` 2); a snapshot of version 1 still loads.
    static let formatVersion: UInt8 = 2
    static let formatVersionsReadable: ClosedRange<UInt8> = 1...2

    static func fileName(generation: UInt64) -> String { "snapshot-" + String(generation).leftPadded(8) + ".snap" }

    static func generation(fromFileName name: String) -> UInt64? {
        guard name.hasPrefix("snapshot-"), name.hasSuffix(".snap") else { return nil }
        return UInt64(name.dropFirst("snapshot-".count).dropLast(".snap".count))
    }

    /// `write` goes through `snapshot-G.snap.tmp`; recovery deletes what a crash left of one.
    static func isTemporary(fileName name: String) -> Bool { name.hasPrefix("snapshot-") && name.hasSuffix(".snap.tmp") }

    /// The mutations that rebuild `state` when applied to an empty state, in a valid order.
    static func mutations(of state: MetadataState) -> [Mutation] {
        var mutations: [Mutation] = []
        for member in state.agents.values.sorted(by: { $0.clientID < $1.clientID }) {
            mutations.append(.registerAgent(member))
            if member.draining { mutations.append(.setAgentDraining(clientID: member.clientID, draining: true)) }
        }
        for info in state.bucketInfos {
            mutations.append(.createBucket(name: info.name, creationDateMs: info.creationDateMs))
            if info.acl != .private { mutations.append(.setBucketACL(bucket: info.name, acl: info.acl)) }
            if let policy = info.policy { mutations.append(.setBucketPolicy(bucket: info.name, policy: policy.text)) }
            if !info.tagging.isEmpty { mutations.append(.setBucketTagging(bucket: info.name, tagging: info.tagging)) }
            if info.versioning != .unversioned {
                mutations.append(.setBucketVersioning(bucket: info.name, versioning: info.versioning))
            }
            if let lock = info.objectLock { mutations.append(.setObjectLockConfiguration(bucket: info.name, configuration: lock)) }
            if let cors = info.cors { mutations.append(.setBucketCors(bucket: info.name, cors: cors.xml)) }
            if let lifecycle = info.lifecycle { mutations.append(.setBucketLifecycle(bucket: info.name, lifecycle: lifecycle.xml)) }
            let index = state.bucket(info.name)!
            for (key, latest) in index.objects {
                // Oldest first: each putObject makes the one before it noncurrent.
                for version in (index.noncurrent[key] ?? []).reversed() {
                    mutations.append(.putObject(bucket: info.name, key: key.string, object: version))
                }
                mutations.append(.putObject(bucket: info.name, key: key.string, object: latest))
            }
        }
        // After the buckets their permissions name.
        for record in state.accessKeys.values.sorted(by: { $0.accessKeyID < $1.accessKeyID }) {
            mutations.append(.putAccessKey(record))
        }
        for upload in state.uploads.values {
            var empty = upload
            empty.parts = [:]
            mutations.append(.createUpload(empty))
            for (number, part) in upload.parts { mutations.append(.putPart(uploadID: upload.uploadID, partNumber: number, part: part)) }
        }
        return mutations
    }

    /// Writes `state` to `directory/snapshot-G.snap` atomically: a temporary file, fsync, rename, fsync of the directory.
    static func write(_ state: MetadataState, generation: UInt64, directory: String) throws {
        let path = directory + "/" + fileName(generation: generation)
        let temporary = path + ".tmp"
        _ = try? FileIO.remove(temporary)
        let file = try AppendOnlyFile(path: temporary, create: true)
        var header = ByteBuffer()
        header.writeInteger(formatVersion)
        header.writeInteger(generation)
        var buffer = Record(type: .snapshotHeader, payload: Array(header.readableBytesView)).encoded()
        var count: UInt64 = 0
        for mutation in mutations(of: state) {
            buffer += try MutationCodec.encodeRecord(mutation)
            count += 1
            if buffer.count >= 1 << 20 {
                try file.appendWithoutSync(buffer)
                buffer = []
            }
        }
        var end = ByteBuffer()
        end.writeInteger(count)
        buffer += Record(type: .snapshotEnd, payload: Array(end.readableBytesView)).encoded()
        try file.appendWithoutSync(buffer)
        try file.syncNow()
        try FileIO.rename(temporary, to: path)
        try FileIO.syncDirectory(directory)
    }

    enum LoadError: Error, CustomStringConvertible {
        case invalid(path: String, reason: String)

        var description: String {
            switch self {
            case .invalid(let path, let reason): return "snapshot \(path) is unusable: \(reason)"
            }
        }
    }

    /// Loads a snapshot, verifying every record, the header's generation and the end count.
    static func load(path: String, generation: UInt64) throws -> MetadataState {
        let file = try AppendOnlyFile(path: path, create: false)
        return try load(RecordScanner(size: file.size) { try file.read(at: $0, count: $1) }, size: file.size, path: path, generation: generation)
    }

    static func load(_ scanner: RecordScanner, size: Int64, path: String, generation: UInt64) throws -> MetadataState {
        try SnapshotLoader.load(scanner, size: size, path: path, generation: generation)
    }
}
