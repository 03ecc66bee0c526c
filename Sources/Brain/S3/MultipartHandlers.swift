import ClusterProtocol
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListParts.
extension ObjectHandlers {
    static let partNumberMax = 10_000
    /// Every part but the last must be at least this large (S3: EntityTooSmall).
    static let partBytesMin: Int64 = 5 << 20
    static let completeBodyBytesMax = 1 << 20

    func createMultipartUpload(_ s3: S3Request, request: Request) async throws -> Response {
        try Self.validateKey(s3.key)
        guard let bucket = metadata.bucketInfo(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        var algorithm: ChecksumAlgorithm?
        if let name = request.headers[.amzChecksumAlgorithm] {
            guard let parsed = ChecksumAlgorithm(name: name) else {
                throw S3Error(.invalidRequest, "Checksum algorithm \(name) is not supported.")
            }
            algorithm = parsed
        }
        var upload = MultipartUpload(
            uploadID: Self.makeUploadID(), bucket: s3.bucket, key: s3.key, initiatedMs: Clock.nowMs(),
            headers: try Self.storedHeaders(request.headers, bucket: bucket),
            checksumAlgorithm: algorithm)
        upload.fullObjectChecksum = try Self.isFullObjectChecksum(request.headers[.amzChecksumType], algorithm: algorithm)
        try await commit(.createUpload(upload), bucket: s3.bucket)
        var xml = XMLWriter()
        xml.open("InitiateMultipartUploadResult")
        xml.element("Bucket", s3.bucket)
        xml.element("Key", s3.key)
        xml.element("UploadId", upload.uploadID)
        xml.close("InitiateMultipartUploadResult")
        var response = S3Router.xmlResponse(xml.text)
        if let algorithm {
            response.headers[.amzChecksumAlgorithm] = algorithm.name
            response.headers[.amzChecksumType] = upload.fullObjectChecksum ? "FULL_OBJECT" : "COMPOSITE"
        }
        return response
    }

    func uploadPart(_ s3: S3Request, request: Request, uploadID: String) async throws -> Response {
        let partNumber = try Self.partNumber(s3)
        let upload = try self.upload(uploadID, s3)
        let expectations = try BodyDigests.expectations(from: request.headers, defaultAlgorithm: upload.checksumAlgorithm)
        if let declared = expectations.checksumAlgorithm, let expected = upload.checksumAlgorithm, declared != expected {
            throw S3Error(.invalidRequest, "Checksum Type mismatch occurred, expected checksum Type: \(expected.name.lowercased()), actual checksum Type: \(declared.name.lowercased())")
        }
        let stored = try await storer.store(
            request.body, framing: try BodyStorer.Framing(headers: request.headers, signatures: s3.chunkSignatures), expectations: expectations,
            sizeMax: Self.putBytesMax, headers: upload.headers)
        let part = PartRecord(
            size: stored.digests.size, etag: ObjectRecord.etag(md5: stored.digests.md5), lastModifiedMs: Clock.nowMs(),
            checksum: upload.checksumAlgorithm == nil ? nil : stored.digests.checksum?.value, chunks: stored.placements)
        try await commit(
            .putPart(uploadID: uploadID, partNumber: partNumber, part: part), bucket: s3.bucket, uploadID: uploadID,
            newChunks: part.chunks)
        var fields: HTTPFields = [.eTag: part.etag, .contentLength: "0"]
        if let checksum = stored.digests.checksum { fields[checksum.algorithm.headerField] = checksum.value }
        return Response(status: .ok, headers: fields)
    }

    func completeMultipartUpload(_ s3: S3Request, request: Request, uploadID: String) async throws -> Response {
        guard let upload = try? self.upload(uploadID, s3) else {
            return try await repeatedCompletion(s3, request: request, uploadID: uploadID)
        }
        let condition = try Preconditions.writeCondition(from: request.headers)
        try check(condition, s3)
        let requested = try await Self.requestedParts(request)
        var parts: [PartRecord] = []
        for (number, etag) in requested {
            guard let part = upload.parts[number], part.etag.trimmingQuotes() == etag.trimmingQuotes() else {
                throw S3Error.invalidPart
            }
            parts.append(part)
        }
        for part in parts.dropLast() where part.size < Self.partBytesMin {
            throw S3Error(.entityTooSmall, "Your proposed upload is smaller than the minimum allowed object size.")
        }
        let object = ObjectRecord(
            size: parts.reduce(0) { $0 + $1.size }, etag: Self.multipartETag(parts.map(\.etag)), lastModifiedMs: Clock.nowMs(),
            headers: upload.headers, checksum: try Self.checksum(of: upload, parts: parts, request: request.headers),
            partSizes: parts.map(\.size), chunks: parts.flatMap(\.chunks),
            versionID: metadata.versioning(bucket: s3.bucket)?.newVersionID() ?? .null)
        do {
            let completion = Mutation.completeUpload(
                uploadID: uploadID, partNumbers: requested.map(\.number), partETags: parts.map(\.etag), object: object)
            try await commit(.with(condition, completion), bucket: s3.bucket, uploadID: uploadID)
        } catch let error as S3Error where error.code == .noSuchUpload {
            // A concurrent copy of this request (a client's retry) completed the upload first.
            guard let completed = completedObject(s3, parts: requested) else { throw error }
            return Self.completionResponse(s3, object: completed)
        }
        var response = Self.completionResponse(s3, object: object)
        if let expiration = LifecycleHandlers.expiration(
            metadata.bucketInfo(s3.bucket)?.lifecycle, key: s3.key, object: object, clock: lifecycleClock)
        {
            response.headers[LifecycleHandlers.expirationHeader] = expiration
        }
        return response
    }

    /// A retried CompleteMultipartUpload whose first attempt completed the upload but whose answer
    /// was lost (the brain restarted, the connection dropped) succeeds again, as on S3: the upload
    /// is gone, but the key holds the object those exact parts made. The ETag of a multipart object
    /// is derived from its parts' ETags, so the check needs no record of finished uploads.
    func repeatedCompletion(_ s3: S3Request, request: Request, uploadID: String) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        // A body that is no part list cannot be a retry: the upload is simply unknown.
        guard let requested = try? await Self.requestedParts(request), let completed = completedObject(s3, parts: requested)
        else { throw S3Error.noSuchUpload(uploadID) }
        return Self.completionResponse(s3, object: completed)
    }

