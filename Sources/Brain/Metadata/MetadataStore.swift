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
///
/// The WAL is a sequence of files, `wal-G.log` for generations G = 1, 2, ... When the current
/// file passes `snapshotAfterWALBytes`, the store switches to a new generation at a consistent cut
/// and writes `snapshot-G.snap` (the state before generation G) in the background. Recovery loads
/// the newest valid snapshot and replays the WAL files from its generation on.
public final class MetadataStore: Sendable {
    public let directory: String
    public let snapshotAfterWALBytes: Int64
    private let gate: CommitGate
    private let state: Mutex<MetadataState>
    private let snapshotRunning = Mutex(false)
    private let logger: Logger

    /// The WAL file commits go to now.
    public var walPath: String { gate.current.file.path }

    public init(directory: String, logger: Logger, snapshotAfterWALBytes: Int64 = 64 << 20) throws {
        try FileIO.createDirectory(directory)
        self.directory = directory
        self.snapshotAfterWALBytes = snapshotAfterWALBytes
        self.logger = logger
        let names = try FileIO.listDirectory(directory)
        // A snapshot being written when the brain died; no later write would ever remove it.
        let unfinished = names.filter(Snapshot.isTemporary(fileName:))
        for name in unfinished { try FileIO.remove(directory + "/" + name) }
        if !unfinished.isEmpty { try FileIO.syncDirectory(directory) }
        let walGenerations = names.compactMap(Self.walGeneration(fromFileName:)).sorted()
        let snapshotGenerations = names.compactMap(Snapshot.generation(fromFileName:)).sorted(by: >)

        var state = MetadataState()
        var replayFrom: UInt64 = 1
        var loadedSnapshot = false
        var unusable: [String] = []
        for generation in snapshotGenerations {
            let path = directory + "/" + Snapshot.fileName(generation: generation)
            do {
                state = try Snapshot.load(path: path, generation: generation)
                replayFrom = generation
                loadedSnapshot = true
                logger.info("loaded metadata snapshot", metadata: ["path": "\(path)"])
                break
            } catch {
                logger.error("skipping unusable snapshot; trying an older one", metadata: ["error": "\(error)"])
                unusable.append("\(error)")
            }
        }
        if !loadedSnapshot, let first = walGenerations.first, first > 1 {
            // The operator must learn which files are damaged from the refusal itself.
            throw MetadataError.corruptLog(
                path: directory, offset: 0,
                reason: "no usable snapshot (\(unusable.isEmpty ? "none found" : unusable.joined(separator: "; "))), "
                    + "and the WAL before generation \(first) was already removed")
        }
        var replayed = 0
        let toReplay = walGenerations.filter { $0 >= replayFrom }
        for generation in toReplay {
            let file = try AppendOnlyFile(path: Self.walPath(generation, in: directory), create: false)
            replayed += try Self.replay(file, into: &state, isNewest: generation == toReplay.last, logger: logger)
        }
        let currentGeneration = toReplay.last ?? replayFrom
        let isNew = toReplay.isEmpty
        let current = try AppendOnlyFile(path: Self.walPath(currentGeneration, in: directory), create: true)
        if isNew { try FileIO.syncDirectory(directory) }
        logger.info(
            "recovered metadata", metadata: ["snapshot": "\(loadedSnapshot)", "walFiles": "\(toReplay.count)", "mutations": "\(replayed)"])
        self.gate = CommitGate(CommitGate.WALFile(generation: currentGeneration, file: current))
        self.state = Mutex(state)
    }

    /// One record of a WAL file as the replay's producer read it.
    private enum ReplayItem: Sendable {
        /// nil: the record is no decodable mutation.
        case mutation(offset: Int64, Mutation?)
        /// A walMutation record's payload, left for the applying thread to decode.
        case encodedMutation(offset: Int64, [UInt8])
        case corrupt(offset: Int64, reason: String)
        case invalidTail(offset: Int64, reason: String)
        case readFailed(any Error)
    }

