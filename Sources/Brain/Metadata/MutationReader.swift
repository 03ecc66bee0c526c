import ClusterProtocol

/// Reads a WAL or snapshot mutation where its bytes lie, in the layout `MutationCodec` writes
/// (docs/formats.md, "WAL mutations": big-endian integers, strings as a 2-byte length and UTF-8).
/// Restart decodes a million of these; going through a ByteBuffer copied each payload first and
/// paid a runtime exclusivity check on every integer read.
struct MutationReader {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0
    /// The layout version of the payload (`MutationCodec.formatVersion`); a payload without one is version 1.
    var formatVersion: UInt8 = 1

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var readableBytes: Int { bytes.count - offset }

    mutating func readInteger<T: FixedWidthInteger>(as: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard readableBytes >= size else { return nil }
        defer { offset += size }
        return T(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func readUInt64(_ what: String) throws -> UInt64 {
        guard let value: UInt64 = readInteger() else { throw ClusterProtocolError.malformed("\(what) missing") }
        return value
    }

    mutating func readUInt32(_ what: String) throws -> UInt32 {
        guard let value: UInt32 = readInteger() else { throw ClusterProtocolError.malformed("\(what) missing") }
        return value
    }

    mutating func readInt64(_ what: String) throws -> Int64 { Int64(bitPattern: try readUInt64(what)) }

    mutating func readChunkID() throws -> ChunkID {
        guard let high: UInt64 = readInteger(), let low: UInt64 = readInteger() else {
            throw ClusterProtocolError.malformed("chunk id shorter than 16 bytes")
        }
        return ChunkID(high: high, low: low)
    }

    /// A string written by `writeShortString`; invalid UTF-8 is refused rather than repaired, so
    /// that what decodes re-encodes to the same bytes.
    mutating func readShortString() throws -> String {
        guard let length: UInt16 = readInteger(), readableBytes >= Int(length) else {
            throw ClusterProtocolError.malformed("string runs past the end of the frame")
        }
        guard let string = ShortString.exactUTF8(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(length)])) else {
            throw ClusterProtocolError.malformed("string is not valid UTF-8")
        }
        offset += Int(length)
        return string
    }

    /// A 4-byte element count, refused when the rest of the payload cannot hold that many elements.
    mutating func readCount(minimumBytesEach: Int) throws -> Int {
        let count = Int(try readUInt32("count"))
        guard count <= readableBytes / minimumBytesEach else { throw ClusterProtocolError.malformed("count \(count)") }
        return count
    }

    /// A version id from format version 2 on; `null` before (there were no versions).
    mutating func readVersionID() throws -> VersionID {
        guard formatVersion >= 2 else { return .null }
        return VersionID(high: try readUInt64("version id"), low: try readUInt64("version id"))
    }

    mutating func readRetentionMode() throws -> RetentionMode? {
        switch readInteger(as: UInt8.self) {
        case 0: return nil
        case 1: return .governance
        case 2: return .compliance
        default: throw ClusterProtocolError.malformed("retention mode")
        }
    }

    mutating func readObject() throws -> ObjectRecord {
        let versionID = try readVersionID()
        var isDeleteMarker = false
        if formatVersion >= 2 {
            guard let flags: UInt8 = readInteger(), flags & ~ObjectRecord.deleteMarkerFlag == 0 else {
                throw ClusterProtocolError.malformed("object flags")
            }
            isDeleteMarker = flags & ObjectRecord.deleteMarkerFlag != 0
        }
        let size = try readInt64("size")
        let etag = try readShortString()
        let lastModified = try readInt64("last modified")
        let headers = try readHeaders()
        var checksum: StoredChecksum?
        if let algorithm = try readChecksumAlgorithm() {
            guard let composite: UInt8 = readInteger(), composite <= 1 else { throw ClusterProtocolError.malformed("checksum type") }
            checksum = StoredChecksum(algorithm: algorithm, value: try readShortString(), isComposite: composite == 1)
        }
        let partCount = try readCount(minimumBytesEach: 8)
        var partSizes: [Int64] = []
        partSizes.reserveCapacity(partCount)
        for _ in 0..<partCount { partSizes.append(try readInt64("part size")) }
        var object = ObjectRecord(
            size: size, etag: etag, lastModifiedMs: lastModified, headers: headers, checksum: checksum,
            partSizes: partSizes, chunks: try readChunks(), versionID: versionID)
        object.isDeleteMarker = isDeleteMarker
        return object
    }

    mutating func readHeaders() throws -> [StoredHeader] {
        guard let count: UInt16 = readInteger() else { throw ClusterProtocolError.malformed("header count") }
        var headers: [StoredHeader] = []
        headers.reserveCapacity(Int(count))
        for _ in 0..<count { headers.append(StoredHeader(name: try readShortString(), value: try readShortString())) }
        return headers
    }

    mutating func readChunks() throws -> [ChunkPlacement] {
        let count = try readCount(minimumBytesEach: 23)
        var chunks: [ChunkPlacement] = []
        chunks.reserveCapacity(count)
        for _ in 0..<count {
            let id = try readChunkID()
            let length = try readUInt32("chunk length")
            guard let replicas: UInt8 = readInteger(), replicas > 0 else { throw ClusterProtocolError.malformed("replica count") }
            var agents: [String] = []
            agents.reserveCapacity(Int(replicas))
            for _ in 0..<replicas { agents.append(try readShortString()) }
            chunks.append(ChunkPlacement(id: id, length: length, agents: agents))
        }
        return chunks
    }

    mutating func readFlag(_ what: String) throws -> Bool {
        guard let flag: UInt8 = readInteger(), flag <= 1 else { throw ClusterProtocolError.malformed(what) }
        return flag == 1
    }

    mutating func readPermissions(allowEmpty: Bool) throws -> BucketPermissions {
        guard let raw: UInt8 = readInteger(), raw & ~BucketPermissions.all.rawValue == 0, allowEmpty || raw != 0 else {
            throw ClusterProtocolError.malformed("bucket permissions")
        }
        return BucketPermissions(rawValue: raw)
    }

    /// An access key record; its buckets in strictly ascending order, as written, so it re-encodes to the same bytes.
    mutating func readAccessKey() throws -> AccessKeyRecord {
        var record = AccessKeyRecord(
            accessKeyID: try readShortString(), secretKey: try readShortString(), name: try readShortString(),
            createdMs: try readInt64("key creation date"))
        record.mayCreateBuckets = try readFlag("may-create-buckets flag")
        let count = try readCount(minimumBytesEach: 3)
        var previous: String?
        for _ in 0..<count {
            let bucket = try readShortString()
            guard previous.map({ $0 < bucket }) ?? true else { throw ClusterProtocolError.malformed("key buckets out of order") }
            previous = bucket
            record.buckets[bucket] = try readPermissions(allowEmpty: false)
        }
        return record
    }

    mutating func readACL() throws -> CannedACL {
        guard let raw: UInt8 = readInteger(), let acl = CannedACL(rawValue: raw) else {
            throw ClusterProtocolError.malformed("canned ACL")
        }
        return acl
    }

    mutating func readChecksumAlgorithm() throws -> ChecksumAlgorithm? {
        guard let raw: UInt8 = readInteger() else { throw ClusterProtocolError.malformed("checksum algorithm") }
        if raw == 0 { return nil }
        guard let algorithm = ChecksumAlgorithm(rawValue: raw) else {
            throw ClusterProtocolError.malformed("unknown checksum algorithm \(raw)")
        }
        return algorithm
    }
}
