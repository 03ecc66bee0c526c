import HTTPTypes

/// An S3 error as clients expect it: HTTP status, code, message (docs: AWS S3 "Error responses").
public struct S3Error: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var resource: String = ""
    /// Headers the error response carries besides the XML (e.g. Content-Range on 416).
    public var extraHeaders: [(name: String, value: String)] = []

    public static func == (a: S3Error, b: S3Error) -> Bool {
        a.status == b.status && a.code == b.code && a.message == b.message && a.resource == b.resource
    }

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, resource: String = "") {
        self.status = status
        self.code = code
        self.message = message
        self.resource = resource
    }

    public static func noSuchBucket(_ bucket: String) -> S3Error {
        S3Error(.notFound, "NoSuchBucket", "The specified bucket does not exist", resource: "/" + bucket)
    }
    public static func noSuchKey(_ bucket: String, _ key: String) -> S3Error {
        S3Error(.notFound, "NoSuchKey", "The specified key does not exist.", resource: "/\(bucket)/\(key)")
    }
    public static func bucketNotEmpty(_ bucket: String) -> S3Error {
        S3Error(.conflict, "BucketNotEmpty", "The bucket you tried to delete is not empty", resource: "/" + bucket)
    }
    public static func bucketAlreadyOwnedByYou(_ bucket: String) -> S3Error {
        S3Error(
            .conflict, "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.", resource: "/" + bucket)
    }
    public static func invalidBucketName(_ bucket: String) -> S3Error {
        S3Error(.badRequest, "InvalidBucketName", "The specified bucket is not valid.", resource: "/" + bucket)
    }
    public static func serviceUnavailable(_ why: String) -> S3Error {
        S3Error(.serviceUnavailable, "ServiceUnavailable", why)
    }
    public static func notImplemented(_ what: String) -> S3Error {
        S3Error(.notImplemented, "NotImplemented", "A header or query you provided implies functionality that is not implemented: \(what)")
    }
    public static func invalidArgument(_ message: String) -> S3Error {
        S3Error(.badRequest, "InvalidArgument", message)
    }
    public static func internalError(_ message: String) -> S3Error {
        S3Error(.internalServerError, "InternalError", message)
    }
    public static func noSuchUpload(_ uploadID: String) -> S3Error {
        S3Error(
            .notFound, "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
    }
    public static let invalidPart = S3Error(
        .badRequest, "InvalidPart",
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
    public static let methodNotAllowed = S3Error(
        .methodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")

    func xml(requestID: String) -> String {
        var xml = XMLWriter()
        xml.open("Error", namespace: false)
        xml.element("Code", code)
        xml.element("Message", message)
        xml.element("Resource", resource)
        xml.element("RequestId", requestID)
        xml.close("Error")
        return xml.text
    }
}
