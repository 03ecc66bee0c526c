import Foundation

/// A bucket policy in the JSON policy language (docs: AWS IAM "IAM JSON policy elements reference",
/// S3 "Bucket policy examples"), for the common cases: `Effect` Allow or Deny; `Principal` `*`,
/// `{"AWS": "*"}` or access key ids (bare or as `arn:aws:iam::ACCOUNT:user/AKID`); `Action` `*` or
/// `s3:` patterns with `*` and `?`; `Resource` this bucket's ARNs (`arn:aws:s3:::bucket`,
/// `arn:aws:s3:::bucket/prefix*`); and `Condition`s on `aws:SourceIp` (IpAddress, NotIpAddress),
/// `s3:prefix` (String[Not]Equals, String[Not]Like) and `aws:SecureTransport` (Bool). Anything else is
/// refused as MalformedPolicy rather than silently ignored.
public struct BucketPolicy: Sendable, Equatable {
    public let text: String
    let statements: [Statement]

    /// S3's limit on a bucket policy's size.
    static let textBytesMax = 20 * 1024

    enum Effect: Sendable { case allow, deny }

    enum Principals: Sendable, Equatable {
        case anyone
        case keys(Set<String>)
    }

    struct Statement: Sendable, Equatable {
        var effect: Effect
        var principals: Principals
        var actions: [String]
        var resources: [String]
        var conditions: [Condition]
    }

    enum Operator: String, Sendable, CaseIterable {
        case stringEquals = "StringEquals", stringNotEquals = "StringNotEquals"
        case stringLike = "StringLike", stringNotLike = "StringNotLike"
        case ipAddress = "IpAddress", notIpAddress = "NotIpAddress"
        case bool = "Bool"

        var isNegated: Bool { self == .stringNotEquals || self == .stringNotLike || self == .notIpAddress }
    }

    struct Condition: Sendable, Equatable {
        var op: Operator
        /// Lower-cased: condition keys are case-insensitive.
        var key: String
        var values: [String]
    }

    /// What a request looks like to a policy.
    struct Request {
        /// The IAM action (`s3:GetObject`).
        var action: String
        var resource: String
        /// The access key id, nil for an anonymous request.
        var accessKeyID: String?
        var sourceIP: String?
        var secureTransport: Bool
        /// `s3:prefix`, for the listings.
        var prefix: String?
    }

    enum Decision: Equatable { case allow, deny, noOpinion }

    /// An explicit Deny that matches wins; else a matching Allow allows; else the policy says nothing.
    func evaluate(_ request: Request) -> Decision {
        var allowed = false
        for statement in statements where Self.matches(statement, request) {
            if statement.effect == .deny { return .deny }
            allowed = true
        }
        return allowed ? .allow : .noOpinion
    }

    /// GetBucketPolicyStatus: public when some statement allows anyone without an IP restriction.
    var isPublic: Bool {
        statements.contains { $0.effect == .allow && $0.principals == .anyone && !$0.conditions.contains { $0.key == "aws:sourceip" } }
    }

    // MARK: Matching

    private static func matches(_ statement: Statement, _ request: Request) -> Bool {
        switch statement.principals {
        case .anyone: break
        case .keys(let ids): guard let id = request.accessKeyID, ids.contains(id) else { return false }
        }
        guard statement.actions.contains(where: { Wildcard.matches($0, request.action, caseInsensitive: true) }) else { return false }
        guard statement.resources.contains(where: { Wildcard.matches($0, request.resource, caseInsensitive: false) }) else {
            return false
        }
        return statement.conditions.allSatisfy { holds($0, request) }
    }

