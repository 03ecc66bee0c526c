import ClusterProtocol

/// Where a WAL mutation is serialized, with the writes `MutationCodec` makes: integers big-endian
/// and strings as a 2-byte length and UTF-8, exactly as `ByteBuffer` writes them (its readers
/// decode the records). Plain stores into the final array, because every commit encodes one, and
/// ByteBuffer's (or a growing array's) checks on each small write were most of the encoding.
struct MutationBytes {
    private let buffer: UnsafeMutableRawBufferPointer
    /// Bytes written, or that would have been: past the end, writes only count (see `serialize`).
    private(set) var count: Int

    /// The bytes `body` writes after `headerRoom` zero bytes (room for the record header). Runs
    /// `body` a second time, into an array of exactly the size counted, when the first did not fit.
    static func serialize(headerRoom: Int = 0, _ body: (inout MutationBytes) -> Void) -> [UInt8] {
        var capacity = headerRoom + 512  // an object's manifest fits: one allocation
        while true {
            var needed = 0
            let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { storage, initialized in
                let raw = UnsafeMutableRawBufferPointer(storage)
                raw.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: headerRoom)
                var out = MutationBytes(buffer: raw, count: headerRoom)
                body(&out)
                needed = out.count
                initialized = needed <= capacity ? needed : 0
            }
            if needed <= capacity { return bytes }
            capacity = needed
        }
    }

    private init(buffer: UnsafeMutableRawBufferPointer, count: Int) {
        self.buffer = buffer
        self.count = count
    }

    /// Whether `byteCount` more bytes fit; if not, they are only counted.
    private mutating func reserve(_ byteCount: Int) -> Bool {
        defer { count += byteCount }
        return count + byteCount <= buffer.count
    }

    mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        let offset = count
        guard reserve(MemoryLayout<T>.size) else { return }
        buffer.storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }

    mutating func writeBytes(_ bytes: UnsafeRawBufferPointer) {
        let offset = count
        guard reserve(bytes.count), let source = bytes.baseAddress else { return }
        (buffer.baseAddress! + offset).copyMemory(from: source, byteCount: bytes.count)
    }

    /// At most 65535 bytes of UTF-8, like `ByteBuffer.writeShortString`.
    mutating func writeShortString(_ string: String) {
        let length = min(string.utf8.count, Int(UInt16.max))
        writeInteger(UInt16(length))
        let written: Void? = string.utf8.withContiguousStorageIfAvailable { writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0.prefix(length)))) }
        if written == nil { Array(string.utf8.prefix(length)).withUnsafeBytes { writeBytes($0) } }
    }

    /// Room for `byteCount` bytes that `fill` writes in place (only counted when they do not fit).
    mutating func writeInPlace(count byteCount: Int, _ fill: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        let offset = count
        guard reserve(byteCount) else { return }
        fill(UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<offset + byteCount]).bindMemory(to: UInt8.self))
    }

    mutating func writeChunkID(_ id: ChunkID) {
        writeInteger(id.high)
        writeInteger(id.low)
    }

    mutating func writeVersionID(_ id: VersionID) {
        writeInteger(id.high)
        writeInteger(id.low)
    }

    /// `0` none, `1` GOVERNANCE, `2` COMPLIANCE.
    mutating func writeRetentionMode(_ mode: RetentionMode?) {
        writeInteger(UInt8(mode.map { $0 == .governance ? 1 : 2 } ?? 0))
    }

    /// An object in the layout of format version 2: its version id and flags, then the fields of version 1.
    mutating func writeObject(_ object: ObjectRecord) {
        writeVersionID(object.versionID)
        writeInteger(object.isDeleteMarker ? ObjectRecord.deleteMarkerFlag : 0)
        writeInteger(object.size)
        object.storedETag.write(to: &self)
        writeInteger(object.lastModifiedMs)
        writeHeaders(object.headers)
        writeInteger(object.checksum?.algorithm.rawValue ?? 0)
        if let checksum = object.checksum {
            writeInteger(UInt8(checksum.isComposite ? 1 : 0))
            writeShortString(checksum.value)
        }
        writeInteger(UInt32(object.partSizes.count))
        for size in object.partSizes { writeInteger(size) }
        writeChunks(object.chunks)
    }

    mutating func writeHeaders(_ headers: [StoredHeader]) {
        writeInteger(UInt16(headers.count))
        for header in headers {
            writeShortString(header.name)
            writeShortString(header.value)
        }
    }

    mutating func writeChunks(_ chunks: [ChunkPlacement]) {
        writeInteger(UInt32(chunks.count))
        for chunk in chunks {
            writeChunkID(chunk.id)
            writeInteger(chunk.length)
            writeInteger(UInt8(chunk.agents.count))
            for agent in chunk.agents { writeShortString(agent) }
        }
    }
}

extension StoredETag {
    /// Written as `writeShortString(text)` would write it, without making the String.
    func write(to out: inout MutationBytes) {
        guard case .md5 = self else { return out.writeShortString(text) }
        let count = utf8Count
        out.writeInteger(UInt16(count))
        out.writeInPlace(count: count) { _ = printUTF8(into: $0) }
    }
}
