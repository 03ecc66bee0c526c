import Foundation

/// A bucket's lifecycle configuration (PutBucketLifecycleConfiguration): rules that expire current
/// objects, noncurrent versions and lone delete markers, and abort old multipart uploads. What a
/// rule would do to a version at a given time is decided here; `LifecycleService` does it.
///
/// Times count in lifecycle days (`LifecycleClock`): as S3 does, an object created at t with a rule
/// of N days expires at t + N days rounded up to the next day boundary (midnight UTC for real days).
public struct LifecycleConfiguration: Sendable, Equatable {
    struct Filter: Sendable, Equatable {
        var prefix = ""
        var tags: [TagSet.Tag] = []
        var sizeGreaterThan: Int64?
        var sizeLessThan: Int64?

        func matches(_ key: ObjectKey, _ object: ObjectRecord) -> Bool {
            guard key.hasPrefix(prefix) else { return false }
            if let sizeGreaterThan, object.size <= sizeGreaterThan { return false }
            if let sizeLessThan, object.size >= sizeLessThan { return false }
            if tags.isEmpty { return true }
            let held = TagSet(queryText: object.tagging)?.tags ?? []
            return tags.allSatisfy { held.contains($0) }
        }
    }

    struct Rule: Sendable, Equatable {
        var id: String
        var enabled: Bool
        var filter: Filter
        var expirationDays: Int?
        var expirationDateMs: Int64?
        var expiredObjectDeleteMarker = false
        var noncurrentDays: Int?
        var newerNoncurrentVersions = 0
        var abortDaysAfterInitiation: Int?
    }

    /// The configuration as the client sent it, re-serialized: what the WAL keeps and the GET returns.
    public let xml: String
    let rules: [Rule]

    static let rulesMax = 1000
    static let bodyBytesMax = 64 << 10

    init(parsing root: XMLNode) throws {
        guard root.name == "LifecycleConfiguration" else { throw XMLNode.malformed }
        let rules = try root.all("Rule").map(Self.rule)
        guard (1...Self.rulesMax).contains(rules.count) else { throw XMLNode.malformed }
        guard Set(rules.map(\.id)).count == rules.count else {
            throw S3Error.invalidArgument("Rule ID must be unique. Found same ID for more than one rule")
        }
        self.rules = rules
        self.xml = Self.render(rules)
        // The WAL keeps the text as a short string.
        guard xml.utf8.count <= Int(UInt16.max) else { throw S3Error.invalidArgument("The lifecycle configuration is too large.") }
    }

    /// A configuration kept in the WAL (written by `render`, so it parses).
    init(text: String) throws {
        try self.init(parsing: try XMLNode.parse(Data(text.utf8)))
    }

