/// S3 Object Lock: retention (GOVERNANCE, COMPLIANCE) and legal holds on object versions, and a
/// bucket's default retention. A version's lock is kept among its stored headers under the names
/// GET and HEAD return it with, so the object layout does not change; whether a version may go is
/// judged in `MetadataState.apply` against the time the mutation carries (the brain's clock when
/// it was made), so that a replay judges exactly as the commit did.
public enum RetentionMode: String, Sendable, CaseIterable {
    case governance = "GOVERNANCE"
    case compliance = "COMPLIANCE"
}

/// A version's retention: it may not be deleted or overwritten before `untilMs` (a GOVERNANCE one
/// may, with `x-amz-bypass-governance-retention`).
public struct ObjectRetention: Sendable, Equatable {
    public var mode: RetentionMode
    /// Whole seconds, in ms since the epoch (S3 dates have no finer grain here).
    public var untilMs: Int64

    public static let modeHeaderName = "x-amz-object-lock-mode"
    public static let untilHeaderName = "x-amz-object-lock-retain-until-date"
    public static let legalHoldHeaderName = "x-amz-object-lock-legal-hold"

    /// `untilMs` is taken to whole seconds.
    public init(mode: RetentionMode, untilMs: Int64) {
        self.mode = mode
        self.untilMs = untilMs - untilMs % 1000
    }

    /// The retention `headers` hold, if any.
    init?(headers: [StoredHeader]) {
        guard let mode = headers.first(where: { $0.name == Self.modeHeaderName }).flatMap({ RetentionMode(rawValue: $0.value) }),
            let until = headers.first(where: { $0.name == Self.untilHeaderName }).flatMap({ HTTPDate.parseISO8601($0.value) })
        else { return nil }
        self.init(mode: mode, untilMs: until * 1000)
    }

    static func hasLegalHold(_ headers: [StoredHeader]) -> Bool {
        headers.contains { $0.name == legalHoldHeaderName && $0.value == "ON" }
    }

    /// `headers` with the retention set to `retention` (none: removed) and the legal hold to `legalHold`.
    static func headers(_ headers: [StoredHeader], retention: ObjectRetention?, legalHold: Bool) -> [StoredHeader] {
        var result = headers.filter { ![modeHeaderName, untilHeaderName, legalHoldHeaderName].contains($0.name) }
        if let retention {
            result.append(StoredHeader(name: modeHeaderName, value: retention.mode.rawValue))
            result.append(StoredHeader(name: untilHeaderName, value: HTTPDate.iso8601(ms: retention.untilMs)))
        }
        if legalHold { result.append(StoredHeader(name: legalHoldHeaderName, value: "ON")) }
        return result
    }

    /// Why `version` may not be removed or replaced at `nowMs`, or nil: a legal hold, or a retention
    /// not yet over (a GOVERNANCE one unless bypassed).
    static func rejection(removing version: ObjectRecord, nowMs: Int64, bypassGovernance: Bool) -> MutationRejection? {
        if version.legalHold { return .objectLocked }
        guard let retention = version.retention, retention.untilMs > nowMs else { return nil }
        return retention.mode == .compliance || !bypassGovernance ? .objectLocked : nil
    }

    /// Why a version's retention may not become `new` at `nowMs`, or nil. A COMPLIANCE retention
    /// still running can only be extended; a GOVERNANCE one can be shortened, removed or changed
    /// only with the bypass.
    static func rejection(changing old: ObjectRetention?, to new: ObjectRetention?, nowMs: Int64, bypassGovernance: Bool)
        -> MutationRejection?
    {
        guard let old, old.untilMs > nowMs else { return nil }
        let extends = new.map { $0.mode == old.mode && $0.untilMs >= old.untilMs } ?? false
        if extends { return nil }
        return old.mode == .compliance || !bypassGovernance ? .objectLocked : nil
    }
}

/// A bucket's Object Lock configuration: enabled (for good), with an optional default retention
/// that new versions get when their request names none, of `defaultDays` or `defaultYears`.
public struct ObjectLockConfiguration: Sendable, Equatable {
    public var defaultMode: RetentionMode?
    public var defaultDays = 0
    /// Years of 365 days.
    public var defaultYears = 0

    /// The longest default retention S3 allows: 100 years, or as many days.
    public static let defaultDaysMax = 36_500
    public static let defaultYearsMax = 100

    public init(defaultMode: RetentionMode? = nil, days: Int = 0, years: Int = 0) {
        self.defaultMode = defaultMode
        if defaultMode != nil {
            self.defaultDays = days
            self.defaultYears = years
        }
    }

    /// The retention a version written at `nowMs` gets when its request names none.
    public func defaultRetention(nowMs: Int64) -> ObjectRetention? {
        defaultMode.map { ObjectRetention(mode: $0, untilMs: nowMs + Int64(defaultDays + 365 * defaultYears) * 86_400_000) }
    }
}

extension ObjectRecord {
    public var retention: ObjectRetention? { ObjectRetention(headers: headers) }

    public var legalHold: Bool { ObjectRetention.hasLegalHold(headers) }
}
