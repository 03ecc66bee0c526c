/// Reads records one after another from a file, verifying each, and says exactly where and why
/// it stopped trusting the bytes. It never guesses: the caller decides whether a bad stretch is
/// a torn tail (newest file: truncate) or corruption (report and keep it out of the index).
public struct RecordScanner {
    public enum Event: Equatable {
        /// A verified record starting at `offset`.
        case record(offset: Int64, record: Record)
        /// Bytes `[offset, offset + length)` are not valid records, but a valid record follows them.
        case corrupt(offset: Int64, length: Int64, reason: RecordDecodeError)
        /// From `offset` to the end of the file there is no valid record.
        case invalidTail(offset: Int64, reason: RecordDecodeError)
    }

    public typealias ReadAt = (_ offset: Int64, _ count: Int) throws -> [UInt8]

    private let readAt: ReadAt
    private let size: Int64
    private let zeroTailEnds: Bool
    /// Where the next record would start; once `next` returns nil, where the records end.
    public private(set) var offset: Int64 = 0
    private var finished = false
    /// Records smaller than this are read through a window of this size: one read per window
    /// instead of two per record, which was half the time of replaying a million small WAL records.
    static let readAheadBytes = 1 << 20
    private var window: [UInt8] = []
    private var windowStart: Int64 = 0

    /// With `zeroTailEnds`, bytes that are all zero from where a record should start to the end of
    /// the file end the records there: they are room reserved for appends (a preallocated WAL
    /// file), not damage. Anything else there is reported as usual.
    public init(size: Int64, zeroTailEnds: Bool = false, readAt: @escaping ReadAt) {
        self.size = size
        self.zeroTailEnds = zeroTailEnds
        self.readAt = readAt
    }

    public init(bytes: [UInt8], zeroTailEnds: Bool = false) {
        self.init(size: Int64(bytes.count), zeroTailEnds: zeroTailEnds) { offset, count in
            let start = Int(offset)
            return Array(bytes[start..<min(bytes.count, start + count)])
        }
    }

    public mutating func next() throws -> Event? {
        guard !finished, offset < size else { return nil }
        let start = offset
        switch try decode(at: start) {
        case .success(let record):
            offset = start + Int64(record.encodedByteCount)
            return .record(offset: start, record: record)
        case .failure(let reason):
            if zeroTailEnds, try isZero(from: start) {
                finished = true
                return nil
            }
            if let resume = try findNextRecord(after: start) {
                offset = resume
                return .corrupt(offset: start, length: resume - start, reason: reason)
            }
            finished = true
            return .invalidTail(offset: start, reason: reason)
        }
    }

    private mutating func decode(at start: Int64) throws -> Result<Record, RecordDecodeError> {
        let remaining = size - start
        guard remaining >= Int64(RecordFormat.headerByteCount) else { return .failure(.truncated) }
        guard let header = try header(at: start) else { return .failure(.badHeader) }
        guard Int64(header.recordByteCount) <= remaining else { return .failure(.truncated) }
        let bytes = try read(at: start, count: header.recordByteCount)
        do {
            return .success(try Record(decoding: bytes))
        } catch {
            return .failure(error)
        }
    }

    /// The header at `start`, parsed inside the window when it lies there (no copy).
    private mutating func header(at start: Int64) throws -> RecordHeader? {
        let count = RecordFormat.headerByteCount
        if let bytes = windowBytes(at: start, count: count) { return RecordHeader(bytes) }
        return RecordHeader(try read(at: start, count: count))
    }

    /// Bytes `[start, start + count)` when the read-ahead window holds all of them.
    private func windowBytes(at start: Int64, count: Int) -> ArraySlice<UInt8>? {
        guard start >= windowStart, start + Int64(count) <= windowStart + Int64(window.count) else { return nil }
        let from = Int(start - windowStart)
        return window[from..<from + count]
    }

    private mutating func read(at start: Int64, count: Int) throws -> [UInt8] {
        if let bytes = windowBytes(at: start, count: count) { return Array(bytes) }
        guard count < Self.readAheadBytes else { return try readAt(start, count) }
        window = try readAt(start, Int(min(Int64(Self.readAheadBytes), size - start)))
        windowStart = start
        return Array(window.prefix(count))
    }

    /// Whether every byte from `start` to the end of the file is zero.
    private func isZero(from start: Int64) throws -> Bool {
        var position = start
        while position < size {
            let bytes = try readAt(position, Int(min(Int64(Self.readAheadBytes), size - position)))
            guard !bytes.isEmpty else { return false }
            let allZero = bytes.withUnsafeBytes { raw -> Bool in
                var combined: UInt8 = 0
                for byte in raw { combined |= byte }
                return combined == 0
            }
            guard allZero else { return false }
            position += Int64(bytes.count)
        }
        return true
    }

    /// Offset of the next valid record after `start`, searching for the magic; nil if none.
    private mutating func findNextRecord(after start: Int64) throws -> Int64? {
        let windowBytes = 1 << 20
        let magic = RecordFormat.magic
        var windowStart = start + 1
        while windowStart < size {
            let window = try readAt(windowStart, windowBytes + magic.count - 1)
            if window.count < magic.count { return nil }
            var i = 0
            while i + magic.count <= window.count {
                if window[i] == magic[0] && window[i + 1] == magic[1] && window[i + 2] == magic[2]
                    && window[i + 3] == magic[3]
                {
                    let candidate = windowStart + Int64(i)
                    if case .success = try decode(at: candidate) { return candidate }
                }
                i += 1
            }
            windowStart += Int64(windowBytes)
        }
        return nil
    }
}
