import LogStore

/// The WAL's files on disk: their names, the zero-filled file made ready for the next generation,
/// and the operator's repair.
extension MetadataStore {
    static func walGeneration(fromFileName name: String) -> UInt64? {
        guard name.hasPrefix("wal-"), name.hasSuffix(".log") else { return nil }
        return UInt64(name.dropFirst("wal-".count).dropLast(".log".count))
    }

    static func walPath(_ generation: UInt64, in directory: String) -> String {
        directory + "/wal-" + String(generation).leftPadded(8) + ".log"
    }

    /// The next generation's file while its zeros are written and until the WAL switches to it
    /// (a rename); one left by a crash is removed at startup, as it may be incomplete.
    static let nextWALFileName = "wal-next.tmp"

    /// Writes the next generation's zero-filled file of `byteCount` bytes and makes it durable;
    /// returns its path.
    static func prepareNextWALFile(in directory: String, byteCount: Int64) throws -> String {
        let path = directory + "/" + nextWALFileName
        if FileIO.fileExists(path) { try FileIO.remove(path) }
        try AppendOnlyFile(path: path, create: true).reserve(upTo: byteCount)
        return path
    }

    /// `sos admin repair-wal`: cuts the WAL at its first damaged record so the brain can start,
    /// keeping the cut-off bytes (and any later WAL files, which build on them) as `.bak` files.
    /// Returns what it did, for the operator.
    public static func repairWAL(directory: String) throws -> String {
        let generations = try FileIO.listDirectory(directory).compactMap(walGeneration(fromFileName:)).sorted()
        let suffix = ".bak-" + String(Clock.nowMs())
        for (index, generation) in generations.enumerated() {
            let path = walPath(generation, in: directory)
            let wal = try AppendOnlyFile(path: path, create: false)
            var scanner = RecordScanner(size: wal.size, zeroTailEnds: true) { try wal.read(at: $0, count: $1) }
            var damage: Int64?
            while let event = try scanner.next() {
                switch event {
                case .record(let offset, let record):
                    if record.type != .walMutation || (try? MutationCodec.decode(record.payload)) == nil { damage = offset }
                case .corrupt(let offset, _, _), .invalidTail(let offset, _): damage = offset
                }
                if damage != nil { break }
            }
            guard let offset = damage else { continue }
            let originalSize = wal.size
            try copyFile(path, to: path + suffix)
            try wal.truncate(to: offset)
            for later in generations[(index + 1)...] {
                try FileIO.rename(walPath(later, in: directory), to: walPath(later, in: directory) + suffix)
            }
            try FileIO.syncDirectory(directory)
            return "cut \(path) at offset \(offset) (of \(originalSize)); the original is kept as \(path + suffix)"
                + (index + 1 < generations.count ? "; \(generations.count - index - 1) later WAL file(s) set aside as *\(suffix)" : "")
        }
        return "no damaged record found in \(generations.count) WAL file(s); nothing changed"
    }

    private static func copyFile(_ from: String, to: String) throws {
        let source = try AppendOnlyFile(path: from, create: false)
        let copy = try AppendOnlyFile(path: to, create: true)
        var offset: Int64 = 0
        while offset < source.size {
            let bytes = try source.read(at: offset, count: 1 << 20)
            try copy.appendWithoutSync(bytes)
            offset += Int64(bytes.count)
        }
        try copy.syncNow()
    }
}
