import NIOCore

/// One unit on the cluster connection between the brain and an agent.
///
/// Wire layout (big-endian), specified in docs/wire-protocol.md:
///
///     offset size field
///      0     4    length L of the rest of the frame (6 + body length)
///      4     1    message type
///      5     1    flags (bit 0: last frame of a chunk's data)
///      6     4    request id (0 for messages that answer nothing: handshake, heartbeat)
///     10     L-6  body
public struct ClusterFrame: Sendable, Equatable {
    public var type: MessageType
    public var flags: FrameFlags
    public var requestID: UInt32
    public var body: ByteBuffer

    public init(type: MessageType, flags: FrameFlags = [], requestID: UInt32 = 0, body: ByteBuffer = ByteBuffer()) {
        self.type = type
        self.flags = flags
        self.requestID = requestID
        self.body = body
    }

    public static let prefixByteCount = 10
    /// Largest body a peer may send; a bigger length prefix is a protocol error and closes the connection.
    public static let bodyBytesMax = 1 << 20
    /// Chunk data is split into frames of at most this many bytes so requests interleave on a
    /// connection. A frame costs the brain about the same whatever its size, so it is as large as
    /// the body limit allows: 1 MiB frames took 0.66-0.69 brain core-seconds per GB of a 1 GiB GET
    /// from agents, 256 KiB frames 0.76-0.87 (docs/benchmarks.md). The cost: a small request queued
    /// behind a frame waits for 1 MiB to cross the link (under 1 ms at 10 Gbit/s).
    public static let dataBytesPerFrameMax = bodyBytesMax
}

public struct FrameFlags: OptionSet, Sendable, Equatable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let endOfData = FrameFlags(rawValue: 1 << 0)
    /// On `putChunk`: the brain expects the chunk not to compress (its content type is a
    /// compressed format), so the agent stores it as is without trying.
    public static let incompressible = FrameFlags(rawValue: 1 << 1)
}

public enum MessageType: UInt8, Sendable, Equatable {
    // Handshake
    case challenge = 1
    case hello = 2
    case welcome = 3
    case refused = 4
    // Brain -> agent requests
    case putChunk = 10
    case getChunk = 11
    case deleteChunk = 12
    /// Every chunk id the agent holds, for the reconcile pass; answered by `chunkData` frames of ids.
    case listChunks = 13
    // Agent -> brain, unsolicited
    case heartbeat = 15
    /// Chunk ids whose records the agent found corrupt (scrub or read); body as `listChunks` replies.
    case corruptChunks = 16
    // Replies, and chunk bytes in either direction
    case chunkData = 20
    case ok = 30
    case error = 31
    // Admin <-> brain
    case statusRequest = 40
    case statusReply = 41
    /// Admin -> brain: a command (`drain`, `remove`) and its argument; answered by `ok` or `error`.
    case adminCommand = 42
    /// Admin -> brain: `sos admin key ...`, a JSON `KeyCommand`; answered by `keyReply` or `error`.
    case keyCommand = 43
    /// Brain -> admin: a JSON `KeyReply`.
    case keyReply = 44
}

public enum ClusterProtocolError: Error, Equatable, CustomStringConvertible {
    case frameTooLarge(Int)
    case unknownMessageType(UInt8)
    case malformed(String)
    case unexpectedMessage(MessageType)

    public var description: String {
        switch self {
        case .frameTooLarge(let n): return "frame of \(n) bytes exceeds the \(ClusterFrame.bodyBytesMax)-byte limit"
        case .unknownMessageType(let t): return "unknown message type \(t)"
        case .malformed(let what): return "malformed message: \(what)"
        case .unexpectedMessage(let t): return "unexpected message \(t)"
        }
    }
}

/// The part of a frame before its body, checked as soon as its bytes are there: a frame that is
/// too large or of an unknown type is refused before its body is buffered.
struct FrameHeader {
    var type: MessageType
    var flags: FrameFlags
    var requestID: UInt32
    var bodyLength: Int

