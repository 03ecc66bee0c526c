import HTTPTypes
import Hummingbird
import HummingbirdCore

/// Get/Put/DeleteObjectTagging and Get/Put/DeleteBucketTagging. Tags set with an object
/// (`x-amz-tagging` on PutObject, CreateMultipartUpload, CopyObject) are the ObjectHandlers'.
struct TaggingHandlers: Sendable {
    let metadata: MetadataStore

    static let bodyBytesMax = 64 << 10

    func getObjectTagging(_ s3: S3Request) throws -> Response {
        let (object, versioning, _) = try ObjectVersions.readable(
            metadata, bucket: s3.bucket, key: s3.key, versionID: try ObjectVersions.requested(s3))
        var response = S3Router.xmlResponse(TagSet(queryText: object.tagging)?.xml ?? TagSet().xml)
        if ObjectVersions.namesVersions(versioning, object) { response.headers[.amzVersionID] = object.versionID.text }
        return response
    }

    func putObjectTagging(_ s3: S3Request, request: Request) async throws -> Response {
        let version = try ObjectVersions.readable(
            metadata, bucket: s3.bucket, key: s3.key, versionID: try ObjectVersions.requested(s3))
        let tags = try TagSet(xml: try await XMLNode.parse(request, bytesMax: Self.bodyBytesMax))
        try tags.check(tagsMax: TagSet.objectTagsMax)
        try await commitObjectTagging(s3, version.object, tags.queryText)
        var fields: HTTPFields = [.contentLength: "0"]
        if ObjectVersions.namesVersions(version.versioning, version.object) { fields[.amzVersionID] = version.object.versionID.text }
        return Response(status: .ok, headers: fields)
    }

    func deleteObjectTagging(_ s3: S3Request) async throws -> Response {
        let version = try ObjectVersions.readable(
            metadata, bucket: s3.bucket, key: s3.key, versionID: try ObjectVersions.requested(s3))
        try await commitObjectTagging(s3, version.object, "")
        var fields = HTTPFields()
        if ObjectVersions.namesVersions(version.versioning, version.object) { fields[.amzVersionID] = version.object.versionID.text }
        return Response(status: .noContent, headers: fields)
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

    private func commitObjectTagging(_ s3: S3Request, _ version: ObjectRecord, _ tagging: String) async throws {
        let change = Mutation.setObjectTagging(bucket: s3.bucket, key: s3.key, versionID: version.versionID, tagging: tagging)
        switch try await metadata.commit(change) {
        case .applied: return
        case .rejected(let rejection): throw ObjectHandlers.s3Error(for: rejection, bucket: s3.bucket)  // deleted meanwhile
        }
    }

    private func commitBucketTagging(_ s3: S3Request, _ tagging: String) async throws {
        guard case .applied = try await metadata.commit(.setBucketTagging(bucket: s3.bucket, tagging: tagging)) else {
            throw S3Error.noSuchBucket(s3.bucket)
        }
    }
}
