import ClusterProtocol

/// Where one piece of an object's bytes lives.
public struct ChunkPlacement: Sendable, Equatable {
    public var id: ChunkID
    public var length: UInt32
    /// Client ids of the agents holding a replica, distinct, in placement order.
    public var agents: [String]

    public init(id: ChunkID, length: UInt32, agents: [String]) {
        precondition(!agents.isEmpty, "a chunk lives somewhere")
        self.id = id
        self.length = length
        self.agents = Interned.agentLists.intern(agents)
    }
}

/// An agent the cluster has seen; kept in the WAL so the brain knows its members after a restart.
public struct AgentMember: Sendable, Equatable {
    public var clientID: String
    public var zone: String
    /// Being emptied (`sos admin drain`): gets no new chunks; repair moves its chunks elsewhere.
    public var draining: Bool

    public init(clientID: String, zone: String, draining: Bool = false) {
        self.clientID = clientID
        self.zone = zone
        self.draining = draining
    }
}

/// Where a chunk is referenced from: the i-th chunk of an object, or of an upload's part.
public enum ChunkLocation: Sendable, Equatable, Hashable {
    case object(bucket: String, key: String, version: VersionID, index: Int)
    case part(uploadID: String, partNumber: Int, index: Int)
}

/// A header stored with an object and returned on GET/HEAD (Content-Type, x-amz-meta-*, ...).
public struct StoredHeader: Sendable, Hashable {
    /// Lower-cased header name.
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The checksums S3 clients can ask for (x-amz-checksum-*).
public enum ChecksumAlgorithm: UInt8, Sendable, CaseIterable {
    case crc32 = 1
    case crc32c = 2
    case crc64nvme = 3
    case sha1 = 4
    case sha256 = 5

    /// Name as in `x-amz-checksum-algorithm` (`CRC32`, ...).
    public var name: String {
        switch self {
        case .crc32: return "CRC32"
        case .crc32c: return "CRC32C"
        case .crc64nvme: return "CRC64NVME"
        case .sha1: return "SHA1"
        case .sha256: return "SHA256"
        }
    }

    /// Header carrying the value: `x-amz-checksum-crc32`, ...
    public var headerName: String { "x-amz-checksum-" + name.lowercased() }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name.uppercased() }) else { return nil }
        self = match
    }
}

/// A checksum as S3 returns it: base64 of the digest, with "-N" for a composite of N parts.
public struct StoredChecksum: Sendable, Equatable {
    public var algorithm: ChecksumAlgorithm
    public var value: String
    public var isComposite: Bool

    public init(algorithm: ChecksumAlgorithm, value: String, isComposite: Bool = false) {
        self.algorithm = algorithm
        self.value = value
        self.isComposite = isComposite
    }
}

/// An object's manifest: everything the brain knows of it.
public struct ObjectRecord: Sendable, Equatable {
    public var size: Int64
    private(set) var storedETag: StoredETag
    /// A delete marker: a version that says the key was deleted (no data, no headers).
    /// Declared here so that it takes padding after the ETag, not 8 more bytes per object.
    public var isDeleteMarker = false
    public var lastModifiedMs: Int64
    public var headers: [StoredHeader]
    public var checksum: StoredChecksum?
    /// Sizes of the parts of a multipart object, in order; empty for a single PUT.
    public var partSizes: [Int64]
    public var chunks: [ChunkPlacement]
    /// Which version of its key this is (`null` in a bucket that never had versioning).
    public var versionID = VersionID.null

    public init(
        size: Int64, etag: String, lastModifiedMs: Int64, headers: [StoredHeader] = [], checksum: StoredChecksum? = nil,
        partSizes: [Int64] = [], chunks: [ChunkPlacement], versionID: VersionID = .null
    ) {
        self.versionID = versionID
        self.size = size
        self.storedETag = StoredETag(etag)
        self.lastModifiedMs = lastModifiedMs
        self.headers = headers.isEmpty ? headers : Interned.headerSets.intern(headers)
        self.checksum = checksum
        self.partSizes = partSizes
        self.chunks = chunks
    }

    /// Quoted: the hex MD5 of the body, or of the parts' MD5s followed by "-N" for multipart objects.
    public var etag: String {
        get { storedETag.text }
        set { storedETag = StoredETag(newValue) }
    }

    /// Bit of an encoded object's flags (docs/formats.md, "object").
    static let deleteMarkerFlag: UInt8 = 1

    /// A delete marker with id `versionID`, made at `timeMs`.
    public static func deleteMarker(_ versionID: VersionID, timeMs: Int64) -> ObjectRecord {
        var marker = ObjectRecord(size: 0, etag: "", lastModifiedMs: timeMs, chunks: [], versionID: versionID)
        marker.isDeleteMarker = true
        return marker
    }

    public var contentType: String { headers.first { $0.name == "content-type" }?.value ?? "binary/octet-stream" }

