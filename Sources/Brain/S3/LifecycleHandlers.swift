import HTTPTypes
import Hummingbird
import HummingbirdCore

/// Get/Put/DeleteBucketLifecycleConfiguration, and the `x-amz-expiration` header a current object
/// gets on PUT, GET and HEAD when a rule will expire it. `LifecycleService` applies the rules.
struct LifecycleHandlers: Sendable {
    let metadata: MetadataStore

    static let expirationHeader = HTTPField.Name("x-amz-expiration")!

    func getBucketLifecycle(_ s3: S3Request) throws -> Response {
        guard let info = metadata.bucketInfo(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        guard let lifecycle = info.lifecycle else {
            throw S3Error(.noSuchLifecycleConfiguration, "The lifecycle configuration does not exist", resource: "/" + s3.bucket)
        }
        return S3Router.xmlResponse(lifecycle.xml)
    }

    func putBucketLifecycle(_ s3: S3Request, request: Request) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        let lifecycle = try LifecycleConfiguration(
            parsing: try await XMLNode.parse(request, bytesMax: LifecycleConfiguration.bodyBytesMax))
        try await commit(s3, lifecycle.xml)
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    func deleteBucketLifecycle(_ s3: S3Request) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        try await commit(s3, "")
        return Response(status: .noContent)
    }

    private func commit(_ s3: S3Request, _ text: String) async throws {
        guard case .applied = try await metadata.commit(.setBucketLifecycle(bucket: s3.bucket, lifecycle: text)) else {
            throw S3Error.noSuchBucket(s3.bucket)
        }
    }

    /// `expiry-date="<HTTP date>", rule-id="<id>"` for a current object a rule will expire.
    static func expiration(
        _ lifecycle: LifecycleConfiguration?, key: String, object: ObjectRecord, clock: LifecycleClock
    ) -> String? {
        guard let lifecycle, lifecycle.expiresCurrentObjects,
            let expiration = lifecycle.expiration(of: ObjectKey(key), object, clock: clock)
        else { return nil }
        return "expiry-date=\"\(HTTPDate.rfc1123(ms: expiration.atMs))\", rule-id=\"\(expiration.ruleID)\""
    }
}
