import HTTPTypes
import Hummingbird
import HummingbirdCore

/// GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl, for canned ACLs: a PUT takes
/// `x-amz-acl`, or an AccessControlPolicy body whose grants are those of a canned ACL; any other
/// grant answers 501 NotImplemented. A GET shows the canned ACL as S3's grants.
struct ACLHandlers: Sendable {
    let metadata: MetadataStore

    static let policyBytesMax = 64 << 10
    /// SOS has one owner: the store (as ListBuckets shows it).
    static let ownerID = "sos"
    static let allUsers = "http://acs.amazonaws.com/groups/global/AllUsers"
    static let authenticatedUsers = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"

    func getBucketACL(_ s3: S3Request) throws -> Response {
        guard let bucket = metadata.read({ $0.bucket(s3.bucket) }) else { throw S3Error.noSuchBucket(s3.bucket) }
        return S3Router.xmlResponse(Self.policyXML(bucket.info.acl))
    }

    func putBucketACL(_ s3: S3Request, request: Request) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        let acl = try await Self.requestedACL(request)
        switch try await metadata.commit(.setBucketACL(bucket: s3.bucket, acl: acl)) {
        case .applied: return Response(status: .ok, headers: [.contentLength: "0"])
        case .rejected: throw S3Error.noSuchBucket(s3.bucket)
        }
    }

    func getObjectACL(_ s3: S3Request) throws -> Response {
        let object = try ObjectVersions.readable(
            metadata, bucket: s3.bucket, key: s3.key, versionID: try ObjectVersions.requested(s3)).object
        return S3Router.xmlResponse(Self.policyXML(object.acl))
    }

    func putObjectACL(_ s3: S3Request, request: Request) async throws -> Response {
        let object = try ObjectVersions.readable(
            metadata, bucket: s3.bucket, key: s3.key, versionID: try ObjectVersions.requested(s3)).object
        let acl = try await Self.requestedACL(request)
        switch try await metadata.commit(.setObjectACL(bucket: s3.bucket, key: s3.key, versionID: object.versionID, acl: acl)) {
        case .applied: return Response(status: .ok, headers: [.contentLength: "0"])
        case .rejected(let rejection): throw ObjectHandlers.s3Error(for: rejection, bucket: s3.bucket)
        }
    }

    /// `x-amz-acl`, or the canned ACL an AccessControlPolicy body's grants amount to.
    static func requestedACL(_ request: Request) async throws -> CannedACL {
        if let acl = try ObjectHandlers.cannedACL(request.headers) { return acl }
        let root = try await XMLNode.parse(request, bytesMax: policyBytesMax)
        guard root.name == "AccessControlPolicy", let list = root.child("AccessControlList") else { throw XMLNode.malformed }
        var requested: Set<String> = []
        for grant in list.all("Grant") {
            guard let grantee = grant.child("Grantee"), let permission = grant.child("Permission")?.trimmedText else {
                throw XMLNode.malformed
            }
            if let uri = grantee.child("URI")?.trimmedText {
                requested.insert("\(uri) \(permission)")
            } else if grantee.child("ID")?.trimmedText == ownerID && permission == "FULL_CONTROL" {
                continue  // the owner's own grant, which every canned ACL has
            } else {
                throw S3Error.notImplemented("ACL grants other than those of a canned ACL")
            }
        }
        for acl in CannedACL.allCases where Set(groupGrants(acl).map { "\($0.uri) \($0.permission)" }) == requested {
            return acl
        }
        throw S3Error.notImplemented("ACL grants other than those of a canned ACL")
    }

    /// The group grants a canned ACL stands for, besides the owner's FULL_CONTROL.
    static func groupGrants(_ acl: CannedACL) -> [(uri: String, permission: String)] {
        switch acl {
        case .private: []
        case .publicRead: [(allUsers, "READ")]
        case .publicReadWrite: [(allUsers, "READ"), (allUsers, "WRITE")]
        case .authenticatedRead: [(authenticatedUsers, "READ")]
        }
    }

    static func policyXML(_ acl: CannedACL) -> String {
        let schema = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
        var xml = XMLWriter()
        xml.open("AccessControlPolicy")
        xml.open("Owner", namespace: false)
        xml.element("ID", ownerID)
        xml.element("DisplayName", ownerID)
        xml.close("Owner")
        xml.open("AccessControlList", namespace: false)
        xml.open("Grant", namespace: false)
        xml.raw("<Grantee \(schema) xsi:type=\"CanonicalUser\">")
        xml.element("ID", ownerID)
        xml.element("DisplayName", ownerID)
        xml.close("Grantee")
        xml.element("Permission", "FULL_CONTROL")
        xml.close("Grant")
        for (uri, permission) in groupGrants(acl) {
            xml.open("Grant", namespace: false)
            xml.raw("<Grantee \(schema) xsi:type=\"Group\">")
            xml.element("URI", uri)
            xml.close("Grantee")
            xml.element("Permission", permission)
            xml.close("Grant")
        }
        xml.close("AccessControlList")
        xml.close("AccessControlPolicy")
        return xml.text
    }
}
