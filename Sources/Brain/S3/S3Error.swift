import HTTPTypes

/// Every S3 error code SOS answers with, each with its HTTP status: the one list of them (docs:
/// AWS S3 "Error responses", "List of error codes").
public enum S3ErrorCode: String, Sendable, CaseIterable {
    case accessDenied = "AccessDenied"
    case accessForbidden = "AccessForbidden"
    case authorizationHeaderMalformed = "AuthorizationHeaderMalformed"
    case authorizationQueryParametersError = "AuthorizationQueryParametersError"
    case badDigest = "BadDigest"
    case badRequest = "BadRequest"
    case bucketAlreadyExists = "BucketAlreadyExists"
    case bucketAlreadyOwnedByYou = "BucketAlreadyOwnedByYou"
    case bucketNotEmpty = "BucketNotEmpty"
    case entityTooLarge = "EntityTooLarge"
    case entityTooSmall = "EntityTooSmall"
    case incompleteBody = "IncompleteBody"
    case illegalVersioningConfiguration = "IllegalVersioningConfigurationException"
    case incorrectNumberOfFilesInPostRequest = "IncorrectNumberOfFilesInPostRequest"
    case internalError = "InternalError"
    case invalidAccessKeyId = "InvalidAccessKeyId"
    case invalidArgument = "InvalidArgument"
    case invalidBucketName = "InvalidBucketName"
    case invalidBucketState = "InvalidBucketState"
    case invalidDigest = "InvalidDigest"
    case invalidPart = "InvalidPart"
    case invalidPolicyDocument = "InvalidPolicyDocument"
    case invalidPartNumber = "InvalidPartNumber"
    case invalidPartOrder = "InvalidPartOrder"
    case invalidRange = "InvalidRange"
    case invalidRequest = "InvalidRequest"
    case invalidTag = "InvalidTag"
    case keyTooLongError = "KeyTooLongError"
    case malformedPOSTRequest = "MalformedPOSTRequest"
    case malformedPolicy = "MalformedPolicy"
    case malformedXML = "MalformedXML"
    case maxPostPreDataLengthExceeded = "MaxPostPreDataLengthExceededError"
    case metadataTooLarge = "MetadataTooLarge"
    case methodNotAllowed = "MethodNotAllowed"
    case missingContentLength = "MissingContentLength"
    case missingSecurityHeader = "MissingSecurityHeader"
    case noSuchBucket = "NoSuchBucket"
    case noSuchBucketPolicy = "NoSuchBucketPolicy"
    case noSuchCORSConfiguration = "NoSuchCORSConfiguration"
    case noSuchKey = "NoSuchKey"
    case noSuchLifecycleConfiguration = "NoSuchLifecycleConfiguration"
    case noSuchObjectLockConfiguration = "NoSuchObjectLockConfiguration"
    case noSuchTagSet = "NoSuchTagSet"
    case noSuchUpload = "NoSuchUpload"
    case noSuchVersion = "NoSuchVersion"
    case notImplemented = "NotImplemented"
    case objectLockConfigurationNotFoundError = "ObjectLockConfigurationNotFoundError"
    case preconditionFailed = "PreconditionFailed"
    case requestTimeTooSkewed = "RequestTimeTooSkewed"
    case requestTimeout = "RequestTimeout"
    case serviceUnavailable = "ServiceUnavailable"
    case signatureDoesNotMatch = "SignatureDoesNotMatch"
    case xAmzContentSHA256Mismatch = "XAmzContentSHA256Mismatch"

