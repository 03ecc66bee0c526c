import Crypto
import Foundation
import Synchronization

/// AWS Signature Version 4 for S3 requests (header-based, path-style addressing).
///
/// The canonical URI is the path as sent (already percent-encoded once; S3 does not double-encode),
/// the canonical query sorts the encoded `name=value` pairs, and every header passed in is signed.
public struct S3Signer: Sendable {
    public var accessKey: String
    public var secretKey: String
    public var region: String
    public var service: String
    /// The signing key of the last day signed for: four HMACs saved on every request but the first of a day.
    private let dayKey = DayKeyCache()

    /// The payload hash to send when the body is not hashed.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// SHA-256 of the empty body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public init(accessKey: String, secretKey: String, region: String = "us-east-1", service: String = "s3") {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
        self.service = service
    }

    /// Hex SHA-256 of a body, for `x-amz-content-sha256`.
    public static func payloadHash<D: DataProtocol>(_ body: D) -> String { hex(SHA256.hash(data: body)) }

    /// `20130524T000000Z` and `20130524` for `date`, in UTC.
    public static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        var tm = tm()
        var seconds = time_t(date.timeIntervalSince1970)
        gmtime_r(&seconds, &tm)
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let day = digits(tm.tm_year + 1900, 4) + digits(tm.tm_mon + 1, 2) + digits(tm.tm_mday, 2)
        return (day + "T" + digits(tm.tm_hour, 2) + digits(tm.tm_min, 2) + digits(tm.tm_sec, 2) + "Z", day)
    }

    /// Adds `x-amz-date`, `x-amz-content-sha256` (unless present) and `authorization` to `headers`.
    /// `headers` must already hold `host` and every other header to sign.
    public func sign(
        method: String, path: String, query: [(String, String)], headers: inout [(String, String)], payloadHash: String,
        date: Date = Date()
    ) {
        let (amzDate, day) = Self.timestamps(date)
        if !headers.contains(where: { $0.0.lowercased() == "x-amz-content-sha256" }) {
            headers.append(("x-amz-content-sha256", payloadHash))
        }
        headers.append(("x-amz-date", amzDate))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let (canonical, signedHeaders) = Self.canonicalRequest(
            method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(Self.hex(SHA256.hash(data: Data(canonical.utf8))))"
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: signingKey(day: day)))
        headers.append(
            ("authorization", "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
    }

    func signingKey(day: String) -> SymmetricKey {
        if let cached = dayKey.key(for: day) { return SymmetricKey(data: cached) }
        var key = SymmetricKey(data: Data(("AWS4" + secretKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        dayKey.store(key.withUnsafeBytes { Array($0) }, for: day)
        return key
    }

    /// The canonical request and the `SignedHeaders` list.
    public static func canonicalRequest(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String
    ) -> (String, String) {
        var encoded: [(name: String, value: String)] = query.map { (uriEncode($0.0), uriEncode($0.1)) }
        encoded.sort { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        let canonicalQuery = encoded.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let needsCollapse = value.hasPrefix(" ") || value.hasSuffix(" ") || value.contains("  ")
            let collapsed = needsCollapse ? value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") : value
            merged[name.lowercased(), default: []].append(collapsed)
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonical = [method, path.isEmpty ? "/" : path, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")
        return (canonical, signedHeaders)
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters (and `/` when `keepSlash`).
    public static func uriEncode(_ s: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The last (day, signing key) an `S3Signer` derived, shared by its copies.
final class DayKeyCache: Sendable {
    private let entry = Mutex<(day: String, key: [UInt8])?>(nil)

    func key(for day: String) -> [UInt8]? { entry.withLock { $0?.day == day ? $0?.key : nil } }

    func store(_ key: [UInt8], for day: String) { entry.withLock { $0 = (day, key) } }
}
