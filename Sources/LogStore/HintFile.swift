import CXXHash

/// One line of a segment's table of contents: what sits where, without the payload.
///
/// A hint file is a pure function of its segment's bytes (docs/formats.md, "Hint files"): it lists
/// every record and every bad stretch in offset order, so applying a hint to the index has exactly
/// the effect of scanning the segment, at a fraction of the reading.
public struct HintEntry: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case chunk = 1
        case tombstone = 2
        /// Bytes that are not a valid record. Listed so that startup reports them every time.
        case corrupt = 3
    }

    public var kind: Kind
    /// The record's flags (bit 0: lz4); 0 for a corrupt stretch.
    public var flags: UInt8
    /// Record bytes, header included (or the length of the bad stretch).
    public var length: UInt32
    public var offset: Int64
    /// The record key; all zero for a corrupt stretch.
    public var key: StoreKey

    public init(kind: Kind, flags: UInt8 = 0, length: UInt32, offset: Int64, key: StoreKey = StoreKey(high: 0, low: 0)) {
        self.kind = kind
        self.flags = flags
        self.length = length
        self.offset = offset
        self.key = key
    }
}

public enum HintFileError: Error, Equatable {
    case truncated
    case badHeader
    case checksumMismatch
    case badEntry(index: Int)
    case wrongSegment
}

/// Encodes and decodes hint files. Layout (little-endian), specified byte by byte in docs/formats.md:
///
///     header  (32 bytes): "SOSH", version 1, 3 zero bytes, segment number u32, entry count u32,
///                         segment byte count u64, 8 zero bytes
///     entries (32 bytes each): kind u8, flags u8, 2 zero bytes, length u32, offset u64, key 16 bytes (BE)
///     trailer (8 bytes): XXH3-64 (seed 0) of every byte before it
public enum HintFile {
    public static let magic: [UInt8] = Array("SOSH".utf8)
    public static let version: UInt8 = 1
    public static let headerByteCount = 32
    public static let entryByteCount = 32
    public static let trailerByteCount = 8

    /// The largest hint a segment of `segmentByteCount` bytes can have: one entry per smallest
    /// record (header + 16-byte key), plus one for a bad stretch between each. Loading refuses
    /// anything larger, so a damaged header can never make us allocate without bound.
    public static func byteCountMax(segmentByteCount: Int64) -> Int64 {
        let entriesMax = 2 * (segmentByteCount / Int64(RecordFormat.headerByteCount + 16)) + 1
        return Int64(headerByteCount + trailerByteCount) + entriesMax * Int64(entryByteCount)
    }

    public static func encode(segment: UInt32, segmentByteCount: Int64, entries: [HintEntry]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(headerByteCount + entries.count * entryByteCount + trailerByteCount)
        bytes.append(contentsOf: magic)
        bytes.append(contentsOf: [version, 0, 0, 0])
        bytes.appendLittleEndian(segment)
        bytes.appendLittleEndian(UInt32(entries.count))
        bytes.appendLittleEndian(UInt64(segmentByteCount))
        bytes.appendLittleEndian(UInt64(0))
        for entry in entries {
            bytes.append(entry.kind.rawValue)
            bytes.append(entry.flags)
            bytes.append(contentsOf: [0, 0])
            bytes.appendLittleEndian(entry.length)
            bytes.appendLittleEndian(UInt64(entry.offset))
            bytes.append(contentsOf: entry.key.bytes)
        }
        bytes.appendLittleEndian(Checksum.xxh3(bytes))
        return bytes
    }

    /// A verified hint: the checksum matches and every entry lies inside the segment, in
    /// increasing, non-overlapping offset order. Entries are decoded on demand, not copied.
    public struct Decoded: Sendable {
        public let segment: UInt32
        public let segmentByteCount: Int64
        public let entryCount: Int
        private let bytes: [UInt8]

        public init(_ bytes: [UInt8]) throws(HintFileError) {
            let fixed = HintFile.headerByteCount + HintFile.trailerByteCount
            guard bytes.count >= fixed else { throw .truncated }
            guard Array(bytes[0..<4]) == HintFile.magic, bytes[4] == HintFile.version,
                bytes[5] == 0, bytes[6] == 0, bytes[7] == 0, bytes[24..<32].allSatisfy({ $0 == 0 })
            else { throw .badHeader }
            let count = Int(bytes.loadLittleEndian(UInt32.self, at: 12))
            guard (bytes.count - fixed) % HintFile.entryByteCount == 0 else { throw .truncated }
            guard count == (bytes.count - fixed) / HintFile.entryByteCount else { throw .badHeader }
            let trailer = bytes.count - HintFile.trailerByteCount
            guard Checksum.xxh3(bytes, to: trailer) == bytes.loadLittleEndian(UInt64.self, at: trailer) else {
                throw .checksumMismatch
            }
            let segmentBytes = bytes.loadLittleEndian(UInt64.self, at: 16)
            guard segmentBytes <= UInt64(Int64.max) else { throw .badHeader }
            self.segment = bytes.loadLittleEndian(UInt32.self, at: 8)
            self.segmentByteCount = Int64(segmentBytes)
            self.entryCount = count
            self.bytes = bytes
            var end: Int64 = 0
            for i in 0..<count {
                // Compared by subtraction: an offset near Int64.max must not overflow the check.
                guard let entry = self.entry(i), entry.offset >= end, entry.length > 0, entry.offset <= segmentByteCount,
                    Int64(entry.length) <= segmentByteCount - entry.offset
                else { throw .badEntry(index: i) }
                end = entry.offset + Int64(entry.length)
            }
        }

        /// Entry `i`, or nil when its fields are not a valid entry (only possible before validation).
        private func entry(_ i: Int) -> HintEntry? {
            let base = HintFile.headerByteCount + i * HintFile.entryByteCount
            guard let kind = HintEntry.Kind(rawValue: bytes[base]), bytes[base + 2] == 0, bytes[base + 3] == 0 else {
                return nil
            }
            let offset = bytes.loadLittleEndian(UInt64.self, at: base + 8)
            guard offset <= UInt64(Int64.max) else { return nil }
            return HintEntry(
                kind: kind, flags: bytes[base + 1], length: bytes.loadLittleEndian(UInt32.self, at: base + 4),
                offset: Int64(offset),
                key: StoreKey(high: bytes.loadBigEndian(at: base + 16), low: bytes.loadBigEndian(at: base + 24)))
        }

        public func forEach(_ body: (HintEntry) throws -> Void) rethrows {
            for i in 0..<entryCount { try body(entry(i)!) }
        }

        public var entries: [HintEntry] {
            var all: [HintEntry] = []
            all.reserveCapacity(entryCount)
            forEach { all.append($0) }
            return all
        }
    }
}
