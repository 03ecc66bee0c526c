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
            let parts = credential.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
                .map { String(Substring($0)) }
            guard parts.count == 5, !parts[0].isEmpty, parts[1].utf8.count == 8,
                parts[1].utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), !parts[2].isEmpty,
                parts[4] == "aws4_request"
            else { return nil }
            return (String(parts[0]), Scope(date: String(parts[1]), region: String(parts[2]), service: String(parts[3])))
        }
    }

    /// A derived signing key (Crypto's SymmetricKey is not Sendable; its bytes are).
    struct SigningKey: Sendable, Hashable {
        let bytes: [UInt8]
        var symmetric: SymmetricKey { SymmetricKey(data: bytes) }
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
        return text.withUTF8 { hex(HMAC<SHA256>.authenticationCode(for: $0, using: key.symmetric)) }
    }

    static func sha256Hex(_ text: String) -> String {
        var text = text
        return text.withUTF8 { hex(SHA256.hash(data: $0)) }
    }

    static func stringToSign(amzDate: String, scope: Scope, canonicalRequest: String) -> String {
        "\(algorithm)\n\(amzDate)\n\(scope.text)\n\(sha256Hex(canonicalRequest))"
    }

    /// The canonical request: method, URI, query, headers, signed header names, payload hash.
    static func canonicalRequest(
        method: String, canonicalURI: String, canonicalQuery: String, canonicalHeaders: String, signedHeaders: String,
        payloadHash: String
    ) -> String {
        "\(method)\n\(canonicalURI)\n\(canonicalQuery)\n\(canonicalHeaders)\n\(signedHeaders)\n\(payloadHash)"
    }

    /// `name:value\n` for each signed header: values trimmed, inner runs of spaces made one, and
    /// the values of a repeated header joined by commas.
    static func canonicalHeaders(_ names: [String], value: (String) -> [String]) -> String {
        var text = ""
        text.reserveCapacity(names.count * 64)
        for name in names {
            text += name
            text += ":"
            text += value(name).map(normalizeSpaces).joined(separator: ",")
            text += "\n"
        }
        return text
    }

    private static func normalizeSpaces(_ value: String) -> String {
        // Most values have no space to trim or squeeze: returned as they are.
        var previousWasSpace = true
        var clean = true
        for byte in value.utf8 {
            let isSpace = byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
            if isSpace && (previousWasSpace || byte == UInt8(ascii: "\t")) {
                clean = false
                break
            }
            previousWasSpace = isSpace
        }
        if clean && !previousWasSpace || value.isEmpty { return value }
        var out = ""
        var pendingSpace = false
        for scalar in value.unicodeScalars {
            if scalar == " " || scalar == "\t" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out += " " }
                pendingSpace = false
                out.unicodeScalars.append(scalar)
            }
        }
        return out
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
