import Crypto
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

public enum Workload: String, CaseIterable, Sendable {
    case put, get, head, delete, list, mixed, multipart
}

public struct LoadConfiguration: Sendable {
    public var endpoint: S3Endpoint
    public var endpointText: String
    public var workload: Workload
    /// nil: a random bucket, created and deleted; else created if missing and kept.
    public var bucket: String?
    public var sizes: SizeDistribution
    public var concurrency: Int
    public var seconds: Double?
    public var operations: Int?
    /// Objects prepared before get, head, delete, list and mixed.
    public var objects: Int
    public var partSize: Int
    /// Weights of the mixed workload.
    public var mix: [(S3Operation, Int)]
    public var cleanup: Bool
    public var progress: Bool
    /// Turn versioning on in the bucket first (every PUT is a new version; cleanup removes every version).
    public var versioned = false

    public init(
        endpoint: S3Endpoint, endpointText: String, workload: Workload, bucket: String?, sizes: SizeDistribution, concurrency: Int,
        seconds: Double?, operations: Int?, objects: Int, partSize: Int, mix: [(S3Operation, Int)], cleanup: Bool, progress: Bool
    ) {
        self.endpoint = endpoint
        self.endpointText = endpointText
        self.workload = workload
        self.bucket = bucket
        self.sizes = sizes
        self.concurrency = concurrency
        self.seconds = seconds
        self.operations = operations
        self.objects = objects
        self.partSize = partSize
        self.mix = mix
        self.cleanup = cleanup
        self.progress = progress
    }

    /// `get=45,head=30,put=15,delete=10`.
    public static func parseMix(_ text: String) -> [(S3Operation, Int)]? {
        var mix: [(S3Operation, Int)] = []
        for item in text.split(separator: ",") {
            let pair = item.split(separator: "=")
            guard pair.count == 2, let op = S3Operation(rawValue: String(pair[0])), [.get, .head, .put, .delete].contains(op),
                let weight = Int(pair[1]), weight >= 0
            else { return nil }
            mix.append((op, weight))
        }
        return mix.contains { $0.1 > 0 } ? mix : nil
    }
}

/// One connection and the objects it created (and is responsible for deleting).
struct Worker: Sendable {
    var id: Int
    var client: S3Client
    var objects: [(key: String, size: Int)] = []
    var created = 0
    var rng = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
    /// SHA-256 of the payload's first N bytes, by N: every body of one size is the same bytes, so
    /// the load tool hashes it once instead of spending the cores it shares with the server on it
    /// for every request (the server still hashes every body it receives).
    var payloadHashes: [Int: String] = [:]
    static let payloadHashesMax = 1024

    mutating func newKey(_ prefix: String) -> String {
        created += 1
        return "\(prefix)w\(id)/\(created)"
    }
}

struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs one workload: bucket, prepared objects, the measured phase with a progress line, cleanup.
public struct S3LoadGenerator: Sendable {
    let config: LoadConfiguration
    let bucket: String
    let prefix: String
    let payload: ByteBuffer

    public init(_ config: LoadConfiguration) {
        self.config = config
        let run = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        bucket = config.bucket ?? "sos-bench-\(run)"
        prefix = config.bucket == nil ? "" : "sos-bench-\(run)/"
        var rng = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
        let length = config.workload == .multipart ? Swift.min(config.partSize, config.sizes.maximum) : config.sizes.maximum
        var buffer = ByteBufferAllocator().buffer(capacity: length + 8)
        while buffer.readableBytes < length { buffer.writeInteger(rng.next()) }
        payload = buffer.getSlice(at: 0, length: length)!
    }

    public func run() async throws -> BenchReport {
        let group = MultiThreadedEventLoopGroup.singleton
        let admin = S3Client(endpoint: config.endpoint, group: group)
        try await createBucket(admin)
        var workers = (0..<config.concurrency).map { Worker(id: $0, client: S3Client(endpoint: config.endpoint, group: group)) }
        var report: BenchReport?
        var failure: Error?
        do {
            if [.get, .head, .delete, .list, .mixed].contains(config.workload) {
                let operations = config.workload == .delete ? Swift.max(config.objects, config.operations ?? 0) : config.objects
                status("preparing \(operations) objects")
                workers = try await forEach(workers) { w in try await prepare(&w, count: operations / config.concurrency + (w.id < operations % config.concurrency ? 1 : 0)) }
            }
            let recorder = BenchRecorder(operations: config.operations, seconds: config.operations == nil ? (config.seconds ?? 10) : config.seconds)
            let progress = Task { await showProgress(recorder) }
            let start = BenchRecorder.nowNanos()
            workers = try await forEach(workers) { w in await measure(&w, recorder) }
            let seconds = Double(BenchRecorder.nowNanos() - start) / 1e9
            progress.cancel()
            await progress.value
            report = BenchReport(
                workload: config.workload.rawValue, endpoint: config.endpointText, bucket: bucket, concurrency: config.concurrency,
                size: config.sizes.description, seconds: seconds, stats: recorder.snapshot(), firstError: recorder.firstError)
        } catch {
            failure = error
        }
        if config.cleanup {
            let count = workers.reduce(0) { $0 + $1.objects.count }
            status("deleting \(count) objects")
            if config.versioned {
                try? await removeVersions(admin)
                for index in workers.indices { workers[index].objects = [] }
            } else {
                workers = (try? await forEach(workers) { w in await removeObjects(&w) }) ?? workers
            }
            if config.bucket == nil {
                _ = try? await admin.send(.DELETE, bucket: bucket).expect([200, 204], "delete bucket \(bucket)")
            }
            status(nil)
        }
        for w in workers { await w.client.close() }
        await admin.close()
        if let failure { throw failure }
        return report!
    }

