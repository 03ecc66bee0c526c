import Crypto
import HTTPTypes
import Synchronization

/// AWS Signature Version 4 as S3 uses it (docs: AWS S3 API "Authenticating Requests (AWS
/// Signature Version 4)"): canonical requests, strings to sign, signing keys and signatures.
enum SigV4 {
    static let algorithm = "AWS4-HMAC-SHA256"
    static let unsignedPayload = "UNSIGNED-PAYLOAD"
    static let streamingSignedPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    static let streamingSignedPayloadTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    static let streamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    /// How far a request's date may be from the brain's clock (S3: 15 minutes).
    static let clockSkewSecondsMax: Int64 = 15 * 60
    /// X-Amz-Expires of a presigned URL: at least a second, at most a week.
    static let presignedExpiresSeconds: ClosedRange<Int64> = 1...604_800

    /// `DATE/REGION/SERVICE/aws4_request`, the scope a signing key is derived for.
    struct Scope: Hashable, Sendable {
        var date: String
        var region: String
        var service: String

        var text: String { "\(date)/\(region)/\(service)/aws4_request" }

        /// Parses `AKID/DATE/REGION/SERVICE/aws4_request`; nil when it is not one.
        static func parseCredential(_ credential: String) -> (accessKeyID: String, scope: Scope)? {
            var credential = credential
            return credential.withUTF8 { parseCredential($0) }
        }

        /// The same, on the UTF-8 bytes (a slice of an Authorization header).
        static func parseCredential(_ bytes: UnsafeBufferPointer<UInt8>) -> (accessKeyID: String, scope: Scope)? {
            var slashes = (0, 0, 0, 0)
            var found = 0
            for index in bytes.indices where bytes[index] == UInt8(ascii: "/") {
                switch found {
                case 0: slashes.0 = index
                case 1: slashes.1 = index
                case 2: slashes.2 = index
                case 3: slashes.3 = index
                default: return nil
                }
                found += 1
            }
            guard found == 4 else { return nil }
            func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
            let date = bytes[(slashes.0 + 1)..<slashes.1]
            guard slashes.0 > 0, date.count == 8, date.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                slashes.2 > slashes.1 + 1, bytes[(slashes.3 + 1)...].elementsEqual("aws4_request".utf8)
            else { return nil }
            let scope = Scope(
                date: text((slashes.0 + 1)..<slashes.1), region: text((slashes.1 + 1)..<slashes.2),
                service: text((slashes.2 + 1)..<slashes.3))
            return (text(0..<slashes.0), scope)
        }
    }

    /// A derived signing key: its bytes, and HMAC-SHA256 under it with the key's blocks hashed once.
    struct SigningKey: Sendable, Hashable {
        let bytes: [UInt8]
        private let hmac: PreparedHMAC

        init(bytes: [UInt8]) {
            self.bytes = bytes
            hmac = PreparedHMAC(key: bytes)
        }

        static func == (a: SigningKey, b: SigningKey) -> Bool { a.bytes == b.bytes }
        func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

        func mac(_ message: UnsafeRawBufferPointer) -> SHA256.Digest { hmac.mac(message) }
    }

