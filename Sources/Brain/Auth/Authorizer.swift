import HTTPTypes

/// Decides whether a principal may perform an operation: the root key may do everything; another
/// key what its permissions on the bucket allow (read, write, owner; creating buckets when it may);
/// anonymous requests nothing yet (public buckets come with ACLs and policies). A refusal is 403
/// AccessDenied, decided before the handler runs, so nothing changes.
struct Authorizer: Sendable {
    let metadata: MetadataStore

    func authorize(_ principal: Principal, _ operation: S3Operation, _ s3: S3Request, headers: HTTPFields) throws {
        let key: AccessKey
        switch principal {
        case .key(let signer) where signer.isRoot: return
        case .key(let signer): key = signer
        case .anonymous: throw denied(s3.bucket)
        }
        guard let record = metadata.accessKey(key.accessKeyID) else { throw denied(s3.bucket) }
        let held = record.permissions(on: s3.bucket)
        let needed: BucketPermissions
        switch operation {
        case .listBuckets: return  // the handler lists only the key's buckets
        case .createBucket:
            // An existing bucket the key can reach is answered by the handler (BucketAlreadyOwnedByYou).
            guard record.mayCreateBuckets || !held.isEmpty else { throw denied(s3.bucket) }
            return
        case .deleteBucket: needed = .owner
        case .copyObject, .uploadPartCopy:
            let source = try ObjectHandlers.copySourceName(headers)
            guard record.permissions(on: source.bucket).contains(.read) else { throw denied(source.bucket) }
            needed = .write
        default: needed = operation.isRead ? .read : .write
        }
        guard held.contains(needed) else { throw denied(s3.bucket) }
    }

    private func denied(_ bucket: String) -> S3Error {
        S3Error(.accessDenied, "Access Denied", resource: bucket.isEmpty ? "/" : "/" + bucket)
    }
}
