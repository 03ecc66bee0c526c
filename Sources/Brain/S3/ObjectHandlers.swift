import ClusterProtocol
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import LogStore

/// PutObject, DeleteObject and what the object handlers share; GET/HEAD, copies and multipart
/// uploads live in their own files.
struct ObjectHandlers: Sendable {
    let metadata: MetadataStore
    let chunks: ChunkRouter
    let storer: BodyStorer
    let logger: Logger
    /// How long a lifecycle day lasts, for `x-amz-expiration`.
    let lifecycleClock: LifecycleClock

    static let keyBytesMax = 1024
    /// Stored header values are kept to this size (the WAL encodes strings with a 2-byte length).
    static let headerValueBytesMax = 8192
    /// The largest single PUT (and part), as in S3.
    static let putBytesMax: Int64 = 5 << 30

    init(metadata: MetadataStore, chunks: ChunkRouter, chunkBytesMax: Int, lifecycleClock: LifecycleClock, logger: Logger) {
        self.metadata = metadata
        self.lifecycleClock = lifecycleClock
        self.chunks = chunks
        self.storer = BodyStorer(chunks: chunks, chunkBytesMax: chunkBytesMax)
        self.logger = logger
    }

    func putObject(_ s3: S3Request, request: Request) async throws -> Response {
        try Self.validateKey(s3.key)
        guard let bucket = metadata.bucketInfo(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        let headers = try Self.storedHeaders(request.headers, bucket: bucket)
        let condition = try Preconditions.writeCondition(from: request.headers)
        try check(condition, s3)  // before the body is stored; checked again, atomically, when committed
        let stored = try await storer.store(
            request.body, framing: try BodyStorer.Framing(headers: request.headers, signatures: s3.chunkSignatures),
            expectations: try BodyDigests.expectations(from: request.headers), sizeMax: Self.putBytesMax, headers: headers)
        let object = ObjectRecord(
            size: stored.digests.size, etag: ObjectRecord.etag(md5: stored.digests.md5), lastModifiedMs: Clock.nowMs(),
            headers: headers, checksum: stored.digests.checksum, chunks: stored.placements,
            versionID: bucket.versioning.newVersionID())
        try await commit(
            .with(condition, .putObject(bucket: s3.bucket, key: s3.key, object: object)), bucket: s3.bucket, newChunks: object.chunks)
        var fields: HTTPFields = [.eTag: object.etag, .contentLength: "0"]
        if let checksum = object.checksum { fields[checksum.algorithm.headerField] = checksum.value }
        if !object.versionID.isNull { fields[.amzVersionID] = object.versionID.text }
        if let expiration = LifecycleHandlers.expiration(bucket.lifecycle, key: s3.key, object: object, clock: lifecycleClock) {
            fields[LifecycleHandlers.expirationHeader] = expiration
        }
        return Response(status: .ok, headers: fields)
    }

    func deleteObject(_ s3: S3Request, request: Request) async throws -> Response {
        let deleted = try await deleteObject(
            s3.bucket, s3.key, versionID: try ObjectVersions.requested(s3),
            condition: try Preconditions.deleteCondition(from: request.headers), bypassGovernance: Self.bypassesGovernance(request.headers))
        var fields = HTTPFields()
        if let versionID = deleted.versionID { fields[.amzVersionID] = versionID.text }
        if deleted.isDeleteMarker { fields[.amzDeleteMarker] = "true" }
        return Response(status: .noContent, headers: fields)
    }

    /// What a delete did, as DeleteObject's headers and DeleteObjects' entries tell it.
    struct Deletion {
        /// The version removed, or the delete marker made; nil in a bucket that never had versioning.
        var versionID: VersionID?
        /// Whether that version is a delete marker.
        var isDeleteMarker = false
    }

    /// `x-amz-bypass-governance-retention: true` (authorized as a permission of its own).
    static func bypassesGovernance(_ headers: HTTPFields) -> Bool {
        headers[ObjectLockHandlers.bypassHeader]?.lowercased() == "true"
    }

    /// Deletes version `versionID` of a key (unless Object Lock protects it), or (nil) the key:
    /// removes the object of a bucket that never had versioning, or else makes a delete marker its
    /// latest version, provided the object meets `condition`. Deleting nothing succeeds, as in S3.
    func deleteObject(_ bucket: String, _ key: String, versionID: VersionID?, condition: WriteCondition, bypassGovernance: Bool)
        async throws -> Deletion
    {
        guard let versioning = metadata.versioning(bucket: bucket) else { throw S3Error.noSuchBucket(bucket) }
        if let versionID {
            guard condition.isEmpty else { throw S3Error.notImplemented("conditions on deleting a given version") }
            guard let version = metadata.version(bucket: bucket, key: key, versionID: versionID) else {
                return Deletion(versionID: versionID)
            }
            do {
                let delete = Mutation.deleteVersion(
                    bucket: bucket, key: key, versionID: versionID, bypassGovernance: bypassGovernance, nowMs: Clock.nowMs())
                try await commit(delete, bucket: bucket)
            } catch let error as S3Error where error.code == .noSuchVersion {}  // deleted meanwhile: done all the same
            return Deletion(versionID: versionID, isDeleteMarker: version.isDeleteMarker)
        }
        let current = metadata.object(bucket: bucket, key: key)
        if let rejection = condition.rejection(of: current, deleting: true) { throw Self.s3Error(for: rejection, bucket: bucket) }
        if versioning == .unversioned {
            guard current != nil else { return Deletion() }
            // A marker's fields are used only if versioning was enabled meanwhile.
            let delete = Mutation.deleteObject(bucket: bucket, key: key, marker: .null, markerTimeMs: Clock.nowMs())
            try await commit(.with(condition, delete), bucket: bucket)
            return Deletion()
        }
        // In a versioned bucket even a key without objects gets its delete marker, as in S3.
        let marker = versioning.newVersionID()
        try await commit(
            .with(condition, .deleteObject(bucket: bucket, key: key, marker: marker, markerTimeMs: Clock.nowMs())), bucket: bucket)
        return Deletion(versionID: marker, isDeleteMarker: true)
    }

    /// Refuses a conditional write early, before its data is stored, when the object at its key
    /// already fails the condition.
    func check(_ condition: WriteCondition, _ s3: S3Request) throws {
        guard !condition.isEmpty,
            let rejection = condition.rejection(of: metadata.object(bucket: s3.bucket, key: s3.key), deleting: false)
        else { return }
        throw Self.s3Error(for: rejection, bucket: s3.bucket)
    }

    /// Commits a mutation, discards the chunks it made garbage, and maps a rejection to its S3 error.
    /// `newChunks` are the chunks the mutation would have referenced: on rejection nothing does.
    /// If the commit itself fails, its record may still reach the disk and be replayed, so nothing
    /// is discarded: at worst chunks are orphans for the reconcile pass, never a manifest without data.
    func commit(_ mutation: Mutation, bucket: String, uploadID: String = "", newChunks: [ChunkPlacement] = []) async throws {
        let outcome: MutationOutcome
        do {
            outcome = try await metadata.commit(mutation)
        } catch MetadataError.mutationTooLarge(let bytes) {
            // Refused before anything was written: the new chunks are certainly unreferenced.
            chunks.discard(newChunks)
            throw Self.s3Error(for: MetadataError.mutationTooLarge(bytes: bytes))
        } catch LogStoreError.diskFull(let path) {
            // A WAL append that hit ENOSPC was cut back off the file and can never be replayed.
            logger.error("metadata change refused: no space left for the WAL", metadata: ["path": "\(path)"])
            chunks.discard(newChunks)
            throw Self.s3Error(for: LogStoreError.diskFull(path: path))
        }
        switch outcome {
        case .applied(let garbage):
            chunks.discard(garbage)
        case .rejected(let rejection):
            chunks.discard(newChunks)
            throw Self.s3Error(for: rejection, bucket: bucket, uploadID: uploadID)
        }
    }

    /// The S3 error of a rejected mutation.
    static func s3Error(for rejection: MutationRejection, bucket: String, uploadID: String = "") -> S3Error {
        switch rejection {
        case .noSuchBucket: S3Error.noSuchBucket(bucket)
        case .noSuchUpload: S3Error.noSuchUpload(uploadID)
        case .invalidPart: S3Error.invalidPart
        case .bucketNotEmpty: S3Error.bucketNotEmpty(bucket)
        case .bucketAlreadyExists: S3Error.bucketAlreadyOwnedByYou(bucket)
        case .noSuchAccessKey: S3Error.accessDenied  // the key was deleted meanwhile
        case .noSuchKey: S3Error(.noSuchKey, "The specified key does not exist.")
        case .noSuchVersion: S3Error(.noSuchVersion, "The specified version does not exist.")
        case .objectLocked: S3Error(.accessDenied, "Access Denied because object protected by object lock.")
        case .invalidBucketState:
            S3Error(
                .invalidBucketState,
                "Object Lock needs versioning Enabled on the bucket, and an Object Lock configuration keeps it Enabled.")
        case .preconditionFailed: Preconditions.preconditionFailed
        case .staleChunk, .noSuchAgent, .accessKeyExists: S3Error.internalError("unexpected rejection \(rejection)")
        }
    }

    static func validateKey(_ key: String) throws {
        guard key.utf8.count <= keyBytesMax else {
            throw S3Error(.keyTooLongError, "Your key is too long")
        }
    }

    /// What a new version in `bucket` keeps of its request's headers: the storable ones, the canned
    /// ACL (private by default), the tags of `x-amz-tagging`, and its Object Lock (the request's, or
    /// the bucket's default retention).
    static func storedHeaders(_ headers: HTTPFields, bucket: BucketInfo) throws -> [StoredHeader] {
        var stored = ObjectRecord.headers(try ObjectHeaders.storable(from: headers), withACL: try cannedACL(headers) ?? .private)
        stored = ObjectRecord.headers(stored, withTagging: try TagSet.fromHeader(headers)?.queryText ?? "")
        return try ObjectLockHandlers.withLock(stored, requested: headers, lock: bucket.objectLock, nowMs: Clock.nowMs())
    }

    /// The canned ACL `x-amz-acl` names, if any. Grants (`x-amz-grant-*`) and ACLs SOS does not
    /// have are refused rather than silently ignored.
    static func cannedACL(_ headers: HTTPFields) throws -> CannedACL? {
        for grant in HTTPField.Name.amzGrants where headers[grant] != nil {
            throw S3Error.notImplemented(grant.canonicalName)
        }
        guard let value = headers[.amzACL] else { return nil }
        guard let acl = CannedACL(header: value) else { throw S3Error.notImplemented("x-amz-acl: \(value)") }
        return acl
    }

    static func s3Error(for error: any Error) -> any Error {
        switch error {
        case is S3Error: return error
        case MetadataError.mutationTooLarge:
            return S3Error(.entityTooLarge, "The object's manifest is too large; use a larger --chunk-size")
        case let error as PlacementError: return S3Error.serviceUnavailable("Cannot store data now: \(error); try again later.")
        case AgentRequestError.disconnected, AgentRequestError.timedOut:
            return S3Error.serviceUnavailable("A storage agent went away or did not answer; try again.")
        case AgentRequestError.failed(_, let reply) where reply.code == .diskFull:
            return S3Error(.serviceUnavailable, "Storage is full; free space and try again.")
        // The brain's own files (its WAL) are the only source of a LogStoreError here: agents'
        // errors arrive as replies.
        case LogStoreError.diskFull:
            return S3Error.serviceUnavailable("The brain's metadata storage is full; free space and try again.")
        case LogStoreError.syncFailed:
            return S3Error.serviceUnavailable(
                "The brain's metadata log failed to sync; it accepts no changes until the brain is restarted.")
        default: return error
        }
    }
}
