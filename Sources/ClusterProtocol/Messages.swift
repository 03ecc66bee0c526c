#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// A 128-bit chunk identifier, random, chosen by the brain.
public struct ChunkID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// 128 random bits from glibc's arc4random, which refills a per-thread ChaCha20 buffer from
    /// the kernel now and then; SystemRandomNumberGenerator made a getrandom call per 64 bits.
    public static func random() -> ChunkID {
        var id = ChunkID(high: 0, low: 0)
        withUnsafeMutableBytes(of: &id) { arc4random_buf($0.baseAddress!, $0.count) }
        return id
    }

    public var description: String {
        let h = String(high, radix: 16), l = String(low, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h + String(repeating: "0", count: 16 - l.count) + l
    }
}

public enum ShortString {
    /// `bytes` as a String when they are valid UTF-8, else nil. Decoding repairs invalid UTF-8 (to
    /// U+FFFD), so a string whose bytes differ from the input was invalid; cheaper than
    /// String(validating:), whose unspecialized validation was a fifth of a restart.
    public static func exactUTF8(_ bytes: UnsafeRawBufferPointer) -> String? {
        let decoded = String(decoding: bytes.bindMemory(to: UInt8.self), as: UTF8.self)
        let same = decoded.utf8.withContiguousStorageIfAvailable { utf8 in
            utf8.count == bytes.count && (bytes.isEmpty || memcmp(utf8.baseAddress!, bytes.baseAddress!, bytes.count) == 0)
        }
        return same == true ? decoded : nil
    }
}

extension ByteBuffer {
    public mutating func writeChunkID(_ id: ChunkID) {
        writeInteger(id.high)
        writeInteger(id.low)
    }

    public mutating func readChunkID() throws -> ChunkID {
        guard let high: UInt64 = readInteger(), let low: UInt64 = readInteger() else {
            throw ClusterProtocolError.malformed("chunk id shorter than 16 bytes")
        }
        return ChunkID(high: high, low: low)
    }

    /// A string as a 2-byte length and UTF-8 bytes.
    public mutating func writeShortString(_ string: String) {
        let length = min(string.utf8.count, Int(UInt16.max))
        writeInteger(UInt16(length))
        // Straight from the string's own storage: no intermediate array (every commit writes several).
        let written = string.utf8.withContiguousStorageIfAvailable { writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0.prefix(length)))) }
        if written == nil { writeBytes(Array(string.utf8.prefix(length))) }
    }

    /// Reads a string written by `writeShortString`; invalid UTF-8 is refused rather than repaired,
    /// so that what decodes re-encodes to the same bytes.
    public mutating func readShortString() throws -> String {
        guard let length: UInt16 = readInteger(), readableBytes >= Int(length) else {
            throw ClusterProtocolError.malformed("string runs past the end of the frame")
        }
        // Straight from the buffer, no intermediate array.
        let string = withUnsafeReadableBytes { ShortString.exactUTF8(UnsafeRawBufferPointer(rebasing: $0.prefix(Int(length)))) }
        guard let string else { throw ClusterProtocolError.malformed("string is not valid UTF-8") }
        moveReaderIndex(forwardBy: Int(length))
        return string
    }

    public mutating func readExactBytes(_ count: Int, what: String) throws -> [UInt8] {
        guard let bytes = readBytes(length: count) else { throw ClusterProtocolError.malformed("\(what) too short") }
        return bytes
    }

    public mutating func readUInt64(_ what: String) throws -> UInt64 {
        guard let value: UInt64 = readInteger() else { throw ClusterProtocolError.malformed("\(what) missing") }
        return value
    }

    public mutating func readUInt32(_ what: String) throws -> UInt32 {
        guard let value: UInt32 = readInteger() else { throw ClusterProtocolError.malformed("\(what) missing") }
        return value
    }
}

/// Brain -> agent: first message on a new connection.
public struct Challenge: Equatable, Sendable {
    /// Raised whenever a message layout changes; peers of different versions refuse each other.
    public static let protocolVersion: UInt16 = 2
    public var protocolVersion: UInt16
    public var brainNonce: [UInt8]

    public init(protocolVersion: UInt16 = Challenge.protocolVersion, brainNonce: [UInt8]) {
        self.protocolVersion = protocolVersion
        self.brainNonce = brainNonce
    }

    public func frame() -> ClusterFrame {
        var body = ByteBuffer()
        body.writeInteger(protocolVersion)
        body.writeBytes(brainNonce)
        return ClusterFrame(type: .challenge, body: body)
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .challenge else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        var body = frame.body
        guard let version: UInt16 = body.readInteger() else { throw ClusterProtocolError.malformed("challenge") }
        protocolVersion = version
        brainNonce = try body.readExactBytes(ClusterAuth.nonceByteCount, what: "brain nonce")
    }
}

