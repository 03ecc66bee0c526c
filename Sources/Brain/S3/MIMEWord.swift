import Foundation

/// User metadata beyond US-ASCII, as S3 handles it (docs: AWS S3 "Working with object metadata"):
/// a value sent as an RFC 2047 encoded word (`=?UTF-8?B?...?=` or `=?UTF-8?Q?...?=`) is decoded
/// before it is stored, and a stored value that is not US-ASCII is returned as a `B` encoded word,
/// since HTTP header values are not UTF-8. US-ASCII values are stored and returned as they are.
enum MIMEWord {
    /// `value` decoded when it is one UTF-8 encoded word, else `value` itself.
    static func decoded(_ value: String) -> String {
        let bytes = Array(value.utf8)
        let prefix = Array("=?utf-8?".utf8)
        guard bytes.count > prefix.count + 4, bytes.suffix(2).elementsEqual("?=".utf8),
            bytes.prefix(prefix.count).map({ $0 | 0x20 }).elementsEqual(prefix.map { $0 | 0x20 }),
            bytes[prefix.count + 1] == UInt8(ascii: "?")
        else { return value }
        let text = bytes[(prefix.count + 2)..<(bytes.count - 2)]
        let decoded: [UInt8]?
        switch bytes[prefix.count] | 0x20 {
        case UInt8(ascii: "b"): decoded = Data(base64Encoded: Data(text)).map { Array($0) }
        case UInt8(ascii: "q"): decoded = quotedPrintable(text)
        default: decoded = nil
        }
        return decoded.flatMap { String(validating: $0, as: UTF8.self) } ?? value
    }

    /// `value` as a `B` encoded word when it holds anything beyond US-ASCII, else itself.
    static func encoded(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 >= 0x80 }) else { return value }
        return "=?UTF-8?B?" + Data(value.utf8).base64EncodedString() + "?="
    }

    /// RFC 2047's Q encoding: `_` is a space, `=XX` a byte.
    private static func quotedPrintable(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == UInt8(ascii: "=") {
                guard index + 2 < text.endIndex,
                    let value = UInt8(String(decoding: text[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)
                else { return nil }
                out.append(value)
                index += 3
            } else {
                out.append(byte == UInt8(ascii: "_") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        return out
    }
}
