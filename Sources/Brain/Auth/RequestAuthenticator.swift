import Crypto
import HTTPTypes

/// Who sent a request.
public enum Principal: Sendable, Equatable {
    case anonymous
    case key(AccessKey)
}

/// What authenticating a request established: its sender, and for a streaming-signed body the
/// chain its chunks must continue.
struct Authentication: Sendable {
    var principal: Principal
    var chunkSignatures: ChunkSignatureChain?
}

/// The parts of an HTTP request a signature covers, as they arrived.
struct SignedRequestParts {
    var method: String
    /// The path as sent, percent-encoded.
    var rawPath: String
    /// The query as sent, without the `?`.
    var rawQuery: String
    /// The Host header (HTTP/1.1) or :authority.
    var host: String?
    var headers: HTTPFields
    /// The bucket named by the Host header of a virtual-hosted-style request (SigV2 signs it).
    var virtualHostBucket: String? = nil
}

/// Finds the key a request was signed with and checks its signature (SigV4 in the Authorization
/// header or in the query of a presigned URL, and SigV2 likewise); a request with neither is
/// anonymous. Every failure is an S3 error naming no secret.
struct RequestAuthenticator: Sendable {
    let keys: KeyDirectory
    let signingKeys = SigningKeyCache()
    /// Nil with `--sigv2 off`: SigV2 requests are then refused with an error naming SigV4.
    let sigV2: SigV2Authenticator?

    init(keys: KeyDirectory, allowSigV2: Bool = true) {
        self.keys = keys
        self.sigV2 = allowSigV2 ? SigV2Authenticator(keys: keys) : nil
    }

    static let authorization = HTTPField.Name("authorization")!
    static let amzDate = HTTPField.Name("x-amz-date")!
    static let date = HTTPField.Name("date")!

    /// `AWS4-HMAC-SHA256 `, the start of a SigV4 Authorization header.
    static let v4HeaderPrefix = SigV4.algorithm + " "

