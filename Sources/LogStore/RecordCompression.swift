import CLZ4

/// Whether chunk payloads are lz4-compressed before they are stored.
///
/// Compression costs more CPU than a disk write saves on a fast disk (toolchain notes: lz4
/// compresses ~0.6 GB/s), so it is opt-in, and a payload is stored compressed only when that saves
/// at least `savingsMin` of its size; otherwise it is stored as is and the flag stays clear.
public enum RecordCompression: String, Sendable, CaseIterable {
    case none
    case lz4

    /// The encoded chunk record for `draft`'s payload: compressed when this setting asks for it and
    /// it pays, else the draft itself, sealed (which empties it).
    func chunkRecord(_ draft: ChunkRecordDraft, savingsMin: Double) -> [UInt8] {
        if self == .lz4, let compressed = Self.compress(draft.payload, savingsMin: savingsMin) {
            return Record(type: .chunk, flags: .lz4, key: draft.key.bytes, payload: compressed, originalLength: draft.payloadCount)
                .encoded()
        }
        return draft.takeSealed()
    }

    /// `bytes` compressed with lz4, or nil when that would not save at least `savingsMin` of them.
    static func compress(_ bytes: ArraySlice<UInt8>, savingsMin: Double) -> [UInt8]? {
        guard !bytes.isEmpty, bytes.count <= RecordFormat.payloadBytesMax else { return nil }
        let sizeMax = Int(Double(bytes.count) * (1 - savingsMin))
        guard sizeMax > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: sizeMax)
        // LZ4 stops and returns 0 as soon as the output would pass `sizeMax`, so incompressible
        // data costs one aborted pass, not a full compression and a comparison.
        let n = bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                src.withMemoryRebound(to: CChar.self) { s in
                    dst.withMemoryRebound(to: CChar.self) { d in
                        LZ4_compress_default(s.baseAddress, d.baseAddress, Int32(src.count), Int32(sizeMax))
                    }
                }
            }
        }
        guard n > 0 else { return nil }
        out.removeLast(out.count - Int(n))
        return out
    }

    static func compress(_ bytes: [UInt8], savingsMin: Double) -> [UInt8]? { compress(bytes[...], savingsMin: savingsMin) }
}
