#if canImport(Glibc)
import Glibc
#endif

/// Names and whole-file operations for a store directory: segment and hint paths, scanning a
/// segment into hint entries, and writing files atomically (temporary name, fsync, rename).
enum SegmentFiles {
    static let segmentPrefix = "segment-"
    static let segmentSuffix = ".sos"
    static let hintSuffix = ".hint"
    /// Files being written under this suffix are not yet part of the store; startup deletes them.
    static let temporarySuffix = ".tmp"

    static func segmentID(fromFileName name: String) -> UInt32? {
        guard name.hasPrefix(segmentPrefix), name.hasSuffix(segmentSuffix) else { return nil }
        return UInt32(name.dropFirst(segmentPrefix.count).dropLast(segmentSuffix.count))
    }

    static func baseName(_ id: UInt32) -> String { segmentPrefix + String(id).leftPadded(to: 8, with: "0") }
    static func segmentPath(_ id: UInt32, in directory: String) -> String { directory + "/" + baseName(id) + segmentSuffix }
    static func hintPath(_ id: UInt32, in directory: String) -> String { directory + "/" + baseName(id) + hintSuffix }

    /// What a scan of one segment found: its entries, the detailed reasons for its bad stretches,
    /// and where a torn tail was cut (only ever in the newest segment).
    struct Scan {
        var entries: [HintEntry] = []
        var corruptions: [LogStoreError] = []
        var truncatedAt: Int64?
    }

    /// Reads a whole segment, verifying every record. In the newest segment an invalid tail is a
    /// torn write and is cut off; anywhere else it is corruption, listed like any bad stretch.
    static func scan(_ file: AppendOnlyFile, isNewest: Bool, limiter: RateLimiter? = nil) throws -> Scan {
        var result = Scan()
        var scanner = RecordScanner(size: file.size) { offset, count in
            limiter?.consume(count)
            return try file.read(at: offset, count: count)
        }
        func corrupt(_ offset: Int64, _ length: Int64, _ reason: String) {
            result.corruptions.append(.corruptRecord(path: file.path, offset: offset, reason: reason))
            // A stretch longer than a hint entry can describe is listed in pieces.
            var start = offset
            while start < offset + length {
                let piece = min(offset + length - start, Int64(UInt32.max))
                result.entries.append(HintEntry(kind: .corrupt, length: UInt32(piece), offset: start))
                start += piece
            }
        }
        while let event = try scanner.next() {
            switch event {
            case .record(let offset, let record):
                let length = Int64(record.encodedByteCount)
                guard let key = StoreKey(bytes: record.key) else {
                    corrupt(offset, length, "key is not 16 bytes")
                    continue
                }
                switch record.type {
                case .chunk:
                    result.entries.append(
                        HintEntry(kind: .chunk, flags: record.flags.rawValue, length: UInt32(length), offset: offset, key: key))
                case .tombstone:
                    result.entries.append(HintEntry(kind: .tombstone, length: UInt32(length), offset: offset, key: key))
                case .walMutation, .snapshotHeader, .snapshotEnd:
                    corrupt(offset, length, "brain record in a segment")
                }
            case .corrupt(let offset, let length, let reason):
                corrupt(offset, length, "\(reason); \(length) bytes skipped")
            case .invalidTail(let offset, let reason):
                if isNewest {
                    try file.truncate(to: offset)
                    result.truncatedAt = offset
                } else {
                    corrupt(offset, file.size - offset, "\(reason); rest of segment unreadable")
                }
            }
        }
        return result
    }

