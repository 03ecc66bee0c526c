import LogStore
import Metrics
import Synchronization

/// Every metric the brain records, named once (docs/operations.md lists them, and an end-to-end
/// test checks that the list and `/metrics` agree). Recorded through swift-metrics: without a
/// bootstrapped backend (unit tests, `--metrics off`) they cost nothing.
enum BrainMetrics {
    // S3 requests (see `S3RequestObserver`).
    static let s3RequestsName = "sos_s3_requests_total"
    static let s3RequestDurationName = "sos_s3_request_duration_seconds"
    static let s3ReceivedBytes = Counter(label: "sos_s3_received_bytes_total")
    static let s3SentBytes = Counter(label: "sos_s3_sent_bytes_total")
    static let s3OpenConnections = Meter(label: "sos_s3_open_connections")

    /// A request's counter and latency histogram, made once per operation and status: looking
    /// them up in the registry for every request cost more than recording.
    static func s3Request(operation: String, status: Int) -> (requests: Counter, duration: Metrics.Timer) {
        let name = RequestKey(operation: operation, status: status)
        if let found = s3RequestMetrics.withLock({ $0[name] }) { return found }
        let made = (
            Counter(label: s3RequestsName, dimensions: [("operation", operation), ("status", String(status))]),
            Metrics.Timer(label: s3RequestDurationName, dimensions: [("operation", operation)])
        )
        s3RequestMetrics.withLock { $0[name] = made }
        return made
    }
    private static let s3RequestMetrics = Mutex<[RequestKey: (requests: Counter, duration: Metrics.Timer)]>([:])

    private struct RequestKey: Hashable {
        var operation: String
        var status: Int
    }

    // Metadata: the WAL's group commits (`sos_fsync_duration_seconds{file="wal"}`, ...) and snapshots.
    static let walSync = SyncMetrics(file: "wal")
    static let snapshotDuration = Metrics.Timer(label: "sos_metadata_snapshot_duration_seconds")

    // Agents and chunks: gauges set from live state at each scrape (see `ClusterMetrics`).
    static let agentStateName = "sos_agent_state"
    static let agentCapacityName = "sos_agent_capacity_bytes"
    static let agentUsedName = "sos_agent_used_bytes"
    static let agentChunksName = "sos_agent_chunks"
    static let agentDrainingName = "sos_agent_draining"
    static let chunksUnderReplicated = Gauge(label: "sos_chunks_under_replicated")
    static let chunksUnavailable = Gauge(label: "sos_chunks_unavailable")
    static let rebalanceRunning = Gauge(label: "sos_rebalance_running")

    // Background work, counted as it happens.
    static let repairedChunks = Counter(label: "sos_repair_chunks_total", dimensions: [("result", "repaired")])
    static let failedRepairs = Counter(label: "sos_repair_chunks_total", dimensions: [("result", "failed")])
    static let reconcileDeletedReplicas = Counter(label: "sos_reconcile_deleted_replicas_total")
    static let rebalanceMovedChunks = Counter(label: "sos_rebalance_chunks_total", dimensions: [("result", "moved")])
    static let rebalanceFailedMoves = Counter(label: "sos_rebalance_chunks_total", dimensions: [("result", "failed")])
    static let lifecycleActionsName = "sos_lifecycle_actions_total"

    /// The `action` label of `sos_lifecycle_actions_total`.
    enum LifecycleAction: String, CaseIterable {
        case expire, expireNoncurrent = "expire_noncurrent", removeDeleteMarker = "remove_delete_marker"
        case abortUpload = "abort_upload", refused
    }

    static func lifecycleActions(_ action: LifecycleAction) -> Counter {
        Counter(label: lifecycleActionsName, dimensions: [("action", action.rawValue)])
    }

    /// Creates every metric that is not made on first use, so that each is served (at zero) from
    /// the start, as Prometheus' rate() and alerts expect.
    static func registerAll() {
        _ = (s3ReceivedBytes, s3SentBytes, s3OpenConnections, walSync, snapshotDuration)
        _ = (chunksUnderReplicated, chunksUnavailable, rebalanceRunning)
        _ = (repairedChunks, failedRepairs, reconcileDeletedReplicas, rebalanceMovedChunks, rebalanceFailedMoves)
        for action in LifecycleAction.allCases { _ = lifecycleActions(action) }
    }
}
