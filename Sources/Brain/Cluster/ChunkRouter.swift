import ClusterProtocol
import Logging
import NIOCore

/// The S3 layer's only door to the agents: store a chunk somewhere, read it back, drop it.
public struct ChunkRouter: Sendable {
    let registry: AgentRegistry
    let logger: Logger

    public init(registry: AgentRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    /// Stores `bytes` as a new chunk on an agent chosen by free space; returns once it is durable there.
    public func store(_ bytes: ByteBuffer) async throws -> ChunkPlacement {
        let agent = try registry.placeChunk(byteCount: bytes.readableBytes)
        let id = ChunkID.random()
        try await agent.putChunk(id, bytes: bytes)
        return ChunkPlacement(id: id, length: UInt32(bytes.readableBytes), agent: agent.clientID)
    }

    /// True when every agent holding one of `chunks` is connected.
    public func canRead(_ chunks: [ChunkPlacement]) -> Bool {
        chunks.allSatisfy { registry.connection(for: $0.agent) != nil }
    }

    public func read(_ chunk: ChunkPlacement) async throws -> AsyncThrowingStream<ByteBuffer, any Error> {
        guard let agent = registry.connection(for: chunk.agent) else {
            throw AgentRequestError.disconnected(agent: chunk.agent)
        }
        return try await agent.getChunk(chunk.id)
    }

    /// Deletes chunks that no object references any more, in the background. Best effort: a chunk
    /// whose agent is away stays behind as an orphan (reclaiming those is the reconcile pass's job).
    public func discard(_ chunks: [ChunkPlacement]) {
        guard !chunks.isEmpty else { return }
        let (registry, logger) = (registry, logger)
        Task {
            for chunk in chunks {
                do {
                    guard let agent = registry.connection(for: chunk.agent) else {
                        throw AgentRequestError.disconnected(agent: chunk.agent)
                    }
                    try await agent.deleteChunk(chunk.id)
                } catch {
                    logger.warning("could not delete an unreferenced chunk", metadata: ["chunk": "\(chunk.id)", "error": "\(error)"])
                }
            }
        }
    }
}
