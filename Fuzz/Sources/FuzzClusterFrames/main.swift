import ClusterProtocol
import NIOCore

/// Frames arrive from the network: the decoder and every message parser must reject bad bytes
/// with an error, never crash or read out of bounds.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var buffer = ByteBuffer(bytes: data.map { UnsafeBufferPointer(start: $0, count: size) } ?? UnsafeBufferPointer(start: nil, count: 0))
    while let frame = try? ClusterFrameDecoder.decodeFrame(from: &buffer) {
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
    return 0
}
