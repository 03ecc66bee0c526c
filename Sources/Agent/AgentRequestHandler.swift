import ClusterProtocol
import Logging
import LogStore
import NIOCore

/// Turns the brain's request frames into store operations and writes the replies.
///
/// Frames arrive on one connection, interleaved by request id. A put's data frames are gathered
/// per request (at most one chunk's bytes, which the brain bounds) and stored once complete;
/// every request then runs in its own child task so a slow disk read does not hold up the rest.
struct AgentRequestHandler {
    let store: SegmentStore
    let outbound: NIOAsyncChannelOutboundWriter<ClusterFrame>
    let logger: Logger
    let failures: StoreFailureLog
    private var pendingPuts: [UInt32: PendingPut] = [:]
    /// Puts already answered with an error whose remaining data frames are still arriving.
    private var rejectedPuts: Set<UInt32> = []

    /// The largest chunk this agent accepts in one put.
    static let chunkBytesMax = RecordFormat.payloadBytesMax

    private struct PendingPut {
        var expectedLength: Int
        var incompressible: Bool
        /// The record being assembled from the data frames (one copy of their bytes, no more).
        var record: ChunkRecordDraft
    }

    init(
        store: SegmentStore, outbound: NIOAsyncChannelOutboundWriter<ClusterFrame>, logger: Logger,
        failures: StoreFailureLog
    ) {
        self.store = store
        self.outbound = outbound
        self.logger = logger
        self.failures = failures
    }

    mutating func receive(_ frame: ClusterFrame, in group: inout ThrowingDiscardingTaskGroup<any Error>) throws {
        let requestID = frame.requestID
        switch frame.type {
        case .putChunk:
            let put = try PutChunk(frame)
            guard Int(put.length) <= Self.chunkBytesMax else {
                reject(requestID, Self.oversizedChunk(Int(put.length)), in: &group)
                return
            }
            pendingPuts[requestID] = PendingPut(
                expectedLength: Int(put.length), incompressible: put.incompressible,
                record: ChunkRecordDraft(key: StoreKey(put.chunkID), payloadCapacity: Int(put.length)))
        case .chunkData:
            if rejectedPuts.contains(requestID) {
                if frame.flags.contains(.endOfData) { rejectedPuts.remove(requestID) }
                return
            }
            guard let pending = pendingPuts.removeValue(forKey: requestID) else {
                throw AgentError.protocolViolation("chunk data for unknown request \(requestID)")
            }
            guard pending.record.payloadCount + frame.body.readableBytes <= pending.expectedLength else {
                reject(requestID, "more chunk bytes than announced", in: &group)
                if frame.flags.contains(.endOfData) { rejectedPuts.remove(requestID) }
                return
            }
            pending.record.append(contentsOf: frame.body.readableBytesView)
            guard frame.flags.contains(.endOfData) else {
                pendingPuts[requestID] = pending
                return
            }
            guard pending.record.payloadCount == pending.expectedLength else {
                reply(ErrorReply(code: .badRequest, message: "fewer chunk bytes than announced").frame(requestID: requestID), in: &group)
                return
            }
            let (store, outbound, record, incompressible) = (store, outbound, pending.record, pending.incompressible)
            let failures = failures
            group.addTask {
                try await Self.answer(requestID, outbound: outbound, failures: failures) {
                    try await store.put(record, tryCompression: !incompressible)
                    return [ClusterFrame(type: .ok, requestID: requestID)]
                }
            }
        case .getChunk:
            let request = try GetChunk(frame)
            let (store, outbound, logger, failures) = (store, outbound, logger, failures)
            group.addTask {
                try await Self.answer(requestID, outbound: outbound, failures: failures) {
                    let bytes = try await Self.chunkBytes(request, from: store, logger: logger)
                    return ClusterChannel.dataFrames(bytes, requestID: requestID)
                }
            }
        case .listChunks:
            let ids = store.allKeys().map(ChunkID.init)
            reply(contentsOf: ChunkIDList.frames(ids, requestID: requestID), in: &group)
        case .deleteChunk:
            let request = try DeleteChunk(frame)
            let (store, outbound, failures) = (store, outbound, failures)
            group.addTask {
                try await Self.answer(requestID, outbound: outbound, failures: failures) {
                    try await store.delete(key: StoreKey(request.chunkID))
                    return [ClusterFrame(type: .ok, requestID: requestID)]
                }
            }
        default:
            throw AgentError.protocolViolation("unexpected \(frame.type) frame")
        }
    }

