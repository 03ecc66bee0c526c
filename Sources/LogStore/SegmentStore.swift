#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// A 16-byte record key (the agent's chunk id), kept as two integers so the index stays small.
public struct StoreKey: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// A key is always this long on disk (big-endian `high`, then `low`).
    public static let byteCount = 16

    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        high = bytes.loadBigEndian(at: 0)
        low = bytes.loadBigEndian(at: 8)
    }

    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16)
        withUnsafeBytes(of: high.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: low.bigEndian) { out.append(contentsOf: $0) }
        return out
    }

    public var description: String {
        bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

/// What startup found while rebuilding the index.
public struct RecoveryReport: Sendable {
    public var segmentsScanned = 0
    /// Sealed segments whose index came from their hint file (the rest were read whole).
    public var hintsLoaded = 0
    /// Hint files that were missing or unusable and were written again from their segment.
    public var hintsRebuilt = 0
    public var recordsIndexed = 0
    /// Torn tails cut off the newest segment: (segment path, offset cut at).
    public var truncatedTails: [(path: String, offset: Int64)] = []
    /// Stretches of bad bytes that were kept out of the index.
    public var corruptions: [LogStoreError] = []
}

public struct SegmentStoreConfiguration: Sendable {
    public var directory: String
    /// A segment is sealed, and a new one started, once an append would take it past this size.
    public var segmentBytesMax: Int64
    /// Whether chunk payloads are lz4-compressed (each one only if that pays, below).
    public var compression: RecordCompression = .none
    /// A payload is stored compressed only when that saves at least this share of its size.
    public var compressionSavingsMin: Double = 0.125
    /// A sealed segment is compacted once this share of its bytes is dead (deleted or overwritten).
    public var compactionDeadFractionMin: Double = 0.5
    /// Bytes per second that compaction may read; keeps foreground reads fast while it runs.
    public var compactionBytesPerSecondMax: Int64 = 64 << 20
    /// Bytes per second that a background scrub may read.
    public var scrubBytesPerSecondMax: Int64 = 32 << 20
    /// When appends become durable; see `CommitPolicy`.
    public var commitPolicy: CommitPolicy = .everyWrite
    /// Tests replace these to make segment appends hit ENOSPC.
    var syscalls = FileSyscalls.system

    /// Smallest segment size accepted from configuration.
    public static let segmentBytesMin: Int64 = 64 << 10
    /// Largest segment size: record offsets are kept in 32 bits in the index (see `Location`).
    public static let segmentBytesLimit: Int64 = Int64(UInt32.max)

    public init(directory: String, segmentBytesMax: Int64 = 1 << 30) {
        precondition(segmentBytesMax >= Int64(RecordFormat.headerByteCount + 16), "segment size too small")
        precondition(segmentBytesMax <= Self.segmentBytesLimit, "segment size too large")
        self.directory = directory
        self.segmentBytesMax = segmentBytesMax
    }
}

/// The storage agent's engine: records in append-only segment files and an in-memory index
/// from key to record location. Every read verifies the record's checksum.
///
/// The newest segment is the active one and takes every append; older ones are sealed and only
/// change by compaction, which rewrites a segment in place under the same number (so the
/// "later segment wins" order of recovery never changes). Startup reads the hint file of each
/// sealed segment and scans only the active one.
public final class SegmentStore: Sendable {
    /// Where a record lives. 12 bytes: with the 16-byte key, a slot of `RecordIndex` is 28.
    struct Location: Sendable, Equatable {
        var segment: UInt32
        var offset: UInt32
        var length: UInt32
    }

    struct SegmentInfo {
        var file: AppendOnlyFile
        /// Bytes of the chunk records the index points at.
        var liveBytes: Int64 = 0
        /// Bytes compaction found it must keep although no chunk is live in them (tombstones
        /// still needed); counted as live so a segment is not rewritten again for nothing.
        var retainedBytes: Int64 = 0
        /// Appends handed this segment that have not finished; a segment is sealed when it is 0.
        var appendsInFlight = 0
    }

    struct State {
        var index = RecordIndex()
        var segments: [UInt32: SegmentInfo] = [:]
        var activeSegment: UInt32 = 0
        /// Bytes handed out in the active segment, including appends not yet written; offsets
        /// stay below `segmentBytesMax` because of it.
        var activeBytesReserved: Int64 = 0
        var liveBytes: Int64 = 0
        /// Keys whose record failed verification (scrub, read or compaction); never served.
        var corruptKeys: Set<StoreKey> = []

        mutating func apply(_ entry: HintEntry, segment: UInt32) {
            switch entry.kind {
            case .chunk:
                let location = Location(segment: segment, offset: UInt32(entry.offset), length: entry.length)
                if let old = index.updateValue(location, forKey: entry.key) { forget(old) }
                segments[segment]?.liveBytes += Int64(entry.length)
                liveBytes += Int64(entry.length)
            case .tombstone:
                if let old = index.removeValue(forKey: entry.key) { forget(old) }
            case .corrupt:
                break
            }
        }

        /// Accounts for a location that the index no longer points at.
        mutating func forget(_ old: Location) {
            segments[old.segment]?.liveBytes -= Int64(old.length)
            liveBytes -= Int64(old.length)
        }
    }

    public let configuration: SegmentStoreConfiguration
    public let recoveryReport: RecoveryReport
    let state: Mutex<State>
    /// Runs sealing, compaction and scrub one at a time, off the Swift concurrency pool.
    let maintenance = DispatchQueue(label: "sos.logstore.maintenance")
    let counters = Mutex(MaintenanceCounters())
    /// Tests only: the compaction step at which to stop as if the process had crashed.
    let crashPoint = Mutex<CompactionStep?>(nil)

    /// Opens the store: loads hints of sealed segments (rebuilding missing or bad ones), scans the
    /// newest segment and truncates its torn tail. Corruption is reported, never fatal.
    public init(configuration: SegmentStoreConfiguration) throws {
        MaintenanceMetrics.registerAll()
        self.configuration = configuration
        let directory = configuration.directory
        try FileIO.createDirectory(directory)
        var state = State()
        var report = RecoveryReport()
        let names = try FileIO.listDirectory(directory)
        for name in names where name.hasSuffix(SegmentFiles.temporarySuffix) {
            // An unfinished compaction or hint write; the file it was to replace is intact.
            try SegmentFiles.remove(directory + "/" + name)
        }
        let ids = names.compactMap(SegmentFiles.segmentID(fromFileName:))
        // Size the index once for what the hints hold: every growth copies the whole table.
        state.index.reserveCapacity(ids.dropLast().reduce(0) { $0 + SegmentFiles.hintEntryCount($1, in: directory) })
        for id in ids {
            let file = try AppendOnlyFile(
                path: SegmentFiles.segmentPath(id, in: directory), create: false, policy: configuration.commitPolicy,
                syscalls: configuration.syscalls, syncMetrics: Self.syncMetrics)
            guard file.size <= Self.segmentOffsetLimit else {
                throw LogStoreError.io(operation: "open (segment over 4 GiB)", path: file.path, errno: EFBIG)
            }
            state.segments[id] = SegmentInfo(file: file)
            if id != ids.last, let hint = SegmentFiles.loadHint(id, segmentByteCount: file.size, in: directory) {
                report.hintsLoaded += 1
                hint.forEach { entry in
                    state.apply(entry, segment: id)
                    if entry.kind == .corrupt {
                        report.corruptions.append(
                            .corruptRecord(path: file.path, offset: entry.offset, reason: "\(entry.length) bad bytes (from hint)"))
                    }
                }
                continue
            }
            let scan = try SegmentFiles.scan(file, isNewest: id == ids.last)
            for entry in scan.entries { state.apply(entry, segment: id) }
            report.corruptions += scan.corruptions
            if let cut = scan.truncatedAt { report.truncatedTails.append((file.path, cut)) }
            if id != ids.last {
                report.hintsRebuilt += 1
                // Best effort: without a hint the next startup just scans this segment again.
                try? SegmentFiles.writeHint(id, segmentByteCount: file.size, entries: scan.entries, in: directory)
            }
        }
        report.segmentsScanned = ids.count
        report.recordsIndexed = state.index.count
        if let newest = ids.last, state.segments[newest]!.file.size < configuration.segmentBytesMax {
            state.activeSegment = newest
            state.activeBytesReserved = state.segments[newest]!.file.size
        } else {
            let next = (ids.last ?? 0) + 1
            state.segments[next] = SegmentInfo(file: try Self.createSegment(next, configuration: configuration))
            state.activeSegment = next
        }
        self.recoveryReport = report
        self.state = Mutex(state)
        if let newest = ids.last, newest != self.state.withLock({ $0.activeSegment }) { sealInBackground(newest) }
    }

    /// Every segment's group commits, in the `segment` series.
    static let syncMetrics = SyncMetrics(file: "segment")

    /// Offsets are 32-bit in the index; no segment may grow past this.
    static let segmentOffsetLimit = Int64(UInt32.max)

    static func createSegment(_ id: UInt32, configuration: SegmentStoreConfiguration) throws -> AppendOnlyFile {
        let file = try AppendOnlyFile(
            path: SegmentFiles.segmentPath(id, in: configuration.directory), create: true, policy: configuration.commitPolicy,
            syscalls: configuration.syscalls, syncMetrics: Self.syncMetrics)
        try FileIO.syncDirectory(configuration.directory)
        return file
    }

    /// Stores `payload` under `key`; returns once the record is durable. `tryCompression` false
    /// stores it as is even when the store compresses (the caller knows it will not shrink).
    public func put(key: StoreKey, payload: [UInt8], tryCompression: Bool = true) async throws {
        let draft = ChunkRecordDraft(key: key, payloadCapacity: payload.count)
        draft.append(contentsOf: payload)
        try await put(draft, tryCompression: tryCompression)
    }

    /// As `put(key:payload:tryCompression:)`, for a payload assembled in place; takes the draft's bytes.
    public func put(_ draft: ChunkRecordDraft, tryCompression: Bool = true) async throws {
        let key = draft.key
        let compression = tryCompression ? configuration.compression : .none
        let record = compression.chunkRecord(draft, savingsMin: configuration.compressionSavingsMin)
        let offset = try await append(record)
        state.withLock { s in
            let location = Location(segment: offset.segment, offset: offset.offset, length: UInt32(record.count))
            if let old = s.index.updateValue(location, forKey: key) { s.forget(old) }
            s.segments[offset.segment]?.liveBytes += Int64(record.count)
            s.liveBytes += Int64(record.count)
            s.corruptKeys.remove(key)
        }
    }

    /// Deletes `key` durably (a tombstone record). Returns false when the key was not stored.
    @discardableResult
    public func delete(key: StoreKey) async throws -> Bool {
        guard state.withLock({ $0.index[key] != nil }) else { return false }
        let record = Record(type: .tombstone, key: key.bytes, payload: []).encoded()
        _ = try await append(record)
        state.withLock { s in
            if let old = s.index.removeValue(forKey: key) { s.forget(old) }
            s.corruptKeys.remove(key)
        }
        return true
    }

    /// The verified payload stored under `key` (decompressed), or nil when there is none.
    /// Throws `corruptRecord` rather than returning bytes whose checksum fails.
    public func get(key: StoreKey) async throws -> [UInt8]? {
        try await getPayload(key: key).map { Array($0) }
    }

    /// Where `key`'s record is, its file, and whether it was found corrupt earlier.
    private func lookUp(_ key: StoreKey) -> (Location, AppendOnlyFile, Bool)? {
        state.withLock { s in
            guard let location = s.index[key], let file = s.segments[location.segment]?.file else { return nil }
            return (location, file, s.corruptKeys.contains(key))
        }
    }

    /// The verified payload of `key` when its record is small and already in the page cache, read
    /// on the caller's thread without ever waiting for the disk (an event loop may call it). Nil
    /// when the key is not stored, its record is large or not all cached, or it was found corrupt
    /// earlier: `getPayload` answers those. Throws, as `getPayload` does, when the record fails
    /// verification.
    public func cachedPayload<Buffer: PayloadBuffer>(key: StoreKey, as _: Buffer.Type = ArraySlice<UInt8>.self) throws -> Buffer? {
        guard let (location, file, known) = lookUp(key), !known else { return nil }
        return try cachedPayload(at: location, in: file, key: key)
    }

    /// The record at `location`, verified, if it is small and all in the page cache.
    private func cachedPayload<Buffer: PayloadBuffer>(at location: Location, in file: AppendOnlyFile, key: StoreKey) throws -> Buffer? {
        guard location.length <= Self.inlineReadBytesMax,
            let bytes = file.readIfCached(at: Int64(location.offset), count: Int(location.length), as: Buffer.self)
        else { return nil }
        return try verifiedPayload(.whole(bytes), key: key, file: file, offset: Int64(location.offset))
    }

    /// As `get`, but the payload is a view of the record as read, into a buffer of the caller's
    /// type: no copy of the bytes between the read and the caller.
    public func getPayload<Buffer: PayloadBuffer>(key: StoreKey, as _: Buffer.Type = ArraySlice<UInt8>.self) async throws -> Buffer? {
        guard let (location, file, known) = lookUp(key) else { return nil }
        if known {
            throw LogStoreError.corruptRecord(path: file.path, offset: Int64(location.offset), reason: "found corrupt earlier")
        }
        // A small record already in the page cache is read and verified right here: the hand-off to
        // a blocking-I/O thread and back cost more than the read itself.
        if let payload: Buffer = try cachedPayload(at: location, in: file, key: key) { return payload }
        let offset = Int64(location.offset)
        let headCount = min(Int(location.length), RecordFormat.headerByteCount + key.bytes.count)
        return try await BlockingIO.run {
            // Header and key apart from the payload: the payload's buffer is then exactly its size
            // (a buffer type that rounds up to a power of two would double a 4 MiB chunk's).
            let (head, payload) = try file.read(at: offset, count: Int(location.length), headCount: headCount, as: Buffer.self)
            return try self.verifiedPayload(.split(head: head, payload: payload), key: key, file: file, offset: offset)
        }
    }

    /// Records up to this size are read on the caller's thread when the page cache holds them.
    static let inlineReadBytesMax: UInt32 = 64 << 10

    /// A chunk record as read: whole, or its header and key apart from its payload.
    private enum ChunkRead<Buffer: PayloadBuffer> {
        case whole(Buffer)
        case split(head: [UInt8], payload: Buffer)
    }

    /// The payload of the record `read` for `key`, checked; a bad record marks the key corrupt.
    private func verifiedPayload<Buffer: PayloadBuffer>(_ read: ChunkRead<Buffer>, key: StoreKey, file: AppendOnlyFile, offset: Int64) throws -> Buffer {
        func check(_ head: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer?) -> Result<(RecordLayout, Bool), RecordDecodeError> {
            Result { () throws(RecordDecodeError) in
                let layout = try RecordLayout(checking: head, payload: payload)
                return (layout, head[layout.key].elementsEqual(key.bytes))
            }
        }
        let checked: Result<(RecordLayout, Bool), RecordDecodeError>
        let payloadBytes: Buffer
        switch read {
        case .whole(let bytes):
            checked = bytes.withBytes { check($0, nil) }
            payloadBytes = bytes
        case .split(let head, let payload):
            checked = head.withUnsafeBytes { head in payload.withBytes { check(head, $0) } }
            payloadBytes = payload
        }
        let layout: RecordLayout
        let keyMatches: Bool
        do {
            (layout, keyMatches) = try checked.get()
        } catch {
            markCorrupt([key])
            throw LogStoreError.corruptRecord(path: file.path, offset: offset, reason: "\(error)")
        }
        guard keyMatches, layout.type == .chunk else {
            throw LogStoreError.corruptRecord(path: file.path, offset: offset, reason: "index points at another record")
        }
        guard let payload = layout.payload(in: payloadBytes) else {
            throw LogStoreError.corruptRecord(path: file.path, offset: offset, reason: "lz4 payload does not decompress")
        }
        return payload
    }

    public func contains(key: StoreKey) -> Bool { state.withLock { $0.index[key] != nil } }

    /// Keys whose record failed verification (scrub or a read) and are not served until rewritten.
    public var corruptKeys: Set<StoreKey> { state.withLock { $0.corruptKeys } }

    /// Every live key, in no particular order (for the brain's reconcile pass).
    public func allKeys() -> [StoreKey] { state.withLock { $0.index.map(\.key) } }

    public var recordCount: Int { state.withLock { $0.index.count } }

    /// Bytes of live records (header included).
    public var liveBytes: Int64 { state.withLock { $0.liveBytes } }

    public var segmentCount: Int { state.withLock { $0.segments.count } }

    /// Segment numbers present, oldest first; the last is the active one.
    public var segmentIDs: [UInt32] { state.withLock { $0.segments.keys.sorted() } }

    /// Appends an encoded record to the active segment, starting a new one when it would overflow.
    private func append(_ record: [UInt8]) async throws -> (segment: UInt32, offset: UInt32) {
        let (id, file, sealed) = try state.withLock { s -> (UInt32, AppendOnlyFile, UInt32?) in
            var sealed: UInt32?
            if s.activeBytesReserved > 0 && s.activeBytesReserved + Int64(record.count) > configuration.segmentBytesMax {
                let next = s.activeSegment + 1
                s.segments[next] = SegmentInfo(file: try Self.createSegment(next, configuration: configuration))
                sealed = s.activeSegment
                s.activeSegment = next
                s.activeBytesReserved = 0
            }
            s.activeBytesReserved += Int64(record.count)
            s.segments[s.activeSegment]!.appendsInFlight += 1
            return (s.activeSegment, s.segments[s.activeSegment]!.file, sealed)
        }
        if let sealed { sealInBackground(sealed) }
        defer { state.withLock { $0.segments[id]?.appendsInFlight -= 1 } }
        let offset: Int64
        do {
            offset = try await file.append(record)
        } catch LogStoreError.diskFull(let path) {
            // The refused record was cut back off the file. Keeping its reservation would seal the
            // segment early: on a disk that stays full, a new empty segment every few refusals.
            state.withLock { s in if s.activeSegment == id { s.activeBytesReserved -= Int64(record.count) } }
            throw LogStoreError.diskFull(path: path)
        }
        precondition(offset <= Self.segmentOffsetLimit, "segment offset past 32 bits")
        if record.count >= Self.uncachedRecordBytesMin { file.dropFromPageCache(offset: offset, length: record.count) }
        return (id, UInt32(offset))
    }

    /// Records at least this large leave the page cache once durable. Large chunks are rarely read
    /// right back, and reading them from disk costs little more than from memory; kept cached, they
    /// push out the small records worth caching, and every new page the cache grows into costs a
    /// first touch (on this project's VMs, writing into never-used page cache ran at 270 MB/s, into
    /// recycled pages at 2 GB/s with the fdatasync). MinIO writes large objects with O_DIRECT for
    /// the same reasons.
    public static let uncachedRecordBytesMin = 1 << 20

    func markCorrupt(_ keys: some Sequence<StoreKey>) {
        state.withLock { s in
            for key in keys where s.index[key] != nil { s.corruptKeys.insert(key) }
        }
    }

    /// Bytes free on the file system holding the store.
    public func availableBytes() -> Int64 { FileIO.availableBytes(configuration.directory) }
}

extension FileIO {
    public static func availableBytes(_ path: String) -> Int64 {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return 0 }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }
}

extension Array where Element == UInt8 {
    func loadBigEndian(at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(self[offset + i]) }
        return value
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
