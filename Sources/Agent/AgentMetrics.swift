import Metrics

/// A storage agent's gauges, read off its store at each scrape of its `--metrics-address` (its
/// segment fsyncs, compaction and scrub are counted by LogStore as they happen).
public enum AgentMetrics {
    static let capacity = Gauge(label: "sos_store_capacity_bytes")
    static let used = Gauge(label: "sos_store_used_bytes")
    static let free = Gauge(label: "sos_store_free_bytes")
    static let chunks = Gauge(label: "sos_store_chunks")
    static let registered = Gauge(label: "sos_agent_registered")

    public static func collect(_ agent: StorageAgent) {
        let beat = agent.heartbeat()
        capacity.record(Int64(clamping: beat.capacityBytes))
        used.record(Int64(clamping: beat.usedBytes))
        free.record(Int64(clamping: beat.freeBytes))
        chunks.record(Int64(clamping: beat.chunkCount))
        registered.record(agent.isRegistered ? 1 : 0)
    }
}
