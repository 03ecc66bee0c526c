import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// DeleteObjects: up to 1000 keys in one request, each with its own result.
extension ObjectHandlers {
    static let deleteObjectsKeysMax = 1000
    static let deleteObjectsBodyBytesMax = 2 << 20

    /// `mayDelete` authorizes each key (and whether a version is named) as a DeleteObject of it (a bucket policy may deny some keys):
    /// a key refused is answered AccessDenied in the result, and the others are deleted.
    func deleteObjects(_ s3: S3Request, request: Request, mayDelete: (String, Bool) -> Bool) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        // S3 requires Content-MD5 or an x-amz-checksum-* here; either is checked when present.
        let root = try await XMLNode.parse(request, bytesMax: Self.deleteObjectsBodyBytesMax)
        guard root.name == "Delete" else { throw XMLNode.malformed }
        let quiet = root.child("Quiet")?.trimmedText.lowercased() == "true"
        // Each key with its version and conditions (ETag, Size, LastModifiedTime), as the XML gives them.
        let entries = try root.all("Object").map { node -> (key: String, version: String?, etag: String?, size: String?, time: String?) in
            guard let key = node.child("Key")?.text else { throw XMLNode.malformed }
            return (
                key, node.child("VersionId")?.trimmedText, node.child("ETag")?.trimmedText, node.child("Size")?.trimmedText,
                node.child("LastModifiedTime")?.trimmedText
            )
        }
        guard !entries.isEmpty, entries.count <= Self.deleteObjectsKeysMax else { throw XMLNode.malformed }

        var xml = XMLWriter()
        xml.open("DeleteResult")
        for (key, version, etag, size, time) in entries {
            do {
                try Self.validateKey(key)
                guard mayDelete(key, version != nil) else { throw S3Error.accessDenied }
                let versionID = try version.map(ObjectVersions.parse)
                let condition = try Preconditions.deleteCondition(etag: etag, size: size, lastModifiedTime: time)
                let deleted = try await deleteObject(
                    s3.bucket, key, versionID: versionID, condition: condition, bypassGovernance: Self.bypassesGovernance(request.headers))
                if !quiet {
                    xml.open("Deleted", namespace: false)
                    xml.element("Key", key)
                    if versionID != nil, let id = deleted.versionID { xml.element("VersionId", id.text) }
                    if deleted.isDeleteMarker {
                        xml.element("DeleteMarker", true)
                        if let id = deleted.versionID { xml.element("DeleteMarkerVersionId", id.text) }
                    }
                    xml.close("Deleted")
                }
            } catch {
                let s3Error = (Self.s3Error(for: error) as? S3Error) ?? .internalError("We encountered an internal error.")
                xml.open("Error", namespace: false)
                xml.element("Key", key)
                if let version { xml.element("VersionId", version) }
                xml.element("Code", s3Error.code.rawValue)
                xml.element("Message", s3Error.message)
                xml.close("Error")
            }
        }
        xml.close("DeleteResult")
        return S3Router.xmlResponse(xml.text)
    }
}
