import NIOCore

/// The cluster connection as an async channel of frames (decoder and encoder in the pipeline).
public typealias ClusterAsyncChannel = NIOAsyncChannel<ClusterFrame, ClusterFrame>

public enum ClusterChannel {
    /// Adds the frame codec to a fresh channel and wraps it for async use. Call on the channel's event loop.
    public static func wrap(_ channel: any Channel) throws -> ClusterAsyncChannel {
        // Chunk data comes in 256 KiB frames; NIO's default reads of at most 64 KiB took four
        // reads, and four wake-ups of the frame decoder, per frame.
        try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: recvAllocator)
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ClusterFrameDecoder()))
        try channel.pipeline.syncOperations.addHandler(ClusterFrameWriter())
        return try ClusterAsyncChannel(wrappingChannelSynchronously: channel)
    }

    /// Reads grow to two data frames while the bytes keep filling them, and shrink again on an
    /// idle connection (NIO's adaptive allocator), so a connection holds at most 512 KiB for reads.
    static let recvAllocator = AdaptiveRecvByteBufferAllocator(
        minimum: 64, initial: 2048, maximum: 2 * ClusterFrame.dataBytesPerFrameMax)

    /// Splits chunk bytes into `chunkData` frames, the last one flagged `endOfData`.
    /// An empty chunk is one empty frame, so the receiver always sees an end.
    public static func dataFrames(_ bytes: ByteBuffer, requestID: UInt32) -> [ClusterFrame] {
        var remaining = bytes
        var frames: [ClusterFrame] = []
        repeat {
            let piece = remaining.readSlice(length: min(remaining.readableBytes, ClusterFrame.dataBytesPerFrameMax))!
            let flags: FrameFlags = remaining.readableBytes == 0 ? .endOfData : []
            frames.append(ClusterFrame(type: .chunkData, flags: flags, requestID: requestID, body: piece))
        } while remaining.readableBytes > 0
        return frames
    }
}
