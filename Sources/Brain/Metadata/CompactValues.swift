import Synchronization

/// Memory per object is a product target (300 bytes at 1,000,000 objects beyond the key), so the
/// parts of an object record that repeat across objects or have a fixed shape are kept compactly.

/// Shares equal values that many objects repeat (a chunk's agent list, an object's header set):
/// an array handed back from here shares the first one's storage, 8 bytes instead of a heap
/// allocation per object. At most `entriesMax` distinct values are kept, so unique values (user
/// metadata, file names) cannot grow the table without bound; past that, values pass through.
final class Interner<Value: Hashable & Sendable>: Sendable {
    private let table = Mutex<Set<Value>>([])
    let entriesMax: Int

    init(entriesMax: Int) { self.entriesMax = entriesMax }

    func intern(_ value: Value) -> Value {
        table.withLock { table in
            if let index = table.firstIndex(of: value) { return table[index] }
            if table.count < entriesMax { table.insert(value) }
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

    var text: String {
        switch self {
        case .text(let text): return text
        case .md5(let high, let low, let parts):
            let hex = String(high, radix: 16).leftPadded(16) + String(low, radix: 16).leftPadded(16)
            return "\"" + hex + (parts == 0 ? "" : "-\(parts)") + "\""
        }
    }

    private static func parse(_ text: String) -> StoredETag? {
        let bytes = Array(text.utf8)
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
            guard bytes[33] == UInt8(ascii: "-"), let count = UInt32(String(decoding: bytes[34..<bytes.count - 1], as: UTF8.self)),
                count > 0
            else { return nil }
            parts = count
        }
        let parsed = StoredETag.md5(high: high, low: low, parts: parts)
        return parsed.text == text ? parsed : nil  // only forms that print back the same
    }
}
