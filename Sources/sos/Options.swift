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

enum OnOff: String, ExpressibleByArgument, CaseIterable {
    case on, off
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

    /// The largest whole binary unit (`4MiB`): what `--help` and `sos config print` show, and parse back.
    var description: String {
        for (suffix, unit) in [("TiB", Int64(1) << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes % unit == 0 {
            return "\(bytes / unit)\(suffix)"
        }
        return "\(bytes)"
    }
}

struct CommonOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "TOML file of settings, keyed by the long option names (s3-address = \"...\"); also SOS_CONFIG.")
    var config: String?

    func makeLogger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}

enum CookieSource {
    /// The cookie from `--cookie` or `SOS_COOKIE`; exits with a clear message when neither is set.
    static func resolve(_ option: String?) throws -> String {
        // SOS_COOKIE reaches here as --cookie (see ConfigResolver).
        if let cookie = option, !cookie.isEmpty { return cookie }
        throw ValidationError("a cluster cookie is required: pass --cookie SECRET or set SOS_COOKIE")
    }

    /// The cookie kept in `directory/cookie`, created (random, mode 0600) on first use.
    static func loadOrCreate(in directory: String) throws -> String {
        let path = directory + "/cookie"
        if FileManager.default.fileExists(atPath: path) {
            let cookie = try SecretFile.read(path).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !cookie.isEmpty else { throw ValidationError("\(path) is empty; delete it to generate a new cookie") }
            return cookie
        }
        var rng = SystemRandomNumberGenerator()
        let cookie = (0..<32).map { _ in
            let hex = String(UInt8.random(in: 0...255, using: &rng), radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
        try SecretFile.create(path, text: cookie)
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

    @Option(
        help: ArgumentHelp(
            "File with the root key (TOML: access_key = \"...\", secret_key = \"...\"; mode 0600).",
            discussion: """
                Without it, and without SOS_ROOT_ACCESS_KEY and SOS_ROOT_SECRET_KEY in the environment, the root key \
                is DIRECTORY/root-credentials, generated on first start and printed once.
                """))
    var rootCredentialsFile: String?

    @Flag(help: "Serve S3 requests without checking who sends them: anyone who reaches the port may do anything.")
    var insecureNoAuth = false

    @Option(help: "Certificate chain (PEM) to serve the S3 API over HTTPS with; re-read on SIGHUP.")
    var tlsCertificate: String?

    @Option(help: "Private key (PEM, mode 0600) of --tls-certificate.")
    var tlsKey: String?

    @Option(help: "on: accept AWS Signature Version 2 (what `aws s3 presign` and boto3 make by default) besides SigV4; off: SigV4 only.")
    var sigv2: OnOff = .on

    func validate() throws {
        guard BrainConfiguration.chunkBytesRange.contains(Int(chunkSize.bytes)) else {
            throw ValidationError("--chunk-size must be between 64KiB and 64MiB")
        }
        guard clientTimeout >= 1 else { throw ValidationError("--client-timeout must be at least 1 second") }
        guard lifecycleDaySeconds >= 1, lifecycleRate > 0 else {
            throw ValidationError("--lifecycle-day-seconds must be at least 1 and --lifecycle-rate positive")
        }
        guard (tlsCertificate == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-certificate and --tls-key go together")
        }
    }

    /// Who may use the S3 API: the root key resolved (and on first start generated and printed),
    /// or, with `--insecure-no-auth`, anyone, with a warning at every start.
    func access(directory: String, logger: Logger) throws -> S3Access {
        if insecureNoAuth {
            logger.warning("--insecure-no-auth: S3 requests are not authenticated; anyone who reaches the S3 port may read, write and delete everything")
            return .insecureNoAuth
        }
        let (key, origin) = try RootCredentials.resolve(
            environment: ProcessInfo.processInfo.environment, file: rootCredentialsFile, directory: directory)
        switch origin {
        case .environment:
            logger.info("S3 root key from the environment", metadata: ["accessKeyID": "\(key.accessKeyID)"])
        case .file(let path):
            logger.info("S3 root key from \(path) (its secret is there)", metadata: ["accessKeyID": "\(key.accessKeyID)"])
        case .generated(let path):
            // Shown once, on the terminal, never through the logger.
            let notice = """
                SOS generated root credentials and saved them in \(path) (mode 0600):
                    access key: \(key.accessKeyID)
                    secret key: \(key.secretKey)
                Sign in with them, for example:
                    export AWS_ACCESS_KEY_ID=\(key.accessKeyID) AWS_SECRET_ACCESS_KEY=\(key.secretKey)

                """
            FileHandle.standardOutput.write(Data(notice.utf8))
        }
        return .signed(root: key, allowSigV2: sigv2 == .on)
    }

    @Option(help: "Seconds a lifecycle day lasts (lifecycle rules count in days; shorter only for tests).")
    var lifecycleDaySeconds: Int = Int(LifecycleClock().daySeconds)

    @Option(help: "Most lifecycle actions (expirations, aborted uploads) a second.")
    var lifecycleRate: Double = BrainConfiguration.lifecycleActionsPerSecondDefault

    func apply(to configuration: inout BrainConfiguration) {
        configuration.lifecycleClock = LifecycleClock(daySeconds: Int64(lifecycleDaySeconds))
        configuration.lifecycleActionsPerSecondMax = lifecycleRate
        configuration.chunkBytesMax = Int(chunkSize.bytes)
        configuration.virtualHostDomain = domain
        configuration.clientPacing.windowSeconds = clientTimeout
        if let tlsCertificate, let tlsKey { configuration.s3TLS = TLSFiles(certificatePath: tlsCertificate, keyPath: tlsKey) }
    }
}
