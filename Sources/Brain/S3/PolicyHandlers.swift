import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// GetBucketPolicy, PutBucketPolicy, DeleteBucketPolicy and GetBucketPolicyStatus. A policy is
/// parsed and checked (`BucketPolicy`) before it is committed: MalformedPolicy otherwise.
struct PolicyHandlers: Sendable {
    let metadata: MetadataStore

    func getBucketPolicy(_ s3: S3Request) throws -> Response {
        guard let policy = try bucket(s3).policy else {
            throw S3Error(.noSuchBucketPolicy, "The bucket policy does not exist", resource: "/" + s3.bucket)
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: policy.text)))
    }

    func putBucketPolicy(_ s3: S3Request, request: Request) async throws -> Response {
        _ = try bucket(s3)
        var collected = ByteBuffer()
        for try await var piece in request.body {
            guard collected.readableBytes + piece.readableBytes <= BucketPolicy.textBytesMax else {
                throw S3Error(.malformedPolicy, "Policies must not exceed 20 KB", resource: "/" + s3.bucket)
            }
            collected.writeBuffer(&piece)
        }
        let text = String(decoding: collected.readableBytesView, as: UTF8.self)
        do {
            _ = try BucketPolicy(parsing: text, bucket: s3.bucket)
        } catch let error as BucketPolicy.Malformed {
            throw S3Error(.malformedPolicy, error.description, resource: "/" + s3.bucket)
        }
        try await commit(.setBucketPolicy(bucket: s3.bucket, policy: text), s3)
        return Response(status: .noContent)
    }

    func deleteBucketPolicy(_ s3: S3Request) async throws -> Response {
        _ = try bucket(s3)
        try await commit(.setBucketPolicy(bucket: s3.bucket, policy: ""), s3)
        return Response(status: .noContent)
    }

    func getBucketPolicyStatus(_ s3: S3Request) throws -> Response {
        guard let policy = try bucket(s3).policy else {
            throw S3Error(.noSuchBucketPolicy, "The bucket policy does not exist", resource: "/" + s3.bucket)
        }
        var xml = XMLWriter()
        xml.open("PolicyStatus")
        xml.element("IsPublic", policy.isPublic)
        xml.close("PolicyStatus")
        return S3Router.xmlResponse(xml.text)
    }

    private func bucket(_ s3: S3Request) throws -> BucketInfo {
        guard let info = metadata.read({ $0.bucket(s3.bucket)?.info }) else { throw S3Error.noSuchBucket(s3.bucket) }
        return info
    }

    private func commit(_ mutation: Mutation, _ s3: S3Request) async throws {
        guard case .applied = try await metadata.commit(mutation) else { throw S3Error.noSuchBucket(s3.bucket) }
    }
}
