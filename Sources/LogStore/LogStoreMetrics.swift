import CoreMetrics

/// What an append-only file's group commits cost: each fdatasync's latency and how many appends it
/// made durable. Recorded through swift-metrics (nothing, unless the process bootstrapped a backend).
public struct SyncMetrics: Sendable {
    public static let durationName = "sos_fsync_duration_seconds"
    public static let appendsName = "sos_group_commit_appends"

    private let duration: CoreMetrics.Timer
    private let appends: Recorder

    /// `file` names the kind of file in the `file` label: `wal`, `segment`.
    public init(file: String) {
        duration = CoreMetrics.Timer(label: Self.durationName, dimensions: [("file", file)])
        appends = Recorder(label: Self.appendsName, dimensions: [("file", file)], aggregate: true)
    }

    func record(nanoseconds: UInt64, appends count: Int) {
        duration.recordNanoseconds(Int64(clamping: nanoseconds))
        if count > 0 { appends.record(count) }
    }
}

/// Compaction's and scrub's work and findings, summed over the process's stores (see
/// `MaintenanceCounters` for one store's).
enum MaintenanceMetrics {
    static let compactedSegments = Counter(label: "sos_compaction_segments_total")
    static let reclaimedBytes = Counter(label: "sos_compaction_reclaimed_bytes_total")
    static let scrubbedSegments = Counter(label: "sos_scrub_segments_total")
    static let scrubbedBytes = Counter(label: "sos_scrub_checked_bytes_total")
    static let corruptRecords = Counter(label: "sos_scrub_corrupt_records_total")

    /// Creates them all, so that each is served (at zero) before its first event.
    static func registerAll() {
        _ = (compactedSegments, reclaimedBytes, scrubbedSegments, scrubbedBytes, corruptRecords, SegmentStore.syncMetrics)
    }
}
