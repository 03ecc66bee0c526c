#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A 16-byte record key (the agent's chunk id), kept as two integers so the index stays small.
public struct StoreKey: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
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

    /// Smallest segment size accepted from configuration.
    public static let segmentBytesMin: Int64 = 1 << 20

    public init(directory: String, segmentBytesMax: Int64 = 1 << 30) {
        precondition(segmentBytesMax >= Int64(RecordFormat.headerByteCount + 16), "segment size too small")
        self.directory = directory
        self.segmentBytesMax = segmentBytesMax
    }
}

/// The storage agent's engine: records in append-only segment files and an in-memory index
/// from key to record location. Every read verifies the record's checksum.
public final class SegmentStore: Sendable {
    struct Location: Sendable {
        var segment: UInt32
        var offset: Int64
        var length: UInt32
    }

    private struct State {
        var index: [StoreKey: Location] = [:]
        var segments: [UInt32: AppendOnlyFile] = [:]
        var activeSegment: UInt32 = 0
        var liveBytes: Int64 = 0
    }

    public let configuration: SegmentStoreConfiguration
    public let recoveryReport: RecoveryReport
    private let state: Mutex<State>

    /// Opens the store, rebuilding the index from the segments and truncating a torn tail of the newest.
    public init(configuration: SegmentStoreConfiguration) throws {
        self.configuration = configuration
        try FileIO.createDirectory(configuration.directory)
        var state = State()
        var report = RecoveryReport()
        let ids = try FileIO.listDirectory(configuration.directory).compactMap(Self.segmentID(fromFileName:))
        for id in ids {
            let file = try AppendOnlyFile(path: Self.path(for: id, in: configuration.directory), create: false)
            try Self.load(file, id: id, isNewest: id == ids.last, into: &state, report: &report)
            state.segments[id] = file
        }
        report.segmentsScanned = ids.count
        report.recordsIndexed = state.index.count
        if let newest = ids.last {
            state.activeSegment = newest
        } else {
            state.activeSegment = 1
            state.segments[1] = try Self.createSegment(1, in: configuration.directory)
        }
        self.recoveryReport = report
        self.state = Mutex(state)
    }

    private static func load(
        _ file: AppendOnlyFile, id: UInt32, isNewest: Bool, into state: inout State, report: inout RecoveryReport
    ) throws {
        var scanner = RecordScanner(size: file.size) { try file.read(at: $0, count: $1) }
        while let event = try scanner.next() {
            switch event {
            case .record(let offset, let record):
                guard let key = StoreKey(bytes: record.key) else {
                    report.corruptions.append(.corruptRecord(path: file.path, offset: offset, reason: "key is not 16 bytes"))
                    continue
                }
                switch record.type {
                case .chunk:
                    if let old = state.index[key] { state.liveBytes -= Int64(old.length) }
                    state.index[key] = Location(segment: id, offset: offset, length: UInt32(record.encodedByteCount))
                    state.liveBytes += Int64(record.encodedByteCount)
                case .tombstone:
                    if let old = state.index.removeValue(forKey: key) { state.liveBytes -= Int64(old.length) }
                case .walMutation, .snapshotHeader, .snapshotEnd:
                    report.corruptions.append(.corruptRecord(path: file.path, offset: offset, reason: "brain record in a segment"))
                }
            case .corrupt(let offset, let length, let reason):
                report.corruptions.append(
                    .corruptRecord(path: file.path, offset: offset, reason: "\(reason); \(length) bytes skipped"))
            case .invalidTail(let offset, let reason):
                if isNewest {
                    try file.truncate(to: offset)
                    report.truncatedTails.append((file.path, offset))
                } else {
                    report.corruptions.append(
                        .corruptRecord(path: file.path, offset: offset, reason: "\(reason); rest of segment unreadable"))
                }
            }
        }
    }

    static func segmentID(fromFileName name: String) -> UInt32? {
        guard name.hasPrefix("segment-"), name.hasSuffix(".sos") else { return nil }
        return UInt32(name.dropFirst("segment-".count).dropLast(".sos".count))
    }

    static func path(for id: UInt32, in directory: String) -> String {
        directory + "/segment-" + String(id).leftPadded(to: 8, with: "0") + ".sos"
    }

    private static func createSegment(_ id: UInt32, in directory: String) throws -> AppendOnlyFile {
        let file = try AppendOnlyFile(path: path(for: id, in: directory), create: true)
        try FileIO.syncDirectory(directory)
        return file
    }

    /// Stores `payload` under `key`; returns once the record is durable.
    public func put(key: StoreKey, payload: [UInt8]) async throws {
        let record = Record(type: .chunk, key: key.bytes, payload: payload).encoded()
        let (id, file) = try segmentForAppend(byteCount: record.count)
        let offset = try await file.append(record)
        state.withLock { s in
            if let old = s.index[key] { s.liveBytes -= Int64(old.length) }
            s.index[key] = Location(segment: id, offset: offset, length: UInt32(record.count))
            s.liveBytes += Int64(record.count)
        }
    }

    /// Deletes `key` durably (a tombstone record). Returns false when the key was not stored.
    @discardableResult
    public func delete(key: StoreKey) async throws -> Bool {
        guard state.withLock({ $0.index[key] != nil }) else { return false }
        let record = Record(type: .tombstone, key: key.bytes, payload: []).encoded()
        let (_, file) = try segmentForAppend(byteCount: record.count)
        _ = try await file.append(record)
        state.withLock { s in
            if let old = s.index.removeValue(forKey: key) { s.liveBytes -= Int64(old.length) }
        }
        return true
    }

    /// The verified payload stored under `key`, or nil when there is none.
    /// Throws `corruptRecord` rather than returning bytes whose checksum fails.
    public func get(key: StoreKey) async throws -> [UInt8]? {
        guard let (location, file) = state.withLock({ s -> (Location, AppendOnlyFile)? in
            guard let location = s.index[key], let file = s.segments[location.segment] else { return nil }
            return (location, file)
        }) else { return nil }
        return try await BlockingIO.run {
            let bytes = try file.read(at: location.offset, count: Int(location.length))
            let record: Record
            do {
                record = try Record(decoding: bytes)
            } catch {
                throw LogStoreError.corruptRecord(path: file.path, offset: location.offset, reason: "\(error)")
            }
            guard record.key == key.bytes, record.type == .chunk else {
                throw LogStoreError.corruptRecord(path: file.path, offset: location.offset, reason: "index points at another record")
            }
            return record.payload
        }
    }

    public func contains(key: StoreKey) -> Bool { state.withLock { $0.index[key] != nil } }

    /// Every live key, in no particular order.
    public func allKeys() -> [StoreKey] { state.withLock { Array($0.index.keys) } }

    public var recordCount: Int { state.withLock { $0.index.count } }

    /// Bytes of live records (header included).
    public var liveBytes: Int64 { state.withLock { $0.liveBytes } }

    public var segmentCount: Int { state.withLock { $0.segments.count } }

    /// Picks the active segment, sealing it and starting the next when this append would overflow it.
    private func segmentForAppend(byteCount: Int) throws -> (UInt32, AppendOnlyFile) {
        try state.withLock { s in
            let active = s.segments[s.activeSegment]!
            if active.size > 0 && active.size + Int64(byteCount) > configuration.segmentBytesMax {
                let next = s.activeSegment + 1
                let file = try Self.createSegment(next, in: configuration.directory)
                s.segments[next] = file
                s.activeSegment = next
                return (next, file)
            }
            return (s.activeSegment, active)
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
