import HTTPTypes
import Hummingbird
import HummingbirdCore

/// Get/Put/DeleteObjectTagging and Get/Put/DeleteBucketTagging. Tags set with an object
/// (`x-amz-tagging` on PutObject, CreateMultipartUpload, CopyObject) are the ObjectHandlers'.
struct TaggingHandlers: Sendable {
    let metadata: MetadataStore

    static let bodyBytesMax = 64 << 10

    func getObjectTagging(_ s3: S3Request) throws -> Response {
        let object = try existingObject(s3)
        return S3Router.xmlResponse(TagSet(queryText: object.tagging)?.xml ?? TagSet().xml)
    }

    func putObjectTagging(_ s3: S3Request, request: Request) async throws -> Response {
        _ = try existingObject(s3)
        let tags = try TagSet(xml: try await XMLNode.parse(request, bytesMax: Self.bodyBytesMax))
        try tags.check(tagsMax: TagSet.objectTagsMax)
        try await commitObjectTagging(s3, tags.queryText)
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    func deleteObjectTagging(_ s3: S3Request) async throws -> Response {
        _ = try existingObject(s3)
        try await commitObjectTagging(s3, "")
        return Response(status: .noContent)
    }

    func getBucketTagging(_ s3: S3Request) throws -> Response {
        guard let bucket = metadata.read({ $0.bucket(s3.bucket) }) else { throw S3Error.noSuchBucket(s3.bucket) }
        guard !bucket.info.tagging.isEmpty, let tags = TagSet(queryText: bucket.info.tagging) else {
            throw S3Error(.noSuchTagSet, "The TagSet does not exist", resource: "/" + s3.bucket)
        }
        return S3Router.xmlResponse(tags.xml)
    }

    func putBucketTagging(_ s3: S3Request, request: Request) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        let tags = try TagSet(xml: try await XMLNode.parse(request, bytesMax: Self.bodyBytesMax))
        try tags.check(tagsMax: TagSet.bucketTagsMax)
        try await commitBucketTagging(s3, tags.queryText)
        return Response(status: .noContent)
    }

    func deleteBucketTagging(_ s3: S3Request) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        try await commitBucketTagging(s3, "")
        return Response(status: .noContent)
    }

    private func existingObject(_ s3: S3Request) throws -> ObjectRecord {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        guard let object = metadata.object(bucket: s3.bucket, key: s3.key) else { throw S3Error.noSuchKey(s3.bucket, s3.key) }
        return object
    }

    private func commitObjectTagging(_ s3: S3Request, _ tagging: String) async throws {
        switch try await metadata.commit(.setObjectTagging(bucket: s3.bucket, key: s3.key, tagging: tagging)) {
        case .applied: return
        case .rejected(.noSuchBucket): throw S3Error.noSuchBucket(s3.bucket)
        case .rejected: throw S3Error.noSuchKey(s3.bucket, s3.key)  // deleted meanwhile
        }
    }

    private func commitBucketTagging(_ s3: S3Request, _ tagging: String) async throws {
        guard case .applied = try await metadata.commit(.setBucketTagging(bucket: s3.bucket, tagging: tagging)) else {
            throw S3Error.noSuchBucket(s3.bucket)
        }
    }
}
