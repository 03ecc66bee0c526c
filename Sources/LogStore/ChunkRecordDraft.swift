/// A chunk record assembled where it will be written from: room for the header, the key, then the
/// payload as it arrives. `SegmentStore.put(_:tryCompression:)` fills the header in over that room,
/// so a chunk's bytes are copied once between the network and the file (into this array) instead
/// of twice (into an array, then into the encoded record).
///
/// A class, so that the array has one owner and sealing it in place never copies it (a struct
/// captured by a task's closure would be shared, and copied on write). It is filled by one task and
/// then handed to `put`, which takes its bytes: one user at a time, hence `@unchecked Sendable`.
public final class ChunkRecordDraft: @unchecked Sendable {
    public let key: StoreKey
    @usableFromInline var bytes: [UInt8]

    static let payloadStart = RecordFormat.headerByteCount + StoreKey.byteCount

    /// An empty draft with room for `payloadCapacity` payload bytes, so appending them reallocates nothing.
    public init(key: StoreKey, payloadCapacity: Int) {
        self.key = key
        bytes = []
        bytes.reserveCapacity(Self.payloadStart + payloadCapacity)
        bytes.append(contentsOf: repeatElement(0, count: RecordFormat.headerByteCount))
        bytes.append(contentsOf: key.bytes)
    }

    public var payloadCount: Int { bytes.count - Self.payloadStart }

    @inlinable
    public func append<Bytes: Collection<UInt8>>(contentsOf payload: Bytes) {
        bytes.append(contentsOf: payload)
    }

    var payload: ArraySlice<UInt8> { bytes[Self.payloadStart...] }

    /// The uncompressed chunk record, checksum included; the draft is empty afterwards.
    func takeSealed() -> [UInt8] {
        Record.seal(&bytes, type: .chunk, keyLength: StoreKey.byteCount)
        defer { bytes = [] }
        return bytes
    }
}
