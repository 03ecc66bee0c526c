import HTTPTypes

/// Conditional GET/HEAD (and copy-source conditions), evaluated in RFC 9110's order, as S3 does:
/// If-Match, else If-Unmodified-Since (412); then If-None-Match, else If-Modified-Since (304).
enum Preconditions {
    enum Result: Equatable {
        case proceed
        case notModified
        case preconditionFailed
    }

    struct Conditions {
        var ifMatch: String?
        var ifNoneMatch: String?
        var ifModifiedSince: String?
        var ifUnmodifiedSince: String?
    }

    static func conditions(from headers: HTTPFields) -> Conditions {
        Conditions(
            ifMatch: headers[.ifMatch], ifNoneMatch: headers[.ifNoneMatch],
            ifModifiedSince: headers[.ifModifiedSince], ifUnmodifiedSince: headers[.ifUnmodifiedSince])
    }

    /// The x-amz-copy-source-if-* headers of CopyObject / UploadPartCopy.
    static func copySourceConditions(from headers: HTTPFields) -> Conditions {
        func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
        return Conditions(
            ifMatch: header("x-amz-copy-source-if-match"), ifNoneMatch: header("x-amz-copy-source-if-none-match"),
            ifModifiedSince: header("x-amz-copy-source-if-modified-since"),
            ifUnmodifiedSince: header("x-amz-copy-source-if-unmodified-since"))
    }

    static func evaluate(_ conditions: Conditions, etag: String, lastModifiedMs: Int64) -> Result {
        let lastModifiedSeconds = lastModifiedMs / 1000
        if let ifMatch = conditions.ifMatch {
            if !matches(ifMatch, etag: etag) { return .preconditionFailed }
        } else if let since = conditions.ifUnmodifiedSince.flatMap(HTTPDate.parseSeconds), lastModifiedSeconds > since {
            return .preconditionFailed
        }
        if let ifNoneMatch = conditions.ifNoneMatch {
            if matches(ifNoneMatch, etag: etag) { return .notModified }
        } else if let since = conditions.ifModifiedSince.flatMap(HTTPDate.parseSeconds), lastModifiedSeconds <= since {
            return .notModified
        }
        return .proceed
    }

    /// Whether a list of entity tags (or `*`) names `etag`; quotes and W/ prefixes are optional.
    static func matches(_ list: String, etag: String) -> Bool {
        let bare = etag.trimmingQuotes()
        return list.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingCharacters()
            return tag == "*" || (tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag).trimmingQuotes() == bare
        }
    }

    static let preconditionFailed = S3Error(.preconditionFailed, "At least one of the pre-conditions you specified did not hold")

    // MARK: Conditional writes

    /// What a write asks of the object it would replace (PutObject, CopyObject's destination,
    /// CompleteMultipartUpload): `If-None-Match: *` (none there) or `If-Match: ETAG` (that one, or
    /// any with `*`), not both.
    static func writeCondition(from headers: HTTPFields) throws -> WriteCondition {
        var condition = WriteCondition()
        if let ifNoneMatch = headers[.ifNoneMatch] {
            guard ifNoneMatch.trimmingSpaces() == "*" else { throw S3Error.notImplemented("If-None-Match with a value other than *") }
            condition.mustNotExist = true
        }
        if let ifMatch = headers[.ifMatch] {
            guard !condition.mustNotExist else { throw S3Error.notImplemented("If-Match together with If-None-Match") }
            condition.etag = WriteCondition.bare(ifMatch.trimmingSpaces())
        }
        return condition
    }

    static let ifMatchSize = HTTPField.Name("x-amz-if-match-size")!
    static let ifMatchLastModifiedTime = HTTPField.Name("x-amz-if-match-last-modified-time")!

    /// What a DeleteObject asks of the object it deletes: `If-Match`, `x-amz-if-match-size` and
    /// `x-amz-if-match-last-modified-time` (an HTTP date), alone or together.
    static func deleteCondition(from headers: HTTPFields) throws -> WriteCondition {
        var condition = WriteCondition()
        if let ifMatch = headers[.ifMatch] { condition.etag = WriteCondition.bare(ifMatch.trimmingSpaces()) }
        if let text = headers[ifMatchSize] {
            guard let size = Int64(text.trimmingSpaces()), size >= 0 else {
                throw S3Error.invalidArgument("x-amz-if-match-size must be a size in bytes")
            }
            condition.size = size
        }
        if let text = headers[ifMatchLastModifiedTime] {
            guard let seconds = HTTPDate.parseSeconds(text) ?? HTTPDate.parseISO8601(text) else {
                throw S3Error.invalidArgument("x-amz-if-match-last-modified-time must be an HTTP date")
            }
            condition.lastModifiedSeconds = seconds
        }
        return condition
    }

    /// The same conditions on one `<Object>` of a DeleteObjects body: `ETag`, `Size` and
    /// `LastModifiedTime` (ISO 8601).
    static func deleteCondition(etag: String?, size: String?, lastModifiedTime: String?) throws -> WriteCondition {
        var condition = WriteCondition()
        condition.etag = etag.map { WriteCondition.bare($0.trimmingSpaces()) }
        if let size {
            guard let value = Int64(size.trimmingSpaces()), value >= 0 else { throw S3Error.invalidArgument("Size must be a size in bytes") }
            condition.size = value
        }
        if let lastModifiedTime {
            guard let seconds = HTTPDate.parseISO8601(lastModifiedTime.trimmingSpaces()) else {
                throw S3Error.invalidArgument("LastModifiedTime must be an ISO 8601 time")
            }
            condition.lastModifiedSeconds = seconds
        }
        return condition
    }
}

extension String {
    func trimmingQuotes() -> String {
        var text = Substring(self)
        if text.hasPrefix("\"") { text = text.dropFirst() }
        if text.hasSuffix("\"") { text = text.dropLast() }
        return String(text)
    }
}
