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
    /// `headers` must already hold `host` and every other header to sign. The canonical request,
    /// the string to sign and the Authorization header are built as bytes in one buffer.
    public func sign(
        method: String, path: String, query: [(String, String)], headers: inout [(String, String)], payloadHash: String,
        date: Date = Date()
    ) {
        let (amzDate, day) = dayKey.timestamps(date)
        if !headers.contains(where: { $0.0.utf8.elementsEqual("x-amz-content-sha256".utf8) }) {
            headers.append(("x-amz-content-sha256", payloadHash))
        }
        headers.append(("x-amz-date", amzDate))
        var text: [UInt8] = []
        text.reserveCapacity(1024)
        let signedHeaders = Self.appendCanonicalRequest(
            to: &text, method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        let canonicalEnd = text.count
        let digest = text.withUnsafeBytes { SHA256.hash(data: $0) }
        // The string to sign, after the canonical request.
        Self.append("AWS4-HMAC-SHA256\n", to: &text)
        Self.append(amzDate, to: &text)
        text.append(UInt8(ascii: "\n"))
        let scopeStart = text.count
        Self.append(day, to: &text)
        text.append(UInt8(ascii: "/"))
        Self.append(region, to: &text)
        text.append(UInt8(ascii: "/"))
        Self.append(service, to: &text)
        Self.append("/aws4_request", to: &text)
        let scopeEnd = text.count
        text.append(UInt8(ascii: "\n"))
        Self.appendHex(digest, to: &text)
        var mac = signingKey(day: day)
        text.withUnsafeBytes { mac.update(data: UnsafeRawBufferPointer(rebasing: $0[canonicalEnd...])) }
        let signature = mac.finalize()
        // The Authorization header, after the string to sign.
        let headerStart = text.count
        Self.append("AWS4-HMAC-SHA256 Credential=", to: &text)
        Self.append(accessKey, to: &text)
        text.append(UInt8(ascii: "/"))
        text.append(contentsOf: text[scopeStart..<scopeEnd])
        Self.append(", SignedHeaders=", to: &text)
        text.append(contentsOf: text[signedHeaders])
        Self.append(", Signature=", to: &text)
        Self.appendHex(signature, to: &text)
        headers.append(("authorization", String(decoding: text[headerStart...], as: UTF8.self)))
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

    /// The canonical request as text, and the `SignedHeaders` list.
    public static func canonicalRequest(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String
    ) -> (String, String) {
        var text: [UInt8] = []
        let list = appendCanonicalRequest(to: &text, method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        return (String(decoding: text, as: UTF8.self), String(decoding: text[list], as: UTF8.self))
    }

    /// Appends the canonical request to `text`: method, path, the query's encoded pairs sorted, each
    /// header's lowercased `name:value` sorted by name (values trimmed, inner runs of spaces made
    /// one, a repeated name's values joined by commas in order), the names, the payload hash.
    /// Returns where the SignedHeaders list is in `text`.
    static func appendCanonicalRequest(
        to text: inout [UInt8], method: String, path: String, query: [(String, String)], headers: [(String, String)],
        payloadHash: String
    ) -> Range<Int> {
        let newline = UInt8(ascii: "\n")
        append(method, to: &text)
        text.append(newline)
        append(path.isEmpty ? "/" : path, to: &text)
        text.append(newline)
        if !query.isEmpty {
            var encoded: [(name: String, value: String)] = query.map { (uriEncode($0.0), uriEncode($0.1)) }
            encoded.sort { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
            for (index, pair) in encoded.enumerated() {
                if index > 0 { text.append(UInt8(ascii: "&")) }
                append(pair.name, to: &text)
                text.append(UInt8(ascii: "="))
                append(pair.value, to: &text)
            }
        }
        text.append(newline)
        // Lowercased names, sorted with a stable insertion sort (a handful of headers).
        let names: [String] = headers.map { name, _ in
            name.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") } ? name.lowercased() : name
        }
        var order = Array(headers.indices)
        for i in order.indices.dropFirst() {
            var j = i
            while j > 0 && names[order[j]].utf8.lexicographicallyPrecedes(names[order[j - 1]].utf8) {
                order.swapAt(j, j - 1)
                j -= 1
            }
        }
        var signed: [String] = []
        signed.reserveCapacity(order.count)
        for (position, index) in order.enumerated() {
            if position > 0 && names[order[position - 1]] == names[index] {
                text.append(UInt8(ascii: ","))
            } else {
                if position > 0 { text.append(newline) }
                append(names[index], to: &text)
                text.append(UInt8(ascii: ":"))
                signed.append(names[index])
            }
            appendNormalized(headers[index].1, to: &text)
        }
        text.append(newline)
        text.append(newline)
        let listStart = text.count
        for (index, name) in signed.enumerated() {
            if index > 0 { text.append(UInt8(ascii: ";")) }
            append(name, to: &text)
        }
        let list = listStart..<text.count
        text.append(newline)
        append(payloadHash, to: &text)
        return list
    }

    /// A header value trimmed of spaces, inner runs made one space; most values are copied whole.
    private static func appendNormalized(_ value: String, to text: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in
            let space = UInt8(ascii: " ")
            let plain = bytes.first != space && bytes.last != space && !zip(bytes, bytes.dropFirst()).contains { $0 == space && $1 == space }
            if plain {
                text.append(contentsOf: bytes)
                return
            }
            var pendingSpace = false
            var started = false
            for byte in bytes {
                if byte == space {
                    pendingSpace = started
                } else {
                    if pendingSpace { text.append(space) }
                    pendingSpace = false
                    started = true
                    text.append(byte)
                }
            }
        }
    }

    private static func append(_ string: String, to text: inout [UInt8]) {
        var string = string
        string.withUTF8 { text.append(contentsOf: $0) }
    }

    private static func appendHex<D: Sequence>(_ bytes: D, to text: inout [UInt8]) where D.Element == UInt8 {
        for byte in bytes {
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0xF)])
        }
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
