import ClusterProtocol
import NIOCore
import Synchronization

public enum AgentRequestError: Error, CustomStringConvertible {
    case disconnected(agent: String)
    case failed(agent: String, reply: ErrorReply)
    case unexpectedReply(agent: String, MessageType)
    case timedOut(agent: String)

    public var description: String {
        switch self {
        case .disconnected(let agent): return "agent \(agent) disconnected"
        case .timedOut(let agent): return "agent \(agent) did not answer in time"
        case .failed(let agent, let reply): return "agent \(agent) failed the request: \(reply)"
        case .unexpectedReply(let agent, let type): return "agent \(agent) sent an unexpected \(type)"
        }
    }
}

/// The brain's end of one agent connection: sends requests with fresh request ids and routes
/// each reply frame to the request that waits for it. For an agent in the brain's own process
/// (`sos server`) the same requests are direct calls (`InProcessAgent`), with the same errors.
public final class AgentConnection: Sendable {
    public let clientID: String
    public let zone: String
    public let address: String
    /// A request not finished in this time fails, so a hung agent cannot hold a client forever.
    let requestTimeout: Duration
    private let outbound: NIOAsyncChannelOutboundWriter<ClusterFrame>?
    private let inProcess: (any InProcessAgent)?
    private let state: Mutex<State>

    private struct PendingRequest {
        var replies: AsyncThrowingStream<ClusterFrame, any Error>.Continuation
        /// When the request fails with `timedOut` if it has not finished (see `expireOverdueRequests`).
        var deadline: ContinuousClock.Instant
    }

    private struct State {
        var nextRequestID: UInt32 = 1
        var pending: [UInt32: PendingRequest] = [:]
        var isClosed = false
        var freeBytes: UInt64
        var capacityBytes: UInt64
        var usedBytes: UInt64 = 0
        var chunkCount: UInt64 = 0
        var lastHeard = ContinuousClock.now
    }

    /// What the latest heartbeat said.
    public struct Stats: Sendable {
        public var freeBytes: UInt64
        public var capacityBytes: UInt64
        public var usedBytes: UInt64
        public var chunkCount: UInt64
        public var secondsSinceHeard: Double
    }

    init(
        hello: Hello, address: String, outbound: NIOAsyncChannelOutboundWriter<ClusterFrame>, requestTimeout: Duration
    ) {
        self.clientID = hello.clientID
        self.zone = hello.zone
        self.address = address
        self.outbound = outbound
        self.inProcess = nil
        self.requestTimeout = requestTimeout
        self.state = Mutex(State(freeBytes: hello.freeBytes, capacityBytes: hello.capacityBytes))
    }

    /// An agent in this process. Its calls cannot get lost on a network, so they have no deadline.
    init(inProcess agent: any InProcessAgent) {
        self.clientID = agent.clientID
        self.zone = agent.zone
        self.address = "in-process"
        self.outbound = nil
        self.inProcess = agent
        self.requestTimeout = .seconds(Int64.max / 2)
        let heartbeat = agent.heartbeat()
        self.state = Mutex(State(freeBytes: heartbeat.freeBytes, capacityBytes: heartbeat.capacityBytes))
        update(from: heartbeat)
    }

    /// Runs an in-process call, turning its `ErrorReply` into the error a remote reply would give.
    private func call<T>(_ body: (any InProcessAgent) async throws -> T) async throws -> T {
        guard let agent = inProcess, !isClosed else { throw AgentRequestError.disconnected(agent: clientID) }
        do {
            return try await body(agent)
        } catch let reply as ErrorReply {
            throw AgentRequestError.failed(agent: clientID, reply: reply)
        }
    }

    public var freeBytes: UInt64 { state.withLock { $0.freeBytes } }
    public var isClosed: Bool { state.withLock { $0.isClosed } }

