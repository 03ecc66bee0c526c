import Foundation
import HTTPTypes
import NIOCore

/// The fields of a browser POST upload's form (docs: AWS S3 "POST Object", "Browser-based uploads
/// using POST"), gathered up to the `file` part, which must come last: what follows it is ignored.
/// Field names are case-insensitive and kept lowercased.
struct PostForm {
    /// The form's text fields by lowercased name.
    private(set) var fields: [String: String] = [:]
    /// The file part's headers, once reached.
    private(set) var file: FormPartHeaders?

    /// The bytes of the fields before the file (the policy among them), and of what may follow it.
    static let fieldsBytesMax = 64 * 1024

    private var current: (name: String, value: ByteBuffer)?
    /// Bytes of field names and values so far.
    private var bytes = 0

    /// Takes the next event of the form; true once the file's headers are in (its content comes next).
    mutating func consume(_ event: FormDataEvent) throws -> Bool {
        switch event {
        case .partHeaders(let headers):
            guard current == nil, !headers.name.isEmpty else { throw FormDataParser.malformed }
            let name = headers.name.lowercased()
            if name == "file" {
                file = headers
                return true
            }
            current = (name, ByteBuffer())
            bytes += name.utf8.count
        case .data(var data):
            guard current != nil else { throw FormDataParser.malformed }
            bytes += data.readableBytes
            guard bytes <= Self.fieldsBytesMax else { throw Self.fieldsTooLarge }
            current!.value.writeBuffer(&data)
        case .partEnd:
            guard let (name, value) = current else { throw FormDataParser.malformed }
            current = nil
            // Browsers and clients send each field once; the x-ignore- ones are there to be ignored.
            guard fields[name] == nil || name.hasPrefix("x-ignore-") else {
                throw S3Error.invalidArgument("The form field \(name) appears more than once.")
            }
            fields[name] = String(decoding: value.readableBytesView, as: UTF8.self)
        }
        return false
    }

    /// Reads the form's fields from `reader` up to the file's headers.
    static func read<Body>(_ reader: FormDataReader<Body>) async throws -> PostForm {
        var form = PostForm()
        while let event = try await reader.next() {
            if try form.consume(event) { return form }
        }
        throw S3Error(.incorrectNumberOfFilesInPostRequest, "POST requires exactly one file upload per request.")
    }

    static let fieldsTooLarge = S3Error(
        .maxPostPreDataLengthExceeded, "Your POST request fields preceding the upload file were too large.")

    /// The object's key: the `key` field, where `${filename}` stands for the file's name.
    func key() throws -> String {
        guard let field = fields["key"], !field.isEmpty else {
            throw S3Error.invalidArgument(
                "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
        }
        let key = field.replacingOccurrences(of: "${filename}", with: file?.filename ?? "")
        guard !key.isEmpty else { throw S3Error.invalidArgument("The key is empty: the file has no name for ${filename}.") }
        return key
    }

    /// The request headers the fields stand for: the object's stored headers and user metadata,
    /// its canned ACL; the file part's Content-Type when no field gives one.
    /// The headers a PutObject of the file would have sent: stored ones and `x-amz-meta-*`, the
    /// file's type, `acl`, `tagging` (a `<Tagging>` document, as `x-amz-tagging` query text), and
    /// Object Lock's `x-amz-object-lock-*` fields.
    func objectHeaders() throws -> HTTPFields {
        var headers = HTTPFields()
        for (name, value) in fields where ObjectHeaders.storedNames.contains(name) || name.hasPrefix("x-amz-meta-") {
            guard let field = HTTPField.Name(name) else { continue }
            headers[field] = value
        }
        if headers[.contentType] == nil, let type = file?.contentType { headers[.contentType] = type }
        if let acl = fields["acl"] { headers[.amzACL] = acl }
        if let tagging = fields["tagging"] {
            let tags = try TagSet(xml: try XMLNode.parse(Data(tagging.utf8)))
            try tags.check(tagsMax: TagSet.objectTagsMax)
            headers[TagSet.header] = tags.queryText
        }
        for name in [HTTPField.Name.amzObjectLockMode, .amzObjectLockRetainUntilDate, .amzObjectLockLegalHold] {
            if let value = fields[name.canonicalName] { headers[name] = value }
        }
        return headers
    }

    /// Where to send the browser after the upload: `success_action_redirect` (or the older `redirect`).
    var redirect: String? { fields["success_action_redirect"] ?? fields["redirect"] }

    /// `success_action_status`: 200 or 201 when asked for, else 204.
    var successStatus: HTTPResponse.Status {
        switch fields["success_action_status"] {
        case "200": .ok
        case "201": .created
        default: .noContent
        }
    }
}
