import HTTPTypes
import Hummingbird
import HummingbirdCore

/// S3 Object Lock: Put/GetObjectLockConfiguration, Put/GetObjectRetention, Put/GetObjectLegalHold,
/// and the lock a new version gets from its request's headers or its bucket's default retention.
/// Whether a locked version may go is the metadata's decision (`ObjectRetention.rejection`), made
/// when the mutation applies, by the time it carries.
struct ObjectLockHandlers: Sendable {
    let metadata: MetadataStore

    static let bodyBytesMax = 16 << 10
    static let bypassHeader = HTTPField.Name("x-amz-bypass-governance-retention")!
    static let missingConfiguration = S3Error(.invalidRequest, "Bucket is missing Object Lock Configuration")

    // MARK: Bucket configuration

    func getObjectLockConfiguration(_ s3: S3Request) throws -> Response {
        guard let info = metadata.bucketInfo(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        guard let lock = info.objectLock else {
            throw S3Error(
                .objectLockConfigurationNotFoundError, "Object Lock configuration does not exist for this bucket",
                resource: "/" + s3.bucket)
        }
        var xml = XMLWriter()
        xml.open("ObjectLockConfiguration")
        xml.element("ObjectLockEnabled", "Enabled")
        if let mode = lock.defaultMode {
            xml.open("Rule", namespace: false)
            xml.open("DefaultRetention", namespace: false)
            xml.element("Mode", mode.rawValue)
            if lock.defaultYears > 0 { xml.element("Years", lock.defaultYears) } else { xml.element("Days", lock.defaultDays) }
            xml.close("DefaultRetention")
            xml.close("Rule")
        }
        xml.close("ObjectLockConfiguration")
        return S3Router.xmlResponse(xml.text)
    }

    /// Enables Object Lock on a bucket with versioning Enabled, and sets or removes its default retention.
    func putObjectLockConfiguration(_ s3: S3Request, request: Request) async throws -> Response {
        guard metadata.bucketExists(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        let root = try await XMLNode.parse(request, bytesMax: Self.bodyBytesMax)
        guard root.name == "ObjectLockConfiguration", root.child("ObjectLockEnabled")?.trimmedText == "Enabled" else {
            throw XMLNode.malformed
        }
        var configuration = ObjectLockConfiguration()
        if let rule = root.child("Rule") {
            guard let retention = rule.child("DefaultRetention"), let modeText = retention.child("Mode")?.trimmedText,
                let mode = RetentionMode(rawValue: modeText)
            else { throw XMLNode.malformed }
            let days = try retention.child("Days").map { try Self.period($0.trimmedText, max: ObjectLockConfiguration.defaultDaysMax) }
            let years = try retention.child("Years").map { try Self.period($0.trimmedText, max: ObjectLockConfiguration.defaultYearsMax) }
            guard (days == nil) != (years == nil) else {
                throw S3Error.invalidArgument("Default retention must have either Days or Years, not both.")
            }
            configuration = ObjectLockConfiguration(defaultMode: mode, days: days ?? 0, years: years ?? 0)
        }
        try await commit(.setObjectLockConfiguration(bucket: s3.bucket, configuration: configuration), s3)
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    /// Days or years of a default retention: a positive whole number, at most 100 years' worth.
    private static func period(_ text: String, max: Int) throws -> Int {
        guard let value = Int(text), (1...max).contains(value) else {
            throw S3Error.invalidArgument("Default retention period must be a positive integer value of at most \(max).")
        }
        return value
    }

    // MARK: Retention and legal hold of a version

    func getObjectRetention(_ s3: S3Request) throws -> Response {
        let object = try lockableVersion(s3)
        guard let retention = object.retention else {
            throw S3Error(.noSuchObjectLockConfiguration, "The specified object does not have a ObjectLock configuration")
        }
        var xml = XMLWriter()
        xml.open("Retention")
        xml.element("Mode", retention.mode.rawValue)
        xml.element("RetainUntilDate", HTTPDate.iso8601(ms: retention.untilMs))
        xml.close("Retention")
        return S3Router.xmlResponse(xml.text)
    }

    func putObjectRetention(_ s3: S3Request, request: Request) async throws -> Response {
        let object = try lockableVersion(s3)
        let root = try await XMLNode.parse(request, bytesMax: Self.bodyBytesMax)
        guard root.name == "Retention" else { throw XMLNode.malformed }
        let nowMs = Clock.nowMs()
        var retention: ObjectRetention?
        let mode = root.child("Mode")?.trimmedText, until = root.child("RetainUntilDate")?.trimmedText
        if mode != nil || until != nil {
            retention = try Self.retention(mode: mode, until: until, nowMs: nowMs)
        }
        let bypass = request.headers[Self.bypassHeader]?.lowercased() == "true"
        try await commit(
            .setObjectRetention(
                bucket: s3.bucket, key: s3.key, versionID: object.versionID, retention: retention, bypassGovernance: bypass,
                nowMs: nowMs), s3)
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    func getObjectLegalHold(_ s3: S3Request) throws -> Response {
        let object = try lockableVersion(s3)
        var xml = XMLWriter()
        xml.open("LegalHold")
        xml.element("Status", object.legalHold ? "ON" : "OFF")
        xml.close("LegalHold")
        return S3Router.xmlResponse(xml.text)
    }

    func putObjectLegalHold(_ s3: S3Request, request: Request) async throws -> Response {
        let object = try lockableVersion(s3)
        let root = try await XMLNode.parse(request, bytesMax: Self.bodyBytesMax)
        guard root.name == "LegalHold", let status = root.child("Status")?.trimmedText, status == "ON" || status == "OFF" else {
            throw XMLNode.malformed
        }
        try await commit(.setObjectLegalHold(bucket: s3.bucket, key: s3.key, versionID: object.versionID, on: status == "ON"), s3)
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    /// The version a retention or legal-hold request names, in a bucket with Object Lock.
    private func lockableVersion(_ s3: S3Request) throws -> ObjectRecord {
        guard let info = metadata.bucketInfo(s3.bucket) else { throw S3Error.noSuchBucket(s3.bucket) }
        guard info.objectLock != nil else { throw Self.missingConfiguration }
        return try ObjectVersions.readable(metadata, bucket: s3.bucket, key: s3.key, versionID: try ObjectVersions.requested(s3)).object
    }

    private func commit(_ mutation: Mutation, _ s3: S3Request) async throws {
        switch try await metadata.commit(mutation) {
        case .applied: return
        case .rejected(let rejection): throw ObjectHandlers.s3Error(for: rejection, bucket: s3.bucket)
        }
    }

    // MARK: The lock of a new version

    /// `headers` (a new version's) with the lock its request asks for (`x-amz-object-lock-mode` and
    /// `-retain-until-date`, `x-amz-object-lock-legal-hold`) or else the bucket's default retention;
    /// any lock `headers` carried (a copy's source's) is dropped first.
    static func withLock(_ headers: [StoredHeader], requested: HTTPFields, lock: ObjectLockConfiguration?, nowMs: Int64) throws
        -> [StoredHeader]
    {
        let mode = requested[.amzObjectLockMode], until = requested[.amzObjectLockRetainUntilDate]
        let hold = requested[.amzObjectLockLegalHold]
        if lock == nil, mode != nil || until != nil || hold != nil { throw missingConfiguration }
        guard let lock else {
            // Only a copy's source can have brought a lock; a PUT's headers never hold one.
            let carried = headers.contains { $0.name.hasPrefix("x-amz-object-lock-") }
            return carried ? ObjectRetention.headers(headers, retention: nil, legalHold: false) : headers
        }
        var retention = lock.defaultRetention(nowMs: nowMs)
        if mode != nil || until != nil {
            retention = try Self.retention(mode: mode, until: until, nowMs: nowMs)
        }
        guard hold == nil || hold == "ON" || hold == "OFF" else {
            throw S3Error.invalidArgument("Legal Hold must be either of 'ON' or 'OFF'")
        }
        return ObjectRetention.headers(headers, retention: retention, legalHold: hold == "ON")
    }

    /// A retention a request names: both a mode and a date in the future.
    private static func retention(mode: String?, until: String?, nowMs: Int64) throws -> ObjectRetention {
        guard let mode, let until else {
            throw S3Error.invalidArgument("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
        }
        guard let retentionMode = RetentionMode(rawValue: mode) else { throw S3Error.invalidArgument("Unknown wormMode directive.") }
        guard let seconds = HTTPDate.parseISO8601(until) else {
            throw S3Error.invalidArgument("The retain until date must be provided in ISO 8601 format")
        }
        guard seconds * 1000 > nowMs else { throw S3Error.invalidArgument("The retain until date must be in the future!") }
        return ObjectRetention(mode: retentionMode, untilMs: seconds * 1000)
    }
}
