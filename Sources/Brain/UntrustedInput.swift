import Foundation
import HTTPTypes
import LogStore
import NIOCore

/// Every decoder the brain runs on bytes it did not write itself, callable on plain bytes: the
/// entry points of the fuzz targets in Fuzz/. Each throws or returns; none may crash.
public enum UntrustedInput {
    /// A WAL record payload. Returns whether it decoded; a decoded mutation of the current format
    /// must re-encode to the same bytes, one of an earlier format to bytes that decode to it again.
    public static func walMutation(_ bytes: [UInt8]) -> Bool {
        guard let mutation = try? MutationCodec.decode(bytes) else { return false }
        let encoded = MutationCodec.encode(mutation)
        if bytes.first == encoded.first {
            precondition(encoded == bytes, "mutation does not round-trip")
        } else {
            precondition((try? MutationCodec.decode(encoded)) == mutation, "an earlier format's mutation does not upgrade")
        }
        return true
    }

    /// A snapshot file's bytes, loaded as if it were snapshot `generation`.
    public static func snapshot(_ bytes: [UInt8], generation: UInt64) throws {
        _ = try Snapshot.load(RecordScanner(bytes: bytes), size: Int64(bytes.count), path: "fuzz", generation: generation)
    }

    /// An aws-chunked body cut into pieces at `splits`; returns the decoded bytes.
    public static func awsChunked(_ bytes: [UInt8], pieceSize: Int) throws -> [UInt8] {
        var decoder = AWSChunkedDecoder()
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + max(1, pieceSize))
            for piece in try decoder.feed(ByteBuffer(bytes: bytes[index..<end])) { out += piece.readableBytesView }
            index = end
        }
        try decoder.finish()
        return out
    }

    /// An aws-chunked body whose chunks must carry signatures continuing a fixed seed (almost every
    /// input fails verification: what matters is that none crashes the decoder).
    public static func signedAWSChunked(_ bytes: [UInt8], pieceSize: Int, signedTrailer: Bool) throws {
        let scope = SigV4.Scope(date: "20130524", region: "us-east-1", service: "s3")
        var decoder = AWSChunkedDecoder(
            signatures: ChunkSignatureChain(
                key: SigV4.signingKey(secret: fuzzKey.secretKey, scope: scope), amzDate: "20130524T000000Z", scope: scope,
                seedSignature: String(repeating: "0", count: 64), hasSignedTrailer: signedTrailer))
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + max(1, pieceSize))
            _ = try decoder.feed(ByteBuffer(bytes: bytes[index..<end]))
            index = end
        }
        try decoder.finish()
    }

    private static let fuzzKey = AccessKey(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretKey: "fuzz-secret-key", isRoot: true)
    private static let fuzzAuthenticator = RequestAuthenticator(keys: KeyDirectory(root: fuzzKey))

    /// A request with this Authorization header (SigV4, SigV2 or anything), path and query
    /// (presigned parameters), authenticated against a fixed key; returns whether it passed.
    public static func authentication(authorization: String?, rawPath: String, rawQuery: String, date: String) -> Bool {
        var headers = HTTPFields()
        if let authorization { headers[RequestAuthenticator.authorization] = authorization }
        headers[RequestAuthenticator.amzDate] = date
        headers[RequestAuthenticator.date] = date
        headers[.amzContentSHA256] = SigV4.unsignedPayload
        let parts = SignedRequestParts(
            method: "GET", rawPath: rawPath, rawQuery: rawQuery, host: "127.0.0.1", headers: headers,
            virtualHostBucket: rawPath.count % 2 == 0 ? nil : "bucket")
        let seconds = HTTPDate.parseAmzDate("20130524T000000Z")!
        return (try? fuzzAuthenticator.authenticate(parts, nowSeconds: seconds)) != nil
    }

    /// A browser POST upload's body (boundary `fuzz`) fed in pieces of `pieceSize`: its fields are
    /// gathered, signed as a form is and checked against its policy, and the file's bytes counted.
    public static func postForm(_ bytes: [UInt8], pieceSize: Int) throws {
        let parser = FormDataParser(boundary: "fuzz")
        var form = PostForm()
        var inFile = false
        for start in stride(from: 0, to: bytes.count, by: max(1, pieceSize)) {
            try parser.feed(ByteBuffer(bytes: bytes[start..<min(start + max(1, pieceSize), bytes.count)]))
            while let event = parser.next() {
                if inFile { continue }
                inFile = try form.consume(event)
            }
        }
        _ = try? form.key()
        _ = try? form.objectHeaders()
        _ = try? fuzzAuthenticator.authenticatePostForm(form.fields)
        if let policy = form.fields["policy"] {
            _ = try PostPolicy(base64: policy).check(form.fields, bucket: "bucket", nowSeconds: 1_451_400_000)
        }
    }

    /// A bucket policy document (PutBucketPolicy's body); when it parses, it is evaluated once.
    public static func bucketPolicy(_ text: String) {
        guard let policy = try? BucketPolicy(parsing: text, bucket: "bucket") else { return }
        _ = policy.evaluate(
            BucketPolicy.Request(
                action: "s3:GetObject", resource: "arn:aws:s3:::bucket/key", accessKeyID: "AKID", sourceIP: "192.0.2.1",
                secureTransport: false, prefix: ""))
    }

    /// A Range header against an object of `size` bytes; the range, if any, lies inside the object.
    public static func range(_ header: String, size: Int64) throws -> Range<Int64>? {
        let range = try RangeRequest.resolve(header, size: size)
        if let range { precondition(range.lowerBound >= 0 && range.upperBound <= size && !range.isEmpty) }
        return range
    }

    /// An XML request body (CompleteMultipartUpload, Delete).
    public static func xml(_ bytes: [UInt8]) throws {
        _ = try XMLNode.parse(Data(bytes))
    }

    /// A percent-encoded path or query component.
    public static func percentDecoded(_ text: String) -> String? { PercentEncoding.decode(text) }

    /// An HTTP date header.
    public static func httpDate(_ text: String) -> Int64? { HTTPDate.parseSeconds(text) }
}