    /// The name under which an object's canned ACL is kept among its headers (never returned on GET/HEAD).
    public static let aclHeaderName = "x-amz-acl"

    public var acl: CannedACL {
        headers.first { $0.name == Self.aclHeaderName }.flatMap { CannedACL(header: $0.value) } ?? .private
    }

    /// `headers` with the ACL set to `acl` (no entry for private).
    public static func headers(_ headers: [StoredHeader], withACL acl: CannedACL) -> [StoredHeader] {
        var result = headers.filter { $0.name != aclHeaderName }
        if acl != .private { result.append(StoredHeader(name: aclHeaderName, value: acl.name)) }
        return result
    }

    /// The name under which an object's tags are kept among its headers, as URL query text
    /// (`k1=v1&k2=v2`, encoded; never returned on GET/HEAD, which give `x-amz-tagging-count`).
    public static let taggingHeaderName = "x-amz-tagging"

    /// The object's tags as kept (empty: none).
    public var tagging: String { headers.first { $0.name == Self.taggingHeaderName }?.value ?? "" }

    /// `headers` with the tags set to `tagging` (no entry for none).
    public static func headers(_ headers: [StoredHeader], withTagging tagging: String) -> [StoredHeader] {
        var result = headers.filter { $0.name != taggingHeaderName }
        if !tagging.isEmpty { result.append(StoredHeader(name: taggingHeaderName, value: tagging)) }
        return result
    }

    /// Quoted hex of an MD5 digest, the form of a single-PUT ETag.
    public static func etag(md5: some Sequence<UInt8>) -> String {
        StoredETag(md5: md5).text
    }
}

/// One uploaded part of a multipart upload.
public struct PartRecord: Sendable, Equatable {
    public var size: Int64
    /// Quoted hex MD5 of the part.
    public var etag: String
    public var lastModifiedMs: Int64
    /// Base64 checksum of the part in the upload's algorithm, if it has one.
    public var checksum: String?
    public var chunks: [ChunkPlacement]

    public init(size: Int64, etag: String, lastModifiedMs: Int64, checksum: String?, chunks: [ChunkPlacement]) {
        self.size = size
        self.etag = etag
        self.lastModifiedMs = lastModifiedMs
        self.checksum = checksum
        self.chunks = chunks
    }
}

/// A multipart upload between CreateMultipartUpload and Complete/Abort.
public struct MultipartUpload: Sendable, Equatable {
    public var uploadID: String
    public var bucket: String
    public var key: String
    public var initiatedMs: Int64
    /// Headers given at creation; they become the object's headers.
    public var headers: [StoredHeader]
    public var checksumAlgorithm: ChecksumAlgorithm?
    /// The object's checksum is of its whole body (FULL_OBJECT, a CRC combined from the parts'),
    /// not a checksum of the parts' checksums (COMPOSITE).
    public var fullObjectChecksum = false
    public var parts: [Int: PartRecord] = [:]

    public init(
        uploadID: String, bucket: String, key: String, initiatedMs: Int64, headers: [StoredHeader],
        checksumAlgorithm: ChecksumAlgorithm?
    ) {
        self.uploadID = uploadID
        self.bucket = bucket
        self.key = key
        self.initiatedMs = initiatedMs
        self.headers = headers
        self.checksumAlgorithm = checksumAlgorithm
    }
}

public struct BucketInfo: Sendable, Equatable {
    public var name: String
    public var creationDateMs: Int64
    public var acl = CannedACL.private
    public var policy: BucketPolicy?
    /// The bucket's tags as URL query text, as objects keep theirs (empty: none).
    public var tagging = ""
    public var versioning = BucketVersioning.unversioned
    /// Object Lock, once enabled never disabled (the bucket's versioning then stays Enabled).
    public var objectLock: ObjectLockConfiguration?
    public var cors: CORSConfiguration?
    public var lifecycle: LifecycleConfiguration?
}

