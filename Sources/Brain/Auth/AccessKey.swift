import ClusterProtocol

/// An S3 access key: the id clients send in the clear and the secret they sign with.
/// Its description shows the id only, so a key in a log line or an error never shows its secret.
public struct AccessKey: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretKey: String
    /// The root key may do everything; other keys only what they were allowed.
    public var isRoot: Bool

    /// Lengths AWS allows for an access key id, and a floor for secrets that HMAC keys are made from.
    public static let accessKeyIDLengths = 3...128
    public static let secretKeyLengths = 8...128

    public init(accessKeyID: String, secretKey: String, isRoot: Bool) {
        self.accessKeyID = accessKeyID
        self.secretKey = secretKey
        self.isRoot = isRoot
    }

    public var description: String { "AccessKey(\(accessKeyID)\(isRoot ? ", root" : ""))" }

    /// Why `accessKeyID`/`secretKey` cannot be a key, or nil. Ids are printable ASCII without
    /// separators SigV4 and SigV2 use (`/`, `:`, spaces); secrets printable ASCII.
    public static func problem(accessKeyID: String, secretKey: String) -> String? {
        guard accessKeyIDLengths.contains(accessKeyID.utf8.count) else {
            return "an access key id must be \(accessKeyIDLengths.lowerBound) to \(accessKeyIDLengths.upperBound) characters"
        }
        guard accessKeyID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") })
        else { return "an access key id may hold printable ASCII characters other than '/' and ':' only" }
        guard secretKeyLengths.contains(secretKey.utf8.count) else {
            return "a secret key must be \(secretKeyLengths.lowerBound) to \(secretKeyLengths.upperBound) characters"
        }
        guard secretKey.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return "a secret key may hold printable ASCII characters only"
        }
        return nil
    }

    /// A new random key pair: a 20-character id (`SOS` and 17 upper-case letters and digits, as AWS
    /// ids look) and a 40-character secret.
    public static func generate(isRoot: Bool) -> AccessKey {
        var rng = SystemRandomNumberGenerator()
        let idAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let secretAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let id = "SOS" + String((0..<17).map { _ in idAlphabet.randomElement(using: &rng)! })
        let secret = String((0..<40).map { _ in secretAlphabet.randomElement(using: &rng)! })
        return AccessKey(accessKeyID: id, secretKey: secret, isRoot: isRoot)
    }
}

/// Finds the key a request names: the root key, or one kept in the metadata (`sos admin key`).
public struct KeyDirectory: Sendable {
    public let root: AccessKey
    /// Nil in unit tests that know the root key only.
    let metadata: MetadataStore?

    init(root: AccessKey, metadata: MetadataStore? = nil) {
        self.root = root
        self.metadata = metadata
    }

    func key(_ accessKeyID: String) -> AccessKey? {
        if accessKeyID == root.accessKeyID { return root }
        guard let record = metadata?.accessKey(accessKeyID) else { return nil }
        return AccessKey(accessKeyID: record.accessKeyID, secretKey: record.secretKey, isRoot: false)
    }
}

/// Whether two secret-derived strings are equal, in time that depends on their lengths only.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    ClusterAuth.proofsMatch(Array(a.utf8), Array(b.utf8))
}