    /// Applies every record of one WAL file (read on a second thread when large, through a
    /// `RecordPipeline`); a torn tail is cut off the newest file, any other damage refuses the
    /// start with the file and offset (see `sos admin repair-wal`).
    private static func replay(_ wal: AppendOnlyFile, into state: inout MetadataState, isNewest: Bool, logger: Logger) throws -> Int {
        var replayed = 0
        let size = wal.size
        try RecordPipeline.run(
            threaded: size >= RecordPipeline.threadedBytesMin,
            produce: { decodesHere, emit in readForReplay(wal, size: size, decodesHere: decodesHere, emit: emit) },
            consume: { (batch: [ReplayItem]) in
                for item in batch {
                    var decoded: (offset: Int64, mutation: Mutation?)?
                    switch item {
                    case .mutation(let offset, let mutation):
                        decoded = (offset, mutation)
                    case .encodedMutation(let offset, let payload):
                        decoded = (offset, try? MutationCodec.decode(payload))
                    case .corrupt(let offset, let reason):
                        throw MetadataError.corruptLog(path: wal.path, offset: offset, reason: reason)
                    case .invalidTail(let offset, let reason):
                        guard isNewest else { throw MetadataError.corruptLog(path: wal.path, offset: offset, reason: reason) }
                        logger.warning(
                            "truncating torn tail of the metadata log",
                            metadata: ["path": "\(wal.path)", "offset": "\(offset)", "reason": "\(reason)"])
                        try wal.truncate(to: offset)
                    case .readFailed(let error):
                        throw error
                    }
                    guard let (offset, mutation) = decoded else { continue }
                    guard let mutation else {
                        throw MetadataError.corruptLog(path: wal.path, offset: offset, reason: "undecodable mutation")
                    }
                    _ = state.apply(mutation)
                    replayed += 1
                }
                return true
            })
        return replayed
    }

    /// The replay's producer: reads `wal` in batches until its end or its first damage (nothing
    /// after damage is applied: the replay stops there, or the file is cut there).
    private static func readForReplay(_ wal: AppendOnlyFile, size: Int64, decodesHere: () -> Bool, emit: ([ReplayItem]) -> Bool) {
        var scanner = RecordScanner(size: size) { try wal.read(at: $0, count: $1) }
        RecordPipeline.readBatches(&scanner, decodesHere: decodesHere, emit: emit) { event, decoding, _ in
            switch event {
            case .failure(let error):
                return (.readFailed(error), true)
            case .success(.record(let offset, let record)):
                if record.type != .walMutation { return (.mutation(offset: offset, nil), false) }
                if decoding { return (.mutation(offset: offset, try? MutationCodec.decode(record.payload)), false) }
                return (.encodedMutation(offset: offset, record.payload), false)
            case .success(.corrupt(let offset, _, let reason)): return (.corrupt(offset: offset, reason: "\(reason)"), true)
            case .success(.invalidTail(let offset, let reason)): return (.invalidTail(offset: offset, reason: "\(reason)"), true)
            }
        }
    }

    /// `sos admin repair-wal`: cuts the WAL at its first damaged record so the brain can start,
    /// keeping the cut-off bytes (and any later WAL files, which build on them) as `.bak` files.
    /// Returns what it did, for the operator.
    public static func repairWAL(directory: String) throws -> String {
        let generations = try FileIO.listDirectory(directory).compactMap(walGeneration(fromFileName:)).sorted()
        let suffix = ".bak-" + String(Clock.nowMs())
        for (index, generation) in generations.enumerated() {
            let path = walPath(generation, in: directory)
            let wal = try AppendOnlyFile(path: path, create: false)
            var scanner = RecordScanner(size: wal.size) { try wal.read(at: $0, count: $1) }
            var damage: Int64?
            while let event = try scanner.next() {
                switch event {
                case .record(let offset, let record):
                    if record.type != .walMutation || (try? MutationCodec.decode(record.payload)) == nil { damage = offset }
                case .corrupt(let offset, _, _), .invalidTail(let offset, _): damage = offset
                }
                if damage != nil { break }
            }
            guard let offset = damage else { continue }
            let originalSize = wal.size
            try copyFile(path, to: path + suffix)
            try wal.truncate(to: offset)
            for later in generations[(index + 1)...] {
                try FileIO.rename(walPath(later, in: directory), to: walPath(later, in: directory) + suffix)
            }
            try FileIO.syncDirectory(directory)
            return "cut \(path) at offset \(offset) (of \(originalSize)); the original is kept as \(path + suffix)"
                + (index + 1 < generations.count ? "; \(generations.count - index - 1) later WAL file(s) set aside as *\(suffix)" : "")
        }
        return "no damaged record found in \(generations.count) WAL file(s); nothing changed"
    }