/// One change to the metadata; the write-ahead log is a sequence of these.
public enum Mutation: Sendable, Equatable {
    case createBucket(name: String, creationDateMs: Int64)
    case deleteBucket(name: String)
    /// Stores `object` as a version of its key: it replaces the version with the same id (the
    /// `null` version: in a bucket that never had versioning, the object), or else becomes the
    /// newest, the previous latest kept as a noncurrent version.
    case putObject(bucket: String, key: String, object: ObjectRecord)
    /// DeleteObject without a version id. In a bucket that never had versioning it removes the
    /// object; otherwise it removes the `null` version if `marker` is `null`, and a delete marker
    /// with id `marker`, made at `markerTimeMs`, becomes the key's latest version.
    case deleteObject(bucket: String, key: String, marker: VersionID, markerTimeMs: Int64)
    /// Removes one version of a key for good (the newest remaining one becomes the latest);
    /// rejected if there is no such version, or if Object Lock protects it at `nowMs`.
    case deleteVersion(bucket: String, key: String, versionID: VersionID, bypassGovernance: Bool, nowMs: Int64)
    case setBucketVersioning(bucket: String, versioning: BucketVersioning)
    case createUpload(MultipartUpload)
    case putPart(uploadID: String, partNumber: Int, part: PartRecord)
    /// Completes an upload with `object`, built from the parts numbered `partNumbers` whose ETags
    /// were `partETags`; rejected if any of those parts changed since.
    case completeUpload(uploadID: String, partNumbers: [Int], partETags: [String], object: ObjectRecord)
    case abortUpload(uploadID: String)
    /// An agent joined, or came back with another zone.
    case registerAgent(AgentMember)
    /// Repair or rebalance moved a chunk: its replicas become `agents`, provided the chunk at
    /// `location` is still `chunkID` with the replicas `previousAgents` the mover started from.
    case setChunkReplicas(location: ChunkLocation, chunkID: ChunkID, previousAgents: [String], agents: [String])
    case setAgentDraining(clientID: String, draining: Bool)
    case removeAgent(clientID: String)
    /// A new access key (create or import); rejected if its id is taken.
    case putAccessKey(AccessKeyRecord)
    case deleteAccessKey(accessKeyID: String)
    /// Adds `grant` to, then removes `revoke` from, what a key may do with an existing bucket.
    case changeKeyPermissions(accessKeyID: String, bucket: String, grant: BucketPermissions, revoke: BucketPermissions)
    case setKeyMayCreateBuckets(accessKeyID: String, allowed: Bool)
    /// A bucket created by a key, which owns it (and may read and write it) from the same commit on.
    case createOwnedBucket(name: String, creationDateMs: Int64, owner: String)
    case setBucketACL(bucket: String, acl: CannedACL)
    /// An object's ACL, kept among its stored headers as `x-amz-acl` (absent: private).
    case setObjectACL(bucket: String, key: String, versionID: VersionID, acl: CannedACL)
    /// A bucket policy's JSON text, validated before the commit; empty deletes the policy.
    case setBucketPolicy(bucket: String, policy: String)
    /// A putObject, deleteObject or completeUpload applied only if the object at its key meets
    /// `condition` when it applies (conditional writes); rejected otherwise, changing nothing.
    indirect case conditional(WriteCondition, Mutation)
    /// An object's tags (URL query text, checked before the commit; empty removes them), kept among
    /// its stored headers as `x-amz-tagging`.
    case setObjectTagging(bucket: String, key: String, versionID: VersionID, tagging: String)
    /// A bucket's tags, as objects keep theirs; empty removes them.
    case setBucketTagging(bucket: String, tagging: String)
    /// A version's retention (nil removes it), as Object Lock's rules allow at `nowMs`.
    case setObjectRetention(
        bucket: String, key: String, versionID: VersionID, retention: ObjectRetention?, bypassGovernance: Bool, nowMs: Int64)
    case setObjectLegalHold(bucket: String, key: String, versionID: VersionID, on: Bool)
    /// Enables Object Lock on a bucket whose versioning is Enabled, or changes its default retention.
    case setObjectLockConfiguration(bucket: String, configuration: ObjectLockConfiguration)
    /// CreateBucket with Object Lock: the bucket, versioning Enabled and Object Lock at once, owned
    /// by `owner` (an access key id; empty: the root key, no key's permission).
    case createLockedBucket(name: String, creationDateMs: Int64, owner: String)
    /// A bucket's CORS configuration as `CORSConfiguration.xml` wrote it, checked before the
    /// commit; empty removes it.
    case setBucketCors(bucket: String, cors: String)
    /// A bucket's lifecycle configuration as `LifecycleConfiguration.xml` wrote it, checked before
    /// the commit; empty removes it.
    case setBucketLifecycle(bucket: String, lifecycle: String)

    /// `mutation` under `condition`, or `mutation` itself when there is no condition.
    public static func with(_ condition: WriteCondition, _ mutation: Mutation) -> Mutation {
        condition.isEmpty ? mutation : .conditional(condition, mutation)
    }
}

/// What applying a mutation did. Applying is deterministic, so a replay reaches the same outcomes.
public enum MutationOutcome: Sendable, Equatable {
    /// Applied; `garbage` lists chunks nothing references any more (replaced or deleted data).
    case applied(garbage: [ChunkPlacement])
    case rejected(MutationRejection)

    public static let applied = MutationOutcome.applied(garbage: [])
}

public enum MutationRejection: Sendable, Equatable {
    case bucketAlreadyExists
    case noSuchBucket
    case bucketNotEmpty
    case noSuchUpload
    case invalidPart
    /// The chunk repair worked on was replaced or deleted meanwhile.
    case staleChunk
    case noSuchAgent
    case accessKeyExists
    case noSuchAccessKey
    case noSuchKey
    case noSuchVersion
    /// A conditional mutation's condition did not hold.
    case preconditionFailed
    /// Object Lock protects the version (retention or legal hold).
    case objectLocked
    /// The change conflicts with the bucket's versioning or Object Lock state.
    case invalidBucketState
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
