#if canImport(Glibc)
import Glibc
#endif

/// What one compaction pass did.
public struct CompactionReport: Sendable {
    /// Segments rewritten in place with only what is still needed.
    public var segmentsRewritten: [UInt32] = []
    /// Segments removed because nothing in them was needed any more.
    public var segmentsDeleted: [UInt32] = []
    /// Segments left alone, and why (corruption found, disk full, ...).
    public var segmentsSkipped: [(segment: UInt32, reason: String)] = []
    public var bytesReclaimed: Int64 = 0
}

/// Compaction rewrites a sealed segment in place, under its own number.
///
/// Keeping the number keeps recovery's rule ("a later segment, or a later offset in the same
/// segment, wins") true across compaction: a copied record never overtakes a newer one. The
/// steps, and the crash points each survives, are in docs/architecture.md ("Compaction"):
///
/// 1. Read the segment's entries (hint, or a scan). Keep each chunk record the index points at,
///    and each tombstone whose key an older segment still holds a chunk record for.
/// 2. Write the kept records, in their original order, to `segment-N.sos.tmp`; fdatasync.
/// 3. Write the new hint to `segment-N.hint.tmp`; fdatasync.
/// 4. Remove the old hint; fsync the directory (so an old hint never describes a new segment).
/// 5. Rename the new segment over the old, then the new hint into place; fsync the directory.
/// 6. Switch the index: each copied key still pointing at its old location moves to the new one.
///
/// A segment with nothing left to keep is deleted instead (hint first, then segment).
extension SegmentStore {
    /// Compacts every sealed segment whose dead share is at least `deadFractionMin` (default:
    /// the configured threshold), reading at most `bytesPerSecond` (default: configured rate).
    /// This is the on-demand trigger; the agent also calls it every `--compaction-interval`.
    public func compact(deadFractionMin: Double? = nil, bytesPerSecond: Int64? = nil) async throws -> CompactionReport {
        let threshold = deadFractionMin ?? configuration.compactionDeadFractionMin
        let rate = bytesPerSecond ?? configuration.compactionBytesPerSecondMax
        return try await onMaintenanceQueue {
            let limiter = RateLimiter(bytesPerSecond: rate)
            var report = CompactionReport()
            for id in self.segmentsToCompact(deadFractionMin: threshold) {
                do {
                    try self.compactSegment(id, limiter: limiter, report: &report)
                } catch let crash as SimulatedCrash {
                    throw crash
                } catch {
                    report.segmentsSkipped.append((id, "\(error)"))
                }
            }
            self.counters.withLock {
                $0.segmentsCompacted += report.segmentsRewritten.count
                $0.segmentsDeleted += report.segmentsDeleted.count
                $0.bytesReclaimed += report.bytesReclaimed
            }
            MaintenanceMetrics.compactedSegments.increment(by: report.segmentsRewritten.count + report.segmentsDeleted.count)
            MaintenanceMetrics.reclaimedBytes.increment(by: report.bytesReclaimed)
            return report
        }
    }

    /// Sealed segments, oldest first, with some dead bytes and at least `deadFractionMin` of them dead.
    func segmentsToCompact(deadFractionMin: Double) -> [UInt32] {
        state.withLock { s in
            s.segments.compactMap { id, info -> UInt32? in
                guard id != s.activeSegment, info.appendsInFlight == 0 else { return nil }
                let size = info.file.size
                let dead = size - info.liveBytes - info.retainedBytes
                return dead > 0 && Double(dead) >= deadFractionMin * Double(size) ? id : nil
            }.sorted()
        }
    }

    private struct Move {
        var key: StoreKey
        var from: Location
        var toOffset: UInt32
    }

    private func compactSegment(_ id: UInt32, limiter: RateLimiter, report: inout CompactionReport) throws {
        let directory = configuration.directory
        guard let file = state.withLock({ $0.segments[id]?.file }) else { return }
        let entries = try entries(ofSealed: id, file: file)
        if entries.contains(where: { $0.kind == .corrupt }) {
            // Bad bytes stay where they are until repaired; copying around them would hide them.
            report.segmentsSkipped.append((id, "segment holds corrupt records"))
            return
        }
        let tombstoned = Set(entries.lazy.filter { $0.kind == .tombstone }.map(\.key))
        let stillShadowing = try keysHeldByOlderSegments(than: id, among: tombstoned)
        let live = state.withLock { s in
            var live: Set<Int64> = []
            for entry in entries where entry.kind == .chunk && s.index[entry.key] == Location(id, entry) {
                live.insert(entry.offset)
            }
            return live
        }

        var kept: [HintEntry] = []
        var moves: [Move] = []
        var out: [UInt8] = []
        var newSize: Int64 = 0
        let temporaryPath = SegmentFiles.segmentPath(id, in: directory) + SegmentFiles.temporarySuffix
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LogStoreError.io(operation: "open", path: temporaryPath, errno: errno) }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        do {
            for entry in entries {
                let keep = entry.kind == .chunk ? live.contains(entry.offset) : stillShadowing.contains(entry.key)
                guard keep else { continue }
                limiter.consume(Int(entry.length))
                let bytes = try file.read(at: entry.offset, count: Int(entry.length))
                guard let record = try? Record(decoding: bytes), record.key == entry.key.bytes else {
                    markCorrupt([entry.key])
                    throw LogStoreError.corruptRecord(path: file.path, offset: entry.offset, reason: "failed verification while compacting")
                }
                var moved = entry
                moved.offset = newSize
                kept.append(moved)
                if entry.kind == .chunk {
                    moves.append(Move(key: entry.key, from: Location(id, entry), toOffset: UInt32(newSize)))
                }
                out += bytes
                newSize += Int64(bytes.count)
                if out.count >= Self.compactionWriteBytes {
                    try FileIO.pwriteAll(fd: fd, path: temporaryPath, out, at: newSize - Int64(out.count))
                    out.removeAll(keepingCapacity: true)
                }
            }
            if newSize == file.size {
                // Everything is still needed; remember that so the segment is not picked again.
                try SegmentFiles.remove(temporaryPath)
                state.withLock { s in
                    let liveBytes = s.segments[id]?.liveBytes ?? 0
                    s.segments[id]?.retainedBytes = file.size - liveBytes
                }
                return
            }
            try FileIO.pwriteAll(fd: fd, path: temporaryPath, out, at: newSize - Int64(out.count))
            guard fdatasync(fd) == 0 else { throw LogStoreError.io(operation: "fdatasync", path: temporaryPath, errno: errno) }
            close(fd)
            closed = true
        } catch {
            try? SegmentFiles.remove(temporaryPath)
            throw error
        }
        try simulateCrash(at: .segmentWritten)

