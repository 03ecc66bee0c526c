import HTTPTypes

/// Decides whether a principal may perform an operation, before its handler runs: the root key may
/// do everything; for anyone else the bucket's policy denies (an explicit Deny wins) or allows, and
/// where it says nothing, a key's permissions on the bucket (read, write, owner; creating buckets
/// when it may) and the bucket's or the object's canned ACL decide. A refusal is 403 AccessDenied,
/// so nothing changes.
struct Authorizer: Sendable {
    let metadata: MetadataStore

    func authorize(_ principal: Principal, _ operation: S3Operation, _ s3: S3Request, headers: HTTPFields) throws {
        var record: AccessKeyRecord?
        switch principal {
        case .key(let signer) where signer.isRoot: return
        case .key(let signer):
            guard let found = metadata.accessKey(signer.accessKeyID) else { throw denied(s3.bucket) }
            record = found
        case .anonymous: break
        }
        let access = Access(metadata: metadata, record: record)
        var policyRequest = BucketPolicy.Request(
            action: operation.iamAction(versionNamed: s3.query["versionId"] != nil), resource: Self.arn(s3.bucket, s3.key),
            accessKeyID: record?.accessKeyID,
            sourceIP: s3.sourceIP, secureTransport: s3.isSecureTransport, prefix: nil)
        if operation == .listObjects || operation == .listObjectsV2 || operation == .listObjectVersions {
            policyRequest.prefix = s3.query["prefix"] ?? ""
        }
        let allowed: Bool
        switch operation {
        case .listBuckets: allowed = record != nil  // the handler lists only the key's buckets
        case .createBucket:
            // An existing bucket the key can reach is answered by the handler (BucketAlreadyOwnedByYou).
            allowed = record.map { $0.mayCreateBuckets || !$0.permissions(on: s3.bucket).isEmpty } ?? false
        case .copyObject, .uploadPartCopy:
            let source = try ObjectHandlers.copySourceName(headers)
            var read = policyRequest
            read.action = S3Operation.getObject.iamAction(versionNamed: source.versionID != nil)
            read.resource = Self.arn(source.bucket, source.key)
            let version = source.versionID?.text
            guard access.decide(source.bucket, read, otherwise: access.canRead(source.bucket, source.key, version: version)) else {
                throw denied(source.bucket)
            }
            allowed = access.decide(s3.bucket, policyRequest, otherwise: access.canWrite(s3.bucket))
        default:
            allowed = access.decide(s3.bucket, policyRequest, otherwise: Self.allowedWithoutPolicy(operation, s3, access))
        }
        guard allowed else { throw denied(s3.bucket) }
        // Bypassing a GOVERNANCE retention is a permission of its own (owner, or a policy's s3:BypassGovernanceRetention).
        if headers[ObjectLockHandlers.bypassHeader]?.lowercased() == "true",
            [.deleteObject, .deleteObjects, .putObjectRetention].contains(operation)
        {
            var bypass = policyRequest
            bypass.action = "s3:BypassGovernanceRetention"
            guard access.decide(s3.bucket, bypass, otherwise: access.held(s3.bucket).contains(.owner)) else { throw denied(s3.bucket) }
        }
    }

    /// DeleteObjects names its keys in its body: each is authorized as a DeleteObject of that key, so
    /// that a policy denying some keys holds there too.
    func mayDelete(_ principal: Principal, _ s3: S3Request, key: String, versionNamed: Bool) -> Bool {
        var one = s3
        one.key = key
        if versionNamed { one.query["versionId"] = "" }
        return (try? authorize(principal, .deleteObject, one, headers: [:])) != nil
    }

    /// What a key's permissions and the canned ACLs allow, for the operations on one bucket.
    private static func allowedWithoutPolicy(_ operation: S3Operation, _ s3: S3Request, _ access: Access) -> Bool {
        switch operation {
        case .deleteBucket, .getBucketAcl, .putBucketAcl, .getBucketPolicy, .putBucketPolicy, .deleteBucketPolicy,
            .getBucketPolicyStatus, .getBucketTagging, .putBucketTagging, .deleteBucketTagging, .putBucketVersioning,
            .getObjectLockConfiguration, .putObjectLockConfiguration, .getBucketCors, .putBucketCors, .deleteBucketCors,
            .getBucketLifecycleConfiguration, .putBucketLifecycleConfiguration, .deleteBucketLifecycle:
            return access.held(s3.bucket).contains(.owner)
        case .listObjects, .listObjectsV2, .listObjectVersions, .listMultipartUploads, .headBucket, .getBucketLocation:
            return access.canList(s3.bucket)
        case .getObject, .headObject, .getObjectAttributes: return access.canRead(s3.bucket, s3.key, version: s3.query["versionId"])
        case .getObjectAcl, .getObjectTagging, .getBucketVersioning, .getObjectRetention, .getObjectLegalHold: return access.held(s3.bucket).contains(.read)
        case .putObjectAcl, .putObjectTagging, .deleteObjectTagging, .putObjectRetention, .putObjectLegalHold: return access.held(s3.bucket).contains(.write)
        case .putObject, .postObject, .deleteObject, .deleteObjects, .createMultipartUpload, .uploadPart, .completeMultipartUpload,
            .abortMultipartUpload, .listParts:
            return access.canWrite(s3.bucket)
        case .listBuckets, .createBucket, .copyObject, .uploadPartCopy: return false  // decided by the caller
        }
    }

    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    static func arn(_ bucket: String, _ key: String) -> String {
        key.isEmpty ? "arn:aws:s3:::" + bucket : "arn:aws:s3:::\(bucket)/\(key)"
    }

    /// What one requester may reach: a key's permissions (none for anonymous), then the ACLs.
    private struct Access {
        let metadata: MetadataStore
        let record: AccessKeyRecord?

        var authenticated: Bool { record != nil }

        func held(_ bucket: String) -> BucketPermissions { record?.permissions(on: bucket) ?? [] }

        func bucketACL(_ bucket: String) -> CannedACL { metadata.read { $0.bucket(bucket)?.info.acl } ?? .private }

        func canList(_ bucket: String) -> Bool {
            held(bucket).contains(.read) || bucketACL(bucket).grantsRead(authenticated: authenticated)
        }

        /// A key with read permission, or the ACL of the version read (`versionText`: a named one; nil: the current object).
        func canRead(_ bucket: String, _ key: String, version versionText: String?) -> Bool {
            if held(bucket).contains(.read) { return true }
            let object: ObjectRecord?
            if let versionText {
                object = VersionID(text: versionText).flatMap { metadata.version(bucket: bucket, key: key, versionID: $0) }
            } else {
                object = metadata.object(bucket: bucket, key: key)
            }
            return object?.acl.grantsRead(authenticated: authenticated) ?? false
        }

        func canWrite(_ bucket: String) -> Bool { held(bucket).contains(.write) || bucketACL(bucket).grantsWrite }

        /// The bucket policy's decision if it has one, else `otherwise`.
        func decide(_ bucket: String, _ request: BucketPolicy.Request, otherwise: @autoclosure () -> Bool) -> Bool {
            switch metadata.read({ $0.bucket(bucket)?.info.policy })?.evaluate(request) ?? .noOpinion {
            case .deny: return false
            case .allow: return true
            case .noOpinion: return otherwise()
            }
        }
    }

    private func denied(_ bucket: String) -> S3Error {
        S3Error(.accessDenied, "Access Denied", resource: bucket.isEmpty ? "/" : "/" + bucket)
    }
}
