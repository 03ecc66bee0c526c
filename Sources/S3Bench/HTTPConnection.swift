import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One HTTP/1.1 request for `HTTPConnection.execute`.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// Path plus query, as sent on the request line.
    public var uri: String
    public var headers: [(String, String)]
    public var body: ByteBuffer?
    /// Keep the response body (else only its length is counted).
    public var collectBody: Bool

    public init(method: HTTPMethod, uri: String, headers: [(String, String)], body: ByteBuffer? = nil, collectBody: Bool = false) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.collectBody = collectBody
    }
}

public struct HTTPResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var bodyLength: Int
    public var body: ByteBuffer?
    public var keepAlive: Bool
}

public struct HTTPConnectionError: Error, CustomStringConvertible {
    public var description: String
}

/// A persistent keep-alive HTTP/1.1 connection that runs one request at a time.
public final class HTTPConnection: Sendable {
    private let channel: Channel

    private init(channel: Channel) { self.channel = channel }

    /// Connects, over TLS when `tls` is given.
    public static func connect(
        host: String, port: Int, tls: (context: NIOSSLContext, serverHostname: String?)? = nil, group: EventLoopGroup
    ) async throws -> HTTPConnection {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseHandler())
                }
            }
            .connect(host: host, port: port).get()
        return HTTPConnection(channel: channel)
    }

    public var isActive: Bool { channel.isActive }

    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        let promise = channel.eventLoop.makePromise(of: HTTPResponse.self)
        // A write that fails (closed connection) fails the request; completing it twice is a no-op.
        channel.writeAndFlush(PendingRequest(request: request, promise: promise)).whenFailure { promise.fail($0) }
        return try await promise.futureResult.get()
    }

    public func close() async {
        try? await channel.close()
    }
}

struct PendingRequest: Sendable {
    var request: HTTPRequest
    var promise: EventLoopPromise<HTTPResponse>
}

/// Turns a `PendingRequest` into request parts and completes its promise with the response.
private final class ResponseHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PendingRequest
    typealias OutboundOut = HTTPClientRequestPart

    private var pending: PendingRequest?
    private var head: HTTPResponseHead?
    private var bodyLength = 0
    private var body: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let next = unwrapOutboundIn(data)
        guard pending == nil else {
            next.promise.fail(HTTPConnectionError(description: "a request is already in flight on this connection"))
            return
        }
        pending = next
        let request = next.request
        var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.uri)
        for (name, value) in request.headers { head.headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body = request.body, body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            bodyLength = 0
            body = nil
        case .body(var chunk):
            bodyLength += chunk.readableBytes
            if pending?.request.collectBody == true || (head?.status.code ?? 0) >= 300 {
                if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
            }
        case .end:
            guard let pending, let head else { return }
            self.pending = nil
            self.head = nil
            let response = HTTPResponse(
                status: head.status, headers: head.headers, bodyLength: bodyLength, body: body, keepAlive: head.isKeepAlive)
            body = nil
            if !response.keepAlive { context.close(promise: nil) }
            pending.promise.succeed(response)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(HTTPConnectionError(description: "\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(HTTPConnectionError(description: "connection closed by the server"))
        context.fireChannelInactive()
    }

    private func fail(_ error: Error) {
        if let pending {
            self.pending = nil
            pending.promise.fail(error)
        }
    }
}
