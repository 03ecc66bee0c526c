import ClusterProtocol
import HTTPTypes
import NIOCore

/// Streams a body into chunks on the agents while computing its digests: the one path every
/// upload takes (PutObject, UploadPart, and the copies, whose source is another object).
struct BodyStorer: Sendable {
    let chunks: ChunkRouter
    let chunkBytesMax: Int

    /// Chunks of one body being sent to agents at once, so receiving overlaps storing. One body
    /// buffers at most this many chunks plus the one being filled.
    static let chunksInFlightMax = 2

    struct StoredBody {
        var placements: [ChunkPlacement]
        var digests: BodyDigests.Result
    }

    /// How the request body is framed.
    enum Framing {
        case plain
        /// `Content-Encoding: aws-chunked`; `decodedLength` from x-amz-decoded-content-length;
        /// `signatures` for a body whose chunks are signed.
        case awsChunked(decodedLength: Int64?, signatures: ChunkSignatureChain?)

        init(headers: HTTPFields, signatures: ChunkSignatureChain?) throws {
            let encoding = headers[.contentEncoding] ?? ""
            let sha = headers[.amzContentSHA256] ?? ""
            guard encoding.contains("aws-chunked") || sha.hasPrefix("STREAMING-") else {
                // S3 takes a plain body only with its length (no Transfer-Encoding: chunked alone).
                guard headers[.contentLength] != nil else {
                    throw S3Error(.missingContentLength, "You must provide the Content-Length HTTP header.")
                }
                self = .plain
                return
            }
            var decodedLength: Int64?
            if let text = headers[.amzDecodedContentLength] {
                guard let value = Int64(text), value >= 0 else {
                    throw S3Error.invalidArgument("x-amz-decoded-content-length is not a number")
                }
                decodedLength = value
            }
            self = .awsChunked(decodedLength: decodedLength, signatures: signatures)
        }
    }

    /// Stores `body`, verifying it against `expectations`; on any failure the chunks already
    /// stored are discarded and the error is an S3 error. `headers` are the object's stored
    /// headers, for the agents' compression hint.
    func store<Body: AsyncSequence>(
        _ body: Body, framing: Framing, expectations: BodyDigests.Expectations, sizeMax: Int64, headers: [StoredHeader]
    ) async throws -> StoredBody where Body.Element == ByteBuffer {
        let incompressible = CompressionHint.isIncompressible(headers)
        var digests = BodyDigests(expectations)
        var decoder: AWSChunkedDecoder?
        if case .awsChunked(_, let signatures) = framing { decoder = AWSChunkedDecoder(signatures: signatures) }
        var pending = ByteBuffer()
        var digester = PipelinedDigests(digests, depth: Self.chunksInFlightMax)
        var size: Int64 = 0
        var placements: [Int: ChunkPlacement] = [:]
        var chunkCount = 0
        do {
            try await withThrowingTaskGroup(of: (Int, ChunkPlacement).self) { group in
                var inFlight = 0
                func send(_ chunk: ByteBuffer) async throws {
                    if inFlight == Self.chunksInFlightMax, let (index, placement) = try await group.next() {
                        placements[index] = placement
                        inFlight -= 1
                    }
                    let index = chunkCount
                    chunkCount += 1
                    inFlight += 1
                    group.addTask { (index, try await chunks.store(chunk, incompressible: incompressible)) }
                }
                for try await received in body {
                    for var piece in try decoder?.feed(received) ?? [received] {
                        size += Int64(piece.readableBytes)
                        guard size <= sizeMax else {
                            throw S3Error(.entityTooLarge, "Your proposed upload exceeds the maximum allowed size")
                        }
                        pending.writeBuffer(&piece)
                        while pending.readableBytes >= chunkBytesMax {
                            let chunk = pending.readSlice(length: chunkBytesMax)!
                            await digester.add(chunk)
                            try await send(chunk)
                            pending.discardReadBytes()
                        }
                    }
                }
                // A body smaller than a chunk (most) is hashed here, with no task for it.
                digests = await digester.finish()
                pending.withUnsafeReadableBytes { digests.update($0) }
                if pending.readableBytes > 0 {
                    // The last chunk is stored by this task itself: no child task for a small object.
                    let index = chunkCount
                    chunkCount += 1
                    placements[index] = try await chunks.store(pending, incompressible: incompressible)
                }
                for try await (index, placement) in group { placements[index] = placement }
            }
            try decoder?.finish()
            if case .awsChunked(let decodedLength?, _) = framing, decodedLength != digests.size {
                throw S3Error(.incompleteBody, "The body is not x-amz-decoded-content-length (\(decodedLength)) bytes long")
            }
            let trailerChecksum = expectations.checksumAlgorithm.flatMap { decoder?.trailers[$0.headerName] }
            let result = try digests.verify(trailerChecksum: trailerChecksum)
            return StoredBody(placements: (0..<chunkCount).map { placements[$0]! }, digests: result)
        } catch {
            chunks.discard(Array(placements.values))
            throw ObjectHandlers.s3Error(for: error)
        }
    }
}
