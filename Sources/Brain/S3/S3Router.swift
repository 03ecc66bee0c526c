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
            response = Self.errorResponse(
                .internalError("We encountered an internal error. Please try again."), requestID: requestID,
                isHead: request.method == .head)
        }
        response.headers[HTTPField.Name("x-amz-request-id")!] = requestID
        return response
    }

    private func route(_ request: Request) async throws -> Response {
        let s3 = try S3Request(uri: request.uri)
        if let subresource = s3.unimplementedSubresource {
            throw S3Error.notImplemented("?\(subresource)")
        }
        switch (s3.bucket.isEmpty, s3.key.isEmpty, request.method) {
        case (true, _, .get): return buckets.listBuckets()
        case (true, _, _): throw S3Error.methodNotAllowed
        case (false, true, .put): return try await buckets.createBucket(s3, request: request)
        case (false, true, .delete): return try await buckets.deleteBucket(s3)
        case (false, true, .head): return try buckets.headBucket(s3)
        case (false, true, .get):
            if s3.query["location"] != nil { return try buckets.getBucketLocation(s3) }
            return try buckets.listObjects(s3)
        case (false, true, _): throw S3Error.methodNotAllowed
        case (false, false, .put): return try await objects.putObject(s3, request: request)
        case (false, false, .get): return try await objects.getObject(s3, headOnly: false)
        case (false, false, .head): return try await objects.getObject(s3, headOnly: true)
        case (false, false, .delete): return try await objects.deleteObject(s3)
        case (false, false, _): throw S3Error.methodNotAllowed
        }
    }

    static func errorResponse(_ error: S3Error, requestID: String, isHead: Bool) -> Response {
        // A HEAD response carries no body: one would corrupt the next response on the connection.
        if isHead { return Response(status: error.status, headers: [.contentLength: "0"]) }
        let body = ByteBuffer(string: error.xml(requestID: requestID))
        return Response(status: error.status, headers: [.contentType: "application/xml"], body: .init(byteBuffer: body))
    }

    static func xmlResponse(_ xml: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/xml"], body: .init(byteBuffer: ByteBuffer(string: xml)))
    }

    private static func makeRequestID() -> String {
        let value = UInt64.random(in: 0...UInt64.max)
        let hex = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
