import Foundation

/// The figures of one operation (or of all together), as printed in the table and the JSON.
public struct OperationReport: Codable, Sendable {
    public struct Latency: Codable, Sendable {
        public var mean, p50, p90, p99, p99_9, max: Double
    }

    public var operation: String
    public var ops: Int
    public var errors: Int
    public var opsPerSecond: Double
    public var bytes: Int
    public var mbPerSecond: Double
    /// Milliseconds.
    public var latencyMs: Latency

    init(_ name: String, _ s: OperationStats, seconds: Double) {
        operation = name
        ops = s.ops
        errors = s.errors
        opsPerSecond = seconds > 0 ? Double(s.ops) / seconds : 0
        bytes = s.bytes
        mbPerSecond = seconds > 0 ? Double(s.bytes) / 1e6 / seconds : 0
        let h = s.latencyMicros
        func ms(_ p: Double) -> Double { h.totalCount == 0 ? 0 : Double(h.valueAtPercentile(p)) / 1000 }
        latencyMs = Latency(
            mean: h.totalCount == 0 ? 0 : h.mean / 1000, p50: ms(50), p90: ms(90), p99: ms(99), p99_9: ms(99.9),
            max: h.totalCount == 0 ? 0 : Double(h.max) / 1000)
    }

    enum CodingKeys: String, CodingKey {
        case operation, ops, errors, bytes
        case opsPerSecond = "ops_per_second"
        case mbPerSecond = "mb_per_second"
        case latencyMs = "latency_ms"
    }
}

/// A whole run: the settings, the totals over every operation, and one entry per operation seen.
public struct BenchReport: Codable, Sendable {
    public var workload: String
    public var endpoint: String
    public var bucket: String
    public var concurrency: Int
    public var size: String
    public var seconds: Double
    public var total: OperationReport
    public var operations: [OperationReport]
    public var firstError: String?

    public init(
        workload: String, endpoint: String, bucket: String, concurrency: Int, size: String, seconds: Double,
        stats: [(S3Operation, OperationStats)], firstError: String?
    ) {
        self.workload = workload
        self.endpoint = endpoint
        self.bucket = bucket
        self.concurrency = concurrency
        self.size = size
        self.seconds = seconds
        var all = OperationStats()
        for (_, s) in stats { all.add(s) }
        total = OperationReport("total", all, seconds: seconds)
        operations = stats.filter { $0.1.ops + $0.1.errors > 0 }.map { OperationReport($0.0.rawValue, $0.1, seconds: seconds) }
        self.firstError = firstError
    }

    enum CodingKeys: String, CodingKey {
        case workload, endpoint, bucket, concurrency, size, seconds, total, operations
        case firstError = "first_error"
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    // Every key always present, `first_error` as null when there was none.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(workload, forKey: .workload)
        try c.encode(endpoint, forKey: .endpoint)
        try c.encode(bucket, forKey: .bucket)
        try c.encode(concurrency, forKey: .concurrency)
        try c.encode(size, forKey: .size)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(total, forKey: .total)
        try c.encode(operations, forKey: .operations)
        try c.encode(firstError, forKey: .firstError)
    }

    public func table() -> String {
        var lines = [
            "\(workload) on \(endpoint), bucket \(bucket): \(concurrency) connections, size \(size) B, "
                + String(format: "%.2f s", seconds)
        ]
        let columns = ["operation", "ops", "errors", "ops/s", "MB/s", "mean ms", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"]
        var rows = [columns]
        for r in operations + (operations.count > 1 ? [total] : []) {
            let l = r.latencyMs
            rows.append(
                [r.operation, "\(r.ops)", "\(r.errors)", String(format: "%.1f", r.opsPerSecond), String(format: "%.2f", r.mbPerSecond)]
                    + [l.mean, l.p50, l.p90, l.p99, l.p99_9, l.max].map { String(format: "%.3f", $0) })
        }
        let widths = columns.indices.map { c in rows.map { $0[c].count }.max()! }
        for row in rows {
            lines.append(
                row.enumerated().map { c, cell in
                    c == 0 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                        : String(repeating: " ", count: widths[c] - cell.count) + cell
                }.joined(separator: "  "))
        }
        if let firstError { lines.append("first error: \(firstError)") }
        return lines.joined(separator: "\n")
    }
}
