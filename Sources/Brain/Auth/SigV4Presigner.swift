import Crypto

/// Makes SigV4 presigned GET URLs (query authentication) for the console's share links: what
/// `aws s3 presign` makes, signed with the signed-in key's secret.
enum SigV4Presigner {
    static let region = "us-east-1"

    /// `scheme://host/bucket/key?X-Amz-...`; `host` as the client will send it (`name:port`).
    static func getURL(
        scheme: String, host: String, bucket: String, key: String, accessKey: AccessKey, expiresSeconds: Int64, nowSeconds: Int64
    ) -> String {
        precondition(SigV4.presignedExpiresSeconds.contains(expiresSeconds), "expiry out of range")
        let amzDate = SigV4.amzDate(seconds: nowSeconds)
        let scope = SigV4.Scope(date: String(amzDate.prefix(8)), region: region, service: "s3")
        let path = "/" + PercentEncoding.encode(bucket) + "/" + PercentEncoding.encode(key)
        let parameters = [
            ("X-Amz-Algorithm", SigV4.algorithm), ("X-Amz-Credential", "\(accessKey.accessKeyID)/\(scope.text)"),
            ("X-Amz-Date", amzDate), ("X-Amz-Expires", String(expiresSeconds)), ("X-Amz-SignedHeaders", "host"),
        ]
        let query = parameters.map { "\($0.0)=\(PercentEncoding.encode($0.1, keepSlash: false))" }.joined(separator: "&")
        let canonicalRequest = [
            "GET", path, SigV4.canonicalQuery(query) ?? query, "host:\(host)", "", "host", "UNSIGNED-PAYLOAD",
        ].joined(separator: "\n")
        let stringToSign = [SigV4.algorithm, amzDate, scope.text, SigV4.sha256Hex(canonicalRequest)].joined(separator: "\n")
        let signature = SigV4.signature(stringToSign, key: SigV4.signingKey(secret: accessKey.secretKey, scope: scope))
        return "\(scheme)://\(host)\(path)?\(query)&X-Amz-Signature=\(signature)"
    }
}
