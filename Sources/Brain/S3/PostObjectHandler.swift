import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore

extension ObjectHandlers {
    /// PostObject (docs: AWS S3 "POST Object"): a browser's upload, `POST /bucket` with a
    /// multipart/form-data body. Its fields are read up to the file; the form's signature and policy
    /// are checked and its key authorized; then the file streams into chunks as a PUT body does,
    /// within the policy's content-length-range. What follows the file is read and ignored.
    func postObject(
        _ s3: S3Request, request: Request, authenticate: ([String: String]) throws -> Principal,
        authorize: (Principal, S3Request) throws -> Void
    ) async throws -> Response {
        guard let boundary = request.headers[.contentType].flatMap(FormDataParser.boundary) else {
            throw S3Error(.preconditionFailed, "Bucket POST must be of the enclosure-type multipart/form-data")
        }
        let reader = FormDataReader(
            boundary: boundary, body: request.body.makeAsyncIterator(), quietBytesMax: PostForm.fieldsBytesMax)
        let form = try await PostForm.read(reader)
        var target = s3
        target.key = try form.key()
        try Self.validateKey(target.key)
        target.principal = try authenticate(form.fields)
        var sizes: (minimum: Int64, maximum: Int64) = (0, Self.putBytesMax)
        if let policy = form.fields["policy"] {
            let allowed = try PostPolicy(base64: policy).check(form.fields, bucket: s3.bucket, nowSeconds: Clock.nowMs() / 1000)
            sizes = (allowed.minimum, min(allowed.maximum, Self.putBytesMax))
        }
        try authorize(target.principal, target)
        guard let bucket = metadata.bucketInfo(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }

        let requestHeaders = try form.objectHeaders()
        let headers = try Self.storedHeaders(requestHeaders, bucket: bucket)
        let stored = try await storer.store(
            reader.partContent, framing: .plain, expectations: try BodyDigests.expectations(from: requestHeaders),
            sizeMax: sizes.maximum, headers: headers)
        do {
            guard stored.digests.size >= sizes.minimum else {
                throw S3Error(.entityTooSmall, "Your proposed upload is smaller than the minimum allowed size")
            }
            // The request is answered once all of its body has arrived.
            let fileEnd = reader.bytesRead
            while try await reader.next() != nil {
                guard reader.bytesRead - fileEnd <= PostForm.fieldsBytesMax else { throw FormDataParser.malformed }
            }
        } catch {
            chunks.discard(stored.placements)
            throw Self.s3Error(for: error)
        }
        let object = ObjectRecord(
            size: stored.digests.size, etag: ObjectRecord.etag(md5: stored.digests.md5), lastModifiedMs: Clock.nowMs(),
            headers: headers, checksum: stored.digests.checksum, chunks: stored.placements,
            versionID: bucket.versioning.newVersionID())
        try await commit(
            .putObject(bucket: s3.bucket, key: target.key, object: object), bucket: s3.bucket, newChunks: object.chunks)
        var response = Self.postResponse(form, target, etag: object.etag, host: request.head.authority)
        if !object.versionID.isNull { response.headers[.amzVersionID] = object.versionID.text }
        if let expiration = LifecycleHandlers.expiration(bucket.lifecycle, key: target.key, object: object, clock: lifecycleClock) {
            response.headers[LifecycleHandlers.expirationHeader] = expiration
        }
        return response
    }

    /// A redirect to `success_action_redirect`, or `success_action_status` (201 with a PostResponse document).
    private static func postResponse(_ form: PostForm, _ s3: S3Request, etag: String, host: String?) -> Response {
        if let redirect = form.redirect, !redirect.isEmpty {
            let query = [("bucket", s3.bucket), ("key", s3.key), ("etag", etag)]
                .map { "\($0)=\(PercentEncoding.encode($1, keepSlash: false))" }.joined(separator: "&")
            let location = redirect + (redirect.contains("?") ? "&" : "?") + query
            return Response(status: .seeOther, headers: [.location: location, .eTag: etag, .contentLength: "0"])
        }
        let path = (s3.isVirtualHosted ? "" : "/" + PercentEncoding.encode(s3.bucket)) + "/" + PercentEncoding.encode(s3.key)
        let location = (s3.isSecureTransport ? "https://" : "http://") + (host ?? "localhost") + path
        let status = form.successStatus
        guard status == .created else {
            return Response(status: status, headers: [.location: location, .eTag: etag, .contentLength: "0"])
        }
        var xml = XMLWriter()
        xml.open("PostResponse", namespace: false)
        xml.element("Location", location)
        xml.element("Bucket", s3.bucket)
        xml.element("Key", s3.key)
        xml.element("ETag", etag)
        xml.close("PostResponse")
        var response = S3Router.xmlResponse(xml.text, status: .created)
        response.headers[.location] = location
        response.headers[.eTag] = etag
        return response
    }
}
