import ClusterProtocol
import Hummingbird
import HummingbirdCore
import Logging
import LogStore
import NIOCore
import Synchronization
import Telemetry

public struct BrainConfiguration: Sendable {
    public var s3Host: String
    public var s3Port: Int
    public var clusterHost: String
    public var clusterPort: Int
    public var directory: String
    public var cookie: String
    /// Who may use the S3 API.
    public var s3Access: S3Access
    /// Serve S3 over HTTPS with this certificate and key (`--tls-certificate`, `--tls-key`).
    public var s3TLS: TLSFiles?
    /// TLS on the cluster port (`--cluster-tls-certificate`, `--cluster-tls-key`).
    public var clusterTLS: TLSFiles?
    public var chunkBytesMax: Int = 4 << 20
    /// Enables virtual-hosted-style addressing: `BUCKET.<domain>` (nil: path style only).
    public var virtualHostDomain: String?
    /// Replicas per chunk (R, 1...3).
    public var replication = 1
    public var agentTimeouts = AgentTimeouts()
    public var repairIntervalSeconds = 10.0
    public var repairChunksPerSecondMax = 50.0
    public var reconcileIntervalSeconds = 60.0
    /// How long a chunk replica must stay unreferenced before reconcile deletes it; longer than any upload.
    public var orphanGraceSeconds = 3600.0
    /// The WAL size past which the brain writes a snapshot and starts a new WAL file.
    public var snapshotAfterWALBytes: Int64 = 64 << 20
    /// The size each WAL file is zero-filled to before it takes commits (0: files grow with each append).
    public var walPreallocationBytes: Int64 = 16 << 20
    /// Seconds between a chunk replica becoming unreferenced and its deletion (see `ChunkRouter`).
    public var garbageDelaySeconds = 60.0
    /// How long a lifecycle day lasts (shorter for tests: `--lifecycle-day-seconds`).
    public var lifecycleClock = LifecycleClock()
    /// Most lifecycle actions (an expiration, an abort) a second.
    public var lifecycleActionsPerSecondMax = Self.lifecycleActionsPerSecondDefault
    public static let lifecycleActionsPerSecondDefault = 100.0
    /// Where the console, `/metrics` and `/health/*` are served (`--console-address`); nil: nowhere.
    public var console: (host: String, port: Int)?
    /// The process's metrics (nil with `--metrics off`: nothing is recorded and `/metrics` answers 404).
    public var metrics: MetricsRegistry?
    /// The bearer token `/metrics` requires (`--metrics-token`); nil: none.
    public var metricsToken: String?
    /// Whether every S3 request is logged at info (`--request-log`).
    public var logsRequests = true
    /// How fast a client must send a request it has begun (else 400 RequestTimeout).
    public var clientPacing = ClientPacing()
    /// Allowed chunk sizes: small enough for one agent record, large enough to keep manifests short.
    public static let chunkBytesRange = (64 << 10)...(64 << 20)

    public init(
        s3Host: String, s3Port: Int, clusterHost: String, clusterPort: Int, directory: String, cookie: String,
        s3Access: S3Access
    ) {
        self.s3Access = s3Access
        self.s3Host = s3Host
        self.s3Port = s3Port
        self.clusterHost = clusterHost
        self.clusterPort = clusterPort
        self.directory = directory
        self.cookie = cookie
    }
}

/// A certificate chain and its private key, PEM files.
public struct TLSFiles: Sendable {
    public var certificatePath: String
    public var keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    /// The context, once the key file is found private (0600: it is a secret).
    func context() throws -> ReloadableTLSContext {
        try SecretFile.checkPrivate(keyPath)
        return try ReloadableTLSContext(certificatePath: certificatePath, keyPath: keyPath)
    }
}

/// The brain: metadata, the cluster port agents dial, and the S3 HTTP API.
public struct BrainService: Sendable {
    /// An HTTP connection that sends nothing for this long is closed, so idle clients cannot pile up.
    static let idleConnectionSecondsMax = 120
    public let configuration: BrainConfiguration
    public let metadata: MetadataStore
    public let registry: AgentRegistry
    let logger: Logger
    let directoryLock: DirectoryLock
    let s3TLS: ReloadableTLSContext?
    let clusterTLS: ReloadableTLSContext?

    public init(configuration: BrainConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.directoryLock = try DirectoryLock(directory: configuration.directory)
        self.s3TLS = try configuration.s3TLS?.context()
        self.clusterTLS = try configuration.clusterTLS?.context()
        self.registry = AgentRegistry(replication: configuration.replication, timeouts: configuration.agentTimeouts)
        self.metadata = try MetadataStore(
            directory: configuration.directory + "/metadata", logger: logger,
            snapshotAfterWALBytes: configuration.snapshotAfterWALBytes, walPreallocationBytes: configuration.walPreallocationBytes)
    }

    /// Reads the TLS certificates and keys again (SIGHUP); new connections get them, open ones go on.
    public func reloadCertificates() throws {
        try s3TLS?.reload()
        try clusterTLS?.reload()
    }

