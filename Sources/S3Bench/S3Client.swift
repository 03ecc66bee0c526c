import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Where to send requests and how to sign them.
public struct S3Endpoint: Sendable {
    public var host: String
    public var port: Int
    /// nil: unsigned requests.
    public var signer: S3Signer?
    /// Hash each body for `x-amz-content-sha256`; otherwise send `UNSIGNED-PAYLOAD`.
    public var hashPayload: Bool
    /// For an https endpoint: the client context (which roots it trusts) and the name the
    /// server's certificate must carry (nil: its IP address).
    public var tls: (context: NIOSSLContext, serverHostname: String?)?

    public init(
        host: String, port: Int, signer: S3Signer?, hashPayload: Bool = true,
        tls: (context: NIOSSLContext, serverHostname: String?)? = nil
    ) {
        self.host = host
        self.port = port
        self.signer = signer
        self.hashPayload = hashPayload
        self.tls = tls
    }

    /// Parses `http://host[:port]` or `https://host[:port]` (a trailing `/` is allowed).
    public static func parse(_ url: String) -> (host: String, port: Int, isTLS: Bool)? {
        let isTLS = url.hasPrefix("https://")
        guard isTLS || url.hasPrefix("http://") else { return nil }
        var rest = url.dropFirst(isTLS ? "https://".count : "http://".count)
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else { return nil }
            let host = String(rest[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            return host.isEmpty ? nil : (host, port, isTLS)
        }
        return rest.isEmpty ? nil : (String(rest), isTLS ? 443 : 80, isTLS)
    }

    var hostHeader: String {
        port == (tls == nil ? 80 : 443) ? host : (host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
    }
}

/// Path-style S3 requests over one persistent connection, reconnecting after a failure.
/// Used by one task at a time (handed from phase to phase), hence `@unchecked Sendable`.
public final class S3Client: @unchecked Sendable {
    let endpoint: S3Endpoint
    let group: EventLoopGroup
    private var connection: HTTPConnection?

    public init(endpoint: S3Endpoint, group: EventLoopGroup) {
        self.endpoint = endpoint
        self.group = group
    }

    public func send(
        _ method: HTTPMethod, bucket: String, key: String? = nil, query: [(String, String)] = [], body: ByteBuffer? = nil,
        payloadHash knownHash: String? = nil, collectBody: Bool = false
    ) async throws -> HTTPResponse {
        var path = "/" + S3Signer.uriEncode(bucket)
        if let key { path += "/" + S3Signer.uriEncode(key, keepSlash: true) }
        var uri = path
        if !query.isEmpty {
            uri += "?" + query.map { $0.1.isEmpty ? S3Signer.uriEncode($0.0) : S3Signer.uriEncode($0.0) + "=" + S3Signer.uriEncode($0.1) }
                .joined(separator: "&")
        }
        var headers = [("host", endpoint.hostHeader)]
        if body != nil || method == .PUT || method == .POST {
            headers.append(("content-length", String(body?.readableBytes ?? 0)))
        }
        if let signer = endpoint.signer {
            let hash: String
            if let body, body.readableBytes > 0 {
                hash =
                    endpoint.hashPayload
                    ? knownHash ?? body.withUnsafeReadableBytes { S3Signer.hex(SHA256.hash(data: $0)) } : S3Signer.unsignedPayload
            } else {
                hash = S3Signer.emptyPayloadHash
            }
            signer.sign(method: method.rawValue, path: path, query: query, headers: &headers, payloadHash: hash)
        }
        let request = HTTPRequest(method: method, uri: uri, headers: headers, body: body, collectBody: collectBody)
        let conn: HTTPConnection
        if let connection, connection.isActive {
            conn = connection
        } else {
            conn = try await HTTPConnection.connect(host: endpoint.host, port: endpoint.port, tls: endpoint.tls, group: group)
            connection = conn
        }
        do {
            let response = try await conn.execute(request)
            if !response.keepAlive { connection = nil }
            return response
        } catch {
            await conn.close()
            connection = nil
            throw error
        }
    }

    public func close() async {
        await connection?.close()
        connection = nil
    }
}

public struct S3StatusError: Error, CustomStringConvertible {
    public var description: String
}

extension HTTPResponse {
    /// Throws unless the status is one of `expected`; the message carries the S3 error code if any.
    @discardableResult
    func expect(_ expected: Set<UInt>, _ what: String) throws -> HTTPResponse {
        guard expected.contains(status.code) else {
            let code = body.flatMap { Self.element("Code", in: String(buffer: $0)) }.map { " \($0)" } ?? ""
            throw S3StatusError(description: "\(what): HTTP \(status.code)\(code)")
        }
        return self
    }

    /// The text of the first `<name>...</name>` in `xml`.
    static func element(_ name: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(name)>"), let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex)
        else { return nil }
        return String(xml[open.upperBound..<close.lowerBound])
    }
}
