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
}

extension String {
    func trimmingQuotes() -> String {
        var text = Substring(self)
        if text.hasPrefix("\"") { text = text.dropFirst() }
        if text.hasSuffix("\"") { text = text.dropLast() }
        return String(text)
    }
}