    static func signingKey(secret: String, scope: Scope) -> SigningKey {
        func hmac(_ key: [UInt8], _ text: String) -> [UInt8] {
            Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: key)))
        }
        let date = hmac(Array(("AWS4" + secret).utf8), scope.date)
        return SigningKey(bytes: hmac(hmac(hmac(date, scope.region), scope.service), "aws4_request"))
    }

    /// The hex HMAC-SHA256 of `text` under `key`.
    static func signature(_ text: String, key: SigningKey) -> String {
        var text = text
        return text.withUTF8 { hex(key.mac(UnsafeRawBufferPointer($0))) }
    }

    /// Whether `signature` (hex, either case) is the HMAC of `message` under `key`, compared in
    /// constant time, without building the expected text.
    static func signatureMatches(_ signature: UnsafeBufferPointer<UInt8>, of message: UnsafeRawBufferPointer, key: SigningKey) -> Bool {
        guard signature.count == 64 else { return false }
        var difference: UInt8 = 0
        key.mac(message).withUnsafeBytes { code in
            for (index, byte) in code.enumerated() {
                // `| 0x20` makes A-F a-f and leaves digits as they are.
                difference |= (signature[2 * index] | 0x20) ^ hexDigitsLower[Int(byte >> 4)]
                difference |= (signature[2 * index + 1] | 0x20) ^ hexDigitsLower[Int(byte & 0xF)]
            }
        }
        return difference == 0
    }

    /// Whether `signature` signs the canonical request `text` holds: appends the string to sign to
    /// `text` (one buffer for both) and compares its HMAC with `signature`.
    static func signatureMatches(
        _ signature: UnsafeBufferPointer<UInt8>, canonicalRequest text: inout [UInt8], amzDate: String, scope: Scope, key: SigningKey
    ) -> Bool {
        let canonicalEnd = text.count
        let digest = text.withUnsafeBytes { SHA256.hash(data: $0) }
        append(algorithm, to: &text)
        text.append(UInt8(ascii: "\n"))
        append(amzDate, to: &text)
        text.append(UInt8(ascii: "\n"))
        append(scope.date, to: &text)
        text.append(UInt8(ascii: "/"))
        append(scope.region, to: &text)
        text.append(UInt8(ascii: "/"))
        append(scope.service, to: &text)
        append("/aws4_request\n", to: &text)
        appendHex(digest, to: &text)
        return text.withUnsafeBytes { signatureMatches(signature, of: UnsafeRawBufferPointer(rebasing: $0[canonicalEnd...]), key: key) }
    }

    /// Appends the canonical request to `text`: method, URI, query, a `name:value` line for each
    /// name of `signedHeaders` (`a;b;c`, copied as the signed list too) with the Host header for
    /// `host` and otherwise every field of that name, values trimmed, inner runs of spaces made one
    /// and repeated ones joined by commas; then the payload hash.
    static func appendCanonicalRequest(
        to text: inout [UInt8], method: String, canonicalURI: String, canonicalQuery: String,
        signedHeaders: UnsafeBufferPointer<UInt8>, host: String?, fields: HTTPFields, payloadHash: String
    ) {
        let newline = UInt8(ascii: "\n")
        append(method, to: &text)
        text.append(newline)
        append(canonicalURI, to: &text)
        text.append(newline)
        append(canonicalQuery, to: &text)
        text.append(newline)
        var start = 0
        while start < signedHeaders.count {
            var end = start
            while end < signedHeaders.count && signedHeaders[end] != UInt8(ascii: ";") { end += 1 }
            let name = UnsafeBufferPointer(rebasing: signedHeaders[start..<end])
            start = end + 1
            text.append(contentsOf: name)
            text.append(UInt8(ascii: ":"))
            if sameBytes("host", name) {
                if let host { appendNormalized(host, to: &text) }
            } else {
                var first = true
                for field in fields where sameBytes(field.name.canonicalName, name) {
                    if !first { text.append(UInt8(ascii: ",")) }
                    first = false
                    appendNormalized(field.value, to: &text)
                }
            }
            text.append(newline)
        }
        text.append(newline)
        text.append(contentsOf: signedHeaders)
        text.append(newline)
        append(payloadHash, to: &text)
    }

    /// Appends a string's UTF-8 bytes in one copy.
    static func append(_ string: String, to text: inout [UInt8]) {
        var string = string
        string.withUTF8 { text.append(contentsOf: $0) }
    }

    /// Whether a string's UTF-8 bytes are `bytes`.
    static func sameBytes(_ string: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard string.utf8.count == bytes.count else { return false }
        var string = string
        return string.withUTF8 { $0.elementsEqual(bytes) }
    }

    /// A header value trimmed of spaces and tabs, inner runs made one space; most values need none
    /// of that and are copied whole.
    private static func appendNormalized(_ value: String, to text: inout [UInt8]) {
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
        var value = value
        value.withUTF8 { bytes in
            var plain = bytes.first != space && bytes.last != space
            var previous: UInt8 = 0
            for byte in bytes where plain {
                if byte == tab || (byte == space && previous == space) { plain = false }
                previous = byte
            }
            if plain {
                text.append(contentsOf: bytes)
                return
            }
            var pendingSpace = false
            var started = false
            for byte in bytes {
                if byte == space || byte == tab {
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

    static func sha256Hex(_ text: String) -> String {
        var text = text
        return text.withUTF8 { hex(SHA256.hash(data: $0)) }
    }

    /// The canonical query string of a raw query: pairs decoded, each name and value encoded the
    /// SigV4 way, sorted by name then value; `excluding` (X-Amz-Signature) left out. Nil when the
    /// query is not valid percent-encoded UTF-8.
    static func canonicalQuery(_ rawQuery: String, excluding: String? = nil) -> String? {
        var pairs: [(String, String)] = []
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentEncoding.decode(String(parts[0])),
                let value = parts.count > 1 ? PercentEncoding.decode(String(parts[1])) : ""
            else { return nil }
            if name == excluding { continue }
            pairs.append((PercentEncoding.encode(name, keepSlash: false), PercentEncoding.encode(value, keepSlash: false)))
        }
        pairs.sort { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    private static let hexDigitsLower = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (index, byte) in bytes.enumerated() {
                out[2 * index] = hexDigitsLower[Int(byte >> 4)]
                out[2 * index + 1] = hexDigitsLower[Int(byte & 0xF)]
            }
            return bytes.count * 2
        }
    }

    static func hex(_ digest: some Digest) -> String { digest.withUnsafeBytes { hex($0) } }

    static func appendHex(_ digest: SHA256.Digest, to text: inout [UInt8]) {
        for byte in digest {
            text.append(hexDigitsLower[Int(byte >> 4)])
            text.append(hexDigitsLower[Int(byte & 0xF)])
        }
    }


    /// `20130524T000000Z` for a time in seconds since the epoch.
    static func amzDate(seconds: Int64) -> String {
        let iso = HTTPDate.iso8601(ms: seconds * 1000)  // 2013-05-24T00:00:00.000Z
        let digits = iso.prefix(19).filter { $0 != "-" && $0 != ":" }
        return digits + "Z"
    }
}

/// Signing keys derived per secret, date, region and service (four HMACs each), kept so that a
/// client's requests of one day cost one HMAC chain. Bounded: emptied when full.
final class SigningKeyCache: Sendable {
    static let entriesMax = 4096
    private struct Name: Hashable {
        var secret: String
        var scope: SigV4.Scope
    }

    private let keys = Mutex<[Name: SigV4.SigningKey]>([:])

    func key(secret: String, scope: SigV4.Scope) -> SigV4.SigningKey {
        let name = Name(secret: secret, scope: scope)
        if let key = keys.withLock({ $0[name] }) { return key }
        let key = SigV4.signingKey(secret: secret, scope: scope)
        keys.withLock { keys in
            if keys.count >= Self.entriesMax { keys.removeAll(keepingCapacity: true) }
            keys[name] = key
        }
        return key
    }
}