    /// Serves until cancelled (SIGINT/SIGTERM handling belongs to the caller).
    /// `onListening` receives the bound S3 and cluster ports once both accept connections.
    /// `inProcessAgents` are agents of this process, called directly; others dial the cluster port.
    public func run(
        inProcessAgents: [any InProcessAgent] = [],
        onListening: @escaping @Sendable (_ s3Port: Int, _ clusterPort: Int) -> Void = { _, _ in }
    ) async throws {
        BrainMetrics.registerAll()
        let chunkRouter = ChunkRouter(registry: registry, logger: logger, garbageDelaySeconds: configuration.garbageDelaySeconds)
        registry.setDraining(Set(metadata.agentMembers.filter(\.draining).map(\.clientID)))
        let repair = RepairService(
            registry: registry, metadata: metadata, chunks: chunkRouter, logger: logger,
            intervalSeconds: configuration.repairIntervalSeconds, chunksPerSecondMax: configuration.repairChunksPerSecondMax)
        let reconcile = ReconcileService(
            registry: registry, metadata: metadata, logger: logger,
            intervalSeconds: configuration.reconcileIntervalSeconds, graceSeconds: configuration.orphanGraceSeconds)
        let rebalance = RebalanceService(
            registry: registry, metadata: metadata, chunks: chunkRouter, logger: logger,
            chunksPerSecondMax: configuration.repairChunksPerSecondMax)
        let lifecycle = LifecycleService(
            metadata: metadata, chunks: chunkRouter, logger: logger, clock: configuration.lifecycleClock,
            actionsPerSecondMax: configuration.lifecycleActionsPerSecondMax)
        let administration = ClusterAdministration(
            registry: registry, metadata: metadata, repair: repair, rebalance: rebalance,
            rootAccessKeyID: configuration.s3Access.rootAccessKeyID, logger: logger)
        let cluster = ClusterServer(
            host: configuration.clusterHost, port: configuration.clusterPort, cookie: configuration.cookie,
            registry: registry, metadata: metadata, administration: administration, tls: clusterTLS.map { .server($0) }, logger: logger)
        let clusterChannel = try await cluster.bind()
        let clusterPort = clusterChannel.channel.localAddress?.port ?? configuration.clusterPort
        logger.info("cluster port listening", metadata: ["address": "\(configuration.clusterHost):\(clusterPort)"])

        let router = S3Router(
            buckets: BucketHandlers(metadata: metadata, chunks: chunkRouter),
            objects: ObjectHandlers(
                metadata: metadata, chunks: chunkRouter,
                chunkBytesMax: configuration.chunkBytesMax, lifecycleClock: configuration.lifecycleClock, logger: logger),
            acls: ACLHandlers(metadata: metadata),
            policies: PolicyHandlers(metadata: metadata),
            tagging: TaggingHandlers(metadata: metadata), locks: ObjectLockHandlers(metadata: metadata),
            cors: CORSHandlers(metadata: metadata), lifecycle: LifecycleHandlers(metadata: metadata),
            virtualHostDomain: configuration.virtualHostDomain,
            authenticator: configuration.s3Access.authenticator(metadata: metadata),
            authorizer: Authorizer(metadata: metadata),
            isSecure: s3TLS != nil,
            observer: S3RequestObserver(
                recordsMetrics: configuration.metrics != nil, logsRequests: configuration.logsRequests, logger: logger),
            logger: logger)
        let logger = logger
        let boundS3Port = Mutex(configuration.s3Port)
        let pacing = configuration.clientPacing
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [SlowClientGuard(pacing: pacing), ContinueHandler(), OpenConnectionCounter()],
            idleTimeout: .seconds(Int64(Self.idleConnectionSecondsMax)))
        var server = HTTPServerBuilder.http1(configuration: http1)
        if let s3TLS {
            server = HTTPServerBuilder { responder in
                ReloadableTLSChannel(base: HTTP1Channel(responder: responder, configuration: http1), context: s3TLS)
            }
        }
        let app = Application(
            responder: router,
            server: server,
            configuration: .init(address: .hostname(configuration.s3Host, port: configuration.s3Port), serverName: "SOS"),
            onServerRunning: { channel in
                let s3Port = channel.localAddress?.port ?? 0
                boundS3Port.withLock { $0 = s3Port }
                logger.info("S3 API listening", metadata: ["port": "\(s3Port)"])
                onListening(s3Port, clusterPort)
            },
            logger: logger)
        // The request lines still buffered go out however the brain stops.
        defer { router.observer.log?.flush() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await cluster.serve(clusterChannel) }
            for agent in inProcessAgents { group.addTask { try await cluster.serveInProcess(agent) } }
            group.addTask { try await app.run() }
            group.addTask { await repair.run() }
            group.addTask { await reconcile.run() }
            group.addTask { await lifecycle.run() }
            group.addTask { await chunkRouter.collectGarbage() }
            if let console = configuration.console {
                let cluster = ClusterMetrics(registry: registry, metadata: metadata, repair: repair, rebalance: rebalance)
                let endpoints = TelemetryEndpoints(
                    registry: configuration.metrics, bearerToken: configuration.metricsToken, collect: { cluster.collect() },
                    readiness: { cluster.readiness() })
                let api = ConsoleAPI(
                    sessions: ConsoleSessions(), keys: configuration.s3Access.keyDirectory(metadata: metadata), metadata: metadata,
                    administration: administration, isSecure: s3TLS != nil, s3Port: { boundS3Port.withLock { $0 } }, logger: logger)
                let server = ConsoleServer(telemetry: endpoints, api: api, s3: router)
                group.addTask { try await server.run(host: console.host, port: console.port, tls: s3TLS, pacing: pacing, logger: logger) }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
