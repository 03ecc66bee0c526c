import HTTPTypes
import Hummingbird
import HummingbirdCore

/// Get/Put/DeleteBucketCors, a browser's preflight `OPTIONS` (answered from the bucket's rules,
/// before any signature: browsers send none), and the `Access-Control-*` headers of the actual
/// responses to a request with an `Origin`.
struct CORSHandlers: Sendable {
    let metadata: MetadataStore

    static let notAllowed = S3Error(
        .accessForbidden,
        "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")

    func getBucketCors(_ s3: S3Request) throws -> Response {
        guard let info = metadata.bucketInfo(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        guard let cors = info.cors else {
            throw S3Error(.noSuchCORSConfiguration, "The CORS configuration does not exist", resource: "/" + s3.bucket)
        }
        return S3Router.xmlResponse(cors.xml)
    }

    func putBucketCors(_ s3: S3Request, request: Request) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        let cors = try CORSConfiguration(parsing: try await XMLNode.parse(request, bytesMax: CORSConfiguration.bodyBytesMax))
        try await commit(s3, cors.xml)
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    func deleteBucketCors(_ s3: S3Request) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        try await commit(s3, "")
        return Response(status: .noContent)
    }

    private func commit(_ s3: S3Request, _ text: String) async throws {
        guard case .applied = try await metadata.commit(.setBucketCors(bucket: s3.bucket, cors: text)) else {
            throw S3Error.noSuchBucket(s3.bucket)
        }
    }

    /// `OPTIONS /bucket[/key]` with `Origin` and `Access-Control-Request-Method`: 200 with the
    /// first matching rule's headers, or 403 when no rule (or no configuration) allows it.
    func preflight(_ s3: S3Request, request: Request) throws -> Response {
        guard !s3.bucket.isEmpty else { throw S3Error.methodNotAllowed }
        guard let origin = request.headers[.origin], let method = request.headers[.accessControlRequestMethod] else {
            throw S3Error(.badRequest, "Insufficient information. Origin request header needed.")
        }
        guard let info = metadata.bucketInfo(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        let requested = CORSConfiguration.requestedHeaders(request.headers[.accessControlRequestHeaders])
        guard let rule = info.cors?.rule(origin: origin, method: method, headers: requested) else { throw Self.notAllowed }
        var fields = CORSConfiguration.responseHeaders(rule, origin: origin, requestedHeaders: requested)
        fields[.contentLength] = "0"
        return Response(status: .ok, headers: fields)
    }

    /// Adds the matching rule's `Access-Control-*` headers to the response of a request from an
    /// allowed origin (errors included, so that a page can read them).
    func decorate(_ response: inout Response, request: Request, bucket: String) {
        guard let origin = request.headers[.origin], let cors = metadata.bucketInfo(bucket)?.cors,
            let rule = cors.rule(origin: origin, method: request.method.rawValue)
        else { return }
        for field in CORSConfiguration.responseHeaders(rule, origin: origin) { response.headers[field.name] = field.value }
    }
}
