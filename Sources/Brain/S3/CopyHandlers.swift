import HTTPTypes
import Hummingbird
import HummingbirdCore

/// CopyObject and UploadPartCopy: the source's bytes stream from its agents into new chunks,
/// a chunk at a time, never the whole object in memory.
extension ObjectHandlers {
    struct CopySource {
        var bucket: String
        var key: String
        var object: ObjectRecord
        /// Whether the request named the version to copy.
        var isVersionNamed: Bool
        /// Whether `x-amz-copy-source-version-id` names the version copied (the source's bucket
        /// has had versioning, or a version was named).
        var namesVersion: Bool
    }

    /// The bucket, key and version `x-amz-copy-source` names (`/bucket/key` or `bucket/key`,
    /// URL-encoded, optionally followed by `?versionId=ID`).
    static func copySourceName(_ headers: HTTPFields) throws -> (bucket: String, key: String, versionID: VersionID?) {
        guard let raw = headers[.amzCopySource] else { throw S3Error.invalidArgument("missing x-amz-copy-source") }
        let pieces = raw.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var versionID: VersionID?
        if pieces.count == 2 {
            guard pieces[1].hasPrefix("versionId=") else { throw S3Error.invalidArgument("x-amz-copy-source is not valid") }
            versionID = try ObjectVersions.parse(String(pieces[1].dropFirst("versionId=".count)))
        }
        guard let decoded = PercentEncoding.decode(String(pieces[0])) else {
            throw S3Error.invalidArgument("x-amz-copy-source is not valid")
        }
        let text = decoded.drop(while: { $0 == "/" })
        guard let slash = text.firstIndex(of: "/") else {
            throw S3Error.invalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
        }
        return (String(text[..<slash]), String(text[text.index(after: slash)...]), versionID)
    }

