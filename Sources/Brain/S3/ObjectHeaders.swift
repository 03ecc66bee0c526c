import Foundation
import HTTPTypes

/// Which request headers are kept with an object, and how GET/HEAD give them back.
enum ObjectHeaders {
    /// Standard headers S3 stores and returns; `x-amz-meta-*` is stored too.
    static let storedNames: [String] = [
        "content-type", "content-encoding", "content-disposition", "content-language", "cache-control", "expires",
    ]
    /// S3's limit on user metadata (x-amz-meta-* names and values together).
    static let userMetadataBytesMax = 2048

    /// The headers of a PUT / CreateMultipartUpload / CopyObject(REPLACE) to store with the object.
    static func storable(from headers: HTTPFields) throws -> [StoredHeader] {
        var stored: [StoredHeader] = []
        var userMetadataBytes = 0
        for field in headers {
            let name = field.name.canonicalName
            var value = field.value
            if name == "content-encoding" {
                // aws-chunked is transfer framing, not a property of the object.
                value = value.split(separator: ",").map { $0.trimmingCharacters() }.filter { $0 != "aws-chunked" }
                    .joined(separator: ", ")
                if value.isEmpty { continue }
            }
            if name.hasPrefix("x-amz-meta-") {
                value = MIMEWord.decoded(value)
                userMetadataBytes += name.utf8.count - "x-amz-meta-".utf8.count + value.utf8.count
            } else if !storedNames.contains(name) {
                continue
            }
            if let index = stored.firstIndex(where: { $0.name == name }) {
                stored[index].value += ", " + value  // a repeated header's values, joined as HTTP joins them
            } else {
                stored.append(StoredHeader(name: name, value: value))
            }
            guard stored.last(where: { $0.name == name })!.value.utf8.count <= ObjectHandlers.headerValueBytesMax else {
                throw S3Error.invalidArgument("the value of \(name) is longer than \(ObjectHandlers.headerValueBytesMax) bytes")
            }
        }
        guard userMetadataBytes <= userMetadataBytesMax else {
            throw S3Error(.metadataTooLarge, "Your metadata headers exceed the maximum allowed metadata size.")
        }
        if !stored.contains(where: { $0.name == "content-type" }) {
            stored.insert(StoredHeader(name: "content-type", value: "binary/octet-stream"), at: 0)
        }
        return stored
    }

    /// Query parameters of GetObject that override a response header.
    static let responseOverrides: [(query: String, header: String)] = [
        ("response-content-type", "content-type"), ("response-content-language", "content-language"),
        ("response-expires", "expires"), ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"), ("response-content-encoding", "content-encoding"),
    ]

    /// Headers describing `object` on GET/HEAD (body length and range are the caller's).
    static func response(for object: ObjectRecord, query: [String: String]) -> HTTPFields {
        var fields = HTTPFields()
        fields[.eTag] = object.etag
        fields[.lastModified] = HTTPDate.rfc1123(ms: object.lastModifiedMs)
        fields[.acceptRanges] = "bytes"
        for header in object.headers {
            switch header.name {
            case ObjectRecord.aclHeaderName: continue
            case ObjectRecord.taggingHeaderName:
                fields[TagSet.countHeader] = String(TagSet(queryText: header.value)?.tags.count ?? 0)
            default:
                let isUserMetadata = header.name.hasPrefix("x-amz-meta-")
                fields[HTTPField.Name(header.name)!] = isUserMetadata ? MIMEWord.encoded(header.value) : header.value
            }
        }
        for (queryName, headerName) in responseOverrides {
            if let value = query[queryName] { fields[HTTPField.Name(headerName)!] = value }
        }
        if !object.partSizes.isEmpty {
            fields[.amzMPPartsCount] = String(object.partSizes.count)
        }
        return fields
    }

    /// The checksum headers, given only when the client asks and the whole object is returned.
    static func addChecksum(of object: ObjectRecord, to fields: inout HTTPFields) {
        guard let checksum = object.checksum else { return }
        fields[checksum.algorithm.headerField] = checksum.value
        fields[.amzChecksumType] = checksum.isComposite ? "COMPOSITE" : "FULL_OBJECT"
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String { String(self).trimmingSpaces() }
}
