import Crypto

/// HMAC-SHA256 (RFC 2104) under one key with the key's two padded blocks hashed once: a MAC copies
/// the two SHA-256 states and hashes only the message and the inner digest. Built on swift-crypto's
/// `SHA256` through its non-generic `update(bufferPointer:)`: its `HMAC` redoes the key schedule
/// unless copied, and its generic `update(data:)` was a sixth of a signature check's time in perf.
/// Tested against swift-crypto's `HMAC<SHA256>`.
struct PreparedHMAC: @unchecked Sendable {  // SHA256 is a value whose state copies on write
    private let inner: SHA256
    private let outer: SHA256

    init(key: [UInt8]) {
        precondition(key.count <= SHA256.blockByteCount, "a longer key would be hashed first; SigV4's keys are 32 bytes")
        var innerPad = [UInt8](repeating: 0x36, count: SHA256.blockByteCount)
        var outerPad = [UInt8](repeating: 0x5C, count: SHA256.blockByteCount)
        for (index, byte) in key.enumerated() {
            innerPad[index] ^= byte
            outerPad[index] ^= byte
        }
        var inner = SHA256()
        innerPad.withUnsafeBytes { inner.update(bufferPointer: $0) }
        var outer = SHA256()
        outerPad.withUnsafeBytes { outer.update(bufferPointer: $0) }
        self.inner = inner
        self.outer = outer
    }

    func mac(_ message: UnsafeRawBufferPointer) -> SHA256.Digest {
        var hash = inner
        hash.update(bufferPointer: message)
        let innerDigest = hash.finalize()
        var outerHash = outer
        innerDigest.withUnsafeBytes { outerHash.update(bufferPointer: $0) }
        return outerHash.finalize()
    }
}
