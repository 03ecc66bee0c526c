import Agent
import ArgumentParser
import ClusterProtocol
import Foundation
import Telemetry

struct StorageAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage-agent", abstract: "Run a storage agent: it dials the brain and stores chunks for it.")

    @Option(help: "The brain's cluster address.")
    var brain = HostPort(host: "127.0.0.1", port: 9100)

    @Option(help: "This agent's name in the cluster; keep it stable across restarts.")
    var clientId: String

    @Option(help: "Directory for this agent's segment files.")
    var directory: String

    @Option(help: "Cluster cookie shared with the brain (or set SOS_COOKIE).")
    var cookie: String?

    @Option(help: "CA certificate (PEM) that signed the brain's cluster TLS certificate: connect over TLS and verify it.")
    var tlsCa: String?

    @Option(help: "Failure domain of this agent (host, rack or zone); replicas of a chunk go to distinct zones when they can.")
    var zone: String = ""

    @OptionGroup(title: "Storage engine") var storage: StorageOptions

    @Option(help: "Address of /metrics and /health/live, /health/ready (off unless given).")
    var metricsAddress = ListenAddress.off

    @OptionGroup(title: "Metrics") var metrics: MetricsOptions

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let logger = common.makeLogger("sos.agent.\(clientId)")
        // First: metrics made before the backend exists would record nowhere.
        let registry = metrics.bootstrap()
        var configuration = AgentConfiguration(
            brainHost: brain.host, brainPort: brain.port, clientID: clientId, directory: directory,
            cookie: try CookieSource.resolve(cookie), segmentBytesMax: storage.segmentSize.bytes)
        storage.apply(to: &configuration)
        configuration.zone = zone
        configuration.tls = try tlsCa.map { try ClusterTLS.client(caPath: $0, host: brain.host) }
        let agent = try StorageAgent(configuration: configuration, logger: logger)
        let signals = StorageAgent.handleOperatorSignals(for: [agent])
        defer { signals.forEach { $0.cancel() } }
        let telemetry = metricsAddress.hostPort.map { address in
            let endpoints = TelemetryEndpoints(
                registry: registry, bearerToken: metrics.token, collect: { AgentMetrics.collect(agent) },
                readiness: {
                    agent.isRegistered
                        ? .ready : Readiness(isReady: false, reason: "not registered with the brain at \(brain)")
                })
            return TelemetryServer(endpoints: endpoints, host: address.host, port: address.port, name: "metrics", logger: logger)
        }
        do {
            try await runUntilTerminated {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await agent.run() }
                    if let telemetry { group.addTask { try await telemetry.run() } }
                    // Whichever ends first (the brain's refusal, a port in use) ends the other.
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch let error as AgentError {
            logger.critical("\(error)")
            FileHandle.standardError.write(Data("sos storage-agent: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