    func authenticate(_ request: SignedRequestParts, nowSeconds: Int64) throws -> Authentication {
        let query = QueryAuthParameters(request.rawQuery)
        let headers = AuthHeaders(request.headers)
        if let header = headers.authorization {
            guard !query.hasSignature else {
                throw S3Error.invalidArgument(
                    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
            }
            if header.utf8.starts(with: Self.v4HeaderPrefix.utf8) {
                return try authenticateV4Header(request, headers, header: header, nowSeconds: nowSeconds)
            }
            if header.utf8.starts(with: "AWS ".utf8) {
                guard let sigV2 else { throw SigV2Authenticator.refusedWhenOff }
                return try sigV2.authenticateHeader(request, header: header, nowSeconds: nowSeconds)
            }
            throw S3Error.invalidArgument("Unsupported Authorization Type")
        }
        if query.isV4 { return try authenticateV4Query(request, query: query, nowSeconds: nowSeconds) }
        if query.isV2 {
            guard let sigV2 else { throw SigV2Authenticator.refusedWhenOff }
            return try sigV2.authenticateQuery(request, query: query, nowSeconds: nowSeconds)
        }
        return Authentication(principal: .anonymous)
    }

    // MARK: Browser POST uploads

    /// The signer of a browser POST upload's form (fields by lowercased name; docs: AWS S3
    /// "Authenticating Requests in Browser-Based Uploads Using POST"). SigV4 signs the base64
    /// `policy` with the signing key of `x-amz-credential`'s scope (`x-amz-algorithm`, `x-amz-date`,
    /// `x-amz-signature`); SigV2 with HMAC-SHA1 of the secret (`AWSAccessKeyId`, `signature`). A form
    /// with neither is anonymous. Its policy is checked by the caller.
    func authenticatePostForm(_ fields: [String: String]) throws -> Principal {
        if fields["x-amz-signature"] != nil || fields["x-amz-credential"] != nil || fields["x-amz-algorithm"] != nil {
            func missing(_ name: String) -> S3Error {
                S3Error.invalidArgument(
                    "Bucket POST must contain a field named '\(name)'.  If it is specified, please check the order of the fields.")
            }
            for name in ["x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "policy"]
            where fields[name] == nil {
                throw missing(name)
            }
            guard fields["x-amz-algorithm"] == SigV4.algorithm else {
                throw S3Error.invalidArgument("x-amz-algorithm only supports \"AWS4-HMAC-SHA256\"")
            }
            guard let (accessKeyID, scope) = SigV4.Scope.parseCredential(fields["x-amz-credential"]!), scope.service == "s3"
            else { throw S3Error.invalidArgument("x-amz-credential is not AKID/YYYYMMDD/REGION/s3/aws4_request") }
            let amzDate = fields["x-amz-date"]!
            guard HTTPDate.parseAmzDate(amzDate) != nil, amzDate.hasPrefix(scope.date) else {
                throw S3Error.invalidArgument("x-amz-date is not yyyyMMdd'T'HHmmss'Z' of the date in x-amz-credential")
            }
            guard let key = keys.key(accessKeyID) else { throw S3Error.invalidAccessKeyId }
            let expected = SigV4.signature(fields["policy"]!, key: signingKeys.key(secret: key.secretKey, scope: scope))
            guard constantTimeEquals(expected, fields["x-amz-signature"]!.lowercased()) else { throw S3Error.signatureDoesNotMatch }
            return .key(key)
        }
        if fields["awsaccesskeyid"] != nil || fields["signature"] != nil {
            guard let sigV2 else { throw SigV2Authenticator.refusedWhenOff }
            return try sigV2.authenticatePostForm(fields)
        }
        guard fields["policy"] == nil else {
            throw S3Error.invalidArgument(
                "Bucket POST must contain a field named 'x-amz-signature'.  If it is specified, please check the order of the fields.")
        }
        return .anonymous
    }

    // MARK: SigV4, Authorization header

    private func authenticateV4Header(_ request: SignedRequestParts, _ headers: AuthHeaders, header: String, nowSeconds: Int64) throws
        -> Authentication
    {
        var header = header
        return try header.withUTF8 { bytes in
            let fields = try Self.parseV4Header(bytes)
            guard let (accessKeyID, scope) = SigV4.Scope.parseCredential(UnsafeBufferPointer(rebasing: bytes[fields.credential])) else {
                throw Self.headerMalformed("the Credential is not AKID/YYYYMMDD/REGION/s3/aws4_request")
            }
            guard scope.service == "s3" else { throw Self.headerMalformed("the service in the Credential must be s3") }
            let (amzDate, seconds) = try Self.requestDate(headers)
            guard amzDate.utf8.starts(with: scope.date.utf8) else {
                throw Self.headerMalformed("the date in the Credential is not the date of X-Amz-Date")
            }
            try Self.checkSkew(seconds, nowSeconds: nowSeconds)
            guard let key = keys.key(accessKeyID) else { throw S3Error.invalidAccessKeyId }
            guard let payloadHash = headers.contentSHA256 else {
                throw S3Error(.invalidRequest, "Missing required header for this request: x-amz-content-sha256")
            }
            guard Self.isValidPayloadHash(payloadHash) else {
                throw S3Error(
                    .invalidArgument,
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
            }
            let signedHeaders = UnsafeBufferPointer(rebasing: bytes[fields.signedHeaders])
            guard Self.namesHost(signedHeaders) else { throw Self.headerMalformed("SignedHeaders must include host") }
            let signature = UnsafeBufferPointer(rebasing: bytes[fields.signature])
            let signingKey = signingKeys.key(secret: key.secretKey, scope: scope)
            try verify(
                request, signature: signature, key: signingKey, amzDate: amzDate, scope: scope, signedHeaders: signedHeaders,
                canonicalQuery: SigV4.canonicalQuery(request.rawQuery), payloadHash: payloadHash)
            var chain: ChunkSignatureChain?
            if payloadHash == SigV4.streamingSignedPayload || payloadHash == SigV4.streamingSignedPayloadTrailer {
                chain = ChunkSignatureChain(
                    key: signingKey, amzDate: amzDate, scope: scope, seedSignature: String(decoding: signature, as: UTF8.self),
                    hasSignedTrailer: payloadHash == SigV4.streamingSignedPayloadTrailer)
            }
            return Authentication(principal: .key(key), chunkSignatures: chain)
        }
    }

    /// Where the components of a SigV4 Authorization header are in its UTF-8 bytes.
    struct V4HeaderFields: Equatable {
        var credential: Range<Int>
        var signedHeaders: Range<Int>
        var signature: Range<Int>
    }

    /// `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` (commas, optional spaces),
    /// parsed on the UTF-8 bytes: walking the String's or a Substring's UTF-8 view by index was a
    /// quarter of a check's time in perf.
    static func parseV4Header(_ bytes: UnsafeBufferPointer<UInt8>) throws -> V4HeaderFields {
        guard bytes.count <= 8192 else { throw headerMalformed("the header is too long") }
        let comma = UInt8(ascii: ","), space = UInt8(ascii: " ")
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        var credential: Range<Int>?, signedHeaders: Range<Int>?, signature: Range<Int>?
        var start = v4HeaderPrefix.utf8.count
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != comma { end += 1 }
            var from = start, to = end
            start = end + 1
            if from == to { continue }
            while from < to && bytes[from] == space { from += 1 }
            while to > from && bytes[to - 1] == space { to -= 1 }
            guard let equals = bytes[from..<to].firstIndex(of: UInt8(ascii: "=")) else {
                throw headerMalformed("'\(text(from..<to))' is not NAME=VALUE")
            }
            let name = UnsafeBufferPointer(rebasing: bytes[from..<equals])
            let value = (equals + 1)..<to
            if SigV4.sameBytes("Credential", name) {
                credential = value
            } else if SigV4.sameBytes("SignedHeaders", name) {
                signedHeaders = value
            } else if SigV4.sameBytes("Signature", name) {
                signature = value
            } else {
                throw headerMalformed("unknown component '\(text(from..<equals))'")
            }
        }
        guard let credential, let signedHeaders, let signature, !signedHeaders.isEmpty else {
            throw headerMalformed("Credential, SignedHeaders and Signature are required")
        }
        guard signature.count == 64 else { throw headerMalformed("the Signature must be 64 hex digits") }
        return V4HeaderFields(credential: credential, signedHeaders: signedHeaders, signature: signature)
    }

    // MARK: SigV4, presigned URL

    private func authenticateV4Query(_ request: SignedRequestParts, query: QueryAuthParameters, nowSeconds: Int64) throws
        -> Authentication
    {
        guard let algorithm = query["X-Amz-Algorithm"], let credential = query["X-Amz-Credential"],
            let signature = query["X-Amz-Signature"], let amzDate = query["X-Amz-Date"],
            let signedHeaderList = query["X-Amz-SignedHeaders"], let expiresText = query["X-Amz-Expires"]
        else {
            throw Self.queryError(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
        }
        guard algorithm == SigV4.algorithm else { throw Self.queryError("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"") }
        guard let (accessKeyID, scope) = SigV4.Scope.parseCredential(credential), scope.service == "s3" else {
            throw Self.queryError("X-Amz-Credential is not AKID/YYYYMMDD/REGION/s3/aws4_request")
        }
        guard let seconds = HTTPDate.parseAmzDate(amzDate) else {
            throw Self.queryError("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        }
        guard amzDate.hasPrefix(scope.date) else { throw Self.queryError("the date in X-Amz-Credential is not that of X-Amz-Date") }
        guard let expires = Int64(expiresText), expires >= 0 else {
            throw Self.queryError("X-Amz-Expires should be a number")
        }
        guard SigV4.presignedExpiresSeconds.contains(expires) else {
            throw Self.queryError("X-Amz-Expires must be less than a week (in seconds) that is 604800 and at least 1")
        }
        guard signature.utf8.count == 64 else { throw Self.queryError("X-Amz-Signature must be 64 hex digits") }
        guard seconds <= nowSeconds + SigV4.clockSkewSecondsMax else {
            throw S3Error(.accessDenied, "Request is not valid yet")
        }
        guard nowSeconds <= seconds + expires else { throw S3Error(.accessDenied, "Request has expired") }
        guard let key = keys.key(accessKeyID) else { throw S3Error.invalidAccessKeyId }
        var signedHeaderText = signedHeaderList, signatureText = signature
        try signedHeaderText.withUTF8 { signedHeaders in
            guard Self.namesHost(signedHeaders) else { throw Self.queryError("X-Amz-SignedHeaders must include host") }
            let payloadHash = query["X-Amz-Content-Sha256"] ?? request.headers[.amzContentSHA256] ?? SigV4.unsignedPayload
            let signingKey = signingKeys.key(secret: key.secretKey, scope: scope)
            try signatureText.withUTF8 { signature in
                try verify(
                    request, signature: signature, key: signingKey, amzDate: amzDate, scope: scope, signedHeaders: signedHeaders,
                    canonicalQuery: SigV4.canonicalQuery(request.rawQuery, excluding: "X-Amz-Signature"), payloadHash: payloadHash)
            }
        }
        return Authentication(principal: .key(key))
    }

    // MARK: Shared

    /// Recomputes the signature over the canonical request and compares. The URI is the path
    /// decoded and encoded the SigV4 way; a client that signed its path exactly as it sent it
    /// (differently encoded) is accepted too. The canonical request and the string to sign are
    /// built as bytes in one buffer.
    private func verify(
        _ request: SignedRequestParts, signature: UnsafeBufferPointer<UInt8>, key: SigV4.SigningKey, amzDate: String,
        scope: SigV4.Scope, signedHeaders: UnsafeBufferPointer<UInt8>, canonicalQuery: String?, payloadHash: String
    ) throws {
        guard let canonicalQuery, let decodedPath = PercentEncoding.decode(request.rawPath) else {
            throw S3Error.invalidArgument("the request URI is not valid percent-encoded UTF-8")
        }
        var text: [UInt8] = []
        text.reserveCapacity(512 + 2 * request.rawPath.utf8.count + canonicalQuery.utf8.count)
        func matches(uri: String) -> Bool {
            text.removeAll(keepingCapacity: true)
            SigV4.appendCanonicalRequest(
                to: &text, method: request.method, canonicalURI: uri, canonicalQuery: canonicalQuery, signedHeaders: signedHeaders,
                host: request.host, fields: request.headers, payloadHash: payloadHash)
            return SigV4.signatureMatches(signature, canonicalRequest: &text, amzDate: amzDate, scope: scope, key: key)
        }
        let canonicalPath = PercentEncoding.encode(decodedPath.isEmpty ? "/" : decodedPath)
        if matches(uri: canonicalPath) { return }
        if canonicalPath != request.rawPath && matches(uri: request.rawPath) { return }
        throw S3Error.signatureDoesNotMatch
    }

    /// Whether a SignedHeaders list (`a;b;c`) names `host`.
    static func namesHost(_ list: UnsafeBufferPointer<UInt8>) -> Bool {
        list.split(separator: UInt8(ascii: ";")).contains { $0.elementsEqual("host".utf8) }
    }

    /// The request's time: X-Amz-Date, else the Date header, as SigV4's text and as epoch seconds.
    static func requestDate(_ headers: AuthHeaders) throws -> (String, Int64) {
        if let text = headers.amzDate {
            guard let seconds = HTTPDate.parseAmzDate(text) else {
                throw S3Error(.accessDenied, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
            }
            return (text, seconds)
        }
        if let text = headers.date, let seconds = HTTPDate.parseSeconds(text) {
            return (SigV4.amzDate(seconds: seconds), seconds)
        }
        throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
    }

    static func checkSkew(_ seconds: Int64, nowSeconds: Int64) throws {
        guard abs(seconds - nowSeconds) <= SigV4.clockSkewSecondsMax else {
            throw S3Error(.requestTimeTooSkewed, "The difference between the request time and the server's time is too large.")
        }
    }

    static func isValidPayloadHash(_ value: String) -> Bool {
        if value.utf8.count == 64 { return value.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) } }
        switch value {
        case SigV4.unsignedPayload, SigV4.streamingSignedPayload, SigV4.streamingSignedPayloadTrailer,
            SigV4.streamingUnsignedPayloadTrailer:
            return true
        default: return false
        }
    }

    static func headerMalformed(_ why: String) -> S3Error {
        S3Error(.authorizationHeaderMalformed, "The authorization header is malformed; \(why).")
    }

    static func queryError(_ message: String) -> S3Error {
        S3Error(.authorizationQueryParametersError, message)
    }
}

/// The headers authentication reads, taken in one pass over the fields: each `HTTPFields` lookup by
/// name scans them all and joins the values into a new string. Repeated fields are joined with
/// `, ` as such a lookup joins them.
struct AuthHeaders {
    var authorization: String?
    var amzDate: String?
    var date: String?
    var contentSHA256: String?

    init(_ fields: HTTPFields) {
        for field in fields {
            var name = field.name.canonicalName
            name.withUTF8 { name in
                switch name.count {  // names compared by length first: most fields are none of these
                case 13 where name.elementsEqual("authorization".utf8): Self.add(field.value, to: &authorization)
                case 10 where name.elementsEqual("x-amz-date".utf8): Self.add(field.value, to: &amzDate)
                case 4 where name.elementsEqual("date".utf8): Self.add(field.value, to: &date)
                case 20 where name.elementsEqual("x-amz-content-sha256".utf8): Self.add(field.value, to: &contentSHA256)
                default: break
                }
            }
        }
    }

    private static func add(_ value: String, to slot: inout String?) {
        slot = slot.map { $0 + ", " + value } ?? value
    }
}

/// The authentication parameters of a query string, decoded.
struct QueryAuthParameters {
    private var values: [String: String] = [:]

    init(_ rawQuery: String) {
        guard !rawQuery.isEmpty else { return }
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0].hasPrefix("X-Amz-") || parts[0] == "AWSAccessKeyId" || parts[0] == "Signature" || parts[0] == "Expires",
                let name = PercentEncoding.decode(String(parts[0]))
            else { continue }
            values[name] = parts.count > 1 ? PercentEncoding.decode(String(parts[1])) ?? "" : ""
        }
    }

    subscript(name: String) -> String? { values[name] }

    var isV4: Bool { values["X-Amz-Signature"] != nil || values["X-Amz-Credential"] != nil || values["X-Amz-Algorithm"] != nil }
    var isV2: Bool { values["AWSAccessKeyId"] != nil || values["Signature"] != nil }
    var hasSignature: Bool { isV4 || isV2 }
}

extension Substring {
    func trimmingCharacters(in character: Character) -> Substring {
        var text = self
        while text.first == character { text.removeFirst() }
        while text.last == character { text.removeLast() }
        return text
    }
}
