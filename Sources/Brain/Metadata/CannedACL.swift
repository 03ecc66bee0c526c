/// The canned ACLs SOS keeps for buckets and objects (docs: AWS S3 "Canned ACL"). There is one
/// owner in SOS's model (the store), so what an ACL adds is access for everyone (anonymous
/// requests) or for every authenticated key.
public enum CannedACL: UInt8, Sendable, CaseIterable {
    case `private` = 0
    case publicRead = 1
    case publicReadWrite = 2
    case authenticatedRead = 3

    public var name: String {
        switch self {
        case .private: "private"
        case .publicRead: "public-read"
        case .publicReadWrite: "public-read-write"
        case .authenticatedRead: "authenticated-read"
        }
    }

    /// An `x-amz-acl` value. The owner-only ACLs S3 also names (`bucket-owner-full-control`, ...)
    /// mean `private` here: the bucket's owner and the object's are the same. Nil for the rest.
    public init?(header: String) {
        switch header {
        case "private", "bucket-owner-full-control", "bucket-owner-read", "aws-exec-read": self = .private
        case "public-read": self = .publicRead
        case "public-read-write": self = .publicReadWrite
        case "authenticated-read": self = .authenticatedRead
        default: return nil
        }
    }

    /// Whether this ACL lets a requester who is not a key with permissions read (or list);
    /// `authenticated` when the request was signed by some key.
    public func grantsRead(authenticated: Bool) -> Bool {
        switch self {
        case .private: false
        case .publicRead, .publicReadWrite: true
        case .authenticatedRead: authenticated
        }
    }

    /// Whether this (bucket) ACL lets such a requester write objects into the bucket.
    public var grantsWrite: Bool { self == .publicReadWrite }
}
