import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Whether a process is ready for traffic, and if not why (the body of a 503 from `/health/ready`).
public struct Readiness: Sendable, Equatable {
    public var isReady: Bool
    public var reason: String

    public init(isReady: Bool, reason: String) {
        self.isReady = isReady
        self.reason = reason
    }

    public static let ready = Readiness(isReady: true, reason: "ready")
}

/// What operators' tools poll: `/metrics` (Prometheus text format, behind an optional bearer
/// token), `/health/live` (the process serves) and `/health/ready` (it can do its work), as load
/// balancers and orchestrators expect. Served on the brain's console address and an agent's
/// metrics address.
public struct TelemetryEndpoints: Sendable {
    public static let metricsPath = "/metrics"
    public static let livePath = "/health/live"
    public static let readyPath = "/health/ready"

    /// Nil with `--metrics off`: `/metrics` then answers 404.
    let registry: MetricsRegistry?
    /// `Authorization: Bearer TOKEN` that `/metrics` requires (`--metrics-token`); nil: none.
    let bearerToken: String?
    /// Sets the gauges read off live state (agents, chunk counts) just before they are rendered.
    let collect: @Sendable () -> Void
    let readiness: @Sendable () -> Readiness

    public init(
        registry: MetricsRegistry?, bearerToken: String?, collect: @escaping @Sendable () -> Void = {},
        readiness: @escaping @Sendable () -> Readiness
    ) {
        self.registry = registry
        self.bearerToken = bearerToken.flatMap { $0.isEmpty ? nil : $0 }
        self.collect = collect
        self.readiness = readiness
    }

    /// The answer to `request` if its path is one of the endpoints, nil otherwise.
    public func response(to request: Request) -> Response? {
        switch request.uri.path {
        case Self.livePath: return Self.text("live\n")
        case Self.readyPath:
            let readiness = readiness()
            return Self.text(readiness.reason + "\n", status: readiness.isReady ? .ok : .serviceUnavailable)
        case Self.metricsPath:
            guard let registry else { return Self.text("metrics are off (--metrics off)\n", status: .notFound) }
            guard isAuthorized(request.headers[.authorization]) else {
                var response = Self.text("a bearer token is required (--metrics-token)\n", status: .unauthorized)
                response.headers[.wwwAuthenticate] = "Bearer"
                return response
            }
            collect()
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: registry.render())))
            response.headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        default: return nil
        }
    }

    /// Compares digests, so the time taken tells nothing of how much of the token matched.
    private func isAuthorized(_ header: String?) -> Bool {
        guard let bearerToken else { return true }
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = SHA256.hash(data: Data(header.dropFirst("Bearer ".count).utf8))
        let expected = SHA256.hash(data: Data(bearerToken.utf8))
        return given == expected
    }

    static func text(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// An HTTP server with only the telemetry endpoints (a storage agent's `--metrics-address`, the
/// brain's `--console-address`).
public struct TelemetryServer: Sendable {
    let endpoints: TelemetryEndpoints
    let host: String
    let port: Int
    /// What the log line says is listening: `console`, `metrics`.
    let name: String
    let logger: Logger

    public init(endpoints: TelemetryEndpoints, host: String, port: Int, name: String, logger: Logger) {
        self.endpoints = endpoints
        self.host = host
        self.port = port
        self.name = name
        self.logger = logger
    }

    /// Serves until cancelled; `onListening` receives the bound port.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let (logger, name) = (logger, name)
        let app = Application(
            responder: Responder(endpoints: endpoints),
            configuration: .init(address: .hostname(host, port: port), serverName: "SOS"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("\(name) listening", metadata: ["address": "\(channel.localAddress?.ipAddress ?? ""):\(port)", "port": "\(port)"])
                onListening(port)
            },
            logger: logger)
        try await app.run()
    }

    struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let endpoints: TelemetryEndpoints

        func respond(to request: Request, context: Context) async throws -> Response {
            endpoints.response(to: request) ?? TelemetryEndpoints.text("not found\n", status: .notFound)
        }
    }
}