    private static func rule(_ node: XMLNode) throws -> Rule {
        guard let status = node.child("Status")?.trimmedText, status == "Enabled" || status == "Disabled" else {
            throw XMLNode.malformed
        }
        var rule = Rule(id: node.child("ID")?.trimmedText ?? "", enabled: status == "Enabled", filter: Filter())
        guard rule.id.count <= 255 else { throw S3Error.invalidArgument("ID length should not exceed allowed limit of 255") }
        if rule.id.isEmpty { rule.id = UUID().uuidString }  // S3 names an unnamed rule
        if let filter = node.child("Filter") {
            let parts = filter.child("And") ?? filter
            rule.filter.prefix = parts.child("Prefix")?.text ?? ""
            rule.filter.tags = try parts.all("Tag").map { tag in
                guard let key = tag.child("Key")?.text else { throw XMLNode.malformed }
                return TagSet.Tag(key: key, value: tag.child("Value")?.text ?? "")
            }
            rule.filter.sizeGreaterThan = try parts.child("ObjectSizeGreaterThan").map { try number($0, min: 0) }.map(Int64.init)
            rule.filter.sizeLessThan = try parts.child("ObjectSizeLessThan").map { try number($0, min: 1) }.map(Int64.init)
        } else if let prefix = node.child("Prefix") {
            rule.filter.prefix = prefix.text  // the older form, a rule-level prefix
        }
        if let expiration = node.child("Expiration") {
            rule.expirationDays = try expiration.child("Days").map { try number($0, min: 1) }
            rule.expirationDateMs = try expiration.child("Date").map { node in
                guard let seconds = HTTPDate.parseISO8601(node.trimmedText), seconds % 86_400 == 0 else {
                    throw S3Error.invalidArgument("'Date' must be at midnight GMT")
                }
                return seconds * 1000
            }
            rule.expiredObjectDeleteMarker = expiration.child("ExpiredObjectDeleteMarker")?.trimmedText == "true"
            if rule.expiredObjectDeleteMarker, !rule.filter.tags.isEmpty {
                throw S3Error.invalidArgument("ExpiredObjectDeleteMarker cannot be specified with tags.")
            }
            let given = [rule.expirationDays != nil, rule.expirationDateMs != nil, expiration.child("ExpiredObjectDeleteMarker") != nil]
            guard given.filter({ $0 }).count == 1 else {
                throw S3Error(.malformedXML, "Expiration takes exactly one of Days, Date and ExpiredObjectDeleteMarker")
            }
        }
        if let noncurrent = node.child("NoncurrentVersionExpiration") {
            rule.noncurrentDays = try noncurrent.child("NoncurrentDays").map { try number($0, min: 1) }
            rule.newerNoncurrentVersions = try noncurrent.child("NewerNoncurrentVersions").map { try number($0, min: 1) } ?? 0
            guard rule.noncurrentDays != nil else { throw XMLNode.malformed }
        }
        if let abort = node.child("AbortIncompleteMultipartUpload") {
            guard let days = abort.child("DaysAfterInitiation") else { throw XMLNode.malformed }
            rule.abortDaysAfterInitiation = try number(days, min: 1)
            guard rule.filter.tags.isEmpty, rule.filter.sizeGreaterThan == nil, rule.filter.sizeLessThan == nil else {
                throw S3Error.invalidArgument("AbortIncompleteMultipartUpload cannot be specified with tags or object sizes.")
            }
        }
        guard rule.expirationDays != nil || rule.expirationDateMs != nil || rule.expiredObjectDeleteMarker
            || rule.noncurrentDays != nil || rule.abortDaysAfterInitiation != nil
        else {
            throw S3Error.invalidArgument("At least one action needs to be specified in a rule")
        }
        return rule
    }

    private static func number(_ node: XMLNode, min: Int) throws -> Int {
        guard let value = Int(node.trimmedText), value >= min else {
            throw S3Error.invalidArgument("'\(node.name)' for lifecycle must be an integer of at least \(min).")
        }
        return value
    }

    private static func render(_ rules: [Rule]) -> String {
        var xml = XMLWriter()
        xml.open("LifecycleConfiguration")
        for rule in rules {
            xml.open("Rule", namespace: false)
            xml.element("ID", rule.id)
            xml.open("Filter", namespace: false)
            let filter = rule.filter
            let parts = (filter.prefix.isEmpty ? 0 : 1) + filter.tags.count + (filter.sizeGreaterThan == nil ? 0 : 1)
                + (filter.sizeLessThan == nil ? 0 : 1)
            if parts > 1 { xml.open("And", namespace: false) }
            if !filter.prefix.isEmpty || parts == 0 { xml.element("Prefix", filter.prefix) }
            for tag in filter.tags {
                xml.open("Tag", namespace: false)
                xml.element("Key", tag.key)
                xml.element("Value", tag.value)
                xml.close("Tag")
            }
            if let size = filter.sizeGreaterThan { xml.element("ObjectSizeGreaterThan", size) }
            if let size = filter.sizeLessThan { xml.element("ObjectSizeLessThan", size) }
            if parts > 1 { xml.close("And") }
            xml.close("Filter")
            xml.element("Status", rule.enabled ? "Enabled" : "Disabled")
            if rule.expirationDays != nil || rule.expirationDateMs != nil || rule.expiredObjectDeleteMarker {
                xml.open("Expiration", namespace: false)
                if let days = rule.expirationDays { xml.element("Days", days) }
                if let date = rule.expirationDateMs { xml.element("Date", HTTPDate.iso8601(ms: date)) }
                if rule.expiredObjectDeleteMarker { xml.element("ExpiredObjectDeleteMarker", true) }
                xml.close("Expiration")
            }
            if let days = rule.noncurrentDays {
                xml.open("NoncurrentVersionExpiration", namespace: false)
                xml.element("NoncurrentDays", days)
                if rule.newerNoncurrentVersions > 0 { xml.element("NewerNoncurrentVersions", rule.newerNoncurrentVersions) }
                xml.close("NoncurrentVersionExpiration")
            }
            if let days = rule.abortDaysAfterInitiation {
                xml.open("AbortIncompleteMultipartUpload", namespace: false)
                xml.element("DaysAfterInitiation", days)
                xml.close("AbortIncompleteMultipartUpload")
            }
            xml.close("Rule")
        }
        xml.close("LifecycleConfiguration")
        return xml.text
    }

