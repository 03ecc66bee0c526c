import HTTPTypes
import Hummingbird
import HummingbirdCore

/// The parts of an S3 request the handlers need: path-style bucket and key, and the query.
struct S3Request {
    var bucket: String
    /// Empty for bucket-level and service-level requests.
    var key: String
    var query: [String: String]
    /// For a body sent `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: the signatures its chunks
    /// must carry, set by authentication.
    var chunkSignatures: ChunkSignatureChain?
    /// Who sent the request, set by authentication (anonymous until then).
    var principal = Principal.anonymous
    /// The client's IP address (`aws:SourceIp`), and whether the request came over TLS (`aws:SecureTransport`).
    var sourceIP: String?
    var isSecureTransport = false
    /// Whether the bucket came from the Host header (virtual-hosted style).
    var isVirtualHosted = false

    init(uri: URI, host: String? = nil, virtualHostDomain: String? = nil) throws {
        let rawPath = uri.path
        guard let path = PercentEncoding.decode(rawPath) else {
            throw S3Error.invalidArgument("the request path is not valid percent-encoded UTF-8")
        }
        var rest = path.dropFirst(path.hasPrefix("/") ? 1 : 0)
        if let domain = virtualHostDomain, let host, let bucket = Self.bucket(fromHost: host, domain: domain) {
            self.bucket = bucket
            isVirtualHosted = true
            key = String(rest)
        } else if let slash = rest.firstIndex(of: "/") {
            bucket = String(rest[..<slash])
            rest = rest[rest.index(after: slash)...]
            key = String(rest)
        } else {
            bucket = String(rest)
            key = ""
        }
        query = [:]
        for pair in (uri.query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentEncoding.decode(String(parts[0])) else {
                throw S3Error.invalidArgument("a query parameter is not valid percent-encoded UTF-8")
            }
            let value = parts.count > 1 ? PercentEncoding.decode(String(parts[1])) : ""
            guard let value else { throw S3Error.invalidArgument("query parameter \(name) is not valid percent-encoded UTF-8") }
            query[name] = value
        }
    }

    /// The bucket of a virtual-hosted-style request: `BUCKET.DOMAIN[:port]`.
    static func bucket(fromHost host: String, domain: String) -> String? {
        let name = host.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        let suffix = "." + domain.lowercased()
        guard name.hasSuffix(suffix), name.count > suffix.count else { return nil }
        return String(name.dropLast(suffix.count))
    }

    /// S3 sub-resources this server does not implement yet: answered 501, never ignored.
    static let unimplementedSubresources: Set<String> = [
        "accelerate", "analytics", "encryption", "intelligent-tiering",
        "inventory", "logging", "metrics", "notification",
        "ownershipControls", "publicAccessBlock", "replication",
        "requestPayment", "restore", "select", "torrent", "website",
    ]

    var unimplementedSubresource: String? {
        query.keys.sorted().first { Self.unimplementedSubresources.contains($0) }
    }
}

enum PercentEncoding {
    /// Decodes %XX escapes ('+' stays '+', as S3 path and SigV4 query encoding use %20 for space).
    static func decode(_ text: String) -> String? {
        // On the UTF-8 bytes: `String.contains(String)` goes through Foundation (NSString), 1.9% of a GET.
        guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Encodes every byte but `A-Z a-z 0-9 - _ . ~` (and `/` when kept) as `%XX`: S3's
    /// `encoding-type=url`, and SigV4's canonical URI (slashes kept) and query (not kept).
    static func encode(_ text: String, keepSlash: Bool = true) -> String {
        func isKept(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                return true
            case UInt8(ascii: "/"): return keepSlash
            default: return false
            }
        }
        // Most names need no escape: returned as they are, without building a copy.
        guard !text.utf8.allSatisfy(isKept) else { return text }
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count * 3)
        for byte in text.utf8 {
            if isKept(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigitsUpper[Int(byte >> 4)])
                out.append(hexDigitsUpper[Int(byte & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigitsUpper = Array("0123456789ABCDEF".utf8)

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
