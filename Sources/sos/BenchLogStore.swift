import ArgumentParser
import Foundation
import LogStore

#if canImport(Glibc)
import Glibc
#endif

/// `sos bench logstore`: the storage engine against raw file I/O on the same disk (issue 3).
struct BenchLogStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logstore", abstract: "Benchmark the storage agents' segment engine (release build).")

    @Flag(help: "Print a JSON array of {name, value, unit, baseline, ratio, target, better}.")
    var json = false

    @Option(help: "Directory on the disk to measure (a scratch folder is made and removed inside it).")
    var directory = NSTemporaryDirectory()

    @Option(help: "Records in the startup and index-memory measurement.")
    var records = 1_000_000

    /// Internal: open the store at PATH in this fresh process and print "seconds rss-growth records".
    @Option(help: .hidden)
    var measureOpen: String?

    func run() async throws {
        if let measureOpen {
            let before = Self.residentBytes()
            var store: SegmentStore?
            let seconds = try await Stopwatch.seconds { store = try openStore(measureOpen, segmentBytes: 8 << 20) }
            print(seconds, Self.residentBytes() - before, store?.recordCount ?? 0)
            return
        }
        let scratch = try BenchDirectory(parent: directory)
        defer { scratch.remove() }
        var results: [BenchResult] = []
        results.append(try await largeAppends(scratch.sub("large")))
        results.append(try await smallDurableAppends(scratch.sub("small")))
        results += try await startupAndIndexMemory(scratch.sub("startup"))
        results.append(try await readLatencyDuringCompaction(scratch.sub("compaction")))
        try BenchOutput.print(results, json: json)
    }

    private func openStore(_ path: String, segmentBytes: Int64) throws -> SegmentStore {
        try SegmentStore(configuration: SegmentStoreConfiguration(directory: path, segmentBytesMax: segmentBytes))
    }

    private func key(_ i: Int) -> StoreKey { StoreKey(high: UInt64(i), low: 0x5eed) }

    /// 1 MiB puts from 4 writers vs. the same bytes written sequentially with one fsync at the end.
    private func largeAppends(_ path: String) async throws -> BenchResult {
        let count = 256
        let payload = [UInt8](repeating: 0xA5, count: 1 << 20)
        let store = try openStore(path + "/store", segmentBytes: 1 << 30)
        let storeSeconds = try await Stopwatch.seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask { for i in stride(from: writer, to: count, by: 4) { try await store.put(key: key(i), payload: payload) } }
                }
                try await group.waitForAll()
            }
        }
        let raw = try RawFile(path + "/raw")
        let rawSeconds = try await Stopwatch.seconds {
            for i in 0..<count { try raw.write(payload, at: Int64(i) * Int64(payload.count)) }
            try raw.sync()
        }
        let megabytes = Double(count * payload.count) / 1e6
        return BenchResult(
            name: "append_1mib_throughput", value: megabytes / storeSeconds, unit: "MB/s", baseline: megabytes / rawSeconds,
            target: 0.8, better: .higher)
    }

    /// 4 KiB durable puts from 64 concurrent writers vs. raw 4 KiB writes with one fdatasync per 64.
    private func smallDurableAppends(_ path: String) async throws -> BenchResult {
        let writers = 64
        let perWriter = 200
        let payload = [UInt8](repeating: 0x3C, count: 4096)
        let store = try openStore(path + "/store", segmentBytes: 1 << 30)
        let storeSeconds = try await Stopwatch.seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for i in 0..<perWriter { try await store.put(key: key(writer * perWriter + i), payload: payload) }
                    }
                }
                try await group.waitForAll()
            }
        }
        let raw = try RawFile(path + "/raw")
        let rawSeconds = try await Stopwatch.seconds {
            for batch in 0..<perWriter {
                for j in 0..<writers { try raw.write(payload, at: Int64(batch * writers + j) * 4096) }
                try raw.sync()
            }
        }
        let appends = Double(writers * perWriter)
        return BenchResult(
            name: "durable_4kib_appends_64_writers", value: appends / storeSeconds, unit: "appends/s",
            baseline: appends / rawSeconds, target: 0.7, better: .higher)
    }

    /// Fills a store with `records` small chunks over 8 MiB segments, waits for every hint, then
    /// times a fresh open and measures the heap it keeps (the index) per record.
    private func startupAndIndexMemory(_ path: String) async throws -> [BenchResult] {
        do {
            let store = try openStore(path, segmentBytes: 8 << 20)
            let writers = 256
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for i in stride(from: writer, to: records, by: writers) { try await store.put(key: key(i), payload: [1, 2, 3, 4]) }
                    }
                }
                try await group.waitForAll()
            }
            await store.waitForMaintenance()
        }
        // A fresh process, so that memory this one freed cannot hide what the index takes.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["bench", "logstore", "--measure-open", path]
        let pipe = Pipe()
        child.standardOutput = pipe
        try child.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        let fields = output.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        guard fields.count == 3, Int(fields[2]) == records else { throw ValidationError("startup lost records: \(output)") }
        let seconds = fields[0]
        let bytesPerRecord = fields[1] / Double(records)
        return [
            BenchResult(
                name: "startup_\(records)_records_with_hints", value: seconds, unit: "s", baseline: nil, target: 1, better: .lower),
            BenchResult(name: "index_bytes_per_record", value: bytesPerRecord, unit: "B", baseline: nil, target: 64, better: .lower),
        ]
    }

    /// p99 of 64 KiB reads while a compaction runs, against the same reads with the store idle.
    private func readLatencyDuringCompaction(_ path: String) async throws -> BenchResult {
        let store = try openStore(path, segmentBytes: 4 << 20)
        let count = 2000
        let payload = [UInt8](repeating: 0x77, count: 64 << 10)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<16 {
                group.addTask { for i in stride(from: writer, to: count, by: 16) { try await store.put(key: key(i), payload: payload) } }
            }
            try await group.waitForAll()
        }
        // Delete two keys in three so most sealed segments are worth compacting.
        for i in 0..<count where i % 3 != 0 { try await store.delete(key: key(i)) }
        await store.waitForMaintenance()
        let live = stride(from: 0, to: count, by: 3).map { key($0) }
        let idle = try await readLatencies(store, live, reads: 3000)
        let compaction = Task { try await store.compact(deadFractionMin: 0.5) }
        let busy = try await readLatencies(store, live, reads: 3000)
        _ = try await compaction.value
        return BenchResult(
            name: "read_p99_during_compaction", value: p99(busy) * 1e3, unit: "ms", baseline: p99(idle) * 1e3, target: 2,
            better: .lower)
    }

    private func readLatencies(_ store: SegmentStore, _ keys: [StoreKey], reads: Int) async throws -> [Double] {
        var latencies: [Double] = []
        latencies.reserveCapacity(reads)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<reads {
            let k = keys.randomElement(using: &rng)!
            latencies.append(try await Stopwatch.seconds { _ = try await store.get(key: k) })
        }
        return latencies
    }

    /// Resident set size of this process, from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private func p99(_ xs: [Double]) -> Double { xs.sorted()[Int(Double(xs.count - 1) * 0.99)] }
}

/// The baseline: plain pwrite and fdatasync on a file in the same directory.
final class RawFile {
    let fd: Int32

    init(_ path: String) throws {
        try FileIO.createDirectory((path as NSString).deletingLastPathComponent)
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LogStoreError.io(operation: "open", path: path, errno: errno) }
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8], at offset: Int64) throws {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == bytes.count else { throw LogStoreError.io(operation: "write", path: "bench", errno: errno) }
    }

    func sync() throws {
        guard fdatasync(fd) == 0 else { throw LogStoreError.io(operation: "fdatasync", path: "bench", errno: errno) }
    }
}
