import Synchronization

/// Memory per object is a product target (300 bytes at 1,000,000 objects beyond the key), so the
/// parts of an object record that repeat across objects or have a fixed shape are kept compactly.

/// Shares equal values that many objects repeat (a chunk's agent list, an object's header set):
/// an array handed back from here shares the first one's storage, 8 bytes instead of a heap
/// allocation per object. At most `entriesMax` distinct values are kept, so unique values (user
/// metadata, file names) cannot grow the table without bound; past that, values pass through.
final class Interner<Value: Hashable & Sendable>: Sendable {
    private struct Table {
        var values: Set<Value> = []
        /// The value last handed out: runs of objects share it (a replay, one client's uploads),
        /// and comparing with it is cheaper than hashing.
        var recent: Value?
    }

    private let table = Mutex(Table())
    let entriesMax: Int

    init(entriesMax: Int) { self.entriesMax = entriesMax }

    func intern(_ value: Value) -> Value {
        table.withLock { table in
            if let recent = table.recent, recent == value { return recent }
            if let index = table.values.firstIndex(of: value) {
                table.recent = table.values[index]
                return table.values[index]
            }
            if table.values.count < entriesMax {
                table.values.insert(value)
                table.recent = value
            }
            return value
        }
    }
}

/// The process's tables.
enum Interned {
    static let agentLists = Interner<[String]>(entriesMax: 4096)
    static let headerSets = Interner<[StoredHeader]>(entriesMax: 4096)
}

/// An ETag as stored: a quoted lower-case hex MD5, with "-N" for a multipart object, kept as its
/// 16 bytes and N (a String of 34-38 characters is a heap allocation); anything else as text.
enum StoredETag: Sendable, Equatable {
    case md5(high: UInt64, low: UInt64, parts: UInt32)
    case text(String)

    init(_ text: String) {
        self = Self.parse(text) ?? .text(text)
    }

    /// The ETag of a single PUT: `digest` is the body's 16-byte MD5.
    init(md5 digest: some Sequence<UInt8>) {
        let bytes = Array(digest)
        precondition(bytes.count == 16, "an MD5 digest is 16 bytes")
        let word = { (range: Range<Int>) in bytes[range].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        self = .md5(high: word(0..<8), low: word(8..<16), parts: 0)
    }

    var text: String {
        switch self {
        case .text(let text): return text
        case .md5: return String(unsafeUninitializedCapacity: utf8Count) { printUTF8(into: $0) }
        }
    }

    /// Bytes of `text` in UTF-8.
    var utf8Count: Int {
        switch self {
        case .text(let text): return text.utf8.count
        case .md5(_, _, let parts): return 34 + (parts == 0 ? 0 : 1 + String(parts).utf8.count)
        }
    }

    /// Prints an `.md5` ETag into `out` (at least `utf8Count` bytes) in one pass; returns the count.
    /// Every PUT, GET and commit prints one.
    func printUTF8(into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        guard case .md5(let high, let low, let parts) = self else { preconditionFailure("only an MD5 ETag is printed") }
        let hexDigits: StaticString = "0123456789abcdef"
        out[0] = UInt8(ascii: "\"")
        for index in 0..<32 {
            let word = index < 16 ? high : low
            let nibble = Int(truncatingIfNeeded: word >> (60 - 4 * UInt64(index % 16))) & 0xF
            out[1 + index] = hexDigits.utf8Start[nibble]
        }
        var end = 33
        if parts != 0 {
            out[end] = UInt8(ascii: "-")
            end += 1
            for digit in String(parts).utf8 {
                out[end] = digit
                end += 1
            }
        }
        out[end] = UInt8(ascii: "\"")
        return end + 1
    }

    private static func parse(_ text: String) -> StoredETag? {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    /// Accepts exactly the forms `text` prints: lower-case hex, a part count without leading zeros.
    private static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>) -> StoredETag? {
        guard bytes.count >= 34, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for (index, byte) in bytes[1...32].enumerated() {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            if index < 16 { high = high << 4 | UInt64(digit) } else { low = low << 4 | UInt64(digit) }
        }
        var parts: UInt32 = 0
        if bytes.count > 34 {
            let digits = bytes[34..<bytes.count - 1]
            guard bytes[33] == UInt8(ascii: "-"), (1...10).contains(digits.count), digits.first != UInt8(ascii: "0") else { return nil }
            var count: UInt64 = 0
            for digit in digits {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
                count = count * 10 + UInt64(digit - UInt8(ascii: "0"))
            }
            guard count <= UInt64(UInt32.max) else { return nil }
            parts = UInt32(count)
        }
        return .md5(high: high, low: low, parts: parts)
    }
}