    private func createBucket(_ client: S3Client) async throws {
        var body: ByteBuffer?
        if let region = config.endpoint.signer?.region, region != "us-east-1" {
            body = ByteBuffer(
                string: "<CreateBucketConfiguration><LocationConstraint>\(region)</LocationConstraint></CreateBucketConfiguration>")
        }
        let response = try await client.send(.PUT, bucket: bucket, body: body)
        if config.bucket == nil || response.status.code != 409 {  // 409: already there (and ours, or the PUTs will say)
            try response.expect([200], "create bucket \(bucket)")
        }
        if config.versioned {
            let enable = ByteBuffer(string: "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>")
            try await client.send(.PUT, bucket: bucket, query: [("versioning", "")], body: enable).expect([200], "enable versioning")
        }
    }

    /// Deletes every version and delete marker under the run's prefix, a listing page at a time.
    private func removeVersions(_ client: S3Client) async throws {
        while true {
            let listing = try await client.send(
                .GET, bucket: bucket, query: [("versions", ""), ("prefix", prefix)], collectBody: true
            ).expect([200], "list versions")
            let xml = listing.body.map { String(buffer: $0) } ?? ""
            var entries: [(key: String, versionID: String)] = []
            var rest = xml[...]
            while let key = rest.range(of: "<Key>"), let keyEnd = rest.range(of: "</Key>", range: key.upperBound..<rest.endIndex),
                let version = rest.range(of: "<VersionId>", range: keyEnd.upperBound..<rest.endIndex),
                let versionEnd = rest.range(of: "</VersionId>", range: version.upperBound..<rest.endIndex)
            {
                entries.append((String(rest[key.upperBound..<keyEnd.lowerBound]), String(rest[version.upperBound..<versionEnd.lowerBound])))
                rest = rest[versionEnd.upperBound...]
            }
            if entries.isEmpty { return }
            for (key, versionID) in entries {
                try await client.send(.DELETE, bucket: bucket, key: key, query: [("versionId", versionID)]).expect([204], "DELETE \(key) version")
            }
        }
    }

    /// Runs `body` on every worker concurrently and returns the workers (with their objects).
    private func forEach(_ workers: [Worker], _ body: @escaping @Sendable (inout Worker) async throws -> Void) async throws -> [Worker] {
        try await withThrowingTaskGroup(of: Worker.self) { group in
            for w in workers {
                group.addTask {
                    var w = w
                    try await body(&w)
                    return w
                }
            }
            var done: [Worker] = []
            for try await w in group { done.append(w) }
            return done.sorted { $0.id < $1.id }
        }
    }

    private func prepare(_ w: inout Worker, count: Int) async throws {
        for _ in 0..<count { try await putObject(&w) }
    }

    @discardableResult
    private func putObject(_ w: inout Worker) async throws -> Int {
        let size = config.sizes.next(using: &w.rng)
        let key = w.newKey(prefix)
        let body = payload.getSlice(at: 0, length: size)!
        try await w.client.send(.PUT, bucket: bucket, key: key, body: body, payloadHash: payloadHash(&w, body)).expect([200], "PUT \(key)")
        w.objects.append((key, size))
        return size
    }

    /// The payload hash of `body` (a prefix of `payload`) when requests are signed with one.
    private func payloadHash(_ w: inout Worker, _ body: ByteBuffer) -> String? {
        guard config.endpoint.signer != nil, config.endpoint.hashPayload, body.readableBytes > 0 else { return nil }
        if let known = w.payloadHashes[body.readableBytes] { return known }
        let hash = body.withUnsafeReadableBytes { S3Signer.hex(SHA256.hash(data: $0)) }
        if w.payloadHashes.count < Worker.payloadHashesMax { w.payloadHashes[body.readableBytes] = hash }
        return hash
    }

