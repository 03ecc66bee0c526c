import CXXHash

/// The one record framing shared by agent segments and the brain's write-ahead log.
///
/// Layout (all integers little-endian), specified in docs/formats.md:
///
///     offset size field
///      0     4    magic "SOSR"
///      4     8    checksum: XXH3-64 (seed 0) of bytes [12, end of record)
///     12     1    format version (1)
///     13     1    record type
///     14     1    flags (bit 0: payload is lz4-compressed)
///     15     1    key length K (0...255)
///     16     4    stored payload length P
///     20     4    original payload length (== P unless compressed)
///     24     K    key
///     24+K   P    payload
///
/// The checksum sits right after the magic so that everything it covers is contiguous.
public enum RecordFormat {
    public static let magic: [UInt8] = Array("SOSR".utf8)
    public static let version: UInt8 = 1
    public static let headerByteCount = 24
    public static let checksumOffset = 4
    public static let checksummedRangeStart = 12
    /// Upper bound on one record's payload; anything larger in a header is corruption.
    public static let payloadBytesMax = 64 * 1024 * 1024
    public static let keyBytesMax = 255
}

public enum RecordType: UInt8, Sendable {
    /// A chunk of object data, keyed by its 16-byte chunk id.
    case chunk = 1
    /// A chunk deletion: the key's earlier chunk record is dead.
    case tombstone = 2
    /// One brain metadata mutation (payload defined by the brain).
    case walMutation = 16
    /// First record of a brain snapshot: format version and the WAL generation it precedes.
    case snapshotHeader = 32
    /// Last record of a brain snapshot: how many records came between; proves the file is whole.
    case snapshotEnd = 33
}

public struct RecordFlags: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let lz4 = RecordFlags(rawValue: 1 << 0)
}

/// A decoded record whose checksum has been verified.
public struct Record: Sendable, Equatable {
    public var type: RecordType
    public var flags: RecordFlags
    public var key: [UInt8]
    public var payload: [UInt8]
    /// Length of the payload before compression.
    public var originalLength: Int

    public init(type: RecordType, flags: RecordFlags = [], key: [UInt8] = [], payload: [UInt8], originalLength: Int? = nil) {
        self.type = type
        self.flags = flags
        self.key = key
        self.payload = payload
        self.originalLength = originalLength ?? payload.count
    }

    public static func == (a: Record, b: Record) -> Bool {
        a.type == b.type && a.flags == b.flags && a.key == b.key && a.payload == b.payload
            && a.originalLength == b.originalLength
    }

    /// Total bytes this record occupies on disk.
    public var encodedByteCount: Int { RecordFormat.headerByteCount + key.count + payload.count }

    /// Encodes the record, checksum included, ready to append.
    public func encoded() -> [UInt8] {
        precondition(key.count <= RecordFormat.keyBytesMax, "record key too long")
        var bytes = [UInt8]()
        bytes.reserveCapacity(encodedByteCount)
        bytes.append(contentsOf: repeatElement(0, count: RecordFormat.headerByteCount))
        bytes.append(contentsOf: key)
        bytes.append(contentsOf: payload)
        Self.fillHeader(&bytes, type: type, flags: flags, keyLength: key.count, originalLength: originalLength)
        return bytes
    }

    /// Makes `bytes` an uncompressed record in place: the first `RecordFormat.headerByteCount` of
    /// them are room for the header, which this fills in, then come the key (`keyLength` bytes) and
    /// the payload. For callers that serialize straight into one array (the brain's WAL, a
    /// `ChunkRecordDraft`): no copy at all.
    public static func seal(_ bytes: inout [UInt8], type: RecordType, keyLength: Int = 0) {
        precondition(keyLength <= RecordFormat.keyBytesMax, "record key too long")
        let originalLength = bytes.count - RecordFormat.headerByteCount - keyLength
        fillHeader(&bytes, type: type, flags: [], keyLength: keyLength, originalLength: originalLength)
    }

