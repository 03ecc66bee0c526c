import Crypto
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
            // The slashes found on the bytes, the parts taken as substrings: no array of parts.
            let utf8 = credential.utf8
            var slashes: [String.Index] = []
            slashes.reserveCapacity(4)
            var index = utf8.startIndex
            while index != utf8.endIndex {
                if utf8[index] == UInt8(ascii: "/") {
                    guard slashes.count < 4 else { return nil }
                    slashes.append(index)
                }
                index = utf8.index(after: index)
            }
            guard slashes.count == 4 else { return nil }
            let key = credential[..<slashes[0]]
            let date = credential[credential.index(after: slashes[0])..<slashes[1]]
            let region = credential[credential.index(after: slashes[1])..<slashes[2]]
            let service = credential[credential.index(after: slashes[2])..<slashes[3]]
            guard !key.isEmpty, date.utf8.count == 8,
                date.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), !region.isEmpty,
                credential[credential.index(after: slashes[3])...] == "aws4_request"
            else { return nil }
            return (String(key), Scope(date: String(date), region: String(region), service: String(service)))
        }
    }

    /// A derived signing key: its bytes, and HMAC-SHA256 under it with the key schedule done (each
    /// signature copies that instead of starting over: the key setup was half of a signature's time in perf).
    struct SigningKey: Sendable, Hashable {
        let bytes: [UInt8]
        private let prepared: PreparedHMAC

        init(bytes: [UInt8]) {
            self.bytes = bytes
            prepared = PreparedHMAC(hmac: HMAC<SHA256>(key: SymmetricKey(data: bytes)))
        }

        static func == (a: SigningKey, b: SigningKey) -> Bool { a.bytes == b.bytes }
        func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

        func mac(_ bytes: UnsafeRawBufferPointer) -> HashedAuthenticationCode<SHA256> {
            var mac = prepared.hmac
            mac.update(data: bytes)
            return mac.finalize()
        }
    }

    /// HMAC is a value whose hash states copy on write, so one prepared copy may be shared by threads.
    private struct PreparedHMAC: @unchecked Sendable {
        let hmac: HMAC<SHA256>
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

    /// Whether `signature` (hex, either case) is the HMAC of `bytes` under `key`, compared in
    /// constant time, without building the expected text.
    static func signatureMatches(_ signature: String, of bytes: [UInt8], key: SigningKey) -> Bool {
        let mac = bytes.withUnsafeBytes { key.mac($0) }
        guard signature.utf8.count == 64 else { return false }
        var difference: UInt8 = 0
        var given = signature.utf8.makeIterator()
        mac.withUnsafeBytes { code in
            for byte in code {
                // `| 0x20` makes A-F a-f and leaves digits as they are.
                difference |= (given.next()! | 0x20) ^ hexDigitsLower[Int(byte >> 4)]
                difference |= (given.next()! | 0x20) ^ hexDigitsLower[Int(byte & 0xF)]
            }
        }
        return difference == 0
    }

    /// The string to sign of a canonical request given as bytes, as bytes.
    static func stringToSign(amzDate: String, scope: Scope, canonicalRequest: [UInt8]) -> [UInt8] {
        var text: [UInt8] = []
        text.reserveCapacity(160)
        text += algorithm.utf8
        text.append(UInt8(ascii: "\n"))
        text += amzDate.utf8
        text.append(UInt8(ascii: "\n"))
        for part in [scope.date, scope.region, scope.service] {
            text += part.utf8
            text.append(UInt8(ascii: "/"))
        }
        text += "aws4_request\n".utf8
        canonicalRequest.withUnsafeBytes { bytes in
            SHA256.hash(data: bytes).withUnsafeBytes { digest in
                for byte in digest {
                    text.append(hexDigitsLower[Int(byte >> 4)])
                    text.append(hexDigitsLower[Int(byte & 0xF)])
                }
            }
        }
        return text
    }

    /// The canonical request as bytes: method, URI, query, each signed header's `name:value`
    /// (values from `values`, trimmed, inner spaces squeezed, repeated ones joined by commas), the
    /// signed header names, the payload hash.
    static func canonicalRequestBytes(
        method: String, canonicalURI: String, canonicalQuery: String, signedHeaders: [Substring],
        values: (Substring, (String) -> Void) -> Void, payloadHash: String
    ) -> [UInt8] {
        var text: [UInt8] = []
        text.reserveCapacity(256 + canonicalURI.utf8.count + canonicalQuery.utf8.count)
        let newline = UInt8(ascii: "\n")
        text += method.utf8
        text.append(newline)
        text += canonicalURI.utf8
        text.append(newline)
        text += canonicalQuery.utf8
        text.append(newline)
        for name in signedHeaders {
            text += name.utf8
            text.append(UInt8(ascii: ":"))
            var first = true
            values(name) { value in
                if !first { text.append(UInt8(ascii: ",")) }
                first = false
                appendNormalized(value, to: &text)
            }
            text.append(newline)
        }
        text.append(newline)
        for (index, name) in signedHeaders.enumerated() {
            if index > 0 { text.append(UInt8(ascii: ";")) }
            text += name.utf8
        }
        text.append(newline)
        text += payloadHash.utf8
        return text
    }

    /// A header value trimmed of spaces and tabs, inner runs made one space.
    private static func appendNormalized(_ value: String, to text: inout [UInt8]) {
        var pendingSpace = false
        var started = false
        for byte in value.utf8 {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                pendingSpace = started
            } else {
                if pendingSpace { text.append(UInt8(ascii: " ")) }
                pendingSpace = false
                started = true
                text.append(byte)
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

    static func hex(_ code: HashedAuthenticationCode<SHA256>) -> String { code.withUnsafeBytes { hex($0) } }

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