/// Agent (or admin tool) -> brain: who it is, its proof of the cookie, and, for an agent, its space and zone.
public struct Hello: Equatable, Sendable {
    public enum Role: UInt8, Sendable {
        case agent = 0
        /// `sos admin`: authenticates like an agent, asks questions, stores nothing.
        case admin = 1
    }

    public var clientID: String
    public var agentNonce: [UInt8]
    public var proof: [UInt8]
    public var capacityBytes: UInt64
    public var freeBytes: UInt64
    public var role: Role
    /// Failure domain the agent declares (`--zone`); empty when none.
    public var zone: String

    public init(
        clientID: String, agentNonce: [UInt8], proof: [UInt8], capacityBytes: UInt64, freeBytes: UInt64,
        role: Role = .agent, zone: String = ""
    ) {
        self.clientID = clientID
        self.agentNonce = agentNonce
        self.proof = proof
        self.capacityBytes = capacityBytes
        self.freeBytes = freeBytes
        self.role = role
        self.zone = zone
    }

    public func frame() -> ClusterFrame {
        var body = ByteBuffer()
        body.writeShortString(clientID)
        body.writeBytes(agentNonce)
        body.writeBytes(proof)
        body.writeInteger(capacityBytes)
        body.writeInteger(freeBytes)
        body.writeInteger(role.rawValue)
        body.writeShortString(zone)
        return ClusterFrame(type: .hello, body: body)
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .hello else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        var body = frame.body
        clientID = try body.readShortString()
        agentNonce = try body.readExactBytes(ClusterAuth.nonceByteCount, what: "agent nonce")
        proof = try body.readExactBytes(ClusterAuth.proofByteCount, what: "proof")
        capacityBytes = try body.readUInt64("capacity")
        freeBytes = try body.readUInt64("free bytes")
        guard let rawRole: UInt8 = body.readInteger(), let role = Role(rawValue: rawRole) else {
            throw ClusterProtocolError.malformed("hello role")
        }
        self.role = role
        zone = try body.readShortString()
    }
}

/// Brain -> agent: accepted, with the brain's own proof of the cookie.
public struct Welcome: Equatable, Sendable {
    public var proof: [UInt8]

    public init(proof: [UInt8]) { self.proof = proof }

    public func frame() -> ClusterFrame {
        ClusterFrame(type: .welcome, body: ByteBuffer(bytes: proof))
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .welcome else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        var body = frame.body
        proof = try body.readExactBytes(ClusterAuth.proofByteCount, what: "proof")
    }
}

/// Either side: the handshake failed, and why, in words meant for an operator.
public struct Refused: Equatable, Sendable {
    public var reason: String

    public init(reason: String) { self.reason = reason }

    public func frame() -> ClusterFrame {
        var body = ByteBuffer()
        body.writeShortString(reason)
        return ClusterFrame(type: .refused, body: body)
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .refused else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        var body = frame.body
        reason = try body.readShortString()
    }
}

/// Agent -> brain, every few seconds: current space and record count. Its arrival is also
/// what keeps the agent "up" in the brain's eyes.
public struct Heartbeat: Equatable, Sendable {
    public var capacityBytes: UInt64
    public var freeBytes: UInt64
    public var chunkCount: UInt64
    /// Bytes of live chunk records on the agent.
    public var usedBytes: UInt64

    public init(capacityBytes: UInt64, freeBytes: UInt64, chunkCount: UInt64, usedBytes: UInt64 = 0) {
        self.capacityBytes = capacityBytes
        self.freeBytes = freeBytes
        self.chunkCount = chunkCount
        self.usedBytes = usedBytes
    }

    public func frame() -> ClusterFrame {
        var body = ByteBuffer()
        body.writeInteger(capacityBytes)
        body.writeInteger(freeBytes)
        body.writeInteger(chunkCount)
        body.writeInteger(usedBytes)
        return ClusterFrame(type: .heartbeat, body: body)
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .heartbeat else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        var body = frame.body
        capacityBytes = try body.readUInt64("capacity")
        freeBytes = try body.readUInt64("free bytes")
        chunkCount = try body.readUInt64("chunk count")
        usedBytes = try body.readUInt64("used bytes")
    }
}

/// Brain -> agent: store a chunk. Its bytes follow in `chunkData` frames with the same request id,
/// the last one flagged `endOfData`; their lengths add up to `length`.
public struct PutChunk: Equatable, Sendable {
    public var chunkID: ChunkID
    public var length: UInt32
    /// Carried as the frame flag `incompressible`.
    public var incompressible: Bool