    /// Writes the header over the first `RecordFormat.headerByteCount` bytes of `bytes`, which hold
    /// the key (`keyLength` bytes) and then the payload, and the checksum over all of it.
    private static func fillHeader(_ bytes: inout [UInt8], type: RecordType, flags: RecordFlags, keyLength: Int, originalLength: Int) {
        let payloadCount = bytes.count - RecordFormat.headerByteCount - keyLength
        precondition((0...RecordFormat.payloadBytesMax).contains(payloadCount), "record payload too long")
        for (index, byte) in RecordFormat.magic.enumerated() { bytes[index] = byte }
        bytes[12] = RecordFormat.version
        bytes[13] = type.rawValue
        bytes[14] = flags.rawValue
        bytes[15] = UInt8(keyLength)
        bytes.storeLittleEndian(UInt32(payloadCount), at: 16)
        bytes.storeLittleEndian(UInt32(originalLength), at: 20)
        bytes.storeLittleEndian(Checksum.xxh3(bytes, from: RecordFormat.checksummedRangeStart), at: RecordFormat.checksumOffset)
    }
}

/// The fixed-size part of a record, decoded but not yet checked against its payload.
public struct RecordHeader: Sendable, Equatable {
    public var checksum: UInt64
    public var typeRaw: UInt8
    public var flags: RecordFlags
    public var keyLength: Int
    public var payloadLength: Int
    public var originalLength: Int

    public var recordByteCount: Int { RecordFormat.headerByteCount + keyLength + payloadLength }

    /// Parses a header; nil when the bytes cannot be the start of a record.
    public init?(_ bytes: some RandomAccessCollection<UInt8>) {
        guard bytes.count >= RecordFormat.headerByteCount else { return nil }
        // Arrays and their slices are parsed where they lie: every record a scan reads (a snapshot
        // of a million objects, a WAL replay) passes through here, and the two small arrays made
        // per header were a tenth of a restart.
        guard let parsed = bytes.withContiguousStorageIfAvailable({ Self.parse(UnsafeRawBufferPointer($0)) })
            ?? Array(bytes.prefix(RecordFormat.headerByteCount)).withUnsafeBytes({ Self.parse($0) })
        else { return nil }
        self = parsed
    }

    private init(checksum: UInt64, typeRaw: UInt8, flags: RecordFlags, keyLength: Int, payloadLength: Int, originalLength: Int) {
        self.checksum = checksum
        self.typeRaw = typeRaw
        self.flags = flags
        self.keyLength = keyLength
        self.payloadLength = payloadLength
        self.originalLength = originalLength
    }

    private static func parse(_ b: UnsafeRawBufferPointer) -> RecordHeader? {
        guard b.count >= RecordFormat.headerByteCount, b.starts(with: RecordFormat.magic), b[12] == RecordFormat.version
        else { return nil }
        let header = RecordHeader(
            checksum: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 4, as: UInt64.self)), typeRaw: b[13],
            flags: RecordFlags(rawValue: b[14]), keyLength: Int(b[15]),
            payloadLength: Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 16, as: UInt32.self))),
            originalLength: Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 20, as: UInt32.self))))
        guard header.payloadLength <= RecordFormat.payloadBytesMax, header.originalLength <= RecordFormat.payloadBytesMax,
            header.flags.contains(.lz4) || header.originalLength == header.payloadLength
        else { return nil }
        return header
    }
}

public enum RecordDecodeError: Error, Equatable {
    case truncated
    case badHeader
    case checksumMismatch
    case unknownType(UInt8)
}

extension Record {
    /// Decodes and verifies one whole record (header, key, payload) from `bytes`.
    public init(decoding bytes: [UInt8]) throws(RecordDecodeError) {
        let record = try VerifiedRecord(bytes)
        self.init(
            type: record.type, flags: record.header.flags, key: Array(record.key), payload: Array(record.payload),
            originalLength: record.header.originalLength)
    }
}

