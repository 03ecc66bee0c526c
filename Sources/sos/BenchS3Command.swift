import ArgumentParser
import ClusterProtocol
import Foundation
import S3Bench

/// Options shared by the S3 load workloads (`sos bench put|get|head|delete|list|mixed|multipart`).
struct S3LoadOptions: ParsableArguments {
    @Option(help: "S3 endpoint, http://HOST:PORT or https://HOST:PORT (path-style addressing).")
    var endpoint = "http://127.0.0.1:9000"

    @Option(help: "CA certificate (PEM) that an https endpoint's certificate must chain to (default: the system's roots).")
    var tlsCA: String?

    @Option(help: "Object size, fixed (4KiB) or uniform between two sizes (1KiB..1MiB).")
    var size = "4KiB"

    @Option(help: "Concurrent connections, one request in flight on each.")
    var concurrency = 16

    @Option(help: "Seconds to run (default 10 unless --operations is given).")
    var duration: Double?

    @Option(help: "Operations to run over all connections (stops earlier if --duration is also given).")
    var operations: Int?

    @Option(help: "Objects prepared before get, head, delete, list and mixed (delete: at least --operations).")
    var objects = 1000

    @Option(help: "Bucket to use (created if missing, kept afterwards); default: a random bucket, deleted afterwards.")
    var bucket: String?

    @Option(help: "Access key for SigV4 signing (or AWS_ACCESS_KEY_ID); unsigned requests without one.")
    var accessKey: String?

    @Option(help: "Secret key for SigV4 signing (or AWS_SECRET_ACCESS_KEY).")
    var secretKey: String?

    @Option(help: "Region in the signature (and bucket location when not us-east-1).")
    var region = "us-east-1"

    @Flag(help: "Send UNSIGNED-PAYLOAD instead of each body's SHA-256 in signed requests.")
    var unsignedPayload = false

    @Flag(help: "Enable versioning on the bucket first (every PUT makes a version; cleanup deletes every version).")
    var versioned = false

    @Flag(help: "Keep the objects (and the bucket) the run created.")
    var noCleanup = false

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    @Flag(help: "Print the result as JSON: settings, total, operations[] with ops, errors, ops_per_second, bytes, mb_per_second, latency_ms.")
    var json = false

    func validate() throws {
        guard let parsed = S3Endpoint.parse(endpoint) else {
            throw ValidationError("--endpoint must look like http://HOST:PORT or https://HOST:PORT")
        }
        guard tlsCA == nil || parsed.isTLS else { throw ValidationError("--tls-ca is for an https endpoint") }
        guard SizeDistribution(parsing: size) != nil else { throw ValidationError("--size must be a size (4KiB) or a range (1KiB..1MiB)") }
        guard concurrency > 0 else { throw ValidationError("--concurrency must be positive") }
        guard (duration ?? 1) > 0, (operations ?? 1) > 0, objects > 0 else {
            throw ValidationError("--duration, --operations and --objects must be positive")
        }
        let environment = ProcessInfo.processInfo.environment
        if (accessKey ?? environment["AWS_ACCESS_KEY_ID"] == nil) != (secretKey ?? environment["AWS_SECRET_ACCESS_KEY"] == nil) {
            throw ValidationError("give both an access key and a secret key, or neither")
        }
    }

    /// One request body is one buffer, whose size is a 32-bit number.
    static let bodyBytesMax = Int(UInt32.max)

    func run(_ workload: Workload, partSize: Int = 5 << 20, mix: [(S3Operation, Int)] = []) async throws {
        let largestBody = workload == .multipart ? partSize : SizeDistribution(parsing: size)!.maximum
        guard largestBody <= Self.bodyBytesMax else {
            throw ValidationError(
                workload == .multipart
                    ? "--part-size must be under 4GiB"
                    : "--size must be under 4GiB for a single request; larger objects: sos bench multipart --size SIZE")
        }
        let (host, port, isTLS) = S3Endpoint.parse(endpoint)!
        let tls = isTLS ? (try TLSClient.context(caPath: tlsCA), TLSClient.serverHostname(host)) : nil
        let environment = ProcessInfo.processInfo.environment
        var signer: S3Signer?
        if let access = accessKey ?? environment["AWS_ACCESS_KEY_ID"], let secret = secretKey ?? environment["AWS_SECRET_ACCESS_KEY"] {
            signer = S3Signer(accessKey: access, secretKey: secret, region: region)
        }
        var configuration = LoadConfiguration(
            endpoint: S3Endpoint(host: host, port: port, signer: signer, hashPayload: !unsignedPayload, tls: tls),
            endpointText: endpoint,
            workload: workload, bucket: bucket, sizes: SizeDistribution(parsing: size)!, concurrency: concurrency, seconds: duration,
            operations: operations, objects: objects, partSize: partSize, mix: mix, cleanup: !noCleanup, progress: !quiet)
        configuration.versioned = versioned
        let report = try await S3LoadGenerator(configuration).run()
        print(json ? try report.json() : report.table())
        if report.total.ops == 0 && report.total.errors > 0 { throw ExitCode.failure }
    }
}

struct BenchPutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "put", abstract: "S3 load: PUT new objects.")
    @OptionGroup var options: S3LoadOptions
    func run() async throws { try await options.run(.put) }
}

struct BenchGetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "S3 load: GET prepared objects.")
    @OptionGroup var options: S3LoadOptions
    func run() async throws { try await options.run(.get) }
}

struct BenchHeadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "head", abstract: "S3 load: HEAD prepared objects.")
    @OptionGroup var options: S3LoadOptions
    func run() async throws { try await options.run(.head) }
}

struct BenchDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "S3 load: DELETE prepared objects (stops when all are deleted).")
    @OptionGroup var options: S3LoadOptions
    func run() async throws { try await options.run(.delete) }
}

struct BenchListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "S3 load: ListObjectsV2 (up to 1000 keys a page) over prepared objects.")
    @OptionGroup var options: S3LoadOptions
    func run() async throws { try await options.run(.list) }
}

struct BenchMixedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mixed", abstract: "S3 load: a weighted mix of GET, HEAD, PUT and DELETE on prepared objects.")
    @OptionGroup var options: S3LoadOptions

    @Option(help: "Weights of get, head, put and delete.")
    var mix = "get=45,head=30,put=15,delete=10"

    func validate() throws {
        guard LoadConfiguration.parseMix(mix) != nil else {
            throw ValidationError("--mix must look like get=45,head=30,put=15,delete=10 (get, head, put, delete)")
        }
    }

    func run() async throws { try await options.run(.mixed, mix: LoadConfiguration.parseMix(mix)!) }
}

struct BenchMultipartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multipart", abstract: "S3 load: multipart uploads of --size in parts of --part-size.")
    @OptionGroup var options: S3LoadOptions

    @Option(help: "Part size (S3 wants at least 5MiB for every part but the last).")
    var partSize = "5MiB"

    func validate() throws {
        guard (SizeDistribution.bytes(partSize) ?? 0) > 0 else { throw ValidationError("--part-size must be a positive size") }
    }

    func run() async throws { try await options.run(.multipart, partSize: SizeDistribution.bytes(partSize)!) }
}
