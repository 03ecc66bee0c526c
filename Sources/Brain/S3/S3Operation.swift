import HTTPTypes

/// The S3 operation a request names, decided once from its method, path and query (as Garage's
/// router does). The name is the one AWS documents (for logs and metrics); the IAM action is
/// what authorization decides on.
enum S3Operation: String, Sendable, CaseIterable {
    case listBuckets = "ListBuckets"
    case createBucket = "CreateBucket"
    case deleteBucket = "DeleteBucket"
    case headBucket = "HeadBucket"
    case getBucketLocation = "GetBucketLocation"
    case listObjects = "ListObjects"
    case listObjectsV2 = "ListObjectsV2"
    case listObjectVersions = "ListObjectVersions"
    case listMultipartUploads = "ListMultipartUploads"
    case deleteObjects = "DeleteObjects"
    case putObject = "PutObject"
    /// A browser's upload: `POST /bucket` with a multipart/form-data body signed by its policy.
    case postObject = "PostObject"
    case copyObject = "CopyObject"
    case getObject = "GetObject"
    case headObject = "HeadObject"
    case getObjectAttributes = "GetObjectAttributes"
    case deleteObject = "DeleteObject"
    case createMultipartUpload = "CreateMultipartUpload"
    case uploadPart = "UploadPart"
    case uploadPartCopy = "UploadPartCopy"
    case completeMultipartUpload = "CompleteMultipartUpload"
    case abortMultipartUpload = "AbortMultipartUpload"
    case listParts = "ListParts"
    case getBucketAcl = "GetBucketAcl"
    case putBucketAcl = "PutBucketAcl"
    case getObjectAcl = "GetObjectAcl"
    case putObjectAcl = "PutObjectAcl"
    case getBucketPolicy = "GetBucketPolicy"
    case putBucketPolicy = "PutBucketPolicy"
    case deleteBucketPolicy = "DeleteBucketPolicy"
    case getBucketPolicyStatus = "GetBucketPolicyStatus"
    case getObjectTagging = "GetObjectTagging"
    case putObjectTagging = "PutObjectTagging"
    case deleteObjectTagging = "DeleteObjectTagging"
    case getBucketTagging = "GetBucketTagging"
    case putBucketTagging = "PutBucketTagging"
    case deleteBucketTagging = "DeleteBucketTagging"
    case getBucketVersioning = "GetBucketVersioning"
    case putBucketVersioning = "PutBucketVersioning"
    case getBucketLifecycleConfiguration = "GetBucketLifecycleConfiguration"
    case putBucketLifecycleConfiguration = "PutBucketLifecycleConfiguration"
    case deleteBucketLifecycle = "DeleteBucketLifecycle"
    case getBucketCors = "GetBucketCors"
    case putBucketCors = "PutBucketCors"
    case deleteBucketCors = "DeleteBucketCors"
    case getObjectLockConfiguration = "GetObjectLockConfiguration"
    case putObjectLockConfiguration = "PutObjectLockConfiguration"
    case getObjectRetention = "GetObjectRetention"
    case putObjectRetention = "PutObjectRetention"
    case getObjectLegalHold = "GetObjectLegalHold"
    case putObjectLegalHold = "PutObjectLegalHold"

    var name: String { rawValue }

