import HTTPTypes
import Hummingbird
import HummingbirdCore

/// GetObjectAttributes: what `x-amz-object-attributes` asks of an object (or of the version
/// `versionId` names) without its body: ETag, Checksum, ObjectParts, StorageClass, ObjectSize.
extension ObjectHandlers {
    static let objectAttributesHeader = HTTPField.Name("x-amz-object-attributes")!
    static let objectAttributeNames: Set<String> = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]

    func getObjectAttributes(_ s3: S3Request, request: Request) throws -> Response {
        let requested = Set(
            (request.headers[values: Self.objectAttributesHeader].joined(separator: ","))
                .split(separator: ",").map { $0.trimmingCharacters() })
        guard !requested.isEmpty, requested.isSubset(of: Self.objectAttributeNames) else {
            throw S3Error.invalidArgument("Invalid attribute name specified.")
        }
        let (object, versioning, _) = try ObjectVersions.readable(
            metadata, bucket: s3.bucket, key: s3.key, versionID: try ObjectVersions.requested(s3))
        var xml = XMLWriter()
        xml.open("GetObjectAttributesResponse")
        if requested.contains("ETag") { xml.element("ETag", WriteCondition.bare(object.etag)) }
        if requested.contains("Checksum"), let checksum = object.checksum {
            xml.open("Checksum", namespace: false)
            xml.element("Checksum" + checksum.algorithm.name, checksum.value)
            xml.element("ChecksumType", checksum.isComposite ? "COMPOSITE" : "FULL_OBJECT")
            xml.close("Checksum")
        }
        if requested.contains("ObjectParts"), !object.partSizes.isEmpty {
            try writeParts(of: object, s3, request.headers, to: &xml)
        }
        if requested.contains("StorageClass") { xml.element("StorageClass", "STANDARD") }
        if requested.contains("ObjectSize") { xml.element("ObjectSize", object.size) }
        xml.close("GetObjectAttributesResponse")
        var response = S3Router.xmlResponse(xml.text)
        response.headers[.lastModified] = HTTPDate.rfc1123(ms: object.lastModifiedMs)
        if ObjectVersions.namesVersions(versioning, object) { response.headers[.amzVersionID] = object.versionID.text }
        return response
    }

    /// The parts of a multipart object, a page of `x-amz-max-parts` (1000) after `x-amz-part-number-marker`.
    private func writeParts(of object: ObjectRecord, _ s3: S3Request, _ headers: HTTPFields, to xml: inout XMLWriter) throws {
        let marker = try Self.integer(headers[HTTPField.Name("x-amz-part-number-marker")!], name: "x-amz-part-number-marker") ?? 0
        let maxParts = min(try Self.integer(headers[HTTPField.Name("x-amz-max-parts")!], name: "x-amz-max-parts") ?? 1000, 1000)
        let numbers = Array(object.partSizes.indices.map { $0 + 1 }.filter { $0 > marker })
        let page = numbers.prefix(maxParts)
        xml.open("ObjectParts", namespace: false)
        xml.element("PartsCount", object.partSizes.count)
        xml.element("PartNumberMarker", marker)
        if let last = page.last { xml.element("NextPartNumberMarker", last) }
        xml.element("MaxParts", maxParts)
        xml.element("IsTruncated", page.count < numbers.count)
        for number in page {
            xml.open("Part", namespace: false)
            xml.element("PartNumber", number)
            xml.element("Size", object.partSizes[number - 1])
            xml.close("Part")
        }
        xml.close("ObjectParts")
    }
}
