import Crypto
import Foundation
import HTTPTypes

/// AWS Signature Version 2 (docs: AWS S3 "Signing and authenticating REST requests", the legacy
/// scheme): `Authorization: AWS AKID:SIGNATURE` or the query `AWSAccessKeyId`, `Signature`,
/// `Expires`. Still what aws-cli 1.x's `aws s3 presign` and boto3's `generate_presigned_url` make
/// for a custom endpoint, so links shared that way work; `--sigv2 off` refuses it.
struct SigV2Authenticator: Sendable {
    let keys: KeyDirectory

    /// The query parameters that belong to the signed resource (`?acl`, `?uploadId=...`, ...).
    static let subresources: Set<String> = [
        "acl", "cors", "delete", "encryption", "legal-hold", "lifecycle", "location", "logging", "notification",
        "object-lock", "partNumber", "policy", "replication", "requestPayment", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "response-content-language",
        "response-content-type", "response-expires", "restore", "retention", "select", "select-type", "tagging",
        "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
    ]

    static let refusedWhenOff = S3Error(
        .invalidRequest,
        "The authorization mechanism you have provided is not supported (this server runs with --sigv2 off). Please use AWS4-HMAC-SHA256.")

    func authenticateHeader(_ request: SignedRequestParts, header: String, nowSeconds: Int64) throws -> Authentication {
        let credentials = header.dropFirst("AWS ".count)
        guard let colon = credentials.lastIndex(of: ":"), colon != credentials.startIndex else {
            throw S3Error(.invalidArgument, "Authorization header is invalid -- one and only one ' ' (space) required")
        }
        let accessKeyID = String(credentials[..<colon])
        let signature = String(credentials[credentials.index(after: colon)...])
        // x-amz-date, when present, stands for Date, and the Date line of the string to sign is empty.
        let amzDate = request.headers[RequestAuthenticator.amzDate]
        guard let dateText = amzDate ?? request.headers[RequestAuthenticator.date],
            let seconds = HTTPDate.parseSeconds(dateText) ?? HTTPDate.parseAmzDate(dateText)
        else { throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header") }
        try RequestAuthenticator.checkSkew(seconds, nowSeconds: nowSeconds)
        guard let key = keys.key(accessKeyID) else { throw S3Error.invalidAccessKeyId }
        let dateLine = amzDate == nil ? dateText : ""
        try verify(request, key: key, dateLine: dateLine, signature: signature)
        return Authentication(principal: .key(key))
    }

    func authenticateQuery(_ request: SignedRequestParts, query: QueryAuthParameters, nowSeconds: Int64) throws -> Authentication {
        guard let accessKeyID = query["AWSAccessKeyId"], let signature = query["Signature"], let expiresText = query["Expires"]
        else {
            throw S3Error(
                .accessDenied, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
        }
        guard let expires = Int64(expiresText) else { throw S3Error(.accessDenied, "Expires must be a number of seconds") }
        guard nowSeconds <= expires else { throw S3Error(.accessDenied, "Request has expired") }
        guard let key = keys.key(accessKeyID) else { throw S3Error.invalidAccessKeyId }
        try verify(request, key: key, dateLine: expiresText, signature: signature)
        return Authentication(principal: .key(key))
    }

    /// A browser POST upload's form signed the SigV2 way: `signature` is the HMAC-SHA1 of the base64 `policy`.
    func authenticatePostForm(_ fields: [String: String]) throws -> Principal {
        for name in ["AWSAccessKeyId", "signature", "policy"] where fields[name.lowercased()] == nil {
            throw S3Error.invalidArgument(
                "Bucket POST must contain a field named '\(name)'.  If it is specified, please check the order of the fields.")
        }
        guard let key = keys.key(fields["awsaccesskeyid"]!) else { throw S3Error.invalidAccessKeyId }
        guard constantTimeEquals(Self.signature(fields["policy"]!, secret: key.secretKey), fields["signature"]!) else {
            throw S3Error.signatureDoesNotMatch
        }
        return .key(key)
    }

    private func verify(_ request: SignedRequestParts, key: AccessKey, dateLine: String, signature: String) throws {
        guard let text = Self.stringToSign(request, dateLine: dateLine) else {
            throw S3Error.invalidArgument("the request URI is not valid percent-encoded UTF-8")
        }
        guard constantTimeEquals(Self.signature(text, secret: key.secretKey), signature) else {
            throw S3Error.signatureDoesNotMatch
        }
    }

    /// The base64 HMAC-SHA1 of `text` under the secret.
    static func signature(_ text: String, secret: String) -> String {
        Data(HMAC<Insecure.SHA1>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: Array(secret.utf8))))
            .base64EncodedString()
    }

    /// VERB, Content-MD5, Content-Type, the date line, then the x-amz-* headers and the resource.
    static func stringToSign(_ request: SignedRequestParts, dateLine: String) -> String? {
        var amzHeaders: [String: [String]] = [:]
        for field in request.headers where field.name.canonicalName.hasPrefix("x-amz-") {
            amzHeaders[field.name.canonicalName, default: []].append(field.value.trimmingSpaces())
        }
        var text = "\(request.method)\n\(request.headers[.contentMD5] ?? "")\n\(request.headers[.contentType] ?? "")\n\(dateLine)\n"
        for name in amzHeaders.keys.sorted() { text += "\(name):\(amzHeaders[name]!.joined(separator: ","))\n" }
        var resource = request.rawPath.isEmpty ? "/" : request.rawPath
        if let bucket = request.virtualHostBucket { resource = "/" + bucket + resource }
        var subresources: [(String, String?)] = []
        for pair in request.rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentEncoding.decode(String(parts[0])), Self.subresources.contains(name) else { continue }
            var value: String?
            if parts.count > 1 {
                guard let decoded = PercentEncoding.decode(String(parts[1])) else { return nil }
                value = decoded
            }
            subresources.append((name, value))
        }
        if !subresources.isEmpty {
            subresources.sort { $0.0 < $1.0 }
            resource += "?" + subresources.map { name, value in value.map { "\(name)=\($0)" } ?? name }.joined(separator: "&")
        }
        return text + resource
    }
}
