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
        let (amzDate, day) = dayKey.timestamps(date)
        if !headers.contains(where: { $0.0.utf8.elementsEqual("x-amz-content-sha256".utf8) }) {
            headers.append(("x-amz-content-sha256", payloadHash))
        }
        headers.append(("x-amz-date", amzDate))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        var (canonical, signedHeaders) = Self.canonicalRequest(
            method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        var stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(canonical.withUTF8 { Self.hex(SHA256.hash(data: $0)) })"
        var mac = signingKey(day: day)
        stringToSign.withUTF8 { mac.update(data: UnsafeRawBufferPointer($0)) }
        let signature = Self.hex(mac.finalize())
        headers.append(
            ("authorization", "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
    }

    /// HMAC-SHA256 under the day's signing key, its key schedule done (copied for each request).
    func signingKey(day: String) -> HMAC<SHA256> {
        if let cached = dayKey.key(for: day) { return cached }
        var key = SymmetricKey(data: Data(("AWS4" + secretKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let mac = HMAC<SHA256>(key: key)
        dayKey.store(mac, for: day)
        return mac
    }

    /// The canonical request and the `SignedHeaders` list.
    public static func canonicalRequest(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String
    ) -> (String, String) {
        var encoded: [(name: String, value: String)] = query.map { (uriEncode($0.0), uriEncode($0.1)) }
        encoded.sort { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        let canonicalQuery = encoded.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
        // Sorted by name, values of a repeated name joined in order (a stable sort keeps it).
        var sorted: [(name: String, value: String)] = headers.map { name, value in
            let lower = name.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") } ? name.lowercased() : name
            // On the bytes: String.contains("  ") goes through Foundation (2.3% of sos bench's CPU in perf).
            let bytes = value.utf8
            let needsCollapse = bytes.first == UInt8(ascii: " ") || bytes.last == UInt8(ascii: " ")
                || zip(bytes, bytes.dropFirst()).contains { $0 == UInt8(ascii: " ") && $1 == UInt8(ascii: " ") }
            return (lower, needsCollapse ? value.split(separator: " ").joined(separator: " ") : value)
        }
        sorted = sorted.enumerated().sorted { a, b in a.element.name == b.element.name ? a.offset < b.offset : a.element.name < b.element.name }
            .map(\.element)
        var canonical = method + "\n" + (path.isEmpty ? "/" : path) + "\n" + canonicalQuery + "\n"
        var signedHeaders = ""
        for (index, header) in sorted.enumerated() {
            if index > 0 && sorted[index - 1].name == header.name {
                canonical += "," + header.value
                continue
            }
            if index > 0 {
                canonical += "\n"
                signedHeaders += ";"
            }
            canonical += header.name + ":" + header.value
            signedHeaders += header.name
        }
        canonical += "\n\n" + signedHeaders + "\n" + payloadHash
        return (canonical, signedHeaders)
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters (and `/` when `keepSlash`).
    public static func uriEncode(_ s: String, keepSlash: Bool = false) -> String {
        func isKept(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                return true
            case UInt8(ascii: "/"): return keepSlash
            default: return false
            }
        }
        // Most names need no escape: returned as they are, without building a copy.
        guard !s.utf8.allSatisfy(isKept) else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count * 3)
        for byte in s.utf8 {
            if isKept(byte) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hexDigitsUpper[Int(byte >> 4)], hexDigitsUpper[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigitsUpper = Array("0123456789ABCDEF".utf8)
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

/// The last (day, signing key) an `S3Signer` derived, and the timestamps of the last second it
/// signed in, shared by its copies.
final class DayKeyCache: Sendable {
    /// HMAC is a value whose hash states copy on write: one prepared copy may be shared by threads.
    private struct PreparedMAC: @unchecked Sendable { let mac: HMAC<SHA256> }
    private let entry = Mutex<(day: String, key: PreparedMAC)?>(nil)
    private let second = Mutex<(seconds: Int, amzDate: String, day: String)?>(nil)

    func key(for day: String) -> HMAC<SHA256>? { entry.withLock { $0?.day == day ? $0?.key.mac : nil } }

    func store(_ key: HMAC<SHA256>, for day: String) { entry.withLock { $0 = (day, PreparedMAC(mac: key)) } }

    func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        let seconds = Int(date.timeIntervalSince1970)
        if let last = second.withLock({ $0 }), last.seconds == seconds { return (last.amzDate, last.day) }
        let (amzDate, day) = S3Signer.timestamps(date)
        second.withLock { $0 = (seconds, amzDate, day) }
        return (amzDate, day)
    }
}