    /// The IAM action that allows the operation (docs: "Actions, resources, and condition keys for Amazon S3").
    var iamAction: String {
        switch self {
        case .listBuckets: "s3:ListAllMyBuckets"
        case .createBucket: "s3:CreateBucket"
        case .deleteBucket: "s3:DeleteBucket"
        case .headBucket, .listObjects, .listObjectsV2: "s3:ListBucket"
        case .getBucketLocation: "s3:GetBucketLocation"
        case .listObjectVersions: "s3:ListBucketVersions"
        case .listMultipartUploads: "s3:ListBucketMultipartUploads"
        case .putObject, .postObject, .copyObject, .createMultipartUpload, .uploadPart, .uploadPartCopy, .completeMultipartUpload:
            "s3:PutObject"
        case .getObject, .headObject: "s3:GetObject"
        case .getObjectAttributes: "s3:GetObjectAttributes"
        case .deleteObject, .deleteObjects: "s3:DeleteObject"
        case .abortMultipartUpload: "s3:AbortMultipartUpload"
        case .listParts: "s3:ListMultipartUploadParts"
        case .getBucketAcl: "s3:GetBucketAcl"
        case .putBucketAcl: "s3:PutBucketAcl"
        case .getObjectAcl: "s3:GetObjectAcl"
        case .putObjectAcl: "s3:PutObjectAcl"
        case .getBucketPolicy: "s3:GetBucketPolicy"
        case .putBucketPolicy: "s3:PutBucketPolicy"
        case .deleteBucketPolicy: "s3:DeleteBucketPolicy"
        case .getBucketPolicyStatus: "s3:GetBucketPolicyStatus"
        case .getObjectTagging: "s3:GetObjectTagging"
        case .putObjectTagging: "s3:PutObjectTagging"
        case .deleteObjectTagging: "s3:DeleteObjectTagging"
        case .getBucketTagging: "s3:GetBucketTagging"
        case .putBucketTagging, .deleteBucketTagging: "s3:PutBucketTagging"  // AWS has no DeleteBucketTagging action
        case .getBucketVersioning: "s3:GetBucketVersioning"
        case .putBucketVersioning: "s3:PutBucketVersioning"
        case .getBucketLifecycleConfiguration: "s3:GetLifecycleConfiguration"
        case .putBucketLifecycleConfiguration, .deleteBucketLifecycle: "s3:PutLifecycleConfiguration"
        case .getBucketCors: "s3:GetBucketCORS"
        case .putBucketCors, .deleteBucketCors: "s3:PutBucketCORS"  // AWS has no DeleteBucketCORS action
        case .getObjectLockConfiguration: "s3:GetBucketObjectLockConfiguration"
        case .putObjectLockConfiguration: "s3:PutBucketObjectLockConfiguration"
        case .getObjectRetention: "s3:GetObjectRetention"
        case .putObjectRetention: "s3:PutObjectRetention"
        case .getObjectLegalHold: "s3:GetObjectLegalHold"
        case .putObjectLegalHold: "s3:PutObjectLegalHold"
        }
    }

    /// The IAM action of the operation on a version named by `versionId` (s3:GetObjectVersion, ...).
    func iamAction(versionNamed: Bool) -> String {
        guard versionNamed else { return iamAction }
        switch self {
        case .getObject, .headObject: return "s3:GetObjectVersion"
        case .getObjectAttributes: return "s3:GetObjectVersionAttributes"
        case .deleteObject: return "s3:DeleteObjectVersion"
        case .getObjectAcl: return "s3:GetObjectVersionAcl"
        case .putObjectAcl: return "s3:PutObjectVersionAcl"
        case .getObjectTagging: return "s3:GetObjectVersionTagging"
        case .putObjectTagging: return "s3:PutObjectVersionTagging"
        case .deleteObjectTagging: return "s3:DeleteObjectVersionTagging"
        default: return iamAction
        }
    }

    /// Whether the operation reads from a bucket (as opposed to changing it), for permissions.
    var isRead: Bool {
        switch self {
        case .listBuckets, .headBucket, .getBucketLocation, .listObjects, .listObjectsV2, .listObjectVersions,
            .listMultipartUploads, .getObject, .headObject, .getObjectAttributes, .listParts, .getObjectAcl, .getObjectTagging, .getBucketTagging,
            .getBucketVersioning, .getObjectRetention, .getObjectLegalHold:
            true
        default: false
        }
    }

