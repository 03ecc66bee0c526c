import CLZ4

/// Memory a chunk record is read into. The store reads a record straight into the caller's buffer
/// type and hands back a view of its payload, so a caller that sends bytes from buffers of its own
/// (the agent: NIO's `ByteBuffer`) is spared copying every byte it serves once more.
/// `ArraySlice<UInt8>` is the store's own.
public protocol PayloadBuffer: Sendable {
    /// The bytes `fill` writes into `capacity` bytes of fresh memory; it returns how many it wrote.
    init(capacity: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows
    var byteCount: Int { get }
    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result
    /// The bytes at `range` (offsets from the first byte), sharing this buffer's memory.
    func slice(_ range: Range<Int>) -> Self
}

extension ArraySlice: PayloadBuffer where Element == UInt8 {
    public init(capacity: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows {
        self = try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            initialized = try fill(UnsafeMutableRawBufferPointer(buffer))
            precondition(initialized <= capacity)
        }[...]
    }

    public var byteCount: Int { count }

    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withUnsafeBytes(body)
    }

    public func slice(_ range: Range<Int>) -> ArraySlice<UInt8> {
        self[(startIndex + range.lowerBound)..<(startIndex + range.upperBound)]
    }
}

extension RecordLayout {
    /// The original payload of the checked record in `bytes`: a view of it, or its lz4 payload
    /// inflated into a new buffer. A payload that does not inflate to exactly its original length
    /// is corruption (nil).
    func payload<Buffer: PayloadBuffer>(in bytes: Buffer) -> Buffer? {
        guard header.flags.contains(.lz4) else { return bytes.slice(payload) }
        let originalLength = header.originalLength
        guard originalLength > 0 else { return payload.isEmpty ? bytes.slice(payload) : nil }
        let inflated = bytes.withBytes { raw in
            Buffer(capacity: originalLength) { out in
                Self.decompress(UnsafeRawBufferPointer(rebasing: raw[payload]), into: out)
            }
        }
        return inflated.byteCount == originalLength ? inflated : nil
    }

    /// Bytes written to `out`; any failure writes none, which no compressed payload decodes to.
    private static func decompress(_ compressed: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        guard !compressed.isEmpty, !out.isEmpty else { return 0 }
        let n = LZ4_decompress_safe(
            compressed.baseAddress!.assumingMemoryBound(to: CChar.self), out.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(compressed.count), Int32(out.count))
        return n > 0 ? Int(n) : 0
    }
}
