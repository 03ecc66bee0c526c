import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Serves S3 requests: names each request's operation, authenticates and authorizes it (a layer
/// in front of the handlers, which know nothing of signatures), dispatches it to its handler, and
/// turns every error into an S3 XML error with an `x-amz-request-id`, never a crash or a bare 500.
struct S3Router: HTTPResponder {
    typealias Context = S3RequestContext

    let buckets: BucketHandlers
    let objects: ObjectHandlers
    let acls: ACLHandlers
    let policies: PolicyHandlers
    let tagging: TaggingHandlers
    let locks: ObjectLockHandlers
    let cors: CORSHandlers
    let lifecycle: LifecycleHandlers
    /// With a domain such as `s3.example.com`, `BUCKET.s3.example.com` addresses BUCKET (virtual-hosted style).
    let virtualHostDomain: String?
    /// Nil only with `--insecure-no-auth`: every request is then served as the root key's.
    let authenticator: RequestAuthenticator?
    let authorizer: Authorizer
    /// Whether the S3 port speaks TLS (`aws:SecureTransport`).
    let isSecure: Bool
    let observer: S3RequestObserver
    let logger: Logger
    /// Who every request is with `--insecure-no-auth`.
    static let insecureRoot = Principal.key(AccessKey(accessKeyID: "", secretKey: "", isRoot: true))

    func respond(to request: Request, context: Context) async throws -> Response {
        await serve(request, remoteAddress: context.remoteAddress, session: nil)
    }

    /// Serves one request; `session`, for the console's requests, is who sent it, checked by the
    /// console's session cookie instead of a signature.
    func serve(_ request: Request, remoteAddress: SocketAddress?, session: Principal?) async -> Response {
        var record = S3RequestRecord(requestID: Self.makeRequestID(), headers: request.headers)
        let requestID = record.requestID
        var response: Response
        do {
            response = try await route(request, remoteAddress: remoteAddress, session: session, record: &record)
        } catch let error as S3Error {
            response = Self.errorResponse(error, requestID: requestID, isHead: request.method == .head)
        } catch {
            logger.error("request failed", metadata: ["requestID": "\(requestID)", "error": "\(error)"])
            let known = ObjectHandlers.s3Error(for: error) as? S3Error
            response = Self.errorResponse(
                known ?? .internalError("We encountered an internal error. Please try again."), requestID: requestID,
                isHead: request.method == .head)
        }
        response.headers[.amzRequestID] = requestID
        if request.headers[.origin] != nil, request.method != .options,
            let s3 = try? S3Request(uri: request.uri, host: request.head.authority, virtualHostDomain: virtualHostDomain), !s3.bucket.isEmpty
        {
            cors.decorate(&response, request: request, bucket: s3.bucket)
        }
        return observer.observe(response, record)
    }

    private func route(
        _ request: Request, remoteAddress: SocketAddress?, session: Principal?, record: inout S3RequestRecord
    ) async throws -> Response {
        var s3 = try S3Request(uri: request.uri, host: request.head.authority, virtualHostDomain: virtualHostDomain)
        (record.bucket, record.key) = (s3.bucket, s3.key)
        s3.sourceIP = remoteAddress?.ipAddress
        s3.isSecureTransport = isSecure
        // A browser's preflight carries no signature; the bucket's CORS rules answer it.
        if request.method == .options { return try cors.preflight(s3, request: request) }
        let operation = try S3Operation(method: request.method, request: s3, headers: request.headers)
        record.operation = operation
        // A browser's POST upload is signed by its form, which its handler reads first.
        guard operation != .postObject else { return try await dispatch(operation, s3, request) }
        if let session {
            s3.principal = session
        } else if let authenticator {
            let parts = SignedRequestParts(
                method: request.method.rawValue, rawPath: request.uri.path, rawQuery: request.uri.query ?? "",
                host: request.head.authority, headers: request.headers,
                virtualHostBucket: s3.isVirtualHosted ? s3.bucket : nil)
            let authentication = try authenticator.authenticate(parts, nowSeconds: Clock.nowMs() / 1000)
            s3.principal = authentication.principal
            s3.chunkSignatures = authentication.chunkSignatures
        } else {
            s3.principal = Self.insecureRoot
        }
        if case .key(let key) = s3.principal { record.accessKeyID = key.accessKeyID }
        try authorizer.authorize(s3.principal, operation, s3, headers: request.headers)
        return try await dispatch(operation, s3, request)
    }

