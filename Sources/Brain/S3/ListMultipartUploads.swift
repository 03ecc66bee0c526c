import Hummingbird
import HummingbirdCore

/// ListMultipartUploads.
extension BucketHandlers {
    func listMultipartUploads(_ s3: S3Request) throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        let prefix = s3.query["prefix"] ?? ""
        let delimiter = s3.query["delimiter"] ?? ""
        let keyMarker = s3.query["key-marker"] ?? ""
        let uploadIDMarker = s3.query["upload-id-marker"] ?? ""
        let maxUploads = min(try ObjectHandlers.integer(s3.query["max-uploads"], name: "max-uploads") ?? 1000, 1000)
        let urlEncoded = s3.query["encoding-type"] == "url"
        let encode = { (text: String) in urlEncoded ? PercentEncoding.encode(text) : text }

        let markerKind = ListMarker(v1Marker: keyMarker, prefix: prefix, delimiter: delimiter)
        var uploads: [MultipartUpload] = []
        var commonPrefixes: [String] = []
        var isTruncated = false
        for upload in metadata.uploads(in: s3.bucket) where ObjectKey(upload.key).hasPrefix(prefix) {
            let key = ObjectKey(upload.key), marker = ObjectKey(keyMarker)
            if !keyMarker.isEmpty && (key < marker || (key == marker && (uploadIDMarker.isEmpty || upload.uploadID <= uploadIDMarker))) {
                continue
            }
            if case .commonPrefix(let skipped) = markerKind, key.hasPrefix(skipped) { continue }
            if !delimiter.isEmpty, let common = BucketIndex.commonPrefix(of: upload.key, prefix: prefix, delimiter: delimiter) {
                if commonPrefixes.last != common {
                    if uploads.count + commonPrefixes.count == maxUploads { isTruncated = true; break }
                    commonPrefixes.append(common)
                }
                continue
            }
            if uploads.count + commonPrefixes.count == maxUploads { isTruncated = true; break }
            uploads.append(upload)
        }
        var xml = XMLWriter()
        xml.open("ListMultipartUploadsResult")
        xml.element("Bucket", s3.bucket)
        xml.element("KeyMarker", encode(keyMarker))
        xml.element("UploadIdMarker", uploadIDMarker)
        if isTruncated {
            // The page ends with whichever came last in key order: an upload or a common prefix.
            if let prefix = commonPrefixes.last, uploads.last.map({ ObjectKey($0.key) < ObjectKey(prefix) }) ?? true {
                xml.element("NextKeyMarker", encode(prefix))
            } else if let last = uploads.last {
                xml.element("NextKeyMarker", encode(last.key))
                xml.element("NextUploadIdMarker", last.uploadID)
            }
        }
        xml.element("Prefix", encode(prefix))
        if !delimiter.isEmpty { xml.element("Delimiter", encode(delimiter)) }
        xml.element("MaxUploads", maxUploads)
        xml.element("IsTruncated", isTruncated)
        if urlEncoded { xml.element("EncodingType", "url") }
        for upload in uploads {
            xml.open("Upload", namespace: false)
            xml.element("Key", encode(upload.key))
            xml.element("UploadId", upload.uploadID)
            ObjectHandlers.writeOwner(&xml, as: "Initiator")
            ObjectHandlers.writeOwner(&xml, as: "Owner")
            xml.element("StorageClass", "STANDARD")
            xml.element("Initiated", HTTPDate.iso8601(ms: upload.initiatedMs))
            if let algorithm = upload.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm.name) }
            xml.close("Upload")
        }
        xml.commonPrefixes(commonPrefixes, encode: encode)
        xml.close("ListMultipartUploadsResult")
        return S3Router.xmlResponse(xml.text)
    }
}
