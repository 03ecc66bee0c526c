import ArgumentParser
import Brain
import LogStore

struct BrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brain", abstract: "Run the brain: the S3 API, the metadata, and the port agents dial.")

    @OptionGroup(title: "S3 API") var s3: S3APIOptions

    @Option(help: "Address storage agents connect to.")
    var clusterAddress = HostPort(host: "127.0.0.1", port: 9100)

    @Option(help: "Directory for the brain's metadata log.")
    var directory: String

    @Option(help: "Cluster cookie shared with the agents (or set SOS_COOKIE).")
    var cookie: String?

    @Option(help: "Certificate chain (PEM) for TLS on the cluster port; agents and `sos admin` then need --tls-ca. Re-read on SIGHUP.")
    var clusterTlsCertificate: String?

    @Option(help: "Private key (PEM, mode 0600) of --cluster-tls-certificate.")
    var clusterTlsKey: String?

    @Option(help: "Replicas of every chunk, on distinct agents (and zones where agents declare them): 1, 2 or 3.")
    var replication = 1

    @OptionGroup var agentTimeouts: AgentTimeoutOptions

    @OptionGroup var maintenance: MaintenanceOptions

    @Option(help: "WAL size after which the brain writes a metadata snapshot and starts a new WAL file.")
    var snapshotAfter = ByteSize(bytes: 64 << 20)

    @Option(help: "Size each WAL file is zero-filled to before it takes commits: their fsyncs then flush only data.")
    var walPreallocation = ByteSize(bytes: 16 << 20)

    @Option(help: "Address of the console, /metrics and /health/live, /health/ready (off unless given).")
    var consoleAddress = ListenAddress.off

    @OptionGroup(title: "Console, metrics and request log") var console: ConsoleOptions

    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (1...3).contains(replication) else { throw ValidationError("--replication must be 1, 2 or 3") }
        try agentTimeouts.validate()
        guard (clusterTlsCertificate == nil) == (clusterTlsKey == nil) else {
            throw ValidationError("--cluster-tls-certificate and --cluster-tls-key go together")
        }
        try maintenance.validate()
    }

    func run() async throws {
        let logger = common.makeLogger("sos.brain")
        try FileIO.createDirectory(directory)
        var configuration = BrainConfiguration(
            s3Host: s3.s3Address.host, s3Port: s3.s3Address.port, clusterHost: clusterAddress.host,
            clusterPort: clusterAddress.port, directory: directory, cookie: try CookieSource.resolve(cookie),
            s3Access: try s3.access(directory: directory, logger: logger))
        s3.apply(to: &configuration)
        console.apply(console: consoleAddress, to: &configuration)
        configuration.replication = replication
        configuration.agentTimeouts = agentTimeouts.timeouts
        maintenance.apply(to: &configuration)
        configuration.snapshotAfterWALBytes = snapshotAfter.bytes
        configuration.walPreallocationBytes = walPreallocation.bytes
        if let clusterTlsCertificate, let clusterTlsKey {
            configuration.clusterTLS = TLSFiles(certificatePath: clusterTlsCertificate, keyPath: clusterTlsKey)
        }
        let brain = try BrainService(configuration: configuration, logger: logger)
        let reload = reloadCertificatesOnHangup(brain, logger: logger)
        defer { reload.cancel() }
        try await runUntilTerminated { try await brain.run() }
    }
}
