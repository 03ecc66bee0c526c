import ArgumentParser
import Brain
import Foundation
import LogStore
import Logging

/// A `host:port` pair given on the command line.
struct HostPort: ExpressibleByArgument, CustomStringConvertible {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        let host = String(argument[..<colon])
        self.init(host: host.isEmpty ? "0.0.0.0" : host, port: port)
    }

    var description: String { "\(host):\(port)" }
}

/// A byte count such as `8MiB`, `1GiB`, `512KiB` or `4096`.
struct ByteSize: ExpressibleByArgument, CustomStringConvertible {
    var bytes: Int64

    init(bytes: Int64) { self.bytes = bytes }

    init?(argument: String) {
        let units: [(String, Int64)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
            ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30),
            ("B", 1),
        ]
        var number = Substring(argument)
        var multiplier: Int64 = 1
        for (suffix, value) in units where argument.hasSuffix(suffix) {
            number = argument.dropLast(suffix.count)
            multiplier = value
            break
        }
        guard let value = Int64(number), value > 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        bytes = product
    }

    var description: String { "\(bytes) bytes" }
}

struct CommonOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["SOS_LOG_LEVEL"] ?? "info"

    func makeLogger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}

enum CookieSource {
    /// The cookie from `--cookie` or `SOS_COOKIE`; exits with a clear message when neither is set.
    static func resolve(_ option: String?) throws -> String {
        if let cookie = option ?? ProcessInfo.processInfo.environment["SOS_COOKIE"], !cookie.isEmpty { return cookie }
        throw ValidationError("a cluster cookie is required: pass --cookie SECRET or set SOS_COOKIE")
    }

    /// The cookie kept in `directory/cookie`, created (random, mode 0600) on first use.
    static func loadOrCreate(in directory: String) throws -> String {
        let path = directory + "/cookie"
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            let cookie = existing.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !cookie.isEmpty else { throw ValidationError("\(path) is empty; delete it to generate a new cookie") }
            return cookie
        }
        var rng = SystemRandomNumberGenerator()
        let cookie = (0..<32).map { _ in
            let hex = String(UInt8.random(in: 0...255, using: &rng), radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data(cookie.utf8), attributes: [.posixPermissions: 0o600])
        else { throw ValidationError("cannot write the cookie file \(path)") }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.synchronize()
        try handle.close()
        try FileIO.syncDirectory(directory)
        return cookie
    }
}

struct AgentTimeoutOptions: ParsableArguments {
    @Option(help: "Seconds without a heartbeat before an agent is suspect (no new chunks; read last). Agents send one every 2 s.")
    var suspectTimeout: Double = 6

    @Option(help: "Seconds without a heartbeat before an agent is down (nothing is sent to it).")
    var downTimeout: Double = 20

    @Option(help: "Seconds an agent has to answer one request before another replica is tried.")
    var requestTimeout: Double = 30

    @Option(help: "Seconds an agent must stay down before repair re-creates its replicas elsewhere.")
    var repairDelay: Double = 120

    func validate() throws {
        guard suspectTimeout >= 2.5, downTimeout >= suspectTimeout, requestTimeout > 0, repairDelay >= 0 else {
            throw ValidationError(
                "--suspect-timeout must be at least 2.5 s (agents heartbeat every 2 s), --down-timeout at least --suspect-timeout")
        }
    }

    var timeouts: AgentTimeouts {
        AgentTimeouts(
            suspectAfterSeconds: suspectTimeout, downAfterSeconds: downTimeout, requestSeconds: requestTimeout,
            repairAfterDownSeconds: repairDelay)
    }
}

struct MaintenanceOptions: ParsableArguments {
    @Option(help: "Seconds between repair passes, which re-replicate chunks that lack healthy replicas.")
    var repairInterval: Double = 10

    @Option(help: "Most chunks repair copies per second.")
    var repairRate: Double = 50

    @Option(help: "Seconds between reconcile passes, which delete chunk replicas nothing references.")
    var reconcileInterval: Double = 60

    @Option(help: "Seconds a replica must stay unreferenced before reconcile deletes it; keep it above the longest upload.")
    var orphanGrace: Double = 3600

    @Option(help: "Seconds between a replica becoming unreferenced (overwrite, delete, repair) and its deletion; lets reads in flight finish.")
    var garbageDelay: Double = 60

    func validate() throws {
        guard repairInterval > 0, repairRate > 0, reconcileInterval > 0, orphanGrace >= 0, garbageDelay >= 0 else {
            throw ValidationError("repair and reconcile settings must be positive")
        }
    }

    func apply(to configuration: inout BrainConfiguration) {
        configuration.repairIntervalSeconds = repairInterval
        configuration.repairChunksPerSecondMax = repairRate
        configuration.reconcileIntervalSeconds = reconcileInterval
        configuration.orphanGraceSeconds = orphanGrace
        configuration.garbageDelaySeconds = garbageDelay
    }
}

/// The S3 API's settings, shared by `sos brain` and `sos server`.
struct S3APIOptions: ParsableArguments {
    @Option(help: "Address of the S3 HTTP API.")
    var s3Address = HostPort(host: "127.0.0.1", port: 9000)

    @Option(help: "Largest piece an object is cut into before it goes to an agent.")
    var chunkSize = ByteSize(bytes: 4 << 20)

    @Option(help: "Domain for virtual-hosted-style requests: BUCKET.DOMAIN addresses BUCKET (path style always works).")
    var domain: String?

    @Option(
        help: ArgumentHelp(
            "Seconds a client may take to send a request head; a body must bring 1 KiB/s over windows this long.",
            discussion: "Slower clients get 400 RequestTimeout and are disconnected."))
    var clientTimeout: Int64 = 20

    func validate() throws {
        guard BrainConfiguration.chunkBytesRange.contains(Int(chunkSize.bytes)) else {
            throw ValidationError("--chunk-size must be between 64KiB and 64MiB")
        }
        guard clientTimeout >= 1 else { throw ValidationError("--client-timeout must be at least 1 second") }
    }

    func apply(to configuration: inout BrainConfiguration) {
        configuration.chunkBytesMax = Int(chunkSize.bytes)
        configuration.virtualHostDomain = domain
        configuration.clientPacing.windowSeconds = clientTimeout
    }
}
