import NIOCore

@testable import ClusterProtocol

/// The bytes `ClusterFrameEncoder` puts on the wire for `frames`, one after another.
func encoded(_ frames: [ClusterFrame]) throws -> ByteBuffer {
    var out = ByteBuffer()
    for frame in frames { try ClusterFrameEncoder().encode(data: frame, out: &out) }
    return out
}