    public var stats: Stats {
        state.withLock {
            Stats(
                freeBytes: $0.freeBytes, capacityBytes: $0.capacityBytes, usedBytes: $0.usedBytes,
                chunkCount: $0.chunkCount, secondsSinceHeard: Self.seconds($0.lastHeard.duration(to: .now)))
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    func update(from heartbeat: Heartbeat) {
        state.withLock {
            $0.freeBytes = heartbeat.freeBytes
            $0.capacityBytes = heartbeat.capacityBytes
            $0.usedBytes = heartbeat.usedBytes
            $0.chunkCount = heartbeat.chunkCount
            $0.lastHeard = .now
        }
    }

    /// Counts bytes just placed here against the free space until the next heartbeat corrects it.
    func reserve(_ bytes: Int) {
        state.withLock { $0.freeBytes = $0.freeBytes > UInt64(bytes) ? $0.freeBytes - UInt64(bytes) : 0 }
    }

    /// Hands a reply frame to its request. Frames for requests nobody waits for any more are dropped.
    func deliver(_ frame: ClusterFrame) {
        let isFinal = frame.type != .chunkData || frame.flags.contains(.endOfData)
        let continuation = state.withLock { s in
            (isFinal ? s.pending.removeValue(forKey: frame.requestID) : s.pending[frame.requestID])?.replies
        }
        continuation?.yield(frame)
        if isFinal { continuation?.finish() }
    }

    /// Fails every outstanding request; called when the connection ends.
    func close() {
        let pending = state.withLock { s in
            s.isClosed = true
            defer { s.pending = [:] }
            return s.pending
        }
        for request in pending.values { request.replies.finish(throwing: AgentRequestError.disconnected(agent: clientID)) }
    }

    /// Fails every request whose deadline has passed with `timedOut`, so a hung agent cannot
    /// hold a client forever.
    func expireOverdueRequests(now: ContinuousClock.Instant = .now) {
        let overdue = state.withLock { s -> [PendingRequest] in
            let ids = s.pending.compactMap { $0.value.deadline <= now ? $0.key : nil }
            return ids.compactMap { s.pending.removeValue(forKey: $0) }
        }
        for request in overdue { request.replies.finish(throwing: AgentRequestError.timedOut(agent: clientID)) }
    }

    /// Expires overdue requests until the task is cancelled: one timer per connection rather
    /// than one per request (a task per 4 KiB read or write was a measurable part of its cost).
    /// A request fails at most an eighth of the timeout (at most 1 s) after its deadline.
    func expireRequestsUntilCancelled() async {
        let step = max(.milliseconds(10), min(.seconds(1), requestTimeout / 8))
        while (try? await Task.sleep(for: step)) != nil { expireOverdueRequests() }
    }

    /// Sends `frames` (built for the new request id) and returns the stream of reply frames.
    private func send(_ makeFrames: (UInt32) -> [ClusterFrame]) async throws -> AsyncThrowingStream<ClusterFrame, any Error> {
        guard let outbound else { throw AgentRequestError.disconnected(agent: clientID) }
        let (stream, continuation) = AsyncThrowingStream<ClusterFrame, any Error>.makeStream()
        let deadline = ContinuousClock.now + requestTimeout
        let requestID: UInt32? = state.withLock { s in
            guard !s.isClosed else { return nil }
            let id = s.nextRequestID
            s.nextRequestID = s.nextRequestID == UInt32.max ? 1 : s.nextRequestID + 1
            s.pending[id] = PendingRequest(replies: continuation, deadline: deadline)
            return id
        }
        guard let requestID else { throw AgentRequestError.disconnected(agent: clientID) }
        let clientID = clientID
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.pending.removeValue(forKey: requestID) }
        }
        do {
            try await outbound.write(contentsOf: makeFrames(requestID))
        } catch {
            continuation.finish(throwing: AgentRequestError.disconnected(agent: clientID))
            throw AgentRequestError.disconnected(agent: clientID)
        }
        return stream
    }

