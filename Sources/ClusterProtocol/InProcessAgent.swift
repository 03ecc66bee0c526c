import NIOCore

/// A storage agent living in the brain's own process (`sos server`). The brain calls it directly
/// instead of exchanging frames over a socket: the requests and answers are those of the wire
/// protocol, without the encoding, the kernel's loopback and four thread hand-offs per request.
/// Failures are thrown as the `ErrorReply` a remote agent would have sent.
public protocol InProcessAgent: Sendable {
    var clientID: String { get }
    var zone: String { get }
    /// What a heartbeat would say now.
    func heartbeat() -> Heartbeat
    /// Chunks whose records failed verification (scrub or a read), for repair.
    func corruptChunks() -> Set<ChunkID>
    /// Returns once the chunk is durable, as `ok` does.
    func putChunk(_ id: ChunkID, bytes: ByteBuffer, incompressible: Bool) async throws
    /// The verified bytes `[offset, offset + length)` of the chunk (`length` `.max`: to its end).
    func getChunk(_ id: ChunkID, offset: UInt32, length: UInt32) async throws -> ByteBuffer
    func deleteChunk(_ id: ChunkID) async throws
    func listChunks() -> [ChunkID]
}
