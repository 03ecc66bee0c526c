import Hummingbird
import HummingbirdCore

/// GetBucketVersioning, PutBucketVersioning and ListObjectVersions.
extension BucketHandlers {
    static let versioningBodyBytesMax = 16 << 10

    func getBucketVersioning(_ s3: S3Request) throws -> Response {
        guard let versioning = metadata.versioning(bucket: s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        var xml = XMLWriter()
        xml.open("VersioningConfiguration")
        if let status = versioning.status { xml.element("Status", status) }
        xml.close("VersioningConfiguration")
        return S3Router.xmlResponse(xml.text)
    }

    /// `Enabled` or `Suspended`; a bucket never goes back to unversioned. MFA delete is not offered.
    func putBucketVersioning(_ s3: S3Request, request: Request) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        let root = try await XMLNode.parse(request, bytesMax: Self.versioningBodyBytesMax)
        guard root.name == "VersioningConfiguration" else { throw XMLNode.malformed }
        if root.child("MfaDelete")?.trimmedText == "Enabled" { throw S3Error.notImplemented("MfaDelete") }
        guard let status = root.child("Status")?.trimmedText, let versioning = BucketVersioning(status: status) else {
            throw S3Error(.illegalVersioningConfiguration, "The Versioning element must be specified")
        }
        switch try await metadata.commit(.setBucketVersioning(bucket: s3.bucket, versioning: versioning)) {
        case .applied: return Response(status: .ok, headers: [.contentLength: "0"])
        case .rejected(let rejection): throw ObjectHandlers.s3Error(for: rejection, bucket: s3.bucket)
        }
    }

    /// Every version and delete marker, by key and newest first within a key; paged by
    /// `key-marker` and `version-id-marker`.
    func listObjectVersions(_ s3: S3Request) throws -> Response {
        let prefix = s3.query["prefix"] ?? ""
        let delimiter = s3.query["delimiter"] ?? ""
        let maxKeys = min(try ObjectHandlers.integer(s3.query["max-keys"], name: "max-keys") ?? 1000, Self.maxKeysLimit)
        let urlEncoded = s3.query["encoding-type"] == "url"
        let encode = { (text: String) in urlEncoded ? PercentEncoding.encode(text) : text }
        let keyMarker = s3.query["key-marker"] ?? ""
        let versionIDMarkerText = s3.query["version-id-marker"] ?? ""
        var versionIDMarker: VersionID?
        if !versionIDMarkerText.isEmpty {
            guard !keyMarker.isEmpty else {
                throw S3Error.invalidArgument("A version-id marker cannot be specified without a key marker.")
            }
            versionIDMarker = try ObjectVersions.parse(versionIDMarkerText)
        }
        guard let bucket = metadata.read({ $0.bucket(s3.bucket) }) else { throw S3Error.noSuchBucket(s3.bucket) }
        let marker = keyMarker.isEmpty ? nil : ListMarker(v1Marker: keyMarker, prefix: prefix, delimiter: delimiter)
        let page = maxKeys == 0
            ? BucketIndex.VersionPage()
            : bucket.listVersions(
                prefix: prefix, delimiter: delimiter, marker: marker, versionIDMarker: versionIDMarker, maxKeys: maxKeys)

        var xml = XMLWriter()
        xml.open("ListVersionsResult")
        xml.element("Name", s3.bucket)
        xml.element("Prefix", encode(prefix))
        xml.element("KeyMarker", encode(keyMarker))
        xml.element("VersionIdMarker", versionIDMarkerText)
        xml.element("MaxKeys", maxKeys)
        if !delimiter.isEmpty { xml.element("Delimiter", encode(delimiter)) }
        xml.element("IsTruncated", page.isTruncated)
        if page.isTruncated, let next = page.nextKeyMarker {
            xml.element("NextKeyMarker", encode(next))
            if let version = page.nextVersionIDMarker { xml.element("NextVersionIdMarker", version.text) }
        }
        if urlEncoded { xml.element("EncodingType", "url") }
        for (key, version, isLatest) in page.versions {
            xml.open(version.isDeleteMarker ? "DeleteMarker" : "Version", namespace: false)
            xml.element("Key", encode(key.string))
            xml.element("VersionId", version.versionID.text)
            xml.element("IsLatest", isLatest)
            xml.element("LastModified", HTTPDate.iso8601(ms: version.lastModifiedMs))
            if !version.isDeleteMarker {
                xml.element("ETag", version.etag)
                xml.element("Size", version.size)
            }
            ObjectHandlers.writeOwner(&xml, as: "Owner")
            if !version.isDeleteMarker { xml.element("StorageClass", "STANDARD") }
            xml.close(version.isDeleteMarker ? "DeleteMarker" : "Version")
        }
        xml.commonPrefixes(page.commonPrefixes, encode: encode)
        xml.close("ListVersionsResult")
        return S3Router.xmlResponse(xml.text)
    }
}
