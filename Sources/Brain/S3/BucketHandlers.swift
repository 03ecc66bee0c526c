import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation, ListBuckets and the object listings.
struct BucketHandlers: Sendable {
    let metadata: MetadataStore
    /// For dropping the parts of uploads that die with their bucket.
    let chunks: ChunkRouter

    /// ListBuckets returns at most this many buckets a page (`max-buckets`, S3's limit and default).
    static let listBucketsMax = 10_000

    /// The root key sees every bucket; another key those it has a permission on. Paged as S3 pages
    /// it: `max-buckets`, `continuation-token` (opaque to clients: base64 of the last name listed),
    /// `prefix`; buckets in name order.
    /// The buckets ListBuckets shows `principal`: all for the root key, those it holds a
    /// permission on for another key (the console's bucket list shows the same).
    static func visibleBuckets(_ metadata: MetadataStore, to principal: Principal) -> [BucketInfo] {
        let buckets = metadata.buckets
        guard case .key(let key) = principal, !key.isRoot else { return buckets }
        let reachable = metadata.accessKey(key.accessKeyID)?.buckets ?? [:]
        return buckets.filter { reachable[$0.name] != nil }
    }

    func listBuckets(_ s3: S3Request) throws -> Response {
        var maxBuckets = Self.listBucketsMax
        if let text = s3.query["max-buckets"] {
            guard let value = Int(text), (1...Self.listBucketsMax).contains(value) else {
                throw S3Error.invalidArgument("max-buckets must be an integer from 1 to \(Self.listBucketsMax)")
            }
            maxBuckets = value
        }
        var after = ""
        if let token = s3.query["continuation-token"] {
            guard let data = Data(base64Encoded: token), let name = String(data: data, encoding: .utf8), !name.isEmpty else {
                throw S3Error.invalidArgument("The continuation token provided is incorrect")
            }
            after = name
        }
        let prefix = s3.query["prefix"] ?? ""
        let visible = Self.visibleBuckets(metadata, to: s3.principal).filter { $0.name > after && $0.name.hasPrefix(prefix) }
        let page = visible.prefix(maxBuckets)
        var xml = XMLWriter()
        xml.open("ListAllMyBucketsResult")
        xml.open("Owner", namespace: false)
        xml.element("ID", "sos")
        xml.element("DisplayName", "sos")
        xml.close("Owner")
        xml.open("Buckets", namespace: false)
        for bucket in page {
            xml.open("Bucket", namespace: false)
            xml.element("Name", bucket.name)
            xml.element("CreationDate", HTTPDate.iso8601(ms: bucket.creationDateMs))
            xml.close("Bucket")
        }
        xml.close("Buckets")
        if visible.count > page.count, let last = page.last {
            xml.element("ContinuationToken", Data(last.name.utf8).base64EncodedString())
        }
        if s3.query["prefix"] != nil { xml.element("Prefix", prefix) }
        xml.close("ListAllMyBucketsResult")
        return S3Router.xmlResponse(xml.text)
    }

    func createBucket(_ s3: S3Request, request: Request) async throws -> Response {
        guard Self.isValidBucketName(s3.bucket) else { throw S3Error.invalidBucketName(s3.bucket) }
        let acl = try ObjectHandlers.cannedACL(request.headers) ?? .private
        guard !metadata.bucketExists(s3.bucket) else { throw alreadyExists(s3) }
        // A bucket created by a key other than root is owned by that key.
        var owner = ""
        if case .key(let key) = s3.principal, !key.isRoot { owner = key.accessKeyID }
        var mutation = owner.isEmpty
            ? Mutation.createBucket(name: s3.bucket, creationDateMs: Clock.nowMs())
            : .createOwnedBucket(name: s3.bucket, creationDateMs: Clock.nowMs(), owner: owner)
        if let lock = request.headers[.amzBucketObjectLockEnabled] {
            guard lock.lowercased() == "true" else { throw S3Error.invalidArgument("x-amz-bucket-object-lock-enabled must be true") }
            // Versioning and Object Lock come with the bucket, in the same commit.
            mutation = .createLockedBucket(name: s3.bucket, creationDateMs: Clock.nowMs(), owner: owner)
        }
        switch try await metadata.commit(mutation) {
        case .applied:
            // A second commit: a crash between the two leaves the bucket private, the safe side.
            if acl != .private { _ = try await metadata.commit(.setBucketACL(bucket: s3.bucket, acl: acl)) }
            return Response(status: .ok, headers: [.location: "/" + s3.bucket, .contentLength: "0"])
        case .rejected(.noSuchAccessKey): throw S3Error.accessDenied
        case .rejected: throw alreadyExists(s3)
        }
    }

    /// BucketAlreadyOwnedByYou for root and for a key with a permission on the bucket; BucketAlreadyExists otherwise.
    private func alreadyExists(_ s3: S3Request) -> S3Error {
        if case .key(let key) = s3.principal, !key.isRoot,
            metadata.accessKey(key.accessKeyID)?.permissions(on: s3.bucket).isEmpty ?? true
        {
            return S3Error(
                .bucketAlreadyExists,
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                resource: "/" + s3.bucket)
        }
        return S3Error.bucketAlreadyOwnedByYou(s3.bucket)
    }

    func deleteBucket(_ s3: S3Request) async throws -> Response {
        guard let bucket = metadata.read({ $0.bucket(s3.bucket) }) else { throw S3Error.noSuchBucket(s3.bucket) }
        guard bucket.isEmpty else { throw S3Error.bucketNotEmpty(s3.bucket) }
        switch try await metadata.commit(.deleteBucket(name: s3.bucket)) {
        case .applied(let garbage):
            chunks.discard(garbage)
            return Response(status: .noContent)
        case .rejected(.bucketNotEmpty): throw S3Error.bucketNotEmpty(s3.bucket)
        case .rejected: throw S3Error.noSuchBucket(s3.bucket)
        }
    }

    func headBucket(_ s3: S3Request) throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    func getBucketLocation(_ s3: S3Request) throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        var xml = XMLWriter()
        xml.open("LocationConstraint")
        xml.close("LocationConstraint")
        return S3Router.xmlResponse(xml.text)
    }

    /// Bucket naming rules of AWS S3 (general purpose buckets).
    static func isValidBucketName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        let allowed = { (b: UInt8) in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
        }
        let alphanumeric = { (b: UInt8) in allowed(b) && b != UInt8(ascii: ".") && b != UInt8(ascii: "-") }
        guard bytes.allSatisfy(allowed), alphanumeric(bytes.first!), alphanumeric(bytes.last!) else { return false }
        guard !name.contains(".."), !name.contains(".-"), !name.contains("-.") else { return false }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4 && octets.allSatisfy({ UInt8($0) != nil }) { return false }
        return !name.hasPrefix("xn--") && !name.hasSuffix("-s3alias")
    }
}

enum Clock {
    static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}
