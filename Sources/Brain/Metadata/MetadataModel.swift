import ClusterProtocol

/// Where one piece of an object's bytes lives.
public struct ChunkPlacement: Sendable, Equatable {
    public var id: ChunkID
    public var length: UInt32
    /// Client id of the agent holding the chunk.
    public var agent: String

    public init(id: ChunkID, length: UInt32, agent: String) {
        self.id = id
        self.length = length
        self.agent = agent
    }
}

/// An object's manifest: everything the brain knows of it.
public struct ObjectRecord: Sendable, Equatable {
    public var size: Int64
    /// MD5 of the body (16 bytes); the ETag is its hex form.
    public var md5: [UInt8]
    public var lastModifiedMs: Int64
    public var contentType: String
    public var chunks: [ChunkPlacement]

    public init(size: Int64, md5: [UInt8], lastModifiedMs: Int64, contentType: String, chunks: [ChunkPlacement]) {
        self.size = size
        self.md5 = md5
        self.lastModifiedMs = lastModifiedMs
        self.contentType = contentType
        self.chunks = chunks
    }

    public var etag: String { "\"" + md5.map { String($0, radix: 16).leftPadded(2) }.joined() + "\"" }
}

public struct BucketInfo: Sendable, Equatable {
    public var name: String
    public var creationDateMs: Int64
}

/// One change to the metadata; the write-ahead log is a sequence of these.
public enum Mutation: Sendable, Equatable {
    case createBucket(name: String, creationDateMs: Int64)
    case deleteBucket(name: String)
    case putObject(bucket: String, key: String, object: ObjectRecord)
    case deleteObject(bucket: String, key: String)
}

/// What applying a mutation did. Applying is deterministic, so a replay reaches the same outcomes.
public enum MutationOutcome: Sendable, Equatable {
    case applied
    case bucketAlreadyExists
    case noSuchBucket
    case bucketNotEmpty
    /// The object was stored (or removed); `previous` is what it replaced, whose chunks are now garbage.
    case objectReplaced(previous: ObjectRecord?)
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
