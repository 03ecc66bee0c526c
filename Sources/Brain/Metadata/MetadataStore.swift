import Glibc
import LogStore
import Logging
import Metrics
import Synchronization

public enum MetadataError: Error, CustomStringConvertible {
    case corruptLog(path: String, offset: Int64, reason: String)
    /// The mutation does not fit in one WAL record (e.g. a manifest of millions of chunks).
    case mutationTooLarge(bytes: Int)
    /// A backup goes into an empty or new directory only: mixed with other files it would not open as it was.
    case backupTargetNotEmpty(path: String)

    public var description: String {
        switch self {
        case .backupTargetNotEmpty(let path):
            return "\(path) is not empty; back up into a new or empty directory"
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
/// The WAL is a sequence of files, `wal-G.log` for generations G = 1, 2, ... When the WAL written
/// since the last snapshot passes `snapshotAfterWALBytes`, the store switches to a new generation
/// at a consistent cut and writes `snapshot-G.snap` (the state before generation G) in the
/// background. Recovery loads the newest valid snapshot and replays the WAL files from its
/// generation on.
///
/// Each WAL file is zero-filled to `walFileBytes` before it takes commits, so that a commit's
/// fdatasync only flushes data (see `AppendOnlyFile.reserve(upTo:)`); replay ends a file's records
/// where its zeros begin. A file three quarters full makes the store switch to a new generation
/// (without a snapshot), whose file is filled beforehand, in the background.
public final class MetadataStore: Sendable {
    public let directory: String
    public let snapshotAfterWALBytes: Int64
    /// The size each WAL file is zero-filled to; 0 when files grow with each append.
    public let walFileBytes: Int64
    /// The most WAL bytes written past the last completed fdatasync (one larger mutation is
    /// written alone): the reach of a sync torn by a power cut, which replay cuts off (`TornSync`).
    public static let walUnsyncedBytesMax: Int64 = 1 << 20
    private let gate: CommitGate
    private let state: Mutex<MetadataState>
    /// Whether a switch to a new WAL generation (with or without a snapshot) is under way.
    private let rollRunning = Mutex(false)
    private let logger: Logger

    /// The WAL file commits go to now.
    public var walPath: String { gate.current.file.path }

    /// `walPreallocationBytes` is capped at 1 MiB past `snapshotAfterWALBytes`: a file is seldom
    /// written much beyond the size that starts a snapshot and a new file.
    public init(
        directory: String, logger: Logger, snapshotAfterWALBytes: Int64 = 64 << 20, walPreallocationBytes: Int64 = 16 << 20
    ) throws {
        precondition(snapshotAfterWALBytes > 0 && walPreallocationBytes >= 0, "bad WAL sizes")
        try FileIO.createDirectory(directory)
        // The WAL and snapshots hold access keys' secrets: only the brain's user may enter.
        guard chmod(directory, 0o700) == 0 else { throw LogStoreError.io(operation: "chmod 700", path: directory, errno: errno) }
        self.directory = directory
        self.snapshotAfterWALBytes = snapshotAfterWALBytes
        let (snapshotFileBytes, overflow) = snapshotAfterWALBytes.addingReportingOverflow(1 << 20)
        self.walFileBytes = overflow ? walPreallocationBytes : min(walPreallocationBytes, snapshotFileBytes)
        self.logger = logger
        let names = try FileIO.listDirectory(directory)
        // A snapshot or next WAL file being written when the brain died; nothing else would remove it.
        let unfinished = names.filter { Snapshot.isTemporary(fileName: $0) || $0 == Self.nextWALFileName }
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
        var bytesBeforeNewest: Int64 = 0
        var newestEnd: Int64?
        let toReplay = walGenerations.filter { $0 >= replayFrom }
        for generation in toReplay {
            let file = try AppendOnlyFile(path: Self.walPath(generation, in: directory), create: false)
            let isNewest = generation == toReplay.last
            let (count, end) = try Self.replay(file, into: &state, isNewest: isNewest, logger: logger)
            replayed += count
            if isNewest { newestEnd = end } else { bytesBeforeNewest += end }
        }
        let currentGeneration = toReplay.last ?? replayFrom
        let current = try AppendOnlyFile(
            path: Self.walPath(currentGeneration, in: directory), create: true, dataEnd: newestEnd, syncMetrics: BrainMetrics.walSync,
            unsyncedBytesMax: Self.walUnsyncedBytesMax)
        // A new store's file, one whose torn tail was cut, or one written without preallocation.
        if walFileBytes > 0 {
            do {
                try current.reserve(upTo: walFileBytes)
            } catch {
                // On a full disk: commits append as they can until a later file can be filled.
                logger.warning(
                    "could not zero-fill the WAL file; it grows with each append", metadata: ["path": "\(current.path)", "error": "\(error)"])
            }
        }
        if toReplay.isEmpty { try FileIO.syncDirectory(directory) }
        logger.info(
            "recovered metadata", metadata: ["snapshot": "\(loadedSnapshot)", "walFiles": "\(toReplay.count)", "mutations": "\(replayed)"])
        self.gate = CommitGate(CommitGate.WALFile(generation: currentGeneration, file: current, bytesBefore: bytesBeforeNewest))
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
        /// Where the file's records end (after the last one applied, or where a torn tail was cut).
        case end(offset: Int64)
    }

    /// Applies every record of one WAL file (read on a second thread when large, through a
    /// `RecordPipeline`); a torn tail, or a sync torn by a power cut (`TornSync`), is cut off the
    /// newest file, any other damage refuses the start with the file and offset (see `sos admin
    /// repair-wal`). Returns the mutations applied and where the file's records end.
    private static func replay(_ wal: AppendOnlyFile, into state: inout MetadataState, isNewest: Bool, logger: Logger) throws
        -> (mutations: Int, end: Int64)
    {
        var replayed = 0
        var end: Int64?
        var cutAt: Int64?
        let size = wal.size
        /// Cuts what a crash or a power cut left unfinished off the end of the newest file.
        func cut(at offset: Int64, _ message: Logger.Message, reason: String) throws {
            logger.warning(message, metadata: ["path": "\(wal.path)", "offset": "\(offset)", "reason": "\(reason)"])
            try wal.truncate(to: offset)
            cutAt = offset
        }
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
                        let torn = try isNewest && TornSync.isTornSync(
                            damageAt: offset, size: size, unsyncedBytesMax: walUnsyncedBytesMax, readAt: { try wal.read(at: $0, count: $1) })
                        guard torn else { throw MetadataError.corruptLog(path: wal.path, offset: offset, reason: reason) }
                        try cut(at: offset, "cutting a sync torn by a power cut off the metadata log", reason: reason)
                    case .invalidTail(let offset, let reason):
                        guard isNewest else { throw MetadataError.corruptLog(path: wal.path, offset: offset, reason: reason) }
                        try cut(at: offset, "truncating torn tail of the metadata log", reason: reason)
                    case .readFailed(let error):
                        throw error
                    case .end(let offset):
                        end = cutAt ?? offset
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
        guard let end else { preconditionFailure("a replay that did not fail ends with the end of the records") }
        return (replayed, end)
    }

    /// The replay's producer: reads `wal` in batches until its end or its first damage (nothing
    /// after damage is applied: the replay stops there, or the file is cut there).
    private static func readForReplay(_ wal: AppendOnlyFile, size: Int64, decodesHere: () -> Bool, emit: ([ReplayItem]) -> Bool) {
        var scanner = RecordScanner(size: size, zeroTailEnds: true) { try wal.read(at: $0, count: $1) }
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
        // After damage, the offset is where it begins: where a torn tail is cut.
        _ = emit([.end(offset: scanner.offset)])
    }

    /// Makes `mutation` durable, applies it, and returns what applying it did.
    public func commit(_ mutation: Mutation) async throws -> MutationOutcome {
        let record = try MutationCodec.encodeRecord(mutation)
        let outcome = OutcomeSlot()
        let (generation, fileBytes, sinceSnapshot) = try await gate.withFile { wal in
            _ = try await wal.file.append(record) { _ in
                outcome.set(self.state.withLock { $0.apply(mutation) })
            }
            let size = wal.file.size
            return (wal.generation, size, wal.bytesBefore + size)
        }
        if sinceSnapshot > snapshotAfterWALBytes {
            startRollInBackground(snapshot: true, from: generation)
        } else if walFileBytes > 0 && fileBytes >= walFileBytes / 4 * 3 {
            // Early enough that the next file is filled before this one's zeros run out.
            startRollInBackground(snapshot: false, from: generation)
        }
        return outcome.get()
    }

    /// Starts a switch away from WAL generation `from`, with a snapshot or not, unless a switch
    /// is under way or `from` is no longer current: a commit that saw a file full may return
    /// after another commit's switch has finished, and must not switch again from the new file.
    /// (Internal, not private, for the test of that.)
    func startRollInBackground(snapshot: Bool, from generation: UInt64) {
        guard tryStartRoll() else { return }
        // Holding the roll, nothing else can switch files until this one is done.
        guard gate.current.generation == generation else {
            endRoll()
            return
        }
        Task {
            do {
                if snapshot {
                    try await writeSnapshot()
                } else {
                    let generation = try await roll(capturingState: false).generation
                    logger.debug("switched to a new WAL file", metadata: ["generation": "\(generation)"])
                }
            } catch {
                logger.error(
                    "switching to a new WAL generation failed; the current one keeps growing until a switch succeeds",
                    metadata: ["snapshot": "\(snapshot)", "error": "\(error)"])
            }
            endRoll()
        }
    }

    private func tryStartRoll() -> Bool {
        rollRunning.withLock { running in
            if running { return false }
            running = true
            return true
        }
    }

    private func endRoll() { rollRunning.withLock { $0 = false } }

    /// Switches to a new WAL generation at a consistent cut and writes the snapshot of the state
    /// before it; then removes snapshots and WAL files that two newer snapshots make unnecessary.
    /// Waits for a switch already under way to finish first.
    public func snapshotNow() async throws {
        while !tryStartRoll() { try await Task.sleep(for: .milliseconds(5)) }
        defer { endRoll() }
        try await writeSnapshot()
    }

    /// `sos admin backup`: writes the metadata as it is now (every mutation acknowledged before the
    /// call, none after) to `directory/metadata/` as one snapshot: a brain directory that a brain
    /// started on it (`sos brain --directory DIRECTORY`) opens with exactly this metadata. Refuses a
    /// `metadata/` that holds anything already. Returns the snapshot's path.
    public func backup(to directory: String) async throws -> String {
        let target = directory + "/metadata"
        if FileIO.fileExists(target), try !FileIO.listDirectory(target).isEmpty {
            throw MetadataError.backupTargetNotEmpty(path: target)
        }
        // Applied means durable: the copy holds a prefix of the WAL, as a replay would rebuild it.
        let copy = state.withLock { $0 }
        let generation = gate.current.generation + 1
        try await BlockingIO.run {
            try FileIO.createDirectory(directory)
            try FileIO.createDirectory(target)
            // The snapshot holds access keys' secrets, as the brain's own metadata directory does.
            guard chmod(target, 0o700) == 0 else { throw LogStoreError.io(operation: "chmod 700", path: target, errno: errno) }
            try Snapshot.write(copy, generation: generation, directory: target)
        }
        let path = target + "/" + Snapshot.fileName(generation: generation)
        logger.notice("wrote metadata backup", metadata: ["path": "\(path)"])
        return path
    }

    /// Returns once no switch to a new WAL generation is under way (for tests).
    func waitForWALSwitch() async {
        while rollRunning.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(1)) }
    }

    private func writeSnapshot() async throws {
        let started = ContinuousClock.now
        let (generation, cut) = try await roll(capturingState: true)
        let directory = directory
        guard let snapshot = cut else { preconditionFailure("a snapshot's roll captures the state") }
        try await BlockingIO.run { try Snapshot.write(snapshot, generation: generation, directory: directory) }
        try removeObsoleteFiles()
        BrainMetrics.snapshotDuration.record(duration: ContinuousClock.now - started)
        logger.info("wrote metadata snapshot", metadata: ["generation": "\(generation)"])
    }

    /// Fills the next generation's file with zeros, then switches commits to it where every
    /// commit to the old file has been applied and none to the new one has (capturing the state
    /// there when asked), then cuts the old file's unused zeros off. If the zeros cannot be
    /// written, the new file grows with each append instead.
    private func roll(capturingState: Bool) async throws -> (generation: UInt64, cut: MetadataState?) {
        let (directory, walFileBytes) = (directory, walFileBytes)
        var prepared: String?
        if walFileBytes > 0 {
            do {
                prepared = try await BlockingIO.run { try Self.prepareNextWALFile(in: directory, byteCount: walFileBytes) }
            } catch {
                logger.warning("could not zero-fill the next WAL file; it grows with each append", metadata: ["error": "\(error)"])
            }
        }
        var generation: UInt64 = 0
        var cut: MetadataState?
        var old: AppendOnlyFile?
        try await gate.roll { current in
            generation = current.generation + 1
            let path = Self.walPath(generation, in: directory)
            if let prepared { try FileIO.rename(prepared, to: path) }
            let file = try AppendOnlyFile(
                path: path, create: true, dataEnd: prepared == nil ? nil : 0, syncMetrics: BrainMetrics.walSync,
                unsyncedBytesMax: Self.walUnsyncedBytesMax)
            try FileIO.syncDirectory(directory)
            if capturingState { cut = state.withLock { $0 } }  // a copy-on-write copy: later commits do not touch it
            old = current.file
            // A snapshot of the state before this generation spares a replay everything before it.
            let bytesBefore = capturingState ? 0 : current.bytesBefore + current.file.size
            return CommitGate.WALFile(generation: generation, file: file, bytesBefore: bytesBefore)
        }
        if let old {
            do {
                try await BlockingIO.run { try old.truncate(to: old.size) }
            } catch {
                logger.warning("could not cut the unused zeros off the previous WAL file", metadata: ["error": "\(error)"])
            }
        }
        return (generation, cut)
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

    /// The object a GET without a version id reads: nil when there is none or the latest version is a delete marker.
    public func object(bucket: String, key: String) -> ObjectRecord? {
        read { $0.bucket(bucket)?.current(ObjectKey(key)) }
    }

    /// The latest version of a key, which may be a delete marker.
    public func latestVersion(bucket: String, key: String) -> ObjectRecord? {
        read { $0.bucket(bucket)?.latest(ObjectKey(key)) }
    }

    public func version(bucket: String, key: String, versionID: VersionID) -> ObjectRecord? {
        read { $0.bucket(bucket)?.version(ObjectKey(key), versionID) }
    }

    public func versioning(bucket: String) -> BucketVersioning? { read { $0.bucket(bucket)?.info.versioning } }

    public func bucketInfo(_ name: String) -> BucketInfo? { read { $0.bucket(name)?.info } }

    public var buckets: [BucketInfo] { read { $0.bucketInfos } }

    /// A bucket's current objects and bytes (one pass over them); nil when there is no such bucket.
    func bucketUsage(_ name: String) -> (objects: Int, bytes: Int64)? { read { $0.buckets[name]?.usage } }

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

    /// One ListObjectVersions page's size, resuming after `keyMarker` (for benchmarks).
    public func listVersionPageCounts(bucket: String, keyMarker: String?, maxKeys: Int)
        -> (versions: Int, commonPrefixes: Int, isTruncated: Bool)?
    {
        read { state in
            guard let index = state.bucket(bucket) else { return nil }
            let page = index.listVersions(
                prefix: "", delimiter: "", marker: keyMarker.map { ListMarker.key($0) }, versionIDMarker: nil, maxKeys: maxKeys)
            return (page.versions.count, page.commonPrefixes.count, page.isTruncated)
        }
    }

    public func uploads(in bucket: String) -> [MultipartUpload] { read { $0.uploads(in: bucket) } }

    public var agentMembers: [AgentMember] { read { Array($0.agents.values) } }

    public func accessKey(_ accessKeyID: String) -> AccessKeyRecord? { read { $0.accessKeys[accessKeyID] } }

    public var accessKeys: [AccessKeyRecord] { read { $0.accessKeys.values.sorted { $0.accessKeyID < $1.accessKeyID } } }

    public func member(_ clientID: String) -> AgentMember? { read { $0.agents[clientID] } }
}

/// Carries the outcome from the WAL's durability callback back to the committing task.
private final class OutcomeSlot: Sendable {
    private let value = Mutex<MutationOutcome?>(nil)
    func set(_ outcome: MutationOutcome) { value.withLock { $0 = outcome } }
    func get() -> MutationOutcome { value.withLock { $0! } }
}