        let segmentPath = SegmentFiles.segmentPath(id, in: directory)
        let hintPath = SegmentFiles.hintPath(id, in: directory)
        if kept.isEmpty {
            try SegmentFiles.remove(temporaryPath)
            try SegmentFiles.remove(hintPath)
            try simulateCrash(at: .oldHintRemoved)
            try SegmentFiles.remove(segmentPath)
            try FileIO.syncDirectory(directory)
            try simulateCrash(at: .segmentRenamed)
            state.withLock { _ = $0.segments.removeValue(forKey: id) }
            report.segmentsDeleted.append(id)
            report.bytesReclaimed += file.size
            return
        }
        let hint = HintFile.encode(segment: id, segmentByteCount: newSize, entries: kept)
        try SegmentFiles.writeFileDurably(hintPath + SegmentFiles.temporarySuffix, hint)
        try simulateCrash(at: .hintWritten)
        try SegmentFiles.remove(hintPath)
        try FileIO.syncDirectory(directory)
        try simulateCrash(at: .oldHintRemoved)
        try SegmentFiles.rename(from: temporaryPath, to: segmentPath)
        try simulateCrash(at: .segmentRenamed)
        try SegmentFiles.rename(from: hintPath + SegmentFiles.temporarySuffix, to: hintPath)
        try FileIO.syncDirectory(directory)
        try simulateCrash(at: .hintRenamed)
        let newFile = try AppendOnlyFile(
            path: segmentPath, create: false, policy: configuration.commitPolicy, syscalls: configuration.syscalls)
        state.withLock { s in
            var info = SegmentInfo(file: newFile)
            for move in moves where s.index[move.key] == move.from {
                s.index[move.key] = Location(segment: id, offset: move.toOffset, length: move.from.length)
                info.liveBytes += Int64(move.from.length)
            }
            info.retainedBytes = kept.lazy.filter { $0.kind == .tombstone }.reduce(0) { $0 + Int64($1.length) }
            s.liveBytes += info.liveBytes - (s.segments[id]?.liveBytes ?? 0)
            s.segments[id] = info
        }
        report.segmentsRewritten.append(id)
        report.bytesReclaimed += file.size - newSize
    }

    /// Stops compaction dead at `step` when a test asked for it, leaving the files exactly as a
    /// crash there would (the in-memory store is then abandoned and the directory reopened).
    private func simulateCrash(at step: CompactionStep) throws {
        if crashPoint.withLock({ $0 == step }) { throw SimulatedCrash(step: step) }
    }

    /// Bytes gathered before each write of the new segment.
    static let compactionWriteBytes = 1 << 20

    /// Which of `keys` have a chunk record in a segment older than `id`. A tombstone for such a
    /// key must survive compaction, or the older record would come back to life at recovery.
    private func keysHeldByOlderSegments(than id: UInt32, among keys: Set<StoreKey>) throws -> Set<StoreKey> {
        guard !keys.isEmpty else { return [] }
        let older = state.withLock { s in s.segments.filter { $0.key < id }.map { ($0.key, $0.value.file) } }
        var held: Set<StoreKey> = []
        for (olderID, file) in older {
            for entry in try entries(ofSealed: olderID, file: file) where entry.kind != .tombstone {
                // A corrupt stretch may once have been a chunk record for any key: keep them all.
                if entry.kind == .corrupt { return keys }
                if keys.contains(entry.key) { held.insert(entry.key) }
            }
        }
        return held
    }
}

/// The points between compaction's durable steps, for crash tests.
enum CompactionStep: Sendable, Equatable, CaseIterable {
    case segmentWritten, hintWritten, oldHintRemoved, segmentRenamed, hintRenamed
}

struct SimulatedCrash: Error {
    var step: CompactionStep
}

extension SegmentStore.Location {
    init(_ segment: UInt32, _ entry: HintEntry) {
        self.init(segment: segment, offset: UInt32(entry.offset), length: entry.length)
    }
}
