import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging

/// Dispatches path-style S3 requests to the handler for their operation, and turns every error
/// into an S3 XML error with an `x-amz-request-id`, never a crash or a bare 500.
struct S3Router: HTTPResponder {
    typealias Context = BasicRequestContext

    let buckets: BucketHandlers
    let objects: ObjectHandlers
    /// With a domain such as `s3.example.com`, `BUCKET.s3.example.com` addresses BUCKET (virtual-hosted style).
    let virtualHostDomain: String?
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        let requestID = Self.makeRequestID()
        var response: Response
        do {
            response = try await route(request)
        } catch let error as S3Error {
            response = Self.errorResponse(error, requestID: requestID, isHead: request.method == .head)
        } catch {
            logger.error("request failed", metadata: ["requestID": "\(requestID)", "error": "\(error)"])
            let known = ObjectHandlers.s3Error(for: error) as? S3Error
            response = Self.errorResponse(
                known ?? .internalError("We encountered an internal error. Please try again."), requestID: requestID,
                isHead: request.method == .head)
        }
        response.headers[.amzRequestID] = requestID
        return response
    }

    private func route(_ request: Request) async throws -> Response {
        let s3 = try S3Request(uri: request.uri, host: request.head.authority, virtualHostDomain: virtualHostDomain)
        if let subresource = s3.unimplementedSubresource {
            throw S3Error.notImplemented("?\(subresource)")
        }
        let query = s3.query
        let isCopy = request.headers[.amzCopySource] != nil
        switch (s3.bucket.isEmpty, s3.key.isEmpty, request.method) {
        case (true, _, .get): return buckets.listBuckets()
        case (true, _, _): throw S3Error.methodNotAllowed
        case (false, true, .put): return try await buckets.createBucket(s3, request: request)
        case (false, true, .delete): return try await buckets.deleteBucket(s3)
        case (false, true, .head): return try buckets.headBucket(s3)
        case (false, true, .get):
            if query["location"] != nil { return try buckets.getBucketLocation(s3) }
            if query["versions"] != nil { return try buckets.listObjectVersions(s3) }
            if query["uploads"] != nil { return try buckets.listMultipartUploads(s3) }
            return try buckets.listObjects(s3)
        case (false, true, .post):
            if query["delete"] != nil { return try await objects.deleteObjects(s3, request: request) }
            throw S3Error.methodNotAllowed
        case (false, true, _): throw S3Error.methodNotAllowed
        case (false, false, .put):
            if let uploadID = query["uploadId"] {
                return isCopy
                    ? try await objects.uploadPartCopy(s3, request: request, uploadID: uploadID)
                    : try await objects.uploadPart(s3, request: request, uploadID: uploadID)
            }
            return isCopy ? try await objects.copyObject(s3, request: request) : try await objects.putObject(s3, request: request)
        case (false, false, .get):
            if let uploadID = query["uploadId"] { return try objects.listParts(s3, uploadID: uploadID) }
            return try await objects.getObject(s3, request: request, headOnly: false)
        case (false, false, .head): return try await objects.getObject(s3, request: request, headOnly: true)
        case (false, false, .delete):
            if let uploadID = query["uploadId"] { return try await objects.abortMultipartUpload(s3, uploadID: uploadID) }
            return try await objects.deleteObject(s3)
        case (false, false, .post):
            if query["uploads"] != nil { return try await objects.createMultipartUpload(s3, request: request) }
            if let uploadID = query["uploadId"] {
                return try await objects.completeMultipartUpload(s3, request: request, uploadID: uploadID)
            }
            throw S3Error.methodNotAllowed
        case (false, false, _): throw S3Error.methodNotAllowed
        }
    }

    static func errorResponse(_ error: S3Error, requestID: String, isHead: Bool) -> Response {
        // A HEAD response carries no body: one would corrupt the next response on the connection.
        var headers = HTTPFields()
        for (name, value) in error.extraHeaders { headers[HTTPField.Name(name)!] = value }
        if isHead {
            headers[.contentLength] = "0"
            return Response(status: error.status, headers: headers)
        }
        headers[.contentType] = "application/xml"
        let body = ByteBuffer(string: error.xml(requestID: requestID))
        return Response(status: error.status, headers: headers, body: .init(byteBuffer: body))
    }

    static func xmlResponse(_ xml: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/xml"], body: .init(byteBuffer: ByteBuffer(string: xml)))
    }

    static func makeRequestID() -> String {
        let value = UInt64.random(in: 0...UInt64.max)
        let hex = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