/// One whole record checked in place (header, checksum, type): its key and payload are slices of
/// the bytes read, not copies (a 4 MiB chunk read is then copied once fewer).
public struct VerifiedRecord {
    public let header: RecordHeader
    public let type: RecordType
    public let key: ArraySlice<UInt8>
    public let payload: ArraySlice<UInt8>

    public init(_ bytes: [UInt8]) throws(RecordDecodeError) {
        let layout = try bytes.withUnsafeBytes { raw in
            Result { () throws(RecordDecodeError) in try RecordLayout(checking: raw) }
        }.get()
        self.header = layout.header
        self.type = layout.type
        self.key = bytes[layout.key]
        self.payload = bytes[layout.payload]
    }
}

/// Where the parts of one whole, checked record lie in the bytes read (offsets from their start).
struct RecordLayout {
    let header: RecordHeader
    let type: RecordType
    /// In the bytes holding the header.
    let key: Range<Int>
    /// In the bytes holding the payload: the same bytes, or those read apart from the header.
    let payload: Range<Int>

    /// Checks the record in `head` (header, key, payload) or, when `payload` is given, in `head`
    /// (exactly header and key) followed by `payload`: length, checksum and type.
    init(checking head: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer? = nil) throws(RecordDecodeError) {
        guard head.count >= RecordFormat.headerByteCount else { throw .truncated }
        guard let header = RecordHeader(head) else { throw .badHeader }
        let keyStart = RecordFormat.headerByteCount
        let payloadStart = keyStart + header.keyLength
        let checksum: UInt64
        if let payload {
            // A head of another length means the header is not the one the reader expected.
            guard head.count == payloadStart else { throw .badHeader }
            guard payload.count >= header.payloadLength else { throw .truncated }
            checksum = Self.xxh3(head[RecordFormat.checksummedRangeStart...], payload[..<header.payloadLength])
            self.payload = 0..<header.payloadLength
        } else {
            guard head.count >= header.recordByteCount else { throw .truncated }
            checksum = Self.xxh3(head[RecordFormat.checksummedRangeStart..<header.recordByteCount], nil)
            self.payload = payloadStart..<header.recordByteCount
        }
        guard checksum == header.checksum else { throw .checksumMismatch }
        guard let type = RecordType(rawValue: header.typeRaw) else { throw .unknownType(header.typeRaw) }
        self.header = header
        self.type = type
        self.key = keyStart..<payloadStart
    }

    /// XXH3-64 (seed 0) of `first` followed by `second`.
    private static func xxh3(_ first: Slice<UnsafeRawBufferPointer>, _ second: Slice<UnsafeRawBufferPointer>?) -> UInt64 {
        let first = UnsafeRawBufferPointer(rebasing: first)
        guard let second = second.map(UnsafeRawBufferPointer.init(rebasing:)) else {
            return XXH3_64bits(first.baseAddress, first.count)
        }
        let state = XXH3_createState()!
        defer { XXH3_freeState(state) }
        XXH3_64bits_reset(state)
        XXH3_64bits_update(state, first.baseAddress, first.count)
        XXH3_64bits_update(state, second.baseAddress, second.count)
        return XXH3_64bits_digest(state)
    }
}

public enum Checksum {
    /// XXH3-64 with seed 0 over `bytes[start..<end]`.
    public static func xxh3(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) -> UInt64 {
        let end = end ?? bytes.count
        precondition(start <= end && end <= bytes.count)
        return bytes.withUnsafeBytes { raw in
            XXH3_64bits(raw.baseAddress.map { $0 + start }, end - start)
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func storeLittleEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { raw in
            for (i, byte) in raw.enumerated() { self[offset + i] = byte }
        }
    }

    func loadLittleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(self[offset + i]) << (8 * i) }
        return value
    }
}
