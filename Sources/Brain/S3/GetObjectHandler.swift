import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore

/// GetObject and HeadObject: whole objects, one byte range, or one part; conditional requests.
extension ObjectHandlers {
    func getObject(_ s3: S3Request, request: Request, headOnly: Bool) async throws -> Response {
        let versionID = try ObjectVersions.requested(s3)
        let (object, versioning, lifecycle) = try ObjectVersions.readable(metadata, bucket: s3.bucket, key: s3.key, versionID: versionID)
        var fields = ObjectHeaders.response(for: object, query: s3.query)
        if ObjectVersions.namesVersions(versioning, object) { fields[.amzVersionID] = object.versionID.text }
        if versionID == nil || versionID == metadata.latestVersion(bucket: s3.bucket, key: s3.key)?.versionID,
            let expiration = LifecycleHandlers.expiration(lifecycle, key: s3.key, object: object, clock: lifecycleClock)
        {
            fields[LifecycleHandlers.expirationHeader] = expiration
        }
        switch Preconditions.evaluate(
            Preconditions.conditions(from: request.headers), etag: object.etag, lastModifiedMs: object.lastModifiedMs)
        {
        case .proceed: break
        case .notModified:
            return Response(status: .notModified, headers: [.eTag: object.etag, .lastModified: fields[.lastModified]!])
        case .preconditionFailed: throw Preconditions.preconditionFailed
        }

        let range: Range<Int64>
        var status = HTTPResponse.Status.ok
        if let partText = s3.query["partNumber"] {
            guard request.headers[.range] == nil else {
                throw S3Error(.invalidRequest, "Cannot specify both Range header and partNumber query parameter")
            }
            range = try Self.partRange(partText, of: object)
            if !object.partSizes.isEmpty { status = .partialContent }
        } else if let requested = try RangeRequest.resolve(request.headers[.range], size: object.size) {
            range = requested
            status = .partialContent
        } else {
            range = 0..<object.size
        }
        if status == .partialContent {
            fields[.contentRange] = RangeRequest.contentRange(range, size: object.size)
        } else if request.headers[.amzChecksumMode]?.uppercased() == "ENABLED" {
            ObjectHeaders.addChecksum(of: object, to: &fields)
        }
        fields[.contentLength] = String(range.count)
        if headOnly { return Response(status: status, headers: fields) }
        guard chunks.canRead(object.chunks) else {
            throw S3Error.serviceUnavailable("An agent holding this object's data is not connected; try again later.")
        }
        if range.count <= Self.bufferedBodyBytesMax {
            let bytes = try await bufferedBytes(of: object, range: range)
            return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: bytes))
        }
        let (chunks, logger) = (chunks, logger)
        let body = ResponseBody(contentLength: range.count) { writer in
            do {
                for try await piece in chunks.bytes(of: object.chunks, range: range) { try await writer.write(piece) }
            } catch {
                // Headers are out: the only honest signal left is to cut the connection short.
                logger.error("object read failed midway", metadata: ["key": "\(s3.key)", "error": "\(error)"])
                throw error
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: fields, body: body)
    }

    /// Bodies up to this size are read whole before the response starts. The response then goes
    /// out as one write (head and body together: a streamed body costs a write and an event-loop
    /// hop for the head and another for each piece), and a failed read still gets an S3 error
    /// instead of a connection cut short. Larger bodies stream, holding at most
    /// `ObjectBytes.chunksReadAhead + 1` chunks.
    static let bufferedBodyBytesMax: Int64 = 256 << 10

    /// The bytes of `range`, read whole. A failed read throws before any of the response is out,
    /// so the router answers it with its S3 error.
    private func bufferedBytes(of object: ObjectRecord, range: Range<Int64>) async throws -> ByteBuffer {
        var bytes = ByteBuffer()
        for try await var piece in chunks.bytes(of: object.chunks, range: range) {
            if bytes.readableBytes == 0 { bytes = piece } else { bytes.writeBuffer(&piece) }
        }
        guard bytes.readableBytes == range.count else {
            throw S3Error.internalError("The object's data came back \(bytes.readableBytes) bytes long, not \(range.count).")
        }
        return bytes
    }

    /// The byte range of part `text` (1-based); a single-PUT object is its own part 1.
    static func partRange(_ text: String, of object: ObjectRecord) throws -> Range<Int64> {
        guard let number = Int(text), number >= 1, number <= 10_000 else {
            throw S3Error.invalidArgument("Part number must be an integer between 1 and 10000, inclusive")
        }
        let sizes = object.partSizes.isEmpty ? [object.size] : object.partSizes
        guard number <= sizes.count else {
            throw S3Error(.invalidPartNumber, "The requested partnumber is not satisfiable")
        }
        let start = sizes.prefix(number - 1).reduce(0, +)
        return start..<(start + sizes[number - 1])
    }
}