    public var status: HTTPResponse.Status {
        switch self {
        case .accessDenied, .accessForbidden, .invalidAccessKeyId, .requestTimeTooSkewed, .signatureDoesNotMatch: .forbidden
        case .bucketAlreadyExists, .bucketAlreadyOwnedByYou, .bucketNotEmpty, .invalidBucketState: .conflict
        case .internalError: .internalServerError
        case .invalidPartNumber, .invalidRange: .rangeNotSatisfiable
        case .methodNotAllowed: .methodNotAllowed
        case .missingContentLength: HTTPResponse.Status(code: 411, reasonPhrase: "Length Required")
        case .noSuchBucket, .noSuchBucketPolicy, .noSuchCORSConfiguration, .noSuchKey, .noSuchLifecycleConfiguration, .noSuchTagSet, .noSuchUpload, .noSuchVersion,
            .noSuchObjectLockConfiguration, .objectLockConfigurationNotFoundError: .notFound
        case .notImplemented: .notImplemented
        case .preconditionFailed: .preconditionFailed
        case .serviceUnavailable: .serviceUnavailable
        case .authorizationHeaderMalformed, .authorizationQueryParametersError, .badDigest, .badRequest, .entityTooLarge,
            .entityTooSmall, .illegalVersioningConfiguration, .incompleteBody, .incorrectNumberOfFilesInPostRequest, .invalidArgument,
            .invalidBucketName, .invalidDigest, .invalidPart, .invalidPartOrder, .invalidPolicyDocument, .invalidRequest, .invalidTag,
            .keyTooLongError, .malformedPOSTRequest, .malformedPolicy, .malformedXML, .maxPostPreDataLengthExceeded,
            .metadataTooLarge, .missingSecurityHeader, .requestTimeout, .xAmzContentSHA256Mismatch:
            .badRequest
        }
    }
}

/// An S3 error as clients expect it: a code (which fixes the HTTP status), a message, the resource.
public struct S3Error: Error, Sendable, Equatable {
    public var code: S3ErrorCode
    public var message: String
    public var resource: String = ""
    /// Headers the error response carries besides the XML (e.g. Content-Range on 416).
    public var extraHeaders: [(name: String, value: String)] = []
    /// The one answer whose status is not its code's: an UploadPartCopy range beyond its source is
    /// 400 InvalidRange (`copyRangeBeyondSource`), where a GET's range is 416.
    private var statusOverride: HTTPResponse.Status?

    public var status: HTTPResponse.Status { statusOverride ?? code.status }

    public static func == (a: S3Error, b: S3Error) -> Bool {
        a.code == b.code && a.message == b.message && a.resource == b.resource
    }

    public init(_ code: S3ErrorCode, _ message: String, resource: String = "") {
        self.code = code
        self.message = message
        self.resource = resource
    }

    public static func noSuchBucket(_ bucket: String) -> S3Error {
        S3Error(.noSuchBucket, "The specified bucket does not exist", resource: "/" + bucket)
    }
    public static func noSuchKey(_ bucket: String, _ key: String) -> S3Error {
        S3Error(.noSuchKey, "The specified key does not exist.", resource: "/\(bucket)/\(key)")
    }
    public static func bucketNotEmpty(_ bucket: String) -> S3Error {
        S3Error(.bucketNotEmpty, "The bucket you tried to delete is not empty", resource: "/" + bucket)
    }
    public static func bucketAlreadyOwnedByYou(_ bucket: String) -> S3Error {
        S3Error(
            .bucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it.", resource: "/" + bucket)
    }
    public static func invalidBucketName(_ bucket: String) -> S3Error {
        S3Error(.invalidBucketName, "The specified bucket is not valid.", resource: "/" + bucket)
    }
    public static func serviceUnavailable(_ why: String) -> S3Error {
        S3Error(.serviceUnavailable, why)
    }
    public static func notImplemented(_ what: String) -> S3Error {
        S3Error(.notImplemented, "A header or query you provided implies functionality that is not implemented: \(what)")
    }
    public static func invalidArgument(_ message: String) -> S3Error {
        S3Error(.invalidArgument, message)
    }
    public static func internalError(_ message: String) -> S3Error {
        S3Error(.internalError, message)
    }
    public static func noSuchUpload(_ uploadID: String) -> S3Error {
        S3Error(
            .noSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
    }
    public static let invalidPart = S3Error(
        .invalidPart,
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
    public static func copyRangeBeyondSource(size: Int64) -> S3Error {
        var error = S3Error(.invalidRange, "Range specified is not valid for source object of size: \(size)")
        error.statusOverride = .badRequest
        return error
    }
    public static let methodNotAllowed = S3Error(
        .methodNotAllowed, "The specified method is not allowed against this resource.")
    public static let accessDenied = S3Error(.accessDenied, "Access Denied")
    public static let signatureDoesNotMatch = S3Error(
        .signatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
    public static let invalidAccessKeyId = S3Error(
        .invalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")

    func xml(requestID: String) -> String {
        var xml = XMLWriter()
        xml.open("Error", namespace: false)
        xml.element("Code", code.rawValue)
        xml.element("Message", message)
        xml.element("Resource", resource)
        xml.element("RequestId", requestID)
        xml.close("Error")
        return xml.text
    }
}
