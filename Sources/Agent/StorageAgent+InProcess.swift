import ClusterProtocol
import LogStore
import NIOCore

/// The agent's requests as direct calls, for a brain in the same process (`sos server`): the
/// same checks and answers as `AgentRequestHandler` gives over a connection.
extension StorageAgent: InProcessAgent {
    public var clientID: String { configuration.clientID }
    public var zone: String { configuration.zone }

    public func corruptChunks() -> Set<ChunkID> { Set(store.corruptKeys.map(ChunkID.init)) }

    public func putChunk(_ id: ChunkID, bytes: ByteBuffer, incompressible: Bool) async throws {
        guard bytes.readableBytes <= AgentRequestHandler.chunkBytesMax else {
            throw ErrorReply(code: .badRequest, message: AgentRequestHandler.oversizedChunk(bytes.readableBytes))
        }
        let record = ChunkRecordDraft(key: StoreKey(id), payloadCapacity: bytes.readableBytes)
        record.append(contentsOf: bytes.readableBytesView)
        try await answering { try await store.put(record, tryCompression: !incompressible) }
    }

    public func getChunk(_ id: ChunkID, offset: UInt32, length: UInt32) async throws -> ByteBuffer {
        try await answering {
            try await AgentRequestHandler.chunkBytes(
                GetChunk(chunkID: id, offset: offset, length: length), from: store, logger: logger)
        }
    }

    public func deleteChunk(_ id: ChunkID) async throws {
        try await answering { _ = try await store.delete(key: StoreKey(id)) }
    }

    public func listChunks() -> [ChunkID] { store.allKeys().map(ChunkID.init) }

    /// Runs `work`, throwing a failure as the `ErrorReply` the connection would have sent.
    private func answering<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch {
            failures.note(error)
            throw AgentRequestHandler.errorReply(for: error)
        }
    }
}
