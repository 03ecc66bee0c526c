import Crypto

/// The chain of signatures of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` body (docs: AWS S3
/// "Signature Calculations for the Authorization Header: Transferring Payload in Multiple Chunks"):
/// each chunk's signature covers its data and the signature before it, starting from the
/// request's own (the seed), so chunks can be neither altered, dropped nor reordered; the
/// trailer's signature covers the trailer lines and the last chunk's signature.
struct ChunkSignatureChain: Sendable {
    let key: SigV4.SigningKey
    let amzDate: String
    let scope: SigV4.Scope
    /// The seed signature, then that of each chunk verified.
    private(set) var previousSignature: String
    /// Whether signed trailers follow the last chunk (`...-PAYLOAD-TRAILER`).
    let hasSignedTrailer: Bool

    init(key: SigV4.SigningKey, amzDate: String, scope: SigV4.Scope, seedSignature: String, hasSignedTrailer: Bool) {
        self.key = key
        self.amzDate = amzDate
        self.scope = scope
        self.previousSignature = seedSignature
        self.hasSignedTrailer = hasSignedTrailer
    }

    /// Checks the signature a chunk's header line carried against its data's SHA-256.
    mutating func verifyChunk(dataSHA256: SHA256.Digest, signature: String) throws {
        let text = "AWS4-HMAC-SHA256-PAYLOAD\n\(amzDate)\n\(scope.text)\n\(previousSignature)\n"
            + "\(SigV4.emptyPayloadSHA256)\n\(SigV4.hex(dataSHA256))"
        guard constantTimeEquals(SigV4.signature(text, key: key), signature) else { throw S3Error.signatureDoesNotMatch }
        previousSignature = signature
    }

    /// Checks `x-amz-trailer-signature` against the trailer lines (`name:value\n` each, in the order sent).
    func verifyTrailer(canonicalTrailers: String, signature: String) throws {
        let text = "AWS4-HMAC-SHA256-TRAILER\n\(amzDate)\n\(scope.text)\n\(previousSignature)\n"
            + SigV4.sha256Hex(canonicalTrailers)
        guard constantTimeEquals(SigV4.signature(text, key: key), signature) else { throw S3Error.signatureDoesNotMatch }
    }
}
