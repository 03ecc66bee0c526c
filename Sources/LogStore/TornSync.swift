/// Telling a sync torn by a power cut apart from damage, in a file written by an `AppendOnlyFile`
/// with `unsyncedBytesMax` over zero-filled room (the brain's WAL; docs/formats.md, section 4).
///
/// A disk that loses power during an fdatasync may have stored some sectors of it and not others.
/// Over zero-filled room a sector it did not store still reads as zeros where the sync's bytes
/// were due, possibly *between* records it did store: the scanner then reports a `corrupt`
/// stretch, not a torn tail. Damage that starts at `offset` is taken for a torn sync when both
/// marks of one are there:
///
/// - Reach: everything before the sync was durable, and the writer keeps at most
///   `unsyncedBytesMax` bytes past the last completed sync (an append larger than that is written
///   alone, right after one), so the sync's bytes all lie within that reach of the damage; beyond
///   it the file holds only zeros.
/// - A lost sector: the sector holding `offset` was lost (its bytes from `offset` on are zeros:
///   the bytes before were stored by an earlier sync), or a later one, wholly zero, lies between
///   the damage and the last non-zero byte. A sector is the smallest unit a disk writes or loses.
///
/// None of that sync's appends was acknowledged (an append is acknowledged only once a sync that
/// began after it was written has completed, and that sync stores every sector before it), so the
/// file may be cut where the damage starts.
public enum TornSync {
    public static let sectorBytes = 512

    public static func isTornSync(
        damageAt offset: Int64, size: Int64, unsyncedBytesMax: Int64,
        readAt: (_ offset: Int64, _ count: Int) throws -> [UInt8]
    ) throws -> Bool {
        precondition(offset >= 0 && offset < size && unsyncedBytesMax > 0, "bad torn-sync query")
        let reach = max(unsyncedBytesMax, try recordLength(at: offset, readAt: readAt) ?? 0)
        var lastNonZero: Int64 = -1
        var zeroSector: Int64?
        let sector = Int64(sectorBytes)
        // Windows end on sector boundaries, so that every sector after the first lies in one.
        var position = offset
        while position < size {
            let windowEnd = min(size, (position / sector) * sector + Int64(windowBytes))
            let bytes = try readAt(position, Int(windowEnd - position))
            guard bytes.count == Int(windowEnd - position) else { return false }
            if let last = bytes.lastIndex(where: { $0 != 0 }) { lastNonZero = position + Int64(last) }
            if zeroSector == nil { zeroSector = firstZeroSector(in: bytes, at: position) }
            position = windowEnd
        }
        guard let zeroSector, zeroSector < lastNonZero else { return false }
        return lastNonZero - offset < reach
    }

    private static let windowBytes = 1 << 20

    /// The first lost sector in `bytes`, read at file offset `start`: pieces that end on a sector
    /// boundary and are all zero. Only the first piece of the scan (from the damage on) starts off
    /// a boundary; a piece that ends off one is the end of the file.
    private static func firstZeroSector(in bytes: [UInt8], at start: Int64) -> Int64? {
        let sector = Int64(sectorBytes)
        let end = start + Int64(bytes.count)
        var from = start
        while from < end {
            let to = min(end, (from / sector + 1) * sector)
            if to % sector == 0, !bytes[Int(from - start)..<Int(to - start)].contains(where: { $0 != 0 }) { return from }
            from = to
        }
        return nil
    }

    /// The length of the record whose header starts at `offset`, if its magic is intact and its
    /// lengths are within the format's limits (the header may be all that survived of a large one).
    private static func recordLength(at offset: Int64, readAt: (Int64, Int) throws -> [UInt8]) throws -> Int64? {
        let header = try readAt(offset, RecordFormat.headerByteCount)
        guard header.count == RecordFormat.headerByteCount, header.starts(with: RecordFormat.magic) else { return nil }
        let payload = header[16..<20].reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) }
        guard payload <= RecordFormat.payloadBytesMax else { return nil }
        return Int64(RecordFormat.headerByteCount) + Int64(header[15]) + payload
    }
}
