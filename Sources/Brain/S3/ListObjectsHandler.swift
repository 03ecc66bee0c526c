import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// ListObjects (v1, with marker) and ListObjectsV2 (continuation-token, start-after).
extension BucketHandlers {
    static let maxKeysLimit = 1000

    func listObjects(_ s3: S3Request) throws -> Response {
        let isV2 = s3.query["list-type"] == "2"
        if let listType = s3.query["list-type"], listType != "2" {
            throw S3Error.invalidArgument("list-type must be 2")
        }
        let prefix = s3.query["prefix"] ?? ""
        let delimiter = s3.query["delimiter"] ?? ""
        var maxKeys = Self.maxKeysLimit
        if let text = s3.query["max-keys"] {
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("max-keys must be a non-negative integer") }
            maxKeys = min(value, Self.maxKeysLimit)
        }
        let urlEncoded: Bool
        switch s3.query["encoding-type"] {
        case nil: urlEncoded = false
        case "url": urlEncoded = true
        default: throw S3Error.invalidArgument("Invalid Encoding Method specified in Request")
        }
        let startAfter = s3.query["start-after"] ?? ""
        let marker: ListMarker?
        if isV2 {
            if let token = s3.query["continuation-token"] {
                guard let decoded = Self.decodeToken(token) else {
                    throw S3Error.invalidArgument("The continuation token provided is incorrect")
                }
                marker = decoded
            } else {
                marker = startAfter.isEmpty ? nil : .key(startAfter)
            }
        } else {
            marker = s3.query["marker"].flatMap { $0.isEmpty ? nil : ListMarker(v1Marker: $0, prefix: prefix, delimiter: delimiter) }
        }

        guard let bucket = metadata.read({ $0.bucket(s3.bucket) }) else { throw S3Error.noSuchBucket(s3.bucket) }
        let page = maxKeys == 0
            ? BucketIndex.ListPage() : bucket.list(prefix: prefix, delimiter: delimiter, marker: marker, maxKeys: maxKeys)
        let encode = { (text: String) in urlEncoded ? PercentEncoding.encode(text) : text }

        var xml = XMLWriter()
        xml.open("ListBucketResult")
        xml.element("Name", s3.bucket)
        xml.element("Prefix", encode(prefix))
        if isV2 {
            if let token = s3.query["continuation-token"] { xml.element("ContinuationToken", token) }
            if !startAfter.isEmpty { xml.element("StartAfter", encode(startAfter)) }
            xml.element("KeyCount", page.objects.count + page.commonPrefixes.count)
        } else {
            xml.element("Marker", encode(s3.query["marker"] ?? ""))
        }
        xml.element("MaxKeys", maxKeys)
        if !delimiter.isEmpty { xml.element("Delimiter", encode(delimiter)) }
        xml.element("IsTruncated", page.isTruncated)
        if page.isTruncated, let resume = page.resumeMarker {
            if isV2 {
                xml.element("NextContinuationToken", Self.encodeToken(resume))
            } else if !delimiter.isEmpty {
                // v1 returns NextMarker only with a delimiter; without one, clients use the last key.
                switch resume {
                case .key(let key), .commonPrefix(let key): xml.element("NextMarker", encode(key))
                }
            }
        }
        if urlEncoded { xml.element("EncodingType", "url") }
        for (key, object) in page.objects {
            xml.open("Contents", namespace: false)
            xml.element("Key", encode(key.string))
            xml.element("LastModified", HTTPDate.iso8601(ms: object.lastModifiedMs))
            xml.element("ETag", object.etag)
            xml.element("Size", object.size)
            if !isV2 || s3.query["fetch-owner"] == "true" {
                xml.open("Owner", namespace: false)
                xml.element("ID", "sos")
                xml.element("DisplayName", "sos")
                xml.close("Owner")
            }
            xml.element("StorageClass", "STANDARD")
            xml.close("Contents")
        }
        xml.commonPrefixes(page.commonPrefixes, encode: encode)
        xml.close("ListBucketResult")
        return S3Router.xmlResponse(xml.text)
    }

    /// Continuation tokens are opaque to clients: base64 of "k" + last key or "p" + last common prefix.
    static func encodeToken(_ marker: ListMarker) -> String {
        switch marker {
        case .key(let key): return Data(("k" + key).utf8).base64EncodedString()
        case .commonPrefix(let prefix): return Data(("p" + prefix).utf8).base64EncodedString()
        }
    }

    static func decodeToken(_ token: String) -> ListMarker? {
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8), let kind = text.first
        else { return nil }
        let value = String(text.dropFirst())
        switch kind {
        case "k": return .key(value)
        case "p": return .commonPrefix(value)
        default: return nil
        }
    }
}
