import LogStore
import NIOCore

/// A chunk record read by the store straight into a NIO buffer: its payload then goes on the wire
/// (or, in `sos server`, into the HTTP response) from the memory the disk read filled.
struct WireChunk: PayloadBuffer {
    let bytes: ByteBuffer

    private init(bytes: ByteBuffer) {
        self.bytes = bytes
    }

    init(capacity: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows {
        var buffer = ByteBufferAllocator().buffer(capacity: capacity)
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { free in
            try fill(UnsafeMutableRawBufferPointer(rebasing: free.prefix(capacity)))
        }
        self.bytes = buffer
    }

    var byteCount: Int { bytes.readableBytes }

    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeReadableBytes(body)
    }

    func slice(_ range: Range<Int>) -> WireChunk {
        WireChunk(bytes: bytes.getSlice(at: bytes.readerIndex + range.lowerBound, length: range.count)!)
    }
}