    /// The object at the request's key if it is the one these parts made.
    func completedObject(_ s3: S3Request, parts: [(number: Int, etag: String)]) -> ObjectRecord? {
        guard let object = metadata.object(bucket: s3.bucket, key: s3.key), object.partSizes.count == parts.count,
            object.etag == Self.multipartETag(parts.map(\.etag))
        else { return nil }
        return object
    }

    /// The part list of a CompleteMultipartUpload body, checked to be in ascending order.
    static func requestedParts(_ request: Request) async throws -> [(number: Int, etag: String)] {
        let root = try await XMLNode.parse(request, bytesMax: completeBodyBytesMax, checksumHeadersAreTheBody: false)
        guard root.name == "CompleteMultipartUpload" else { throw XMLNode.malformed }
        let requested = try root.all("Part").map { node -> (number: Int, etag: String) in
            guard let number = node.child("PartNumber").flatMap({ Int($0.trimmedText) }), let etag = node.child("ETag")?.trimmedText
            else { throw XMLNode.malformed }
            return (number, etag)
        }
        guard !requested.isEmpty else { throw XMLNode.malformed }
        for (previous, next) in zip(requested, requested.dropFirst()) where next.number <= previous.number {
            throw S3Error(.invalidPartOrder, "The list of parts was not in ascending order. Parts must be ordered by part number.")
        }
        return requested
    }

    static func completionResponse(_ s3: S3Request, object: ObjectRecord) -> Response {
        var xml = XMLWriter()
        xml.open("CompleteMultipartUploadResult")
        xml.element("Location", "/\(s3.bucket)/\(s3.key)")
        xml.element("Bucket", s3.bucket)
        xml.element("Key", s3.key)
        xml.element("ETag", object.etag)
        if let checksum = object.checksum {
            xml.element("Checksum" + checksum.algorithm.name, checksum.value)
            xml.element("ChecksumType", checksum.isComposite ? "COMPOSITE" : "FULL_OBJECT")
        }
        xml.close("CompleteMultipartUploadResult")
        var response = S3Router.xmlResponse(xml.text)
        if !object.versionID.isNull { response.headers[.amzVersionID] = object.versionID.text }
        return response
    }

    func abortMultipartUpload(_ s3: S3Request, uploadID: String) async throws -> Response {
        _ = try upload(uploadID, s3)
        try await commit(.abortUpload(uploadID: uploadID), bucket: s3.bucket, uploadID: uploadID)
        return Response(status: .noContent)
    }