    private static func holds(_ condition: Condition, _ request: Request) -> Bool {
        let value: String?
        switch condition.key {
        case "aws:sourceip": value = request.sourceIP
        case "s3:prefix": value = request.prefix
        default: value = request.secureTransport ? "true" : "false"  // aws:securetransport, the only other key parsed
        }
        // A key missing from the request matches no value: positive operators fail, negated ones hold.
        guard let value else { return condition.op.isNegated }
        let matched: Bool
        switch condition.op {
        case .stringEquals, .stringNotEquals: matched = condition.values.contains(value)
        case .stringLike, .stringNotLike:
            matched = condition.values.contains { Wildcard.matches($0, value, caseInsensitive: false) }
        case .ipAddress, .notIpAddress: matched = condition.values.contains { IPRange($0)?.contains(value) ?? false }
        case .bool: matched = condition.values.contains { $0.lowercased() == value }
        }
        return condition.op.isNegated ? !matched : matched
    }

    // MARK: Parsing

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    /// A policy that matches every request and denies it: what a stored policy that no longer
    /// parses (a format change) becomes, so that losing it can only close access, never open it.
    static func denyingEverything(text: String) -> BucketPolicy {
        BucketPolicy(
            text: text,
            statements: [Statement(effect: .deny, principals: .anyone, actions: ["*"], resources: ["*"], conditions: [])])
    }

    private init(text: String, statements: [Statement]) {
        self.text = text
        self.statements = statements
    }

    init(parsing text: String, bucket: String) throws {
        func malformed(_ why: String) -> Malformed { Malformed(description: why) }
        guard text.utf8.count <= Self.textBytesMax else { throw malformed("Policies must not exceed 20 KB") }
        guard let document = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw malformed("Policies must be valid JSON and the first byte must be '{'")
        }
        for key in document.keys where !["Version", "Id", "Statement"].contains(key) {
            throw malformed("Unknown field \(key)")
        }
        if let version = document["Version"] {
            guard let version = version as? String, ["2012-10-17", "2008-10-17"].contains(version) else {
                throw malformed("The policy must contain a valid version string")
            }
        }
        let raw: [Any]
        switch document["Statement"] {
        case let list as [Any]: raw = list
        case let single as [String: Any]: raw = [single]
        default: throw malformed("Missing required field Statement")
        }
        guard !raw.isEmpty else { throw malformed("Could not parse the policy: Statement is empty!") }
        statements = try raw.map { try Self.statement($0, bucket: bucket) }
        self.text = text
    }

    private static func strings(_ value: Any?, _ field: String) throws -> [String] {
        switch value {
        case let text as String: return [text]
        case let list as [Any]:
            let texts = list.compactMap { $0 as? String }
            guard texts.count == list.count, !texts.isEmpty else { throw Malformed(description: "\(field) must be strings") }
            return texts
        default: throw Malformed(description: "Missing required field \(field)")
        }
    }

    private static func statement(_ value: Any, bucket: String) throws -> Statement {
        guard let fields = value as? [String: Any] else { throw Malformed(description: "A statement must be an object") }
        for key in fields.keys where !["Sid", "Effect", "Principal", "Action", "Resource", "Condition"].contains(key) {
            throw Malformed(description: key.hasPrefix("Not") ? "\(key) is not supported" : "Unknown field \(key)")
        }
        let effect: Effect
        switch fields["Effect"] as? String {
        case "Allow": effect = .allow
        case "Deny": effect = .deny
        default: throw Malformed(description: "Invalid effect: Effect must be Allow or Deny")
        }
        let actions = try strings(fields["Action"], "Action")
        for action in actions where action != "*" {
            let name = action.dropFirst(3)
            guard action.lowercased().hasPrefix("s3:"), !name.isEmpty,
                name.allSatisfy({ $0.isLetter || $0 == "*" || $0 == "?" })
            else { throw Malformed(description: "Policy has invalid action") }
        }
        let resources = try strings(fields["Resource"], "Resource")
        let arn = "arn:aws:s3:::" + bucket
        for resource in resources where resource != "*" && resource != arn && !resource.hasPrefix(arn + "/") {
            throw Malformed(description: "Policy has invalid resource")
        }
        return Statement(
            effect: effect, principals: try principals(fields["Principal"]), actions: actions, resources: resources,
            conditions: try conditions(fields["Condition"]))
    }

    private static func principals(_ value: Any?) throws -> Principals {
        if let text = value as? String {
            guard text == "*" else { throw Malformed(description: "Invalid principal in policy") }
            return .anyone
        }
        guard let map = value as? [String: Any], map.count == 1, let aws = map["AWS"] else {
            throw Malformed(description: "Invalid principal in policy")
        }
        let names = try strings(aws, "Principal")
        if names.contains("*") { return .anyone }
        return .keys(Set(try names.map { name -> String in
            // arn:aws:iam::ACCOUNT:user/AKID names a key as an IAM user; a bare id names it directly.
            let id = name.hasPrefix("arn:aws:iam::") ? name.split(separator: "/").last.map(String.init) ?? "" : name
            guard AccessKey.problem(accessKeyID: id, secretKey: "12345678") == nil else {
                throw Malformed(description: "Invalid principal in policy")
            }
            return id
        }))
    }

    private static func conditions(_ value: Any?) throws -> [Condition] {
        guard let value else { return [] }
        guard let blocks = value as? [String: Any] else { throw Malformed(description: "Condition must be an object") }
        var conditions: [Condition] = []
        for (name, body) in blocks {
            guard let op = Operator(rawValue: name) else { throw Malformed(description: "Unsupported condition operator \(name)") }
            guard let pairs = body as? [String: Any] else { throw Malformed(description: "Condition \(name) must be an object") }
            for (key, values) in pairs {
                let lowered = key.lowercased()
                let allowed: [Operator]
                switch lowered {
                case "aws:sourceip": allowed = [.ipAddress, .notIpAddress]
                case "s3:prefix": allowed = [.stringEquals, .stringNotEquals, .stringLike, .stringNotLike]
                case "aws:securetransport": allowed = [.bool]
                default: throw Malformed(description: "Unsupported condition key \(key)")
                }
                guard allowed.contains(op) else { throw Malformed(description: "\(name) does not apply to \(key)") }
                let texts = try strings(values, key)
                if lowered == "aws:sourceip", texts.contains(where: { IPRange($0) == nil }) {
                    throw Malformed(description: "Invalid IP address or range in \(key)")
                }
                conditions.append(Condition(op: op, key: lowered, values: texts))
            }
        }
        return conditions
    }
}