    /// Answers a put with an error now and ignores the rest of its data frames.
    private mutating func reject(_ requestID: UInt32, _ message: String, in group: inout ThrowingDiscardingTaskGroup<any Error>) {
        rejectedPuts.insert(requestID)
        reply(ErrorReply(code: .badRequest, message: message).frame(requestID: requestID), in: &group)
    }

    private func reply(contentsOf frames: [ClusterFrame], in group: inout ThrowingDiscardingTaskGroup<any Error>) {
        let outbound = outbound
        group.addTask { try await outbound.write(contentsOf: frames) }
    }

    private func reply(_ frame: ClusterFrame, in group: inout ThrowingDiscardingTaskGroup<any Error>) {
        let outbound = outbound
        group.addTask { try await outbound.write(frame) }
    }

    static func oversizedChunk(_ length: Int) -> String {
        "chunk of \(length) bytes is over the \(chunkBytesMax)-byte limit"
    }

    /// The verified bytes a `getChunk` asks for; a missing chunk or a bad range is an `ErrorReply`.
    static func chunkBytes(_ request: GetChunk, from store: SegmentStore, logger: Logger) async throws -> ByteBuffer {
        do {
            guard let payload = try await store.getPayload(key: StoreKey(request.chunkID), as: WireChunk.self) else {
                throw ErrorReply(code: .notFound, message: "no chunk \(request.chunkID)")
            }
            return try requestedBytes(of: payload, for: request)
        } catch let error as LogStoreError {
            logger.error("refusing to serve a corrupt chunk", metadata: ["chunk": "\(request.chunkID)", "error": "\(error)"])
            throw error
        }
    }

    /// The part of a chunk's `payload` that `request` asks for (`length` `.max`: to its end),
    /// sharing the payload's memory.
    static func requestedBytes(of payload: WireChunk, for request: GetChunk) throws -> ByteBuffer {
        let start = Int(request.offset)
        guard start <= payload.byteCount else {
            throw ErrorReply(code: .badRequest, message: "offset \(start) beyond chunk of \(payload.byteCount) bytes")
        }
        let end = request.length == .max ? payload.byteCount : min(payload.byteCount, start + Int(request.length))
        return payload.slice(start..<end).bytes
    }

    /// The error reply that tells the brain why a request failed.
    static func errorReply(for error: any Error) -> ErrorReply {
        switch error {
        case let reply as ErrorReply: return reply
        case let error as LogStoreError:
            let code: ErrorReply.Code
            switch error {
            case .diskFull: code = .diskFull
            case .corruptRecord: code = .corrupt
            default: code = .internalError
            }
            return ErrorReply(code: code, message: error.description)
        default: return ErrorReply(code: .internalError, message: "\(error)")
        }
    }

    /// Runs `work` and writes its frames, or an error reply describing why it failed.
    private static func answer(
        _ requestID: UInt32, outbound: NIOAsyncChannelOutboundWriter<ClusterFrame>, failures: StoreFailureLog,
        _ work: () async throws -> [ClusterFrame]
    ) async throws {
        let frames: [ClusterFrame]
        do {
            frames = try await work()
        } catch {
            failures.note(error)
            frames = [errorReply(for: error).frame(requestID: requestID)]
        }
        try await outbound.write(contentsOf: frames)
    }
}

extension StoreKey {
    init(_ id: ChunkID) { self.init(high: id.high, low: id.low) }
}

extension ChunkID {
    init(_ key: StoreKey) { self.init(high: key.high, low: key.low) }
}
