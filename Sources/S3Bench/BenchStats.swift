import Foundation
import Histogram
import Synchronization

/// The operations whose latencies are recorded separately.
public enum S3Operation: String, CaseIterable, Sendable, Codable {
    case put, get, head, delete, list, multipart
}

/// Object sizes: one size, or uniform between two sizes (`4KiB`, `1KiB..1MiB`).
public enum SizeDistribution: Sendable, Equatable, CustomStringConvertible {
    case fixed(Int)
    case uniform(Int, Int)

    public init?(parsing text: String) {
        let parts = text.components(separatedBy: "..")
        switch parts.count {
        case 1:
            guard let n = Self.bytes(parts[0]) else { return nil }
            self = .fixed(n)
        case 2:
            guard let low = Self.bytes(parts[0]), let high = Self.bytes(parts[1]), low <= high else { return nil }
            self = low == high ? .fixed(low) : .uniform(low, high)
        default:
            return nil
        }
    }

    /// `4096`, `4KiB`, `1MiB`, `2GiB`, `10KB`, `1MB` (KB/MB/GB are powers of ten). Zero is allowed.
    public static func bytes(_ text: String) -> Int? {
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000),
            ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
        ]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, multiplier) in units where trimmed.hasSuffix(suffix) {
            guard let n = Int(trimmed.dropLast(suffix.count)), n >= 0 else { return nil }
            let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
            return overflow ? nil : product
        }
        return Int(trimmed).flatMap { $0 >= 0 ? $0 : nil }
    }

    public var maximum: Int {
        switch self {
        case .fixed(let n): n
        case .uniform(_, let high): high
        }
    }

    public func next<R: RandomNumberGenerator>(using rng: inout R) -> Int {
        switch self {
        case .fixed(let n): n
        case .uniform(let low, let high): Int.random(in: low...high, using: &rng)
        }
    }

    public var description: String {
        switch self {
        case .fixed(let n): "\(n)"
        case .uniform(let low, let high): "\(low)..\(high)"
        }
    }
}

/// Counts and a latency histogram (microseconds) for one operation.
public struct OperationStats: Sendable {
    public var ops = 0
    public var errors = 0
    public var bytes = 0
    public var latencyMicros = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)

    public init() { latencyMicros.autoResize = true }

    mutating func record(micros: UInt64, bytes: Int) {
        ops += 1
        self.bytes += bytes
        _ = latencyMicros.record(Swift.max(1, micros))
    }

    public mutating func add(_ other: OperationStats) {
        ops += other.ops
        errors += other.errors
        bytes += other.bytes
        latencyMicros.add(other.latencyMicros)
    }
}

/// Shared by every worker: per-operation statistics, the first error, and the stop conditions.
public final class BenchRecorder: Sendable {
    private let stats = Mutex<[OperationStats]>(Array(repeating: OperationStats(), count: S3Operation.allCases.count))
    private let firstErrorText = Mutex<String?>(nil)
    private let tickets: Atomic<Int>
    private let deadlineNanos: UInt64
    let completed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)

    /// Stops after `operations` (if given) or at `seconds` from now (if given).
    public init(operations: Int?, seconds: Double?) {
        tickets = Atomic(operations ?? Int.max)
        deadlineNanos = seconds.map { Self.nowNanos() + UInt64($0 * 1e9) } ?? UInt64.max
    }

    static func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Takes one operation ticket; false once the count or the deadline is reached.
    func proceed() -> Bool {
        guard Self.nowNanos() < deadlineNanos else { return false }
        return tickets.wrappingSubtract(1, ordering: .relaxed).newValue >= 0
    }

    /// Times `body`, which returns the payload bytes moved; a throw counts as an error.
    func measure(_ op: S3Operation, _ body: () async throws -> Int) async {
        let start = Self.nowNanos()
        do {
            let bytes = try await body()
            let micros = (Self.nowNanos() - start) / 1000
            stats.withLock { $0[Self.index(op)].record(micros: micros, bytes: bytes) }
            completed.wrappingAdd(1, ordering: .relaxed)
        } catch {
            stats.withLock { $0[Self.index(op)].errors += 1 }
            failed.wrappingAdd(1, ordering: .relaxed)
            firstErrorText.withLock { if $0 == nil { $0 = "\(op.rawValue): \(error)" } }
        }
    }

    private static func index(_ op: S3Operation) -> Int { S3Operation.allCases.firstIndex(of: op)! }

    public var firstError: String? { firstErrorText.withLock { $0 } }

    public func snapshot() -> [(S3Operation, OperationStats)] {
        stats.withLock { all in S3Operation.allCases.enumerated().map { ($0.element, all[$0.offset]) } }
    }
}