/// `*` (any run of characters) and `?` (one character) patterns, as IAM matches them.
enum Wildcard {
    static func matches(_ pattern: String, _ text: String, caseInsensitive: Bool) -> Bool {
        let p = Array((caseInsensitive ? pattern.lowercased() : pattern).unicodeScalars)
        let t = Array((caseInsensitive ? text.lowercased() : text).unicodeScalars)
        var pi = 0, ti = 0
        var star = -1, resume = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) {
                pi += 1
                ti += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi
                resume = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                resume += 1
                ti = resume
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// An IPv4 or IPv6 address or CIDR range (`192.0.2.0/24`, `2001:db8::/32`, `203.0.113.7`).
struct IPRange: Equatable {
    let network: [UInt8]
    let prefixBits: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let address = parts.first.flatMap(Self.bytes) else { return nil }
        let bits = parts.count == 2 ? Int(parts[1]) : address.count * 8
        guard let bits, (0...address.count * 8).contains(bits) else { return nil }
        network = address
        prefixBits = bits
    }

    func contains(_ address: String) -> Bool {
        guard var bytes = Self.bytes(address) else { return false }
        // An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) matches IPv4 ranges.
        if bytes.count == 16, network.count == 4, bytes[..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF][...] {
            bytes = Array(bytes[12...])
        }
        guard bytes.count == network.count else { return false }
        for bit in 0..<prefixBits where (bytes[bit / 8] ^ network[bit / 8]) & (0x80 >> UInt8(bit % 8)) != 0 { return false }
        return true
    }

    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
