import CoreMetrics
import Prometheus

/// The process's metrics backend: swift-metrics, recorded into one Prometheus registry that
/// `/metrics` renders. Libraries (LogStore, Agent, Brain) record through swift-metrics only and
/// know nothing of Prometheus; with no backend bootstrapped (unit tests, `--metrics off`) their
/// metrics cost nothing.
public enum Telemetry {
    /// Buckets of every duration histogram (seconds): from a page-cache read to a slow upload.
    public static let durationBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]
    /// Buckets of every count histogram (a group commit's appends).
    public static let countBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]

    /// Makes the registry the backend of swift-metrics; once a process (swift-metrics allows no second time).
    public static func bootstrap() -> MetricsRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        factory.defaultValueHistogramBuckets = countBuckets
        MetricsSystem.bootstrap(factory)
        return MetricsRegistry(registry: registry)
    }
}

/// The process's metrics, rendered in the Prometheus text format.
public struct MetricsRegistry: Sendable {
    let registry: PrometheusCollectorRegistry

    public func render() -> [UInt8] { registry.emitToBuffer() }
}
