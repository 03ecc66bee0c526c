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

    /// Streams `length` bytes of `chunk` from `offset` (the whole chunk by default).
    public func read(_ chunk: ChunkPlacement, offset: UInt32 = 0, length: UInt32 = .max) async throws
        -> AsyncThrowingStream<ByteBuffer, any Error>
    {
        guard let agent = registry.connection(for: chunk.agent) else {
            throw AgentRequestError.disconnected(agent: chunk.agent)
        }
        return try await agent.getChunk(chunk.id, offset: offset, length: length)
    }

    /// Bytes `[range.lowerBound, range.upperBound)` of an object made of `chunks`, asking each
    /// agent only for the part of its chunk in the range. The next chunk is requested only when
    /// the consumer has taken the previous one, so at most one chunk's bytes wait in memory.
    public func bytes(of chunks: [ChunkPlacement], range: Range<Int64>) -> ObjectBytes {
        ObjectBytes(router: self, chunks: chunks, range: range)
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

/// The bytes of an object range, pulled chunk by chunk from the agents (see `ChunkRouter.bytes`).
public struct ObjectBytes: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let router: ChunkRouter
    let chunks: [ChunkPlacement]
    let range: Range<Int64>

    public struct AsyncIterator: AsyncIteratorProtocol {
        let router: ChunkRouter
        let range: Range<Int64>
        var remaining: ArraySlice<ChunkPlacement>
        var chunkStart: Int64 = 0
        var current: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator?

        public mutating func next() async throws -> ByteBuffer? {
            while true {
                if let piece = try await current?.next() { return piece }
                current = nil
                guard let chunk = remaining.popFirst() else { return nil }
                let chunkEnd = chunkStart + Int64(chunk.length)
                defer { chunkStart = chunkEnd }
                guard chunkEnd > range.lowerBound, chunkStart < range.upperBound else { continue }
                let from = Swift.max(range.lowerBound, chunkStart) - chunkStart
                let to = Swift.min(range.upperBound, chunkEnd) - chunkStart
                current = try await router.read(chunk, offset: UInt32(from), length: UInt32(to - from)).makeAsyncIterator()
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(router: router, range: range, remaining: chunks[...])
    }
}