    // MARK: Decisions

    /// When the current object `object` at `key` expires, and by which rule (the earliest, as
    /// `x-amz-expiration` names it); nil when no enabled rule expires it.
    func expiration(of key: ObjectKey, _ object: ObjectRecord, clock: LifecycleClock) -> (atMs: Int64, ruleID: String)? {
        var earliest: (atMs: Int64, ruleID: String)?
        for rule in rules where rule.enabled && rule.filter.matches(key, object) {
            var at: Int64?
            if let days = rule.expirationDays { at = clock.dayBoundary(after: object.lastModifiedMs, days: days) }
            if let date = rule.expirationDateMs { at = date }
            if let at, at < earliest?.atMs ?? .max { earliest = (at, rule.id) }
        }
        return earliest
    }

    /// The noncurrent versions of a key (`older`, newest first, each paired with the time it became
    /// noncurrent: when its successor was made) that a rule expires at `nowMs`.
    func expiredNoncurrent(_ key: ObjectKey, _ older: [(version: ObjectRecord, noncurrentSinceMs: Int64)], nowMs: Int64, clock: LifecycleClock)
        -> [ObjectRecord]
    {
        var expired: [VersionID: ObjectRecord] = [:]
        for rule in rules where rule.enabled {
            guard let days = rule.noncurrentDays else { continue }
            var kept = 0
            for (version, since) in older where rule.filter.matches(key, version) {
                // The newest `newerNoncurrentVersions` matching ones stay, whatever their age.
                if kept < rule.newerNoncurrentVersions {
                    kept += 1
                    continue
                }
                if clock.dayBoundary(after: since, days: days) <= nowMs { expired[version.versionID] = version }
            }
        }
        return older.map(\.version).filter { expired[$0.versionID] != nil }
    }

    /// Whether a delete marker that is a key's only version is removed (ExpiredObjectDeleteMarker).
    func removesLoneDeleteMarker(_ key: ObjectKey) -> Bool {
        rules.contains { $0.enabled && $0.expiredObjectDeleteMarker && key.hasPrefix($0.filter.prefix) }
    }

    /// Whether an unfinished upload is aborted at `nowMs`.
    func abortsUpload(_ upload: MultipartUpload, nowMs: Int64, clock: LifecycleClock) -> Bool {
        rules.contains { rule in
            guard rule.enabled, let days = rule.abortDaysAfterInitiation, ObjectKey(upload.key).hasPrefix(rule.filter.prefix) else {
                return false
            }
            return clock.dayBoundary(after: upload.initiatedMs, days: days) <= nowMs
        }
    }

    /// Whether any enabled rule acts on current objects, for the `x-amz-expiration` header's cost.
    var expiresCurrentObjects: Bool { rules.contains { $0.enabled && ($0.expirationDays != nil || $0.expirationDateMs != nil) } }
}

/// How long a lifecycle day lasts: 86,400 s, or fewer for tests (`--lifecycle-day-seconds`).
public struct LifecycleClock: Sendable {
    public var daySeconds: Int64

    public init(daySeconds: Int64 = 86_400) {
        precondition(daySeconds > 0, "a lifecycle day lasts")
        self.daySeconds = daySeconds
    }

    /// `ms` plus `days` days, rounded up to the next day boundary (S3: midnight UTC).
    func dayBoundary(after ms: Int64, days: Int) -> Int64 {
        let dayMs = daySeconds * 1000
        let at = ms + Int64(days) * dayMs
        return (at + dayMs - 1) / dayMs * dayMs
    }
}
