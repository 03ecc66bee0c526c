import ClusterProtocol
import Crypto
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging

/// PutObject, GetObject, HeadObject and DeleteObject.
struct ObjectHandlers: Sendable {
    let metadata: MetadataStore
    let chunks: ChunkRouter
    /// Object bytes are cut into chunks of at most this size. One PUT buffers at most
    /// `chunksInFlightPerPutMax + 1` chunks: those being stored and the one being filled.
    let chunkBytesMax: Int
    let logger: Logger

    /// Chunks of one PUT being sent to agents at once, so receiving overlaps storing.
    static let chunksInFlightPerPutMax = 2
    static let keyBytesMax = 1024
    /// Stored header values are kept to this size (the WAL encodes strings with a 2-byte length).
    static let headerValueBytesMax = 8192

    func putObject(_ s3: S3Request, request: Request) async throws -> Response {
        guard s3.key.utf8.count <= Self.keyBytesMax else {
            throw S3Error(.badRequest, "KeyTooLongError", "Your key is too long")
        }
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        if let acl = request.headers[HTTPField.Name("x-amz-acl")!], acl != "private" {
            throw S3Error.notImplemented("x-amz-acl: \(acl)")
        }
        if request.headers[HTTPField.Name("x-amz-copy-source")!] != nil {
            throw S3Error.notImplemented("CopyObject")
        }
        let contentType = request.headers[.contentType] ?? "binary/octet-stream"
        guard contentType.utf8.count <= Self.headerValueBytesMax else {
            throw S3Error.invalidArgument("Content-Type is longer than \(Self.headerValueBytesMax) bytes")
        }
        let (placements, size, md5) = try await storeBody(request.body)
        let object = ObjectRecord(
            size: size, md5: md5, lastModifiedMs: Clock.nowMs(),
            contentType: contentType, chunks: placements)
        // If the commit fails its record may still reach the disk and be replayed, so the chunks
        // stay: at worst they are orphans for the reconcile pass, never a manifest without data.
        let outcome = try await metadata.commit(.putObject(bucket: s3.bucket, key: s3.key, object: object))
        switch outcome {
        case .objectReplaced(let previous):
            chunks.discard(previous?.chunks ?? [])
            return Response(status: .ok, headers: [.eTag: object.etag, .contentLength: "0"])
        default:
            chunks.discard(placements)
            throw S3Error.noSuchBucket(s3.bucket)
        }
    }

    /// Streams the body to agents chunk by chunk, computing its MD5 on the way.
    private func storeBody(_ body: RequestBody) async throws -> ([ChunkPlacement], Int64, [UInt8]) {
        var md5 = Insecure.MD5()
        var size: Int64 = 0
        var pending = ByteBuffer()
        var placements: [Int: ChunkPlacement] = [:]
        var nextIndex = 0
        do {
            try await withThrowingTaskGroup(of: (Int, ChunkPlacement).self) { group in
                var inFlight = 0
                func send(_ chunk: ByteBuffer) async throws {
                    if inFlight == Self.chunksInFlightPerPutMax, let (index, placement) = try await group.next() {
                        placements[index] = placement
                        inFlight -= 1
                    }
                    let index = nextIndex
                    nextIndex += 1
                    inFlight += 1
                    group.addTask { (index, try await chunks.store(chunk)) }
                }
                for try await piece in body {
                    md5.update(data: piece.readableBytesView)
                    size += Int64(piece.readableBytes)
                    var piece = piece
                    pending.writeBuffer(&piece)
                    while pending.readableBytes >= chunkBytesMax {
                        let chunk = pending.readSlice(length: chunkBytesMax)!
                        try await send(ByteBuffer(buffer: chunk))
                        pending.discardReadBytes()
                    }
                }
                if pending.readableBytes > 0 { try await send(pending) }
                for try await (index, placement) in group { placements[index] = placement }
            }
        } catch {
            chunks.discard(Array(placements.values))
            throw Self.s3Error(for: error)
        }
        let ordered = (0..<nextIndex).map { placements[$0]! }
        return (ordered, size, Array(md5.finalize()))
    }

    func getObject(_ s3: S3Request, headOnly: Bool) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        guard let object = metadata.object(bucket: s3.bucket, key: s3.key) else {
            throw S3Error.noSuchKey(s3.bucket, s3.key)
        }
        let headers: HTTPFields = [
            .contentLength: String(object.size),
            .eTag: object.etag,
            .lastModified: HTTPDate.rfc1123(ms: object.lastModifiedMs),
            .contentType: object.contentType,
            .acceptRanges: "bytes",
        ]
        if headOnly { return Response(status: .ok, headers: headers) }
        guard chunks.canRead(object.chunks) else {
            throw S3Error.serviceUnavailable("An agent holding this object's data is not connected; try again later.")
        }
        let (chunks, logger) = (chunks, logger)
        let body = ResponseBody(contentLength: Int(object.size)) { writer in
            for chunk in object.chunks {
                do {
                    for try await piece in try await chunks.read(chunk) { try await writer.write(piece) }
                } catch {
                    // Headers are out: the only honest signal left is to cut the connection short.
                    logger.error("object read failed midway", metadata: ["chunk": "\(chunk.id)", "error": "\(error)"])
                    throw error
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    func deleteObject(_ s3: S3Request) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        if metadata.object(bucket: s3.bucket, key: s3.key) != nil {
            if case .objectReplaced(let previous?) = try await metadata.commit(.deleteObject(bucket: s3.bucket, key: s3.key)) {
                chunks.discard(previous.chunks)
            }
        }
        return Response(status: .noContent)
    }

    static func s3Error(for error: any Error) -> any Error {
        switch error {
        case is S3Error: return error
        case is PlacementError: return S3Error.serviceUnavailable("No storage agent is connected; try again later.")
        case AgentRequestError.disconnected: return S3Error.serviceUnavailable("A storage agent went away; try again.")
        case AgentRequestError.failed(_, let reply) where reply.code == .diskFull:
            return S3Error(.serviceUnavailable, "ServiceUnavailable", "Storage is full; free space and try again.")
        default: return error
        }
    }
}
