/// An object key, ordered and compared by its UTF-8 bytes as S3 does. (Swift's own `String`
/// equality treats canonically equivalent keys as equal, which S3 does not.)
public struct ObjectKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) { self.string = string }

    public var description: String { string }

    public static func == (a: ObjectKey, b: ObjectKey) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    public func hash(into hasher: inout Hasher) {
        for byte in string.utf8 { hasher.combine(byte) }
    }

    public static func < (a: ObjectKey, b: ObjectKey) -> Bool {
        a.string.utf8.lexicographicallyPrecedes(b.string.utf8)
    }

    public func hasPrefix(_ prefix: String) -> Bool { string.utf8.starts(with: prefix.utf8) }

    /// True when this key sorts before the raw byte string `bytes`.
    func precedes(bytes: [UInt8]) -> Bool { string.utf8.lexicographicallyPrecedes(bytes) }
}
