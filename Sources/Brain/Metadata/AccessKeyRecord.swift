/// What a key may do with one bucket.
public struct BucketPermissions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// GET, HEAD and the listings.
    public static let read = BucketPermissions(rawValue: 1)
    /// PUT, copy, multipart uploads, DELETE.
    public static let write = BucketPermissions(rawValue: 2)
    /// The bucket's own settings and its deletion.
    public static let owner = BucketPermissions(rawValue: 4)
    public static let all: BucketPermissions = [.read, .write, .owner]

    /// `read,write,owner` (those present), for listings.
    public var names: [String] {
        [(Self.read, "read"), (Self.write, "write"), (Self.owner, "owner")].filter { contains($0.0) }.map(\.1)
    }
}

/// An access key kept in the metadata (WAL and snapshots): its secret, and what it may do. The
/// root key is not one of these: it comes from the environment or a file (`RootCredentials`).
/// Its description never shows the secret.
public struct AccessKeyRecord: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretKey: String
    /// An operator's label.
    public var name: String
    public var createdMs: Int64
    /// May create buckets (and owns those it creates).
    public var mayCreateBuckets: Bool
    /// Permissions per bucket; a bucket absent here is out of the key's reach. Never empty sets.
    public var buckets: [String: BucketPermissions]

    public init(
        accessKeyID: String, secretKey: String, name: String, createdMs: Int64, mayCreateBuckets: Bool = false,
        buckets: [String: BucketPermissions] = [:]
    ) {
        self.accessKeyID = accessKeyID
        self.secretKey = secretKey
        self.name = name
        self.createdMs = createdMs
        self.mayCreateBuckets = mayCreateBuckets
        self.buckets = buckets
    }

    public var description: String { "AccessKeyRecord(\(accessKeyID), \(name))" }

    public func permissions(on bucket: String) -> BucketPermissions { buckets[bucket] ?? [] }
}
