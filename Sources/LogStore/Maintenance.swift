#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// Running totals of background work, for logs and metrics.
public struct MaintenanceCounters: Sendable, Equatable {
    public var hintsWritten = 0
    public var hintWriteFailures = 0
    public var segmentsCompacted = 0
    public var segmentsDeleted = 0
    public var bytesReclaimed: Int64 = 0
    public var scrubsRun = 0
    public var corruptRecordsFound = 0
}

/// Paces a background reader to at most `bytesPerSecond`, so that compaction and scrub leave
/// the disk to foreground requests. Used from one thread at a time (the maintenance queue).
final class RateLimiter {
    let bytesPerSecond: Int64
    private let start = DispatchTime.now().uptimeNanoseconds
    private var bytes: Int64 = 0

    init(bytesPerSecond: Int64) {
        precondition(bytesPerSecond > 0)
        self.bytesPerSecond = bytesPerSecond
    }

    /// Accounts for `count` bytes, sleeping until they fit in the budget.
    func consume(_ count: Int) {
        bytes += Int64(count)
        let dueNanoseconds = UInt64(Double(bytes) / Double(bytesPerSecond) * 1e9)
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        if dueNanoseconds > elapsed { usleep(UInt32(min((dueNanoseconds - elapsed) / 1000, 1_000_000))) }
    }
}

extension SegmentStore {
    public var maintenanceCounters: MaintenanceCounters { counters.withLock { $0 } }

    /// Writes the hint of a segment that just stopped taking appends, once its last append is done.
    func sealInBackground(_ id: UInt32) {
        maintenance.async {
            do {
                try self.writeHint(forSealed: id)
                self.counters.withLock { $0.hintsWritten += 1 }
            } catch {
                // Not fatal: a sealed segment without a hint is scanned at the next startup.
                self.counters.withLock { $0.hintWriteFailures += 1 }
            }
        }
    }

    private func writeHint(forSealed id: UInt32) throws {
        while let inFlight = state.withLock({ $0.segments[id]?.appendsInFlight }), inFlight > 0 { usleep(1000) }
        guard let file = state.withLock({ $0.segments[id]?.file }) else { return }
        let entries = try SegmentFiles.entriesFromHeaders(file) ?? SegmentFiles.scan(file, isNewest: false).entries
        try SegmentFiles.writeHint(id, segmentByteCount: file.size, entries: entries, in: configuration.directory)
    }

    /// Waits until every background job queued so far (sealing, compaction, scrub) has finished.
    public func waitForMaintenance() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in maintenance.async { done.resume() } }
    }

    /// Runs `body` on the maintenance queue (one job at a time) and returns its result.
    func onMaintenanceQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            maintenance.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// The entries of sealed segment `id`: from its hint, or from a scan that also rewrites the hint.
    func entries(ofSealed id: UInt32, file: AppendOnlyFile) throws -> [HintEntry] {
        if let hint = SegmentFiles.loadHint(id, segmentByteCount: file.size, in: configuration.directory) {
            return hint.entries
        }
        let scan = try SegmentFiles.scan(file, isNewest: false)
        try? SegmentFiles.writeHint(id, segmentByteCount: file.size, entries: scan.entries, in: configuration.directory)
        return scan.entries
    }
}

/// What one scrub pass found.
public struct ScrubReport: Sendable {
    public var segmentsChecked = 0
    public var bytesChecked: Int64 = 0
    public var recordsChecked = 0
    /// Every bad stretch found, with its segment and offset.
    public var corruptions: [LogStoreError] = []
    /// Keys whose current record lies in a bad stretch: they are no longer served.
    public var corruptKeys: [StoreKey] = []
}

extension SegmentStore {
    /// Verifies the checksum of every record in every segment, reading at most
    /// `bytesPerSecond` (default: the configured scrub rate). Keys whose record is damaged are
    /// marked corrupt: reads of them fail with `corruptRecord` until they are written again.
    public func scrub(bytesPerSecond: Int64? = nil) async throws -> ScrubReport {
        let rate = bytesPerSecond ?? configuration.scrubBytesPerSecondMax
        return try await onMaintenanceQueue { try self.scrubAll(limiter: RateLimiter(bytesPerSecond: rate)) }
    }

    private func scrubAll(limiter: RateLimiter) throws -> ScrubReport {
        var report = ScrubReport()
        // Sizes are taken now: the active segment's bytes past this point are still being written.
        let segments = state.withLock { s in s.segments.map { ($0.key, $0.value.file, $0.value.file.size) } }
        for (id, file, size) in segments.sorted(by: { $0.0 < $1.0 }) {
            var bad: [(offset: Int64, length: Int64)] = []
            var scanner = RecordScanner(size: size) { offset, count in
                limiter.consume(count)
                return try file.read(at: offset, count: count)
            }
            while let event = try scanner.next() {
                switch event {
                case .record:
                    report.recordsChecked += 1
                case .corrupt(let offset, let length, let reason):
                    bad.append((offset, length))
                    report.corruptions.append(.corruptRecord(path: file.path, offset: offset, reason: "\(reason); \(length) bytes"))
                case .invalidTail(let offset, let reason):
                    bad.append((offset, size - offset))
                    report.corruptions.append(
                        .corruptRecord(path: file.path, offset: offset, reason: "\(reason); rest of segment unreadable"))
                }
            }
            report.segmentsChecked += 1
            report.bytesChecked += size
            if !bad.isEmpty { report.corruptKeys += keys(in: id, overlapping: bad) }
        }
        markCorrupt(report.corruptKeys)
        counters.withLock {
            $0.scrubsRun += 1
            $0.corruptRecordsFound += report.corruptKeys.count
        }
        MaintenanceMetrics.scrubbedSegments.increment(by: report.segmentsChecked)
        MaintenanceMetrics.scrubbedBytes.increment(by: report.bytesChecked)
        MaintenanceMetrics.corruptRecords.increment(by: report.corruptKeys.count)
        return report
    }

    /// Keys whose indexed record in segment `id` overlaps one of the byte ranges.
    private func keys(in id: UInt32, overlapping ranges: [(offset: Int64, length: Int64)]) -> [StoreKey] {
        state.withLock { s in
            s.index.compactMap { key, location in
                guard location.segment == id else { return nil }
                let start = Int64(location.offset)
                let end = start + Int64(location.length)
                return ranges.contains { start < $0.offset + $0.length && $0.offset < end } ? key : nil
            }
        }
    }
}
