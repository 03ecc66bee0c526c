/// What a conditional write or delete requires of the object at its key (S3's conditional
/// requests: `If-None-Match: *` and `If-Match` on writes; `If-Match`, `x-amz-if-match-size` and
/// `x-amz-if-match-last-modified-time` on deletes). Checked when its mutation applies, in the
/// order commits apply, so that of writers racing on one key exactly one can meet it.
public struct WriteCondition: Sendable, Equatable {
    /// `If-None-Match: *`: no object at the key.
    public var mustNotExist = false
    /// `If-Match`: the object's ETag without quotes, or `*` for any object.
    public var etag: String?
    /// The object's size in bytes (deletes).
    public var size: Int64?
    /// The object's last-modified time in whole seconds (deletes; HTTP dates have no finer grain).
    public var lastModifiedSeconds: Int64?

    public init(mustNotExist: Bool = false, etag: String? = nil, size: Int64? = nil, lastModifiedSeconds: Int64? = nil) {
        self.mustNotExist = mustNotExist
        self.etag = etag
        self.size = size
        self.lastModifiedSeconds = lastModifiedSeconds
    }

    public var isEmpty: Bool { !mustNotExist && !requiresObject }

    /// Whether the condition names the object it expects (If-Match and its delete companions).
    var requiresObject: Bool { etag != nil || size != nil || lastModifiedSeconds != nil }

    /// Why `object` (nil: none at the key) fails the condition, or nil when it holds. A write that
    /// expects an object finds none: NoSuchKey; a delete of nothing succeeds whatever it expected.
    func rejection(of object: ObjectRecord?, deleting: Bool) -> MutationRejection? {
        guard let object else { return requiresObject && !deleting ? .noSuchKey : nil }
        if mustNotExist { return .preconditionFailed }
        if let etag, etag != "*", etag != Self.bare(object.etag) { return .preconditionFailed }
        if let size, size != object.size { return .preconditionFailed }
        if let lastModifiedSeconds, lastModifiedSeconds != object.lastModifiedMs / 1000 { return .preconditionFailed }
        return nil
    }

    /// An ETag without its quotes (and a weak one without `W/`), as conditions compare them.
    public static func bare(_ etag: some StringProtocol) -> String {
        var text = Substring(etag)
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        if text.hasPrefix("\"") { text = text.dropFirst() }
        if text.hasSuffix("\"") { text = text.dropLast() }
        return String(text)
    }
}