    private static func copyFile(_ from: String, to: String) throws {
        let source = try AppendOnlyFile(path: from, create: false)
        let copy = try AppendOnlyFile(path: to, create: true)
        var offset: Int64 = 0
        while offset < source.size {
            let bytes = try source.read(at: offset, count: 1 << 20)
            try copy.appendWithoutSync(bytes)
            offset += Int64(bytes.count)
        }
        try copy.syncNow()
    }

    static func walGeneration(fromFileName name: String) -> UInt64? {
        guard name.hasPrefix("wal-"), name.hasSuffix(".log") else { return nil }
        return UInt64(name.dropFirst("wal-".count).dropLast(".log".count))
    }

    static func walPath(_ generation: UInt64, in directory: String) -> String {
        directory + "/wal-" + String(generation).leftPadded(8) + ".log"
    }

    /// Makes `mutation` durable, applies it, and returns what applying it did.
    public func commit(_ mutation: Mutation) async throws -> MutationOutcome {
        let record = try MutationCodec.encodeRecord(mutation)
        let outcome = OutcomeSlot()
        let walBytes = try await gate.withFile { wal in
            _ = try await wal.append(record) { _ in
                outcome.set(self.state.withLock { $0.apply(mutation) })
            }
            return wal.size
        }
        if walBytes > snapshotAfterWALBytes { startSnapshotInBackground() }
        return outcome.get()
    }

    private func startSnapshotInBackground() {
        let start = snapshotRunning.withLock { running -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard start else { return }
        Task {
            do {
                try await writeSnapshot()
            } catch {
                logger.error("metadata snapshot failed; the WAL keeps growing until one succeeds", metadata: ["error": "\(error)"])
            }
            snapshotRunning.withLock { $0 = false }
        }
    }

    /// Switches to a new WAL generation at a consistent cut and writes the snapshot of the state
    /// before it; then removes snapshots and WAL files that two newer snapshots make unnecessary.
    /// Waits for a snapshot already being written to finish first.
    public func snapshotNow() async throws {
        while !snapshotRunning.withLock({ running in
            if running { return false }
            running = true
            return true
        }) {
            try await Task.sleep(for: .milliseconds(5))
        }
        defer { snapshotRunning.withLock { $0 = false } }
        try await writeSnapshot()
    }

    private func writeSnapshot() async throws {
        var cut = MetadataState()
        var generation: UInt64 = 0
        let directory = directory
        try await gate.roll { old in
            generation = old.generation + 1
            let file = try AppendOnlyFile(path: Self.walPath(generation, in: directory), create: true)
            try FileIO.syncDirectory(directory)
            cut = state.withLock { $0 }  // a copy-on-write copy: later commits do not touch it
            return CommitGate.WALFile(generation: generation, file: file)
        }
        let (snapshot, snapshotGeneration) = (cut, generation)
        try await BlockingIO.run { try Snapshot.write(snapshot, generation: snapshotGeneration, directory: directory) }
        try removeObsoleteFiles()
        logger.info("wrote metadata snapshot", metadata: ["generation": "\(generation)"])
    }

    /// Keeps the two newest snapshots and the WAL from the older of them on, so that a damaged
    /// newest snapshot can fall back to the previous one.
    private func removeObsoleteFiles() throws {
        let names = try FileIO.listDirectory(directory)
        let snapshots = names.compactMap(Snapshot.generation(fromFileName:)).sorted(by: >)
        guard snapshots.count >= 2 else { return }
        let keepFrom = snapshots[1]
        for generation in snapshots.dropFirst(2) { try FileIO.remove(directory + "/" + Snapshot.fileName(generation: generation)) }
        for generation in names.compactMap(Self.walGeneration(fromFileName:)) where generation < keepFrom {
            try FileIO.remove(Self.walPath(generation, in: directory))
        }
        try FileIO.syncDirectory(directory)
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

    /// One listing page's size, as ListObjectsV2 would compute it (for benchmarks).
    public func listPageCounts(bucket: String, prefix: String, delimiter: String, startAfter: String?, maxKeys: Int)
        -> (objects: Int, commonPrefixes: Int, isTruncated: Bool)?
    {
        read { state in
            guard let index = state.bucket(bucket) else { return nil }
            let page = index.list(
                prefix: prefix, delimiter: delimiter, marker: startAfter.map { ListMarker.key($0) }, maxKeys: maxKeys)
            return (page.objects.count, page.commonPrefixes.count, page.isTruncated)
        }
    }

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
