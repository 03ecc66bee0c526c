/// Decides whether a principal may perform an operation on a bucket. The root key may do
/// everything; anonymous requests are refused (public buckets come with ACLs and policies).
struct Authorizer: Sendable {
    func authorize(_ principal: Principal, _ operation: S3Operation, bucket: String) throws {
        switch principal {
        case .key(let key) where key.isRoot: return
        case .key, .anonymous: throw S3Error(.accessDenied, "Access Denied", resource: bucket.isEmpty ? "/" : "/" + bucket)
        }
    }
}