    public init(chunkID: ChunkID, length: UInt32, incompressible: Bool = false) {
        self.chunkID = chunkID
        self.length = length
        self.incompressible = incompressible
    }

    public func frame(requestID: UInt32) -> ClusterFrame {
        var body = ByteBuffer()
        body.writeChunkID(chunkID)
        body.writeInteger(length)
        return ClusterFrame(type: .putChunk, flags: incompressible ? .incompressible : [], requestID: requestID, body: body)
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .putChunk else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        var body = frame.body
        chunkID = try body.readChunkID()
        length = try body.readUInt32("chunk length")
        incompressible = frame.flags.contains(.incompressible)
    }
}

/// Brain -> agent: send `length` bytes of a chunk starting at `offset` (answered by `chunkData`
/// frames). The agent verifies the whole record before sending any of it.
public struct GetChunk: Equatable, Sendable {
    public var chunkID: ChunkID
    public var offset: UInt32
    /// `UInt32.max` means "to the end of the chunk".
    public var length: UInt32

    public init(chunkID: ChunkID, offset: UInt32 = 0, length: UInt32 = .max) {
        self.chunkID = chunkID
        self.offset = offset
        self.length = length
    }

    public func frame(requestID: UInt32) -> ClusterFrame {
        var body = ByteBuffer()
        body.writeChunkID(chunkID)
        body.writeInteger(offset)
        body.writeInteger(length)
        return ClusterFrame(type: .getChunk, requestID: requestID, body: body)
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .getChunk else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        var body = frame.body
        chunkID = try body.readChunkID()
        offset = try body.readUInt32("offset")
        length = try body.readUInt32("length")
    }
}

/// Brain -> agent: delete a chunk (answered by `ok`).
public struct DeleteChunk: Equatable, Sendable {
    public var chunkID: ChunkID

    public init(chunkID: ChunkID) { self.chunkID = chunkID }

    public func frame(requestID: UInt32) -> ClusterFrame {
        var body = ByteBuffer()
        body.writeChunkID(chunkID)
        return ClusterFrame(type: .deleteChunk, requestID: requestID, body: body)
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .deleteChunk else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        var body = frame.body
        chunkID = try body.readChunkID()
    }
}

/// Agent -> brain: a request failed.
public struct ErrorReply: Equatable, Sendable, Error, CustomStringConvertible {
    public enum Code: UInt16, Sendable {
        case internalError = 1
        case notFound = 2
        case corrupt = 3
        case diskFull = 4
        case badRequest = 5
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    public func frame(requestID: UInt32) -> ClusterFrame {
        var body = ByteBuffer()
        body.writeInteger(code.rawValue)
        body.writeShortString(message)
        return ClusterFrame(type: .error, requestID: requestID, body: body)
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .error else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        var body = frame.body
        guard let raw: UInt16 = body.readInteger() else { throw ClusterProtocolError.malformed("error code") }
        code = Code(rawValue: raw) ?? .internalError
        message = try body.readShortString()
    }
}

/// The body of `listChunks` replies: chunk ids back to back, 16 bytes each, big-endian.
public enum ChunkIDList {
    /// Ids per `chunkData` frame (512 KiB of ids; well under the frame limit).
    public static let idsPerFrameMax = 32 * 1024

    public static func frames(_ ids: [ChunkID], requestID: UInt32) -> [ClusterFrame] {
        var frames: [ClusterFrame] = []
        var start = 0
        repeat {
            let end = min(ids.count, start + idsPerFrameMax)
            var body = ByteBuffer()
            for id in ids[start..<end] { body.writeChunkID(id) }
            frames.append(
                ClusterFrame(type: .chunkData, flags: end == ids.count ? .endOfData : [], requestID: requestID, body: body))
            start = end
        } while start < ids.count
        return frames
    }

    public static func decode(_ body: ByteBuffer) throws -> [ChunkID] {
        guard body.readableBytes % 16 == 0 else { throw ClusterProtocolError.malformed("chunk id list") }
        var body = body
        var ids: [ChunkID] = []
        while body.readableBytes > 0 { ids.append(try body.readChunkID()) }
        return ids
    }
}

/// Admin -> brain: an operator command, e.g. `drain agent-3`.
public struct AdminCommandRequest: Equatable, Sendable {
    public var command: String
    public var argument: String

    public init(command: String, argument: String) {
        self.command = command
        self.argument = argument
    }

    public func frame(requestID: UInt32) -> ClusterFrame {
        var body = ByteBuffer()
        body.writeShortString(command)
        body.writeShortString(argument)
        return ClusterFrame(type: .adminCommand, requestID: requestID, body: body)
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .adminCommand else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        var body = frame.body
        command = try body.readShortString()
        argument = try body.readShortString()
    }
}
