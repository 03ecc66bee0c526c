import Crypto

/// The cookie challenge-response. Each side proves it knows the cluster cookie with an
/// HMAC-SHA256 over both nonces; the cookie itself never crosses the wire, and fresh nonces
/// on both sides keep a recorded proof from being replayed.
public enum ClusterAuth {
    public static let nonceByteCount = 32
    public static let proofByteCount = 32

    public static func makeNonce() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<nonceByteCount).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }

    /// The agent's proof: HMAC(cookie, "sos-agent-v1" || brainNonce || agentNonce || clientID).
    public static func agentProof(cookie: String, brainNonce: [UInt8], agentNonce: [UInt8], clientID: String) -> [UInt8] {
        mac(cookie: cookie, parts: [Array("sos-agent-v1".utf8), brainNonce, agentNonce, Array(clientID.utf8)])
    }

    /// The brain's proof: HMAC(cookie, "sos-brain-v1" || agentNonce || brainNonce).
    public static func brainProof(cookie: String, brainNonce: [UInt8], agentNonce: [UInt8]) -> [UInt8] {
        mac(cookie: cookie, parts: [Array("sos-brain-v1".utf8), agentNonce, brainNonce])
    }

    /// Constant-time comparison, so that timing does not leak how much of a proof was right.
    public static func proofsMatch(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    private static func mac(cookie: String, parts: [[UInt8]]) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Array(cookie.utf8)))
        for part in parts { hmac.update(data: part) }
        return Array(hmac.finalize())
    }
}