    /// The header at the front of `buffer`, which is left as it was; nil when fewer than
    /// `ClusterFrame.prefixByteCount` bytes are there (a length prefix alone is still checked).
    static func peek(_ buffer: ByteBuffer) throws -> FrameHeader? {
        let start = buffer.readerIndex
        guard let length = buffer.getInteger(at: start, as: UInt32.self) else { return nil }
        guard length >= 6 else { throw ClusterProtocolError.malformed("frame length \(length) below 6") }
        let bodyLength = Int(length) - 6
        guard bodyLength <= ClusterFrame.bodyBytesMax else { throw ClusterProtocolError.frameTooLarge(bodyLength) }
        guard let typeRaw = buffer.getInteger(at: start + 4, as: UInt8.self),
            let flags = buffer.getInteger(at: start + 5, as: UInt8.self),
            let requestID = buffer.getInteger(at: start + 6, as: UInt32.self)
        else { return nil }
        guard let type = MessageType(rawValue: typeRaw) else { throw ClusterProtocolError.unknownMessageType(typeRaw) }
        return FrameHeader(type: type, flags: FrameFlags(rawValue: flags), requestID: requestID, bodyLength: bodyLength)
    }

    func frame(body: ByteBuffer) -> ClusterFrame {
        ClusterFrame(type: type, flags: flags, requestID: requestID, body: body)
    }
}

/// Splits a byte stream into frames. The channel uses `ClusterFrameReader`, which does the same
/// without gathering bytes; this is the whole-buffer form, for tests and the fuzz target.
public enum ClusterFrameDecoder {
    /// Decodes one frame from the front of `buffer`, its body a slice of it; nil (nothing read)
    /// when more bytes are needed.
    public static func decodeFrame(from buffer: inout ByteBuffer) throws -> ClusterFrame? {
        guard let header = try FrameHeader.peek(buffer),
            buffer.readableBytes >= ClusterFrame.prefixByteCount + header.bodyLength
        else { return nil }
        buffer.moveReaderIndex(forwardBy: ClusterFrame.prefixByteCount)
        return header.frame(body: buffer.readSlice(length: header.bodyLength)!)
    }
}

public struct ClusterFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = ClusterFrame

    public init() {}

    public func encode(data frame: ClusterFrame, out: inout ByteBuffer) throws {
        Self.writeHeader(of: frame, to: &out)
        var body = frame.body
        out.writeBuffer(&body)
    }

    static func writeHeader(of frame: ClusterFrame, to out: inout ByteBuffer) {
        precondition(frame.body.readableBytes <= ClusterFrame.bodyBytesMax, "frame body over the limit")
        out.writeInteger(UInt32(6 + frame.body.readableBytes))
        out.writeInteger(frame.type.rawValue)
        out.writeInteger(frame.flags.rawValue)
        out.writeInteger(frame.requestID)
    }
}

/// Writes frames to the channel as `ClusterFrameEncoder` encodes them, but a large body (chunk
/// data) as a buffer of its own after the header, not copied behind it: the socket's gathering
/// write sends both, and serving a chunk copies its bytes once fewer.
final class ClusterFrameWriter: ChannelOutboundHandler {
    typealias OutboundIn = ClusterFrame
    typealias OutboundOut = ByteBuffer

    /// Bodies up to this size are copied behind their header: one buffer is cheaper than two.
    static let copiedBodyBytesMax = 4096

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        let copied = frame.body.readableBytes <= Self.copiedBodyBytesMax
        var header = context.channel.allocator.buffer(capacity: ClusterFrame.prefixByteCount + (copied ? frame.body.readableBytes : 0))
        ClusterFrameEncoder.writeHeader(of: frame, to: &header)
        if copied {
            header.writeImmutableBuffer(frame.body)
            context.write(wrapOutboundOut(header), promise: promise)
        } else {
            context.write(wrapOutboundOut(header), promise: nil)
            context.write(wrapOutboundOut(frame.body), promise: promise)
        }
    }
}
