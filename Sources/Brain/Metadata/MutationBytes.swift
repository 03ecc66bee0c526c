import ClusterProtocol

/// The byte array a WAL mutation is serialized into, with the writes `MutationCodec` makes:
/// integers big-endian and strings as a 2-byte length and UTF-8, exactly as `ByteBuffer` writes
/// them (its readers decode the records). A plain array because every commit encodes one, and
/// ByteBuffer's checks on each small write (uniqueness, capacity, exclusivity) were most of it.
struct MutationBytes {
    var bytes: [UInt8] = []

    /// `headerRoom` zero bytes come first, for the record header that will frame the mutation.
    init(headerRoom: Int = 0) {
        bytes.reserveCapacity(512)  // an object's manifest fits: one allocation, no regrowth
        bytes.append(contentsOf: repeatElement(0, count: headerRoom))
    }

    mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// At most 65535 bytes of UTF-8, like `ByteBuffer.writeShortString`.
    mutating func writeShortString(_ string: String) {
        let length = min(string.utf8.count, Int(UInt16.max))
        writeInteger(UInt16(length))
        let written: Void? = string.utf8.withContiguousStorageIfAvailable { bytes.append(contentsOf: $0.prefix(length)) }
        if written == nil { bytes.append(contentsOf: string.utf8.prefix(length)) }
    }

    mutating func writeChunkID(_ id: ChunkID) {
        writeInteger(id.high)
        writeInteger(id.low)
    }

    mutating func writeObject(_ object: ObjectRecord) {
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
        let start = out.bytes.count
        out.bytes.append(contentsOf: repeatElement(0, count: count))
        out.bytes.withUnsafeMutableBufferPointer { buffer in
            _ = printUTF8(into: UnsafeMutableBufferPointer(rebasing: buffer[start..<start + count]))
        }
    }
}