    private func measure(_ w: inout Worker, _ recorder: BenchRecorder) async {
        let weights = config.mix.reduce(0) { $0 + $1.1 }
        while recorder.proceed() {
            var op: S3Operation
            switch config.workload {
            case .put: op = .put
            case .get: op = .get
            case .head: op = .head
            case .delete: op = .delete
            case .list: op = .list
            case .multipart: op = .multipart
            case .mixed:
                var pick = Int.random(in: 0..<weights, using: &w.rng)
                op = config.mix.first { pick -= $0.1; return pick < 0 }!.0
            }
            if w.objects.isEmpty, [.get, .head, .delete].contains(op) {
                if config.workload == .delete { return }  // every prepared object is gone
                op = .put
            }
            var worker = w
            await recorder.measure(op) { try await perform(op, &worker) }
            w = worker
        }
    }

    private func perform(_ op: S3Operation, _ w: inout Worker) async throws -> Int {
        switch op {
        case .put:
            return try await putObject(&w)
        case .get, .head:
            let (key, size) = w.objects[Int.random(in: 0..<w.objects.count, using: &w.rng)]
            let response = try await w.client.send(op == .get ? .GET : .HEAD, bucket: bucket, key: key).expect([200], "\(op) \(key)")
            guard op == .head || response.bodyLength == size else {
                throw S3StatusError(description: "GET \(key): \(response.bodyLength) bytes, expected \(size)")
            }
            return op == .get ? size : 0
        case .delete:
            let index = Int.random(in: 0..<w.objects.count, using: &w.rng)
            let key = w.objects[index].key
            w.objects.swapAt(index, w.objects.count - 1)
            w.objects.removeLast()
            try await w.client.send(.DELETE, bucket: bucket, key: key).expect([200, 204], "DELETE \(key)")
            return 0
        case .list:
            let query = [("list-type", "2"), ("max-keys", "1000"), ("prefix", prefix)]
            try await w.client.send(.GET, bucket: bucket, query: query, collectBody: true).expect([200], "LIST")
            return 0
        case .multipart:
            return try await multipartUpload(&w)
        }
    }

    private func multipartUpload(_ w: inout Worker) async throws -> Int {
        let size = config.sizes.next(using: &w.rng)
        let key = w.newKey(prefix)
        let start = try await w.client.send(.POST, bucket: bucket, key: key, query: [("uploads", "")], collectBody: true)
            .expect([200], "create multipart upload \(key)")
        guard let uploadID = HTTPResponse.element("UploadId", in: start.body.map { String(buffer: $0) } ?? "") else {
            throw S3StatusError(description: "create multipart upload \(key): no UploadId")
        }
        var parts = ""
        var offset = 0
        var number = 1
        repeat {
            let length = Swift.min(config.partSize, size - offset)
            let response = try await w.client.send(
                .PUT, bucket: bucket, key: key, query: [("partNumber", "\(number)"), ("uploadId", uploadID)],
                body: payload.getSlice(at: 0, length: length)!, payloadHash: payloadHash(&w, payload.getSlice(at: 0, length: length)!)
            ).expect([200], "upload part \(number) of \(key)")
            let etag = response.headers.first(name: "etag") ?? ""
            parts += "<Part><PartNumber>\(number)</PartNumber><ETag>\(etag)</ETag></Part>"
            offset += length
            number += 1
        } while offset < size
        let done = try await w.client.send(
            .POST, bucket: bucket, key: key, query: [("uploadId", uploadID)],
            body: ByteBuffer(string: "<CompleteMultipartUpload>\(parts)</CompleteMultipartUpload>"), collectBody: true
        ).expect([200], "complete multipart upload \(key)")
        if let body = done.body, String(buffer: body).contains("<Error>") {
            throw S3StatusError(description: "complete multipart upload \(key): \(HTTPResponse.element("Code", in: String(buffer: body)) ?? "error")")
        }
        w.objects.append((key, size))
        return size
    }

    private func removeObjects(_ w: inout Worker) async {
        while let (key, _) = w.objects.popLast() {
            _ = try? await w.client.send(.DELETE, bucket: bucket, key: key)
        }
    }

    private func showProgress(_ recorder: BenchRecorder) async {
        guard config.progress else { return }
        let start = BenchRecorder.nowNanos()
        var last = 0
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 1_000_000_000)
            if Task.isCancelled { break }
            let done = recorder.completed.load(ordering: .relaxed)
            let seconds = Double(BenchRecorder.nowNanos() - start) / 1e9
            status(String(format: "%@: %.0f s, %d ops, %.0f ops/s (last second %d), %d errors", config.workload.rawValue,
                seconds, done, Double(done) / seconds, done - last, recorder.failed.load(ordering: .relaxed)))
            last = done
        }
        status(nil)
    }

    /// A status line on stderr: rewritten in place on a terminal, one line each otherwise.
    private func status(_ text: String?) {
        guard config.progress else { return }
        let tty = isatty(2) != 0
        guard let text else {
            if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            return
        }
        FileHandle.standardError.write(Data((tty ? "\r\u{1B}[K" + text : text + "\n").utf8))
    }
}
