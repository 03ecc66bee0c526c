/// An object version's id: 128 bits the brain picks at random when a versioned bucket stores a
/// version; all zeros is S3's `null` version (every object of a bucket that never had versioning,
/// and what a suspended bucket writes). Kept as two words, not text: it is in every object record.
public struct VersionID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public static let null = VersionID(high: 0, low: 0)

    /// Characters of the text form of a version id that is not `null`.
    static let textCount = 32

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// A fresh id, never `null`.
    public static func random() -> VersionID {
        var generator = SystemRandomNumberGenerator()
        while true {
            let id = VersionID(high: generator.next(), low: generator.next())
            if !id.isNull { return id }
        }
    }

    public var isNull: Bool { high == 0 && low == 0 }

    /// `null`, or 32 lower-case hex digits, as `x-amz-version-id` and listings give it.
    public var text: String {
        isNull ? "null" : Self.hex(high) + Self.hex(low)
    }

    public var description: String { text }

    /// Parses the text form; nil for anything else (S3: 400 InvalidArgument, "Invalid version id specified").
    public init?(text: String) {
        if text == "null" {
            self = .null
            return
        }
        let digits = Array(text.utf8)
        guard digits.count == Self.textCount, let high = Self.word(digits[0..<16]), let low = Self.word(digits[16..<32]) else {
            return nil
        }
        self.init(high: high, low: low)
        if isNull { return nil }
    }

    private static func hex(_ word: UInt64) -> String {
        let text = String(word, radix: 16)
        return String(repeating: "0", count: 16 - text.utf8.count) + text
    }

    private static func word(_ digits: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }
}

/// A bucket's versioning state (PutBucketVersioning). A bucket starts unversioned; once enabled
/// it can be suspended but never unversioned again.
public enum BucketVersioning: UInt8, Sendable {
    case unversioned = 0
    case enabled = 1
    case suspended = 2

    /// The `Status` of GetBucketVersioning; nil for a bucket that never had versioning.
    public var status: String? {
        switch self {
        case .unversioned: nil
        case .enabled: "Enabled"
        case .suspended: "Suspended"
        }
    }

    public init?(status: String) {
        switch status {
        case "Enabled": self = .enabled
        case "Suspended": self = .suspended
        default: return nil
        }
    }

    /// The id a version written now gets: a fresh one while versioning is enabled, else `null`.
    public func newVersionID() -> VersionID { self == .enabled ? .random() : .null }
}
