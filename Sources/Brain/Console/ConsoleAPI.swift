import ClusterProtocol
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The console's JSON API under `/api/` (docs/console.md): sessions, the bucket list with usage,
/// share links, and for the root key the cluster and access keys (as `sos admin` has them).
struct ConsoleAPI: Sendable {
    let sessions: ConsoleSessions
    /// Nil with `--insecure-no-auth`: then any sign-in is the root key's, as any S3 request is.
    let keys: KeyDirectory?
    let metadata: MetadataStore
    let administration: ClusterAdministration
    /// Whether the console and S3 speak HTTPS (the cookie's `Secure`, share links' scheme).
    let isSecure: Bool
    /// The S3 port, for share links: known once it is bound.
    let s3Port: @Sendable () -> Int
    let logger: Logger

    /// JSON request bodies are small.
    static let bodyBytesMax = 64 << 10

    func respond(to request: Request) async -> Response {
        var request = request
        do {
            switch (request.method, request.uri.path) {
            case (.post, "/api/session"): return try await signIn(&request)
            case (.get, "/api/session"): return whoAmI(request)
            case (.delete, "/api/session"): return signOut(request)
            default: break
            }
            guard let principal = principal(of: request), case .key(let key) = principal else {
                return Self.error(.unauthorized, "sign in first")
            }
            switch (request.method, request.uri.path) {
            case (.get, "/api/buckets"): return try buckets(for: principal)
            case (.post, "/api/presign"): return try await presign(&request, key: key)
            default: break
            }
            guard key.isRoot else { return Self.error(.forbidden, "only the root key may do this") }
            switch (request.method, request.uri.path) {
            case (.get, "/api/cluster"): return Self.json(try administration.status().json())
            case (.post, "/api/cluster/drain"):
                try await administration.drain(try await Self.decode(Drain.self, from: &request).agent)
                return Response(status: .noContent)
            case (.post, "/api/cluster/rebalance"):
                do {
                    try administration.startRebalance()
                } catch let reply as ErrorReply {
                    return Self.error(.conflict, reply.message)
                }
                return Response(status: .noContent)
            case (.post, "/api/keys"):
                let reply = try await administration.key(try await Self.decode(KeyCommand.self, from: &request))
                return Self.json(try JSONEncoder().encode(reply))
            default: return Self.error(.notFound, "no such console request")
            }
        } catch let reply as ErrorReply {
            return Self.error(reply.code == .notFound ? .notFound : reply.code == .badRequest ? .badRequest : .internalServerError, reply.message)
        } catch let invalid as Invalid {
            return Self.error(.badRequest, invalid.message)
        } catch {
            logger.error("console request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Self.error(.internalServerError, "the request failed; see the brain's log")
        }
    }

    /// Who the request's session cookie signs in as; nil without a live session or once its key is gone.
    func principal(of request: Request) -> Principal? {
        guard let token = ConsoleSessions.token(inCookieHeader: request.headers[.cookie]),
            let session = sessions.session(token, nowMs: Clock.nowMs())
        else { return nil }
        guard let keys else { return S3Router.insecureRoot }
        guard let key = keys.key(session.accessKeyID), Self.digest(key.secretKey) == session.secretDigest else { return nil }
        return .key(key)
    }

    // MARK: Sessions

    private struct SignIn: Decodable {
        var accessKey: String
        var secretKey: String
    }

    private struct SessionInfo: Encodable {
        var accessKey: String
        var isRoot: Bool
        var expiresInSeconds: Int64
    }

    private func signIn(_ request: inout Request) async throws -> Response {
        let given = try await Self.decode(SignIn.self, from: &request)
        let key: AccessKey?
        if let keys {
            // The same answer, after the same work, for an unknown key and a wrong secret.
            let found = keys.key(given.accessKey)
            key = Self.digest(found?.secretKey ?? UUID().uuidString) == Self.digest(given.secretKey) ? found : nil
        } else {
            key = AccessKey(accessKeyID: given.accessKey, secretKey: "", isRoot: true)
        }
        guard let key else {
            logger.notice("console sign-in refused", metadata: ["accessKey": "\(String(given.accessKey.prefix(128)).debugDescription)"])
            return Self.error(.unauthorized, "wrong access key or secret")
        }
        let token = sessions.open(accessKeyID: key.accessKeyID, secretDigest: Self.digest(key.secretKey), nowMs: Clock.nowMs())
        logger.notice("console sign-in", metadata: ["accessKey": "\(key.accessKeyID)"])
        var response = Self.json(
            try JSONEncoder().encode(
                SessionInfo(accessKey: key.accessKeyID, isRoot: key.isRoot, expiresInSeconds: ConsoleSessions.lifetimeSeconds)))
        response.headers[.setCookie] = cookie(token, maxAge: ConsoleSessions.lifetimeSeconds)
        return response
    }

    private func whoAmI(_ request: Request) -> Response {
        guard let token = ConsoleSessions.token(inCookieHeader: request.headers[.cookie]),
            let session = sessions.session(token, nowMs: Clock.nowMs()), case .key(let key)? = principal(of: request)
        else { return Self.error(.unauthorized, "sign in first") }
        let info = SessionInfo(accessKey: session.accessKeyID, isRoot: key.isRoot, expiresInSeconds: session.secondsLeft)
        return Self.json((try? JSONEncoder().encode(info)) ?? Data())
    }

    private func signOut(_ request: Request) -> Response {
        if let token = ConsoleSessions.token(inCookieHeader: request.headers[.cookie]) { sessions.close(token) }
        var response = Response(status: .noContent)
        response.headers[.setCookie] = cookie("", maxAge: 0)
        return response
    }

    private func cookie(_ token: String, maxAge: Int64) -> String {
        "\(ConsoleSessions.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)" + (isSecure ? "; Secure" : "")
    }

    // MARK: Buckets and share links

    private struct BucketSummary: Encodable {
        var name: String
        var created: String
        var objects: Int
        var bytes: Int64
        var versioning: String
        var objectLock: Bool
    }

    private func buckets(for principal: Principal) throws -> Response {
        let summaries = BucketHandlers.visibleBuckets(metadata, to: principal).compactMap { bucket -> BucketSummary? in
            guard let usage = metadata.bucketUsage(bucket.name) else { return nil }  // deleted meanwhile
            return BucketSummary(
                name: bucket.name, created: HTTPDate.iso8601(ms: bucket.creationDateMs), objects: usage.objects, bytes: usage.bytes,
                versioning: bucket.versioning.status ?? "", objectLock: bucket.objectLock != nil)
        }
        return Self.json(try JSONEncoder().encode(["buckets": summaries]))
    }

    private struct Presign: Decodable {
        var bucket: String
        var key: String
        var expiresSeconds: Int64
    }

    private func presign(_ request: inout Request, key: AccessKey) async throws -> Response {
        let asked = try await Self.decode(Presign.self, from: &request)
        guard SigV4.presignedExpiresSeconds.contains(asked.expiresSeconds) else {
            throw Invalid(message: "expiresSeconds must be 1 to \(SigV4.presignedExpiresSeconds.upperBound)")
        }
        guard !asked.bucket.isEmpty, !asked.key.isEmpty else { throw Invalid(message: "name a bucket and a key") }
        let host = Self.hostName(request.head.authority ?? "127.0.0.1") + ":\(s3Port())"
        let scheme = isSecure ? "https" : "http"
        let url: String
        if keys == nil {  // --insecure-no-auth: any URL works
            url = "\(scheme)://\(host)/\(PercentEncoding.encode(asked.bucket))/\(PercentEncoding.encode(asked.key))"
        } else {
            url = SigV4Presigner.getURL(
                scheme: scheme, host: host, bucket: asked.bucket, key: asked.key, accessKey: key, expiresSeconds: asked.expiresSeconds,
                nowSeconds: Clock.nowMs() / 1000)
        }
        return Self.json(try JSONEncoder().encode(["url": url]))
    }

    /// `name` of `name:port`, `[::1]` of `[::1]:port`.
    static func hostName(_ authority: String) -> String {
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") { return String(authority[...end]) }
        return String(authority.split(separator: ":", maxSplits: 1).first ?? "")
    }

    // MARK: Helpers

    /// SHA-256 of a secret: compared whole, so the time taken tells nothing of how much matched.
    static func digest(_ secret: String) -> [UInt8] { Array(SHA256.hash(data: Data(secret.utf8))) }

    private struct Drain: Decodable { var agent: String }

    struct Invalid: Error { var message: String }

    static func decode<T: Decodable>(_ type: T.Type, from request: inout Request) async throws -> T {
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: bodyBytesMax)
        } catch {
            throw Invalid(message: "the request body is over \(bodyBytesMax) bytes, or was cut off")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw Invalid(message: "the request body is not the JSON this request takes")
        }
    }

    static func json(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json((try? JSONEncoder().encode(["error": message])) ?? Data(), status: status)
    }
}