    /// Waits for a single `ok`, turning an error reply into a thrown error.
    private func expectOK(_ stream: AsyncThrowingStream<ClusterFrame, any Error>) async throws {
        for try await frame in stream {
            switch frame.type {
            case .ok: return
            case .error: throw AgentRequestError.failed(agent: clientID, reply: try ErrorReply(frame))
            default: throw AgentRequestError.unexpectedReply(agent: clientID, frame.type)
            }
        }
        throw AgentRequestError.disconnected(agent: clientID)
    }

    /// Stores `bytes` as chunk `id` on this agent; returns once the agent has made it durable.
    public func putChunk(_ id: ChunkID, bytes: ByteBuffer, incompressible: Bool = false) async throws {
        if inProcess != nil { return try await call { try await $0.putChunk(id, bytes: bytes, incompressible: incompressible) } }
        let put = PutChunk(chunkID: id, length: UInt32(bytes.readableBytes), incompressible: incompressible)
        let stream = try await send { requestID in
            [put.frame(requestID: requestID)] + ClusterChannel.dataFrames(bytes, requestID: requestID)
        }
        try await expectOK(stream)
    }

    /// Every chunk id the agent holds.
    public func listChunks() async throws -> [ChunkID] {
        if inProcess != nil { return try await call { $0.listChunks() } }
        let frames = try await send { [ClusterFrame(type: .listChunks, requestID: $0)] }
        var ids: [ChunkID] = []
        for try await frame in frames {
            switch frame.type {
            case .chunkData:
                ids += try ChunkIDList.decode(frame.body)
                if frame.flags.contains(.endOfData) { return ids }
            case .error: throw AgentRequestError.failed(agent: clientID, reply: try ErrorReply(frame))
            default: throw AgentRequestError.unexpectedReply(agent: clientID, frame.type)
            }
        }
        throw AgentRequestError.disconnected(agent: clientID)
    }

    public func deleteChunk(_ id: ChunkID) async throws {
        if inProcess != nil { return try await call { try await $0.deleteChunk(id) } }
        let stream = try await send { [DeleteChunk(chunkID: id).frame(requestID: $0)] }
        try await expectOK(stream)
    }

    /// Streams the verified bytes `[offset, offset + length)` of chunk `id`, piece by piece.
    public func getChunk(_ id: ChunkID, offset: UInt32 = 0, length: UInt32 = .max) async throws -> ChunkBytes {
        if inProcess != nil {
            let bytes = try await call { try await $0.getChunk(id, offset: offset, length: length) }
            return ChunkBytes(agent: clientID, source: .bytes(bytes))
        }
        let request = GetChunk(chunkID: id, offset: offset, length: length)
        return ChunkBytes(agent: clientID, source: .frames(try await send { [request.frame(requestID: $0)] }))
    }
}

/// A chunk's bytes as the agent's reply frames bring them: data until the frame flagged
/// end-of-data, or the error the agent replied with. From an in-process agent: its bytes at once.
public struct ChunkBytes: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let agent: String
    let source: Source

    enum Source: Sendable {
        case frames(AsyncThrowingStream<ClusterFrame, any Error>)
        case bytes(ByteBuffer)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let agent: String
        var frames: AsyncThrowingStream<ClusterFrame, any Error>.AsyncIterator?
        var bytes: ByteBuffer?
        var finished = false

        public mutating func next() async throws -> ByteBuffer? {
            if finished { return nil }
            guard frames != nil else {
                finished = true
                return bytes
            }
            guard let frame = try await frames!.next() else { throw AgentRequestError.disconnected(agent: agent) }
            switch frame.type {
            case .chunkData:
                if frame.flags.contains(.endOfData) { finished = true }
                return frame.body
            case .error: throw AgentRequestError.failed(agent: agent, reply: try ErrorReply(frame))
            default: throw AgentRequestError.unexpectedReply(agent: agent, frame.type)
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        switch source {
        case .frames(let frames): return AsyncIterator(agent: agent, frames: frames.makeAsyncIterator())
        case .bytes(let bytes): return AsyncIterator(agent: agent, bytes: bytes)
        }
    }
}
