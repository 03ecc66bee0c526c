import ClusterProtocol
import LogStore
import NIOCore

/// The agent's requests as direct calls, for a brain in the same process (`sos server`): the
/// same checks and answers as `AgentRequestHandler` gives over a connection.
extension StorageAgent: InProcessAgent {
    public var clientID: String { configuration.clientID }
    public var zone: String { configuration.zone }

    public func corruptChunks() -> Set<ChunkID> { Set(store.corruptKeys.map { ChunkID(high: $0.high, low: $0.low) }) }

    public func putChunk(_ id: ChunkID, bytes: ByteBuffer, incompressible: Bool) async throws {
        guard bytes.readableBytes <= AgentRequestHandler.chunkBytesMax else {
            throw ErrorReply(
                code: .badRequest, message: "chunk of \(bytes.readableBytes) bytes is over the \(AgentRequestHandler.chunkBytesMax)-byte limit")
        }
        do {
            try await store.put(key: StoreKey(id), payload: Array(bytes.readableBytesView), tryCompression: !incompressible)
        } catch {
            throw AgentRequestHandler.errorReply(for: error)
        }
    }

    public func getChunk(_ id: ChunkID, offset: UInt32, length: UInt32) async throws -> ByteBuffer {
        do {
            return try await AgentRequestHandler.chunkBytes(
                GetChunk(chunkID: id, offset: offset, length: length), from: store, logger: logger)
        } catch {
            throw AgentRequestHandler.errorReply(for: error)
        }
    }

    public func deleteChunk(_ id: ChunkID) async throws {
        do {
            try await store.delete(key: StoreKey(id))
        } catch {
            throw AgentRequestHandler.errorReply(for: error)
        }
    }

    public func listChunks() -> [ChunkID] { store.allKeys().map { ChunkID(high: $0.high, low: $0.low) } }
}