    /// The operation of a request; NotImplemented for sub-resources SOS lacks, MethodNotAllowed
    /// for methods a resource does not take.
    init(method: HTTPRequest.Method, request s3: S3Request, headers: HTTPFields) throws {
        if let subresource = s3.unimplementedSubresource {
            throw S3Error.notImplemented("?\(subresource)")
        }
        let query = s3.query
        let isCopy = headers[.amzCopySource] != nil
        if !s3.bucket.isEmpty,
            let subresource = Self.subresources.first(where: { query[$0.query] != nil && $0.onObject == !s3.key.isEmpty })
        {
            switch method {
            case .get: self = try subresource.get ?? { throw S3Error.methodNotAllowed }()
            case .put: self = try subresource.put ?? { throw S3Error.methodNotAllowed }()
            case .delete: self = try subresource.delete ?? { throw S3Error.methodNotAllowed }()
            default: throw S3Error.methodNotAllowed
            }
            return
        }
        switch (s3.bucket.isEmpty, s3.key.isEmpty, method) {
        case (true, _, .get): self = .listBuckets
        case (true, _, _): throw S3Error.methodNotAllowed
        case (false, true, .put): self = .createBucket
        case (false, true, .delete): self = .deleteBucket
        case (false, true, .head): self = .headBucket
        case (false, true, .get):
            if query["location"] != nil {
                self = .getBucketLocation
            } else if query["versions"] != nil {
                self = .listObjectVersions
            } else if query["uploads"] != nil {
                self = .listMultipartUploads
            } else {
                self = query["list-type"] == "2" ? .listObjectsV2 : .listObjects
            }
        case (false, true, .post): self = query["delete"] != nil ? .deleteObjects : .postObject
        case (false, true, _): throw S3Error.methodNotAllowed
        case (false, false, .put):
            if query["uploadId"] != nil {
                self = isCopy ? .uploadPartCopy : .uploadPart
            } else {
                self = isCopy ? .copyObject : .putObject
            }
        case (false, false, .get):
            if query["uploadId"] != nil {
                self = .listParts
            } else {
                self = query["attributes"] != nil ? .getObjectAttributes : .getObject
            }
        case (false, false, .head): self = .headObject
        case (false, false, .delete): self = query["uploadId"] != nil ? .abortMultipartUpload : .deleteObject
        case (false, false, .post):
            if query["uploads"] != nil {
                self = .createMultipartUpload
            } else if query["uploadId"] != nil {
                self = .completeMultipartUpload
            } else {
                throw S3Error.methodNotAllowed
            }
        case (false, false, _): throw S3Error.methodNotAllowed
        }
    }

    /// A sub-resource (`?tagging`, ...) of a bucket or of an object, and its operation for each method it takes.
    private struct Subresource {
        let query: String
        let onObject: Bool
        var get: S3Operation?
        var put: S3Operation?
        var delete: S3Operation?
    }

    /// The sub-resources SOS has, in the order a request naming several is decided by.
    private static let subresources: [Subresource] = [
        Subresource(query: "policy", onObject: false, get: .getBucketPolicy, put: .putBucketPolicy, delete: .deleteBucketPolicy),
        Subresource(query: "policyStatus", onObject: false, get: .getBucketPolicyStatus),
        Subresource(query: "tagging", onObject: false, get: .getBucketTagging, put: .putBucketTagging, delete: .deleteBucketTagging),
        Subresource(query: "tagging", onObject: true, get: .getObjectTagging, put: .putObjectTagging, delete: .deleteObjectTagging),
        Subresource(query: "object-lock", onObject: false, get: .getObjectLockConfiguration, put: .putObjectLockConfiguration),
        Subresource(query: "retention", onObject: true, get: .getObjectRetention, put: .putObjectRetention),
        Subresource(query: "legal-hold", onObject: true, get: .getObjectLegalHold, put: .putObjectLegalHold),
        Subresource(
            query: "lifecycle", onObject: false, get: .getBucketLifecycleConfiguration, put: .putBucketLifecycleConfiguration,
            delete: .deleteBucketLifecycle),
        Subresource(query: "cors", onObject: false, get: .getBucketCors, put: .putBucketCors, delete: .deleteBucketCors),
        Subresource(query: "versioning", onObject: false, get: .getBucketVersioning, put: .putBucketVersioning),
        Subresource(query: "acl", onObject: false, get: .getBucketAcl, put: .putBucketAcl),
        Subresource(query: "acl", onObject: true, get: .getObjectAcl, put: .putObjectAcl),
    ]
}