    /// Resolves `x-amz-copy-source` to its object, and checks its conditions.
    func copySource(_ headers: HTTPFields) throws -> CopySource {
        let (bucket, key, versionID) = try Self.copySourceName(headers)
        let object: ObjectRecord, versioning: BucketVersioning
        do {
            (object, versioning, _) = try ObjectVersions.readable(metadata, bucket: bucket, key: key, versionID: versionID)
        } catch let error as S3Error where error.code == .methodNotAllowed {
            throw S3Error(.invalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
        }
        let conditions = Preconditions.copySourceConditions(from: headers)
        guard Preconditions.evaluate(conditions, etag: object.etag, lastModifiedMs: object.lastModifiedMs) == .proceed else {
            throw Preconditions.preconditionFailed
        }
        guard chunks.canRead(object.chunks) else {
            throw S3Error.serviceUnavailable("An agent holding the source object's data is not connected; try again later.")
        }
        return CopySource(
            bucket: bucket, key: key, object: object, isVersionNamed: versionID != nil,
            namesVersion: ObjectVersions.namesVersions(versioning, object))
    }

    func copyObject(_ s3: S3Request, request: Request) async throws -> Response {
        try Self.validateKey(s3.key)
        guard let bucket = metadata.bucketInfo(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        let acl = try Self.cannedACL(request.headers) ?? .private
        let condition = try Preconditions.writeCondition(from: request.headers)  // on the destination
        try check(condition, s3)
        let source = try copySource(request.headers)
        let directive = request.headers[.amzMetadataDirective]?.uppercased() ?? "COPY"
        guard directive == "COPY" || directive == "REPLACE" else {
            throw S3Error.invalidArgument("Unknown metadata directive.")
        }
        // Copying a given version over its key is how an old version is restored.
        if directive == "COPY" && source.bucket == s3.bucket && source.key == s3.key && !source.isVersionNamed {
            throw S3Error(.invalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
        }
        let taggingDirective = request.headers[TagSet.directiveHeader]?.uppercased() ?? "COPY"
        guard taggingDirective == "COPY" || taggingDirective == "REPLACE" else {
            throw S3Error.invalidArgument("Unknown tagging directive.")
        }
        // The copy's ACL is the request's (private by default), never the source's; its tags the
        // source's, or with the REPLACE tagging directive the request's.
        let tagging = taggingDirective == "COPY" ? source.object.tagging : try TagSet.fromHeader(request.headers)?.queryText ?? ""
        // The source's lock is not copied: the copy's is the request's, or the bucket's default.
        let headers = try ObjectLockHandlers.withLock(
            ObjectRecord.headers(
                ObjectRecord.headers(
                    directive == "COPY" ? source.object.headers : try ObjectHeaders.storable(from: request.headers), withACL: acl),
                withTagging: tagging),
            requested: request.headers, lock: bucket.objectLock, nowMs: Clock.nowMs())
        var expectations = BodyDigests.Expectations()
        expectations.checksumAlgorithm = source.object.checksum?.algorithm
        let stored = try await storer.store(
            chunks.bytes(of: source.object.chunks, range: 0..<source.object.size), framing: .plain,
            expectations: expectations, sizeMax: Self.putBytesMax, headers: headers)
        let object = ObjectRecord(
            size: stored.digests.size, etag: ObjectRecord.etag(md5: stored.digests.md5), lastModifiedMs: Clock.nowMs(),
            headers: headers, checksum: stored.digests.checksum, chunks: stored.placements,
            versionID: bucket.versioning.newVersionID())
        try await commit(
            .with(condition, .putObject(bucket: s3.bucket, key: s3.key, object: object)), bucket: s3.bucket, newChunks: object.chunks)
        var xml = XMLWriter()
        xml.open("CopyObjectResult")
        xml.element("LastModified", HTTPDate.iso8601(ms: object.lastModifiedMs))
        xml.element("ETag", object.etag)
        if let checksum = object.checksum { xml.element("Checksum" + checksum.algorithm.name, checksum.value) }
        xml.close("CopyObjectResult")
        var response = S3Router.xmlResponse(xml.text)
        if source.namesVersion { response.headers[.amzCopySourceVersionID] = source.object.versionID.text }
        if !object.versionID.isNull { response.headers[.amzVersionID] = object.versionID.text }
        if let expiration = LifecycleHandlers.expiration(bucket.lifecycle, key: s3.key, object: object, clock: lifecycleClock) {
            response.headers[LifecycleHandlers.expirationHeader] = expiration
        }
        return response
    }

    func uploadPartCopy(_ s3: S3Request, request: Request, uploadID: String) async throws -> Response {
        let partNumber = try Self.partNumber(s3)
        let upload = try self.upload(uploadID, s3)
        let source = try copySource(request.headers)
        var range = 0..<source.object.size
        if let text = request.headers[.amzCopySourceRange] {
            // `bytes=first-last`, both given; beyond the source (or first > last): 400 InvalidRange.
            let bounds = text.hasPrefix("bytes=") ? text.dropFirst("bytes=".count).split(separator: "-", omittingEmptySubsequences: false) : []
            guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]), first >= 0 else {
                throw S3Error.invalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
            }
            guard first <= last, last < source.object.size else {
                throw S3Error.copyRangeBeyondSource(size: source.object.size)
            }
            range = first..<(last + 1)
        }
        var expectations = BodyDigests.Expectations()
        expectations.checksumAlgorithm = upload.checksumAlgorithm
        let stored = try await storer.store(
            chunks.bytes(of: source.object.chunks, range: range), framing: .plain, expectations: expectations,
            sizeMax: Self.putBytesMax, headers: upload.headers)
        let part = PartRecord(
            size: stored.digests.size, etag: ObjectRecord.etag(md5: stored.digests.md5), lastModifiedMs: Clock.nowMs(),
            checksum: stored.digests.checksum?.value, chunks: stored.placements)
        try await commit(
            .putPart(uploadID: uploadID, partNumber: partNumber, part: part), bucket: s3.bucket, uploadID: uploadID,
            newChunks: part.chunks)
        var xml = XMLWriter()
        xml.open("CopyPartResult")
        xml.element("LastModified", HTTPDate.iso8601(ms: part.lastModifiedMs))
        xml.element("ETag", part.etag)
        if let checksum = stored.digests.checksum { xml.element("Checksum" + checksum.algorithm.name, checksum.value) }
        xml.close("CopyPartResult")
        var response = S3Router.xmlResponse(xml.text)
        if source.namesVersion { response.headers[.amzCopySourceVersionID] = source.object.versionID.text }
        return response
    }
}
