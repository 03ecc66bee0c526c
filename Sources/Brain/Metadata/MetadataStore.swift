import LogStore
import Logging
import Synchronization

public enum MetadataError: Error, CustomStringConvertible {
    case corruptLog(path: String, offset: Int64, reason: String)
    /// The mutation does not fit in one WAL record (e.g. a manifest of millions of chunks).
    case mutationTooLarge(bytes: Int)

    public var description: String {
        switch self {
        case .mutationTooLarge(let bytes):
            return "a metadata change of \(bytes) bytes exceeds the \(RecordFormat.payloadBytesMax)-byte record limit"
        case .corruptLog(let path, let offset, let reason):
            return "the metadata log \(path) is corrupt at offset \(offset) (\(reason)); refusing to start"
        }
    }
}

/// Buckets and object manifests, made durable by a write-ahead log before they are visible.
///
/// `commit` appends the mutation to the WAL (group-committed); once it is durable the mutation
/// is applied to the in-memory state in log order, so that what clients saw is exactly what a
/// replay rebuilds. Readers only ever see durable state.
public final class MetadataStore: Sendable {
    public let walPath: String
    private let wal: AppendOnlyFile
    private let state: Mutex<MetadataState>

    public init(directory: String, logger: Logger) throws {
        try FileIO.createDirectory(directory)
        walPath = directory + "/wal-00000001.log"
        let isNew = !FileIO.fileExists(walPath)
        wal = try AppendOnlyFile(path: walPath, create: true)
        if isNew { try FileIO.syncDirectory(directory) }
        var state = MetadataState()
        var replayed = 0
        var scanner = RecordScanner(size: wal.size) { [wal] in try wal.read(at: $0, count: $1) }
        while let event = try scanner.next() {
            switch event {
            case .record(let offset, let record):
                guard record.type == .walMutation, let mutation = try? MutationCodec.decode(record.payload) else {
                    throw MetadataError.corruptLog(path: walPath, offset: offset, reason: "undecodable mutation")
                }
                _ = state.apply(mutation)
                replayed += 1
            case .corrupt(let offset, _, let reason):
                throw MetadataError.corruptLog(path: walPath, offset: offset, reason: "\(reason)")
            case .invalidTail(let offset, let reason):
                logger.warning(
                    "truncating torn tail of the metadata log",
                    metadata: ["path": "\(walPath)", "offset": "\(offset)", "reason": "\(reason)"])
                try wal.truncate(to: offset)
            }
        }
        logger.info("replayed metadata log", metadata: ["path": "\(walPath)", "mutations": "\(replayed)"])
        self.state = Mutex(state)
    }

    /// Makes `mutation` durable, applies it, and returns what applying it did.
    public func commit(_ mutation: Mutation) async throws -> MutationOutcome {
        let payload = MutationCodec.encode(mutation)
        guard payload.count <= RecordFormat.payloadBytesMax else { throw MetadataError.mutationTooLarge(bytes: payload.count) }
        let record = Record(type: .walMutation, payload: payload).encoded()
        let outcome = OutcomeSlot()
        _ = try await wal.append(record) { _ in
            outcome.set(self.state.withLock { $0.apply(mutation) })
        }
        return outcome.get()
    }

    func read<T>(_ body: (MetadataState) throws -> T) rethrows -> T {
        try state.withLock { try body($0) }
    }

    public func bucketExists(_ name: String) -> Bool { read { $0.bucket(name) != nil } }

    public func object(bucket: String, key: String) -> ObjectRecord? {
        read { $0.bucket(bucket)?.objects[ObjectKey(key)] }
    }

    public var buckets: [BucketInfo] { read { $0.bucketInfos } }

    public func upload(_ uploadID: String) -> MultipartUpload? { read { $0.upload(uploadID) } }

    public func uploads(in bucket: String) -> [MultipartUpload] { read { $0.uploads(in: bucket) } }

    public var agentMembers: [AgentMember] { read { Array($0.agents.values) } }

    public func member(_ clientID: String) -> AgentMember? { read { $0.agents[clientID] } }
}

/// Carries the outcome from the WAL's durability callback back to the committing task.
private final class OutcomeSlot: Sendable {
    private let value = Mutex<MutationOutcome?>(nil)
    func set(_ outcome: MutationOutcome) { value.withLock { $0 = outcome } }
    func get() -> MutationOutcome { value.withLock { $0! } }
}
