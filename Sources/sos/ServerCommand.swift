import Agent
import ArgumentParser
import Brain
import Foundation
import LogStore

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run a whole store in one process: a brain and two storage agents over one data directory.",
        discussion: """
            The cluster cookie is generated on first start and kept in DIRECTORY/cookie; the S3 root key likewise \
            in DIRECTORY/root-credentials (printed once), unless SOS_ROOT_ACCESS_KEY and SOS_ROOT_SECRET_KEY or \
            --root-credentials-file give it.
            """)

    @Option(help: "Data directory (created if missing).")
    var directory = "./sos-data"

    @OptionGroup(title: "S3 API") var s3: S3APIOptions

    @OptionGroup(title: "Storage engine") var storage: StorageOptions

    @Option(help: "Address of the console, /metrics and /health/live, /health/ready; off: none.")
    var consoleAddress = ListenAddress.serverConsoleDefault

    @OptionGroup(title: "Console, metrics and request log") var console: ConsoleOptions

    @Option(help: "Replicas of every chunk across the two agents: 1 or 2.")
    var replication = 1

    @OptionGroup var common: CommonOptions

    static let agentCount = 2

    func validate() throws {
        guard (1...Self.agentCount).contains(replication) else { throw ValidationError("--replication must be 1 or 2") }
    }

    func run() async throws {
        try FileIO.createDirectory(directory)
        let cookie = try CookieSource.loadOrCreate(in: directory)
        let logger = common.makeLogger("sos.brain")
        var configuration = BrainConfiguration(
            s3Host: s3.s3Address.host, s3Port: s3.s3Address.port, clusterHost: "127.0.0.1", clusterPort: 0,
            directory: directory + "/brain", cookie: cookie, s3Access: try s3.access(directory: directory, logger: logger))
        s3.apply(to: &configuration)
        console.apply(console: consoleAddress, to: &configuration)
        configuration.replication = replication
        let brain = try BrainService(configuration: configuration, logger: logger)
        let agents = try (1...Self.agentCount).map { index in
            var agentConfiguration = AgentConfiguration(
                brainHost: "127.0.0.1", brainPort: 0, clientID: "agent-\(index)",
                directory: directory + "/agent-\(index)", cookie: cookie, segmentBytesMax: storage.segmentSize.bytes)
            storage.apply(to: &agentConfiguration)
            return try StorageAgent(configuration: agentConfiguration, logger: common.makeLogger("sos.agent-\(index)"))
        }
        let signals = StorageAgent.handleOperatorSignals(for: agents)
        defer { signals.forEach { $0.cancel() } }
        let reload = reloadCertificatesOnHangup(brain, logger: logger)
        defer { reload.cancel() }
        try await runUntilTerminated {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The agents are called in-process; the cluster port still serves `sos admin`.
                group.addTask { try await brain.run(inProcessAgents: agents) }
                for agent in agents { group.addTask { await agent.runMaintenance() } }
                try await group.next()
                group.cancelAll()
            }
        }
    }
}