    func listParts(_ s3: S3Request, uploadID: String) throws -> Response {
        let upload = try self.upload(uploadID, s3)
        let marker = try Self.integer(s3.query["part-number-marker"], name: "part-number-marker") ?? 0
        let maxParts = min(try Self.integer(s3.query["max-parts"], name: "max-parts") ?? 1000, 1000)
        let numbers = upload.parts.keys.filter { $0 > marker }.sorted()
        let page = numbers.prefix(maxParts)
        var xml = XMLWriter()
        xml.open("ListPartsResult")
        xml.element("Bucket", s3.bucket)
        xml.element("Key", upload.key)
        xml.element("UploadId", uploadID)
        Self.writeOwner(&xml, as: "Initiator")
        Self.writeOwner(&xml, as: "Owner")
        xml.element("StorageClass", "STANDARD")
        xml.element("PartNumberMarker", marker)
        xml.element("NextPartNumberMarker", page.last ?? marker)
        xml.element("MaxParts", maxParts)
        xml.element("IsTruncated", numbers.count > page.count)
        if let algorithm = upload.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm.name) }
        for number in page {
            let part = upload.parts[number]!
            xml.open("Part", namespace: false)
            xml.element("PartNumber", number)
            xml.element("LastModified", HTTPDate.iso8601(ms: part.lastModifiedMs))
            xml.element("ETag", part.etag)
            xml.element("Size", part.size)
            if let checksum = part.checksum, let algorithm = upload.checksumAlgorithm {
                xml.element("Checksum" + algorithm.name, checksum)
            }
            xml.close("Part")
        }
        xml.close("ListPartsResult")
        return S3Router.xmlResponse(xml.text)
    }

    /// The upload, checked to belong to the request's bucket and key.
    func upload(_ uploadID: String, _ s3: S3Request) throws -> MultipartUpload {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        guard let upload = metadata.upload(uploadID), upload.bucket == s3.bucket, upload.key == s3.key else {
            throw S3Error.noSuchUpload(uploadID)
        }
        return upload
    }

    static func partNumber(_ s3: S3Request) throws -> Int {
        guard let number = s3.query["partNumber"].flatMap({ Int($0) }), (1...partNumberMax).contains(number) else {
            throw S3Error.invalidArgument("Part number must be an integer between 1 and 10000, inclusive")
        }
        return number
    }

    static func integer(_ text: String?, name: String) throws -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("\(name) must be a non-negative integer") }
        return value
    }

    /// The checksum of the parts' checksums, "-N": what S3 calls a COMPOSITE checksum.
    /// `x-amz-checksum-type` of a CreateMultipartUpload: COMPOSITE or FULL_OBJECT (a CRC only);
    /// without one, as S3 chooses: FULL_OBJECT for CRC64NVME, which has no composite form.
    static func isFullObjectChecksum(_ type: String?, algorithm: ChecksumAlgorithm?) throws -> Bool {
        switch type?.uppercased() {
        case nil: return algorithm == .crc64nvme
        case "COMPOSITE":
            guard algorithm != .crc64nvme else {
                throw S3Error(.invalidRequest, "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
            }
            return false
        case "FULL_OBJECT":
            guard let algorithm, CRCCombine.forAlgorithm(algorithm) != nil else {
                throw S3Error(
                    .invalidRequest,
                    "The FULL_OBJECT checksum type needs a CRC checksum algorithm (CRC32, CRC32C or CRC64NVME).")
            }
            return true
        default: throw S3Error.invalidArgument("Value for x-amz-checksum-type header is invalid.")
        }
    }

    /// The completed object's checksum: its parts' CRCs combined into the whole body's (FULL_OBJECT),
    /// or the checksum of their checksums (COMPOSITE). A whole-body value the request gives must match.
    static func checksum(of upload: MultipartUpload, parts: [PartRecord], request: HTTPFields) throws -> StoredChecksum? {
        guard let algorithm = upload.checksumAlgorithm else { return nil }
        guard upload.fullObjectChecksum, let crc = CRCCombine.forAlgorithm(algorithm) else {
            return compositeChecksum(algorithm, parts: parts)
        }
        var combined: UInt64?
        for part in parts {
            guard let text = part.checksum, let raw = Data(base64Encoded: text), let value = crc.value(Array(raw)) else {
                return nil
            }
            combined = combined.map { crc.combine($0, value, secondLength: part.size) } ?? value
        }
        let value = Data(crc.bytes(combined ?? 0)).base64EncodedString()
        if let given = request[algorithm.headerField], given != value {
            throw S3Error(.badDigest, "The \(algorithm.name) you specified did not match the calculated checksum.")
        }
        return StoredChecksum(algorithm: algorithm, value: value, isComposite: false)
    }

    static func compositeChecksum(_ algorithm: ChecksumAlgorithm?, parts: [PartRecord]) -> StoredChecksum? {
        guard let algorithm else { return nil }
        var combined = RunningChecksum(algorithm)
        for part in parts {
            guard let value = part.checksum, let raw = Data(base64Encoded: value) else { return nil }
            raw.withUnsafeBytes { combined.update($0) }
        }
        return StoredChecksum(algorithm: algorithm, value: combined.base64Digest() + "-\(parts.count)", isComposite: true)
    }

    /// `"<hex MD5 of the parts' binary MD5s>-<part count>"`, as S3 computes it.
    static func multipartETag(_ partETags: [String]) -> String {
        let md5s = partETags.flatMap { BodyDigests.hexBytes($0.trimmingQuotes()) ?? [] }
        return String(ObjectRecord.etag(md5: Insecure.MD5.hash(data: md5s)).dropLast()) + "-\(partETags.count)\""
    }

    static func writeOwner(_ xml: inout XMLWriter, as element: String) {
        xml.open(element, namespace: false)
        xml.element("ID", "sos")
        xml.element("DisplayName", "sos")
        xml.close(element)
    }

    static func makeUploadID() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(UInt64.random(in: 0...UInt64.max, using: &rng), radix: 16).leftPadded(16) }.joined()
    }
}

