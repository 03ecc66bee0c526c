#if canImport(Glibc)
import Glibc
#endif

/// An object key, ordered and compared by its UTF-8 bytes as S3 does. (Swift's own `String`
/// equality treats canonically equivalent keys as equal, which S3 does not.)
public struct ObjectKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) { self.string = string }

    public var description: String { string }

    public static func == (a: ObjectKey, b: ObjectKey) -> Bool { compare(a, b) == 0 }

    public func hash(into hasher: inout Hasher) {
        if string.utf8.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) == nil {
            for byte in string.utf8 { hasher.combine(byte) }
        }
    }

    /// Comparisons are most of the cost of a listing or a replay: native strings are compared
    /// with memcmp over their UTF-8 bytes, the generic way only for the rare bridged string.
    public static func < (a: ObjectKey, b: ObjectKey) -> Bool { compare(a, b) < 0 }

    private static func compare(_ a: ObjectKey, _ b: ObjectKey) -> Int32 {
        let result = a.string.utf8.withContiguousStorageIfAvailable { x in
            b.string.utf8.withContiguousStorageIfAvailable { y in compareBytes(x, y) }
        }
        if let result = result ?? nil { return result }
        if a.string.utf8.elementsEqual(b.string.utf8) { return 0 }
        return a.string.utf8.lexicographicallyPrecedes(b.string.utf8) ? -1 : 1
    }

    public func hasPrefix(_ prefix: String) -> Bool { string.utf8.starts(with: prefix.utf8) }

    /// True when this key sorts before the raw byte string `bytes`.
    func precedes(bytes: [UInt8]) -> Bool {
        let result = string.utf8.withContiguousStorageIfAvailable { key in
            bytes.withUnsafeBufferPointer { other in Self.compareBytes(key, other) < 0 }
        }
        return result ?? string.utf8.lexicographicallyPrecedes(bytes)
    }

    /// memcmp order, then the shorter first (a proper prefix sorts before its extensions).
    private static func compareBytes(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Int32 {
        let common = min(x.count, y.count)
        if common > 0, let a = x.baseAddress, let b = y.baseAddress {
            let order = memcmp(a, b, common)
            if order != 0 { return order }
        }
        return x.count < y.count ? -1 : (x.count > y.count ? 1 : 0)
    }
}