    private func dispatch(_ operation: S3Operation, _ s3: S3Request, _ request: Request) async throws -> Response {
        let uploadID = s3.query["uploadId"] ?? ""
        switch operation {
        case .listBuckets: return try buckets.listBuckets(s3)
        case .createBucket: return try await buckets.createBucket(s3, request: request)
        case .deleteBucket: return try await buckets.deleteBucket(s3)
        case .headBucket: return try buckets.headBucket(s3)
        case .getBucketLocation: return try buckets.getBucketLocation(s3)
        case .listObjects, .listObjectsV2: return try buckets.listObjects(s3)
        case .listObjectVersions: return try buckets.listObjectVersions(s3)
        case .listMultipartUploads: return try buckets.listMultipartUploads(s3)
        case .deleteObjects:
            return try await objects.deleteObjects(s3, request: request) { key, versionNamed in
                authorizer.mayDelete(s3.principal, s3, key: key, versionNamed: versionNamed)
            }
        case .putObject: return try await objects.putObject(s3, request: request)
        case .postObject:
            return try await objects.postObject(
                s3, request: request,
                authenticate: { fields in try authenticator?.authenticatePostForm(fields) ?? Self.insecureRoot },
                authorize: { principal, s3 in try authorizer.authorize(principal, .postObject, s3, headers: [:]) })
        case .copyObject: return try await objects.copyObject(s3, request: request)
        case .getObject: return try await objects.getObject(s3, request: request, headOnly: false)
        case .headObject: return try await objects.getObject(s3, request: request, headOnly: true)
        case .getObjectAttributes: return try objects.getObjectAttributes(s3, request: request)
        case .deleteObject: return try await objects.deleteObject(s3, request: request)
        case .createMultipartUpload: return try await objects.createMultipartUpload(s3, request: request)
        case .uploadPart: return try await objects.uploadPart(s3, request: request, uploadID: uploadID)
        case .uploadPartCopy: return try await objects.uploadPartCopy(s3, request: request, uploadID: uploadID)
        case .completeMultipartUpload:
            return try await objects.completeMultipartUpload(s3, request: request, uploadID: uploadID)
        case .abortMultipartUpload: return try await objects.abortMultipartUpload(s3, uploadID: uploadID)
        case .listParts: return try objects.listParts(s3, uploadID: uploadID)
        case .getBucketAcl: return try acls.getBucketACL(s3)
        case .putBucketAcl: return try await acls.putBucketACL(s3, request: request)
        case .getObjectAcl: return try acls.getObjectACL(s3)
        case .putObjectAcl: return try await acls.putObjectACL(s3, request: request)
        case .getBucketPolicy: return try policies.getBucketPolicy(s3)
        case .putBucketPolicy: return try await policies.putBucketPolicy(s3, request: request)
        case .deleteBucketPolicy: return try await policies.deleteBucketPolicy(s3)
        case .getBucketPolicyStatus: return try policies.getBucketPolicyStatus(s3)
        case .getObjectTagging: return try tagging.getObjectTagging(s3)
        case .putObjectTagging: return try await tagging.putObjectTagging(s3, request: request)
        case .deleteObjectTagging: return try await tagging.deleteObjectTagging(s3)
        case .getBucketTagging: return try tagging.getBucketTagging(s3)
        case .putBucketTagging: return try await tagging.putBucketTagging(s3, request: request)
        case .deleteBucketTagging: return try await tagging.deleteBucketTagging(s3)
        case .getBucketVersioning: return try buckets.getBucketVersioning(s3)
        case .putBucketVersioning: return try await buckets.putBucketVersioning(s3, request: request)
        case .getBucketLifecycleConfiguration: return try lifecycle.getBucketLifecycle(s3)
        case .putBucketLifecycleConfiguration: return try await lifecycle.putBucketLifecycle(s3, request: request)
        case .deleteBucketLifecycle: return try await lifecycle.deleteBucketLifecycle(s3)
        case .getBucketCors: return try cors.getBucketCors(s3)
        case .putBucketCors: return try await cors.putBucketCors(s3, request: request)
        case .deleteBucketCors: return try await cors.deleteBucketCors(s3)
        case .getObjectLockConfiguration: return try locks.getObjectLockConfiguration(s3)
        case .putObjectLockConfiguration: return try await locks.putObjectLockConfiguration(s3, request: request)
        case .getObjectRetention: return try locks.getObjectRetention(s3)
        case .putObjectRetention: return try await locks.putObjectRetention(s3, request: request)
        case .getObjectLegalHold: return try locks.getObjectLegalHold(s3)
        case .putObjectLegalHold: return try await locks.putObjectLegalHold(s3, request: request)
        }
    }

    static func errorResponse(_ error: S3Error, requestID: String, isHead: Bool) -> Response {
        // A HEAD response carries no body: one would corrupt the next response on the connection.
        var headers = HTTPFields()
        for (name, value) in error.extraHeaders { headers[HTTPField.Name(name)!] = value }
        if isHead {
            headers[.contentLength] = "0"
            return Response(status: error.status, headers: headers)
        }
        headers[.contentType] = "application/xml"
        let body = ByteBuffer(string: error.xml(requestID: requestID))
        return Response(status: error.status, headers: headers, body: .init(byteBuffer: body))
    }

    static func xmlResponse(_ xml: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/xml"], body: .init(byteBuffer: ByteBuffer(string: xml)))
    }

    static func makeRequestID() -> String {
        let value = UInt64.random(in: 0...UInt64.max)
        let hex = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
