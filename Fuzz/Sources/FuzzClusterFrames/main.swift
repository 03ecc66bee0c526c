import ClusterProtocol
import NIOCore
import NIOEmbedded

/// Frames arrive from the network: the decoder and every message parser must reject bad bytes
/// with an error, never crash or read out of bounds; and the channel's reader, given the same
/// bytes in reads of any sizes, must yield the same frames as the decoder given them at once.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = ByteBuffer(bytes: data.map { UnsafeBufferPointer(start: $0, count: size) } ?? UnsafeBufferPointer(start: nil, count: 0))
    var buffer = input
    var decoded: [ClusterFrame] = []
    while let frame = try? ClusterFrameDecoder.decodeFrame(from: &buffer) {
        decoded.append(frame)
        _ = try? Challenge(frame)
        _ = try? Hello(frame)
        _ = try? Welcome(frame)
        _ = try? Refused(frame)
        _ = try? Heartbeat(frame)
        _ = try? PutChunk(frame)
        _ = try? GetChunk(frame)
        _ = try? DeleteChunk(frame)
        _ = try? ErrorReply(frame)
        var out = ByteBuffer()
        try! ClusterFrameEncoder().encode(data: frame, out: &out)
        var again = out
        precondition(try! ClusterFrameDecoder.decodeFrame(from: &again) == frame, "frame does not round-trip")
    }
    precondition(readInReads(input) == decoded, "the reader and the decoder disagree")
    return 0
}

/// The frames a `ClusterFrameReader` yields from `input` fed in reads whose sizes the input's
/// first byte picks.
func readInReads(_ input: ByteBuffer) -> [ClusterFrame] {
    let channel = EmbeddedChannel(handler: ClusterFrameReader())
    defer { _ = try? channel.finish() }
    let seed = Int(input.getInteger(at: input.readerIndex, as: UInt8.self) ?? 0)
    var remaining = input
    var readCount = 0
    while remaining.readableBytes > 0 {
        readCount += 1
        let size = 1 + (seed * readCount * 7919) % 97
        _ = try? channel.writeInbound(remaining.readSlice(length: min(size, remaining.readableBytes))!)
    }
    var frames: [ClusterFrame] = []
    while let frame = try? channel.readInbound(as: ClusterFrame.self) { frames.append(frame) }
    return frames
}
