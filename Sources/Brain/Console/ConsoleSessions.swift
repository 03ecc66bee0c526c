import Synchronization

/// The console's signed-in sessions: a random token (the `sos_session` cookie) to the access key
/// it was opened with. In memory only: a restarted brain signs everyone out.
final class ConsoleSessions: Sendable {
    /// How long a session lasts after sign-in.
    static let lifetimeSeconds: Int64 = 12 * 3600
    /// Sessions kept at most; a new one beyond this ends the oldest.
    static let sessionsMax = 10_000
    static let cookieName = "sos_session"

    private struct Session {
        var accessKeyID: String
        /// A digest of the key's secret at sign-in: a key deleted and imported again with another
        /// secret does not inherit the sessions of the old one.
        var secretDigest: [UInt8]
        var createdMs: Int64
        var expiresMs: Int64
    }

    private let sessions = Mutex<[String: Session]>([:])

    /// Opens a session for `accessKeyID`; returns its token (256 random bits, hex).
    func open(accessKeyID: String, secretDigest: [UInt8], nowMs: Int64) -> String {
        var rng = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in
            let hex = String(rng.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
        sessions.withLock { sessions in
            if sessions.count >= Self.sessionsMax {
                sessions = sessions.filter { $0.value.expiresMs > nowMs }
                if sessions.count >= Self.sessionsMax, let oldest = sessions.min(by: { $0.value.createdMs < $1.value.createdMs }) {
                    sessions.removeValue(forKey: oldest.key)
                }
            }
            sessions[token] = Session(
                accessKeyID: accessKeyID, secretDigest: secretDigest, createdMs: nowMs, expiresMs: nowMs + Self.lifetimeSeconds * 1000)
        }
        return token
    }

    /// The access key of a live session and the seconds it has left; nil for an unknown or expired token.
    func session(_ token: String, nowMs: Int64) -> (accessKeyID: String, secretDigest: [UInt8], secondsLeft: Int64)? {
        sessions.withLock { sessions in
            guard let session = sessions[token] else { return nil }
            guard session.expiresMs > nowMs else {
                sessions.removeValue(forKey: token)
                return nil
            }
            return (session.accessKeyID, session.secretDigest, (session.expiresMs - nowMs) / 1000)
        }
    }

    func close(_ token: String) { _ = sessions.withLock { $0.removeValue(forKey: token) } }

    /// The session token in a Cookie header, if any.
    static func token(inCookieHeader header: String?) -> String? {
        guard let header else { return nil }
        for pair in header.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: " ") == cookieName { return String(parts[1].trimmingCharacters(in: " ")) }
        }
        return nil
    }
}
