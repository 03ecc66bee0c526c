import ArgumentParser
import Brain
import Foundation
import Telemetry

/// An address to listen on, or `off`.
enum ListenAddress: ExpressibleByArgument, CustomStringConvertible {
    case off
    case at(HostPort)

    init?(argument: String) {
        if argument == "off" {
            self = .off
        } else if let address = HostPort(argument: argument) {
            self = .at(address)
        } else {
            return nil
        }
    }

    var hostPort: HostPort? {
        if case .at(let address) = self { return address }
        return nil
    }

    var description: String { hostPort?.description ?? "off" }

    /// `sos server`'s console address.
    static let serverConsoleDefault = ListenAddress.at(HostPort(host: "127.0.0.1", port: 9001))
}

/// Metrics settings shared by every serving command (`sos server`, `sos brain`, `sos storage-agent`).
struct MetricsOptions: ParsableArguments {
    @Option(help: "on: record metrics and serve them at /metrics; off: record none (/metrics answers 404).")
    var metrics: OnOff = .on

    @Option(help: "Bearer token that /metrics requires (or set SOS_METRICS_TOKEN); none: /metrics is open to whoever reaches it.")
    var metricsToken: String?

    /// The token (SOS_METRICS_TOKEN reaches here as --metrics-token, see ConfigResolver).
    var token: String? { metricsToken }

    /// The process's metrics registry, bootstrapped as swift-metrics' backend; nil with `--metrics off`.
    func bootstrap() -> MetricsRegistry? { metrics == .on ? Telemetry.bootstrap() : nil }
}

/// The brain's console and request log (`sos server`, `sos brain`).
struct ConsoleOptions: ParsableArguments {
    @Option(help: "on: log every S3 request at info, one structured line each; off: none.")
    var requestLog: OnOff = .on

    @OptionGroup var metrics: MetricsOptions

    func apply(console: ListenAddress, to configuration: inout BrainConfiguration) {
        configuration.console = console.hostPort.map { ($0.host, $0.port) }
        configuration.metrics = metrics.bootstrap()
        configuration.metricsToken = metrics.token
        configuration.logsRequests = requestLog == .on
    }
}
