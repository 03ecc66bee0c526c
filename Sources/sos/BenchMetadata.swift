import ArgumentParser
import Brain
import ClusterProtocol
import Foundation
import Logging
import LogStore

/// `sos bench metadata`: the brain's metadata store (WAL group commit, snapshot recovery, listing,
/// memory), each figure next to its target and, for throughput, a raw-I/O baseline from the same run.
struct BenchMetadataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metadata", abstract: "Benchmark the brain's metadata store (release build).")

    @Flag(help: "Print a JSON array of {name, value, unit, baseline, ratio, target, better}.")
    var json = false

    @Option(help: "Directory on the disk to measure (a scratch folder is made and removed inside it).")
    var directory = NSTemporaryDirectory()

    @Option(help: "Objects in the restart, listing and memory measurements (40-byte keys, one chunk each).")
    var objects = 1_000_000

    @Option(help: "Versions per key in the versioned bucket of the version listing and memory measurements (as many versions in all as --objects).")
    var versionsPerKey = 10

    /// Internal: open the metadata at PATH in this fresh process and print "seconds rss-growth".
    @Option(help: .hidden)
    var measureOpen: String?

    static let bucket = "bench"
    static let prefixCount = 1000
    static let writers = 64
    static let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }

    func run() async throws {
        if let measureOpen {
            let before = BenchLogStoreCommand.residentBytes()
            var store: MetadataStore?
            let seconds = try await Stopwatch.seconds {
                store = try MetadataStore(directory: measureOpen, logger: Self.quiet, snapshotAfterWALBytes: .max)
            }
            print(seconds, BenchLogStoreCommand.residentBytes() - before, store?.buckets.count ?? 0)
            return
        }
        let scratch = try BenchDirectory(parent: directory)
        defer { scratch.remove() }
        var results = try await commitThroughput(scratch.sub("commits"))
        let large = try await restartListingAndMemory(scratch.sub("large"))
        results += large
        let bytesPerObject = large.first { $0.name == Self.bytesPerObjectName }!.value
        results += try await versions(scratch.sub("versions"), bytesPerObject: bytesPerObject)
        try BenchOutput.print(results, json: json)
    }

    /// 40 bytes: "pNNNN/" and a zero-padded number; `prefixCount` prefixes share the keys.
    static func key(_ i: Int) -> String {
        let number = String(i), prefix = String(i % prefixCount)
        return "p" + String(repeating: "0", count: 4 - prefix.count) + prefix + "/obj-"
            + String(repeating: "0", count: 30 - number.count) + number
    }

    static func object(_ i: Int) -> ObjectRecord {
        ObjectRecord(
            size: 4096, etag: "\"0123456789abcdef0123456789abcdef\"", lastModifiedMs: 1_764_000_000_000 + Int64(i),
            headers: [StoredHeader(name: "content-type", value: "binary/octet-stream")],
            chunks: [ChunkPlacement(id: ChunkID(high: UInt64(i), low: 7), length: 4096, agents: ["agent-1"])])
    }

    /// Commits from 64 concurrent writers against raw 256-byte appends with one fdatasync per 64
    /// (the baseline); reported beside it, against the same writes into a zero-filled file,
    /// which is what the store's WAL does (see `AppendOnlyFile.reserve(upTo:)`).
    private func commitThroughput(_ path: String) async throws -> [BenchResult] {
        let perWriter = 1000
        let store = try MetadataStore(directory: path + "/store", logger: Self.quiet, snapshotAfterWALBytes: .max)
        _ = try await store.commit(.createBucket(name: Self.bucket, creationDateMs: 1))
        // Made before the clock starts, as the raw baseline's records are: the figure is the store's.
        let mutations = (0..<Self.writers).map { writer in
            (0..<perWriter).map { i -> Mutation in
                let n = writer * perWriter + i
                return .putObject(bucket: Self.bucket, key: Self.key(n), object: Self.object(n))
            }
        }
        let commitSeconds = try await Stopwatch.seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writerMutations in mutations {
                    group.addTask {
                        for mutation in writerMutations { _ = try await store.commit(mutation) }
                    }
                }
                try await group.waitForAll()
            }
        }
        let record = [UInt8](repeating: 0x42, count: 256)
        func rawSeconds(_ raw: RawFile) async throws -> Double {
            try await Stopwatch.seconds {
                for batch in 0..<perWriter {
                    for j in 0..<Self.writers { try raw.write(record, at: Int64(batch * Self.writers + j) * 256) }
                    try raw.sync()
                }
            }
        }
        let appending = try await rawSeconds(RawFile(path + "/raw"))
        let zeroFilled = try RawFile(path + "/raw-zero-filled")
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        for offset in stride(from: 0, to: Self.writers * perWriter * 256, by: zeros.count) { try zeroFilled.write(zeros, at: Int64(offset)) }
        try zeroFilled.sync()
        let overwriting = try await rawSeconds(zeroFilled)
        let commits = Double(Self.writers * perWriter)
        return [
            BenchResult(
                name: "metadata_commits_64_writers", value: commits / commitSeconds, unit: "commits/s",
                baseline: commits / appending, target: 0.7, better: .higher),
            // Reported only: the baseline is the appending one above.
            BenchResult(
                name: "metadata_commits_64_writers_vs_raw_into_zero_filled_file", value: commits / commitSeconds, unit: "commits/s",
                baseline: commits / overwriting, target: 0, better: .higher),
        ]
    }

    private func restartListingAndMemory(_ path: String) async throws -> [BenchResult] {
        let store = try MetadataStore(directory: path, logger: Self.quiet, snapshotAfterWALBytes: .max)
        _ = try await store.commit(.createBucket(name: Self.bucket, creationDateMs: 1))
        try await commitObjects(store, 0..<objects)
        try await store.snapshotNow()
        try await commitObjects(store, 0..<(objects / 10))  // a 10% WAL tail of overwrites
        var results: [BenchResult] = []

        for delimiter in ["", "/"] {
            var latencies: [Double] = []
            for _ in 0..<1000 {
                let startAfter = Self.key(Int.random(in: 0..<objects))
                latencies.append(
                    await Stopwatch.seconds {
                        _ = store.listPageCounts(
                            bucket: Self.bucket, prefix: "", delimiter: delimiter, startAfter: startAfter, maxKeys: 1000)
                    } * 1000)
            }
            results.append(
                BenchResult(
                    name: delimiter.isEmpty ? "list_page_1000_p99" : "list_delimiter_1000_prefixes_p99",
                    value: latencies.sorted()[Int(Double(latencies.count - 1) * 0.99)], unit: "ms", baseline: nil,
                    target: 10, better: .lower))
        }

        let (snapshotSeconds, rss) = try measureOpenInFreshProcess(path)
        results.append(
            BenchResult(
                name: "restart_from_snapshot_plus_10pct_wal", value: snapshotSeconds, unit: "s", baseline: nil, target: 2,
                better: .lower))
        results.append(
            BenchResult(
                name: Self.bytesPerObjectName, value: Double(rss) / Double(objects) - Self.keyBytes, unit: "bytes",
                baseline: nil, target: 300, better: .lower))
        // After a power cut that tore the last group commit: the start also finds and cuts the torn sync.
        if try tearLastSync(path) {
            let (tornSeconds, _) = try measureOpenInFreshProcess(path)
            results.append(
                BenchResult(name: "restart_after_torn_wal_sync", value: tornSeconds, unit: "s", baseline: nil, target: 2, better: .lower))
        }
        // WAL only: the same history without the snapshot (generation 1 still holds every commit).
        for name in try FileManager.default.contentsOfDirectory(atPath: path) where name.hasSuffix(".snap") {
            try FileManager.default.removeItem(atPath: path + "/" + name)
        }
        let (walSeconds, _) = try measureOpenInFreshProcess(path)
        // Reported only: the issue sets no target for a restart without a snapshot.
        results.append(
            BenchResult(name: "restart_from_wal_only", value: walSeconds, unit: "s", baseline: nil, target: 3600, better: .lower))
        return results
    }

    /// Zeros a sector 4 KiB before the end of the newest WAL file's records, as a power cut during
    /// its last sync may leave it (docs/formats.md, section 4); false when the records are too few.
    private func tearLastSync(_ path: String) throws -> Bool {
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("wal-") && $0.hasSuffix(".log") }
        guard let newest = names.max() else { return false }
        let wal = try AppendOnlyFile(path: path + "/" + newest, create: false)
        var scanner = RecordScanner(size: wal.size, zeroTailEnds: true) { try wal.read(at: $0, count: $1) }
        while try scanner.next() != nil {}
        let sector = (scanner.offset - 4096) / Int64(TornSync.sectorBytes) * Int64(TornSync.sectorBytes)
        guard sector > 0 else { return false }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path + "/" + newest))
        try handle.seek(toOffset: UInt64(sector))
        try handle.write(contentsOf: Data(count: TornSync.sectorBytes))
        try handle.close()
        return true
    }

    static let bytesPerObjectName = "rss_bytes_per_object_beyond_key"
    static let keyBytes = 40.0

    /// A versioned bucket with `objects` versions, `versionsPerKey` per key: a ListObjectVersions
    /// page's p99, and the memory each noncurrent version adds beyond an object's (`bytesPerObject`,
    /// measured above in the same run).
    private func versions(_ path: String, bytesPerObject: Double) async throws -> [BenchResult] {
        let store = try MetadataStore(directory: path, logger: Self.quiet, snapshotAfterWALBytes: .max)
        _ = try await store.commit(.createBucket(name: Self.bucket, creationDateMs: 1))
        _ = try await store.commit(.setBucketVersioning(bucket: Self.bucket, versioning: .enabled))
        let keys = max(1, objects / versionsPerKey)
        for _ in 0..<versionsPerKey {
            try await commitObjects(store, 0..<keys, versioned: true)
        }
        var latencies: [Double] = []
        for _ in 0..<1000 {
            let keyMarker = Self.key(Int.random(in: 0..<keys))
            latencies.append(
                await Stopwatch.seconds {
                    _ = store.listVersionPageCounts(bucket: Self.bucket, keyMarker: keyMarker, maxKeys: 1000)
                } * 1000)
        }
        try await store.snapshotNow()
        let (_, rss) = try measureOpenInFreshProcess(path)
        let versions = Double(keys * versionsPerKey)
        let noncurrent = versions - Double(keys)
        return [
            BenchResult(
                name: "list_versions_page_1000_p99", value: latencies.sorted()[Int(Double(latencies.count - 1) * 0.99)],
                unit: "ms", baseline: nil, target: 10, better: .lower),
            // The issue asks for the figure, not a target; an object's budget is ours.
            BenchResult(
                name: "rss_bytes_per_noncurrent_version",
                value: (Double(rss) - Double(keys) * (bytesPerObject + Self.keyBytes)) / noncurrent, unit: "bytes",
                baseline: nil, target: 300, better: .lower),
        ]
    }

    private func commitObjects(_ store: MetadataStore, _ range: Range<Int>, versioned: Bool = false) async throws {
        let stride = Self.writers
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<stride {
                group.addTask {
                    var n = range.lowerBound + writer
                    while n < range.upperBound {
                        var object = Self.object(n)
                        if versioned { object.versionID = .random() }
                        _ = try await store.commit(.putObject(bucket: Self.bucket, key: Self.key(n), object: object))
                        n += stride
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Opens the store in a new `sos` process (so that this one's memory does not count).
    private func measureOpenInFreshProcess(_ path: String) throws -> (Double, Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["bench", "metadata", "--measure-open", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let fields = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 2, let seconds = Double(fields[0]), let rss = Int(fields[1]) else {
            throw ValidationError("measuring the restart failed: \(fields)")
        }
        return (seconds, rss)
    }
}
