import ClusterProtocol
import HTTPTypes
import HummingbirdCore
import Logging
import Hummingbird
import NIOCore
import Telemetry

/// Serves the console address: `/metrics` and `/health/*`, the console's page and assets, its JSON
/// API (`ConsoleAPI`), and under `/s3/` the S3 API for the signed-in session (docs/console.md).
struct ConsoleServer: HTTPResponder {
    typealias Context = S3RequestContext

    let telemetry: TelemetryEndpoints
    let api: ConsoleAPI
    let s3: S3Router

    static let s3Prefix = "/s3"
    static let consoleHeader = HTTPField.Name("x-sos-console")!
    static let frameOptions = HTTPField.Name("x-frame-options")!
    static let referrerPolicy = HTTPField.Name("referrer-policy")!

    /// Name to content type and text of the embedded assets.
    static let assets: [String: (type: String, text: String)] = [
        "console.css": ("text/css; charset=utf-8", ConsoleStyle.css),
        "core.js": ("text/javascript; charset=utf-8", ConsoleCoreScript.source),
        "objects.js": ("text/javascript; charset=utf-8", ConsoleObjectsScript.source),
        "admin.js": ("text/javascript; charset=utf-8", ConsoleAdminScript.source),
    ]

    func respond(to request: Request, context: Context) async throws -> Response {
        if let response = telemetry.response(to: request) { return response }
        var response = await route(request, context: context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "no-referrer"
        response.headers[Self.frameOptions] = "DENY"
        return response
    }

    private func route(_ request: Request, context: Context) async -> Response {
        let path = request.uri.path
        if path == "/" || path == "/index.html" {
            var response = Self.text(ConsolePage.html, type: "text/html; charset=utf-8")
            response.headers[.contentSecurityPolicy] =
                "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
            return response
        }
        if path == "/favicon.ico" { return Response(status: .noContent) }
        if path.hasPrefix("/assets/") {
            guard let asset = Self.assets[String(path.dropFirst("/assets/".count))] else { return ConsoleAPI.error(.notFound, "no such asset") }
            return Self.text(asset.text, type: asset.type)
        }
        // Anything that may change something must come from the console's own page.
        if request.method != .get && request.method != .head && request.headers[Self.consoleHeader] != "1" {
            return ConsoleAPI.error(.forbidden, "requests that change something need the header X-SOS-Console: 1")
        }
        if path.hasPrefix("/api/") { return await api.respond(to: request) }
        if path == Self.s3Prefix || path.hasPrefix(Self.s3Prefix + "/") { return await forwardToS3(request, context: context) }
        return ConsoleAPI.error(.notFound, "not found")
    }

    /// The S3 request under `/s3/`, as the session's key (path style, whatever the Host).
    private func forwardToS3(_ request: Request, context: Context) async -> Response {
        guard let principal = api.principal(of: request) else { return ConsoleAPI.error(.unauthorized, "sign in first") }
        var head = request.head
        let rest = String((head.path ?? "").dropFirst(Self.s3Prefix.count))
        head.path = rest.isEmpty || rest.hasPrefix("?") ? "/" + rest : rest
        head.authority = nil
        head.headerFields[Self.consoleHeader] = nil
        // Bucket CORS rules are for S3 clients' pages, not for reading objects with a console session.
        head.headerFields[.origin] = nil
        var response = await s3.serve(Request(head: head, body: request.body), remoteAddress: context.remoteAddress, session: principal)
        // Objects are served on the console's origin: as downloads, never as pages that could run
        // scripts with the session.
        response.headers[.contentSecurityPolicy] = "sandbox; default-src 'none'"
        if request.method == .get, response.status == .ok || response.status == .partialContent,
            response.headers[.contentDisposition] == nil, request.uri.queryParameters["response-content-disposition"] == nil
        {
            response.headers[.contentDisposition] = "attachment"
        }
        return response
    }

    /// Serves the console address until cancelled: over TLS with the S3 port's context, if it has one.
    func run(host: String, port: Int, tls: ReloadableTLSContext?, pacing: ClientPacing, logger: Logger) async throws {
        // The S3 port's limits on slow and idle clients.
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [SlowClientGuard(pacing: pacing)],
            idleTimeout: .seconds(Int64(BrainService.idleConnectionSecondsMax)))
        var server = HTTPServerBuilder.http1(configuration: http1)
        if let tls {
            server = HTTPServerBuilder { responder in
                ReloadableTLSChannel(base: HTTP1Channel(responder: responder, configuration: http1), context: tls)
            }
        }
        let app = Application(
            responder: self, server: server, configuration: .init(address: .hostname(host, port: port), serverName: "SOS"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("console listening", metadata: ["address": "\(host):\(port)", "port": "\(port)"])
            },
            logger: logger)
        try await app.run()
    }

    static func text(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
