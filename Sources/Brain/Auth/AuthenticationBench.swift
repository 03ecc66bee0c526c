import Crypto
import HTTPTypes

/// What `sos bench auth` measures of the brain: `RequestAuthenticator.authenticate` on a request
/// signed by a client (given as the client sent it), and the cryptography such a check cannot do
/// without (SHA-256 of the canonical request, the HMAC of the string to sign), as the baseline.
public struct AuthenticationBench {
    let authenticator: RequestAuthenticator
    let parts: SignedRequestParts
    let nowSeconds: Int64

    /// `headers` as sent, with `host` among them; `query` without the `?`.
    public init(
        accessKeyID: String, secretKey: String, method: String, path: String, query: String, headers: [(String, String)],
        nowSeconds: Int64
    ) {
        authenticator = RequestAuthenticator(keys: KeyDirectory(root: AccessKey(accessKeyID: accessKeyID, secretKey: secretKey, isRoot: true)))
        var fields = HTTPFields()
        var host: String?
        for (name, value) in headers {
            if name == "host" { host = value } else { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        }
        parts = SignedRequestParts(method: method, rawPath: path, rawQuery: query, host: host, headers: fields)
        self.nowSeconds = nowSeconds
    }

    /// Authenticates the request `count` times; throws the S3 error if it does not pass.
    public func authenticate(count: Int) throws {
        for _ in 0..<count {
            let authentication = try authenticator.authenticate(parts, nowSeconds: nowSeconds)
            precondition(authentication.principal != .anonymous)
        }
    }

    /// SHA-256 of `canonicalRequestBytes` bytes and an HMAC of `stringToSignBytes` bytes under a
    /// prepared key, `count` times: the floor under a signature check. Returns a digest byte so that
    /// the work is not optimized away.
    public static func cryptoFloor(count: Int, canonicalRequestBytes: Int = 320, stringToSignBytes: Int = 130) -> UInt8 {
        let canonical = [UInt8](repeating: 0x61, count: canonicalRequestBytes)
        let text = [UInt8](repeating: 0x62, count: stringToSignBytes)
        let key = SigV4.signingKey(secret: "floor", scope: SigV4.Scope(date: "20260101", region: "us-east-1", service: "s3"))
        var sink: UInt8 = 0
        for _ in 0..<count {
            let digest = canonical.withUnsafeBytes { SHA256.hash(data: $0) }
            let mac = text.withUnsafeBytes { key.mac($0) }
            sink ^= digest.withUnsafeBytes { $0[0] } ^ mac.withUnsafeBytes { $0[0] }
        }
        return sink
    }
}