    /// The hint entries of a segment this process has just finished appending to, from its
    /// records' headers alone: the chain of headers must run, record after record, exactly to the
    /// end of the file, or the result is nil and the caller scans the segment (`scan`). Payloads
    /// are not read: sealing a 1 GiB segment of large chunks, which have already left the page
    /// cache, would otherwise read it all back from disk while new appends are being written.
    /// Every read of a record still verifies its checksum, and the scrub reads every payload.
    static func entriesFromHeaders(_ file: AppendOnlyFile) throws -> [HintEntry]? {
        let size = file.size
        let framingBytes = RecordFormat.headerByteCount + StoreKey.byteCount
        var entries: [HintEntry] = []
        var window: [UInt8] = []
        var windowStart: Int64 = 0
        var offset: Int64 = 0
        while offset < size {
            guard size - offset >= Int64(framingBytes) else { return nil }
            if offset < windowStart || offset + Int64(framingBytes) > windowStart + Int64(window.count) {
                window = try file.read(at: offset, count: Int(min(Int64(headerWindowBytes), size - offset)))
                windowStart = offset
                guard window.count >= framingBytes else { return nil }
            }
            let start = Int(offset - windowStart)
            let framing = window[start..<start + framingBytes]
            guard let header = RecordHeader(framing), header.keyLength == StoreKey.byteCount,
                Int64(header.recordByteCount) <= size - offset,
                let key = StoreKey(bytes: Array(framing.suffix(StoreKey.byteCount)))
            else { return nil }
            let length = UInt32(header.recordByteCount)
            switch RecordType(rawValue: header.typeRaw) {
            case .chunk: entries.append(HintEntry(kind: .chunk, flags: header.flags.rawValue, length: length, offset: offset, key: key))
            case .tombstone: entries.append(HintEntry(kind: .tombstone, length: length, offset: offset, key: key))
            default: return nil
            }
            offset += Int64(length)
        }
        return entries
    }

    /// Headers of records smaller than this are read a window at a time; larger records are skipped.
    static let headerWindowBytes = 64 << 10

    /// The verified hint of segment `id`, or nil when it is missing, damaged, or describes other
    /// bytes than the segment holds now (then the caller rebuilds it from the segment).
    static func loadHint(_ id: UInt32, segmentByteCount: Int64, in directory: String) -> HintFile.Decoded? {
        let path = hintPath(id, in: directory)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0, Int64(size) <= HintFile.byteCountMax(segmentByteCount: segmentByteCount),
            let bytes = try? FileIO.pread(fd: fd, path: path, offset: 0, count: Int(size)), bytes.count == Int(size),
            let hint = try? HintFile.Decoded(bytes), hint.segment == id, hint.segmentByteCount == segmentByteCount
        else { return nil }
        return hint
    }

    /// The entry count in the header of segment `id`'s hint (unverified; 0 when unreadable): only
    /// a sizing estimate for the index, which never trusts it for anything else.
    static func hintEntryCount(_ id: UInt32, in directory: String) -> Int {
        let fd = open(hintPath(id, in: directory), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size >= Int64(HintFile.headerByteCount + HintFile.trailerByteCount),
            let header = try? FileIO.pread(fd: fd, path: "", offset: 0, count: HintFile.headerByteCount),
            header.count == HintFile.headerByteCount
        else { return 0 }
        // Bounded by the file's size, so a damaged count cannot make the index reserve too much.
        let count = Int(header.loadLittleEndian(UInt32.self, at: 12))
        return min(count, (Int(size) - HintFile.headerByteCount - HintFile.trailerByteCount) / HintFile.entryByteCount)
    }

    /// Writes the hint of segment `id` atomically: a reader sees the old file, no file, or the
    /// whole new one, never a part.
    static func writeHint(_ id: UInt32, segmentByteCount: Int64, entries: [HintEntry], in directory: String) throws {
        let bytes = HintFile.encode(segment: id, segmentByteCount: segmentByteCount, entries: entries)
        let path = hintPath(id, in: directory)
        try writeFileDurably(path + temporarySuffix, bytes)
        try rename(from: path + temporarySuffix, to: path)
        try FileIO.syncDirectory(directory)
    }

    /// Creates (or replaces) `path` with `bytes` and makes its contents durable (not its name).
    static func writeFileDurably(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LogStoreError.io(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        try FileIO.pwriteAll(fd: fd, path: path, bytes, at: 0)
        guard fdatasync(fd) == 0 else { throw LogStoreError.io(operation: "fdatasync", path: path, errno: errno) }
    }

    static func rename(from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw LogStoreError.io(operation: "rename to \(to)", path: from, errno: errno) }
    }

    /// Removes `path`; a file that is already gone is not an error.
    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw LogStoreError.io(operation: "unlink", path: path, errno: errno) }
    }
}

extension FileIO {
    /// Writes all of `bytes` at `offset`, retrying short writes and EINTR. ENOSPC/EDQUOT become `diskFull`.
    static func pwriteAll(fd: Int32, path: String, _ bytes: [UInt8], at offset: Int64) throws {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                pwrite(fd, raw.baseAddress! + written, raw.count - written, off_t(offset) + off_t(written))
            }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == ENOSPC || e == EDQUOT { throw LogStoreError.diskFull(path: path) }
                throw LogStoreError.io(operation: "write", path: path, errno: e)
            }
            written += n
        }
    }
}
