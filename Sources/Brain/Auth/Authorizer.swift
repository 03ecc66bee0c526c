import HTTPTypes

/// Decides whether a principal may perform an operation, before its handler runs: the root key may
/// do everything; another key what its permissions on the bucket allow (read, write, owner; creating
/// buckets when it may); and anyone, signed or not, what the bucket's or the object's canned ACL
/// grants. A refusal is 403 AccessDenied, so nothing changes.
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
        let allowed: Bool
        switch operation {
        case .listBuckets: allowed = record != nil  // the handler lists only the key's buckets
        case .createBucket:
            // An existing bucket the key can reach is answered by the handler (BucketAlreadyOwnedByYou).
            allowed = record.map { $0.mayCreateBuckets || !$0.permissions(on: s3.bucket).isEmpty } ?? false
        case .deleteBucket, .getBucketAcl, .putBucketAcl: allowed = access.held(s3.bucket).contains(.owner)
        case .listObjects, .listObjectsV2, .listObjectVersions, .listMultipartUploads, .headBucket, .getBucketLocation:
            allowed = access.canList(s3.bucket)
        case .getObject, .headObject: allowed = access.canRead(s3.bucket, s3.key)
        case .getObjectAcl: allowed = access.held(s3.bucket).contains(.read)
        case .putObjectAcl: allowed = access.held(s3.bucket).contains(.write)
        case .putObject, .deleteObject, .deleteObjects, .createMultipartUpload, .uploadPart, .completeMultipartUpload,
            .abortMultipartUpload, .listParts:
            allowed = access.canWrite(s3.bucket)
        case .copyObject, .uploadPartCopy:
            let source = try ObjectHandlers.copySourceName(headers)
            guard access.canRead(source.bucket, source.key) else { throw denied(source.bucket) }
            allowed = access.canWrite(s3.bucket)
        }
        guard allowed else { throw denied(s3.bucket) }
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

        func canRead(_ bucket: String, _ key: String) -> Bool {
            if held(bucket).contains(.read) { return true }
            return metadata.object(bucket: bucket, key: key)?.acl.grantsRead(authenticated: authenticated) ?? false
        }

        func canWrite(_ bucket: String) -> Bool { held(bucket).contains(.write) || bucketACL(bucket).grantsWrite }
    }

    private func denied(_ bucket: String) -> S3Error {
        S3Error(.accessDenied, "Access Denied", resource: bucket.isEmpty ? "/" : "/" + bucket)
    }
}
