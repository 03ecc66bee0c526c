import NIOCore

/// The cluster connection as an async channel of frames (decoder, encoder and flush coalescing in the pipeline).
public typealias ClusterAsyncChannel = NIOAsyncChannel<ClusterFrame, ClusterFrame>

public enum ClusterChannel {
    /// Adds the frame codec to a fresh channel and wraps it for async use. Call on the channel's event loop.
    /// `frameHandler`, when given, sees the decoded frames before the async channel does.
    public static func wrap(
        _ channel: any Channel, frameHandler: (any ChannelHandler & Sendable)? = nil, tls: ClusterTLS? = nil
    ) throws -> ClusterAsyncChannel {
        try tls?.addHandler(to: channel)
        try channel.pipeline.syncOperations.addHandler(ClusterFrameReader())
        // Between the two, it sees the encoded bytes going out and the frames coming in.
        try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler())
        try channel.pipeline.syncOperations.addHandler(ClusterFrameWriter())
        if let frameHandler { try channel.pipeline.syncOperations.addHandler(frameHandler) }
        return try ClusterAsyncChannel(wrappingChannelSynchronously: channel)
    }

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
