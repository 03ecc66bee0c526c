import Foundation
import NIOCore

/// Turns the bytes of a `multipart/form-data` body (RFC 7578; the framing of RFC 2046 section
/// 5.1.1), fed as they arrive, into `FormDataEvent`s. A part's content is handed on in slices of
/// the bytes fed, never gathered: only a delimiter's worth of bytes is held back at the end of a
/// feed, and a part's header section (at most `headerBytesMax`).
///
/// Written here rather than taken from multipart-kit 4.7.1, whose parser traps on a header name
/// byte of 0x80 or more (it indexes a 128-entry table with it): found by FuzzAuthentication.
final class FormDataParser {
    private enum State {
        /// Before the first delimiter, which may come without its leading CRLF at the very start.
        case preamble(atStart: Bool)
        /// After a delimiter: `--` ends the body, optional spaces and CRLF start a part's headers.
        case afterDelimiter
        case headers
        case body
        /// After the close delimiter: ignored.
        case epilogue
    }

    /// `CRLF--boundary`.
    private let delimiter: [UInt8]
    private var state = State.preamble(atStart: true)
    /// Bytes fed and not yet consumed.
    private var buffer = ByteBuffer()
    private var events: [FormDataEvent] = []
    private var nextEvent = 0

    /// The most a part's header section may take.
    static let headerBytesMax = 16 * 1024

    static let malformed = S3Error(
        .malformedPOSTRequest, "The body of your POST request is not well-formed multipart/form-data.")

    private static let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n"), dash = UInt8(ascii: "-")

    /// The boundary of a `multipart/form-data; boundary=...` Content-Type; nil for any other type.
    static func boundary(contentType: String) -> String? {
        guard let boundary = FormPartHeaders.parameters(contentType, type: "multipart/form-data")?["boundary"],
            (1...70).contains(boundary.utf8.count)
        else { return nil }
        return boundary
    }

    init(boundary: String) {
        delimiter = [Self.cr, Self.lf, Self.dash, Self.dash] + Array(boundary.utf8)
    }

    /// Parses `bytes`; their events are then returned by `next()`.
    func feed(_ bytes: ByteBuffer) throws {
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            var bytes = bytes
            buffer.discardReadBytes()
            buffer.writeBuffer(&bytes)
        }
        try parse()
    }

    /// The next event of the bytes fed so far; nil when they hold no more.
    func next() -> FormDataEvent? {
        guard nextEvent < events.count else {
            events.removeAll(keepingCapacity: true)
            nextEvent = 0
            return nil
        }
        defer { nextEvent += 1 }
        return events[nextEvent]
    }

    private func parse() throws {
        while true {
            switch state {
            case .preamble(let atStart):
                if atStart {
                    let firstDelimiter = delimiter[2...]
                    guard buffer.readableBytes >= firstDelimiter.count else { return }
                    if buffer.readableBytesView.starts(with: firstDelimiter) {
                        buffer.moveReaderIndex(forwardBy: firstDelimiter.count)
                        state = .afterDelimiter
                        continue
                    }
                    state = .preamble(atStart: false)
                }
                if let index = find(delimiter) {
                    buffer.moveReaderIndex(forwardBy: index + delimiter.count)
                    state = .afterDelimiter
                    continue
                }
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes - heldBack())
                return
            case .afterDelimiter:
                let view = buffer.readableBytesView
                guard view.count >= 2 else { return }
                if view.starts(with: [Self.dash, Self.dash]) {
                    state = .epilogue
                    continue
                }
                // Transport padding (spaces, tabs) may follow a delimiter before its CRLF.
                let padding = view.prefix { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }.count
                guard padding <= 64 else { throw Self.malformed }
                guard view.count >= padding + 2 else { return }
                let lineEnd = view.dropFirst(padding).prefix(2)
                guard lineEnd.elementsEqual([Self.cr, Self.lf]) else { throw Self.malformed }
                buffer.moveReaderIndex(forwardBy: padding + 2)
                state = .headers
            case .headers:
                let lines: [(name: String, value: String)]
                if buffer.readableBytesView.starts(with: [Self.cr, Self.lf]) {
                    lines = []
                    buffer.moveReaderIndex(forwardBy: 2)
                } else if let end = find([Self.cr, Self.lf, Self.cr, Self.lf]) {
                    guard end <= Self.headerBytesMax else { throw Self.malformed }
                    lines = try Self.headerLines(buffer.readableBytesView.prefix(end))
                    buffer.moveReaderIndex(forwardBy: end + 4)
                } else {
                    guard buffer.readableBytes <= Self.headerBytesMax else { throw Self.malformed }
                    return
                }
                // A part that is not a named form-data part cannot be a field: it is reported nameless.
                events.append(.partHeaders(FormPartHeaders(lines: lines) ?? FormPartHeaders(name: "")))
                state = .body
            case .body:
                if let index = find(delimiter) {
                    if index > 0 { events.append(.data(buffer.readSlice(length: index)!)) }
                    buffer.moveReaderIndex(forwardBy: delimiter.count)
                    events.append(.partEnd)
                    state = .afterDelimiter
                    continue
                }
                let ready = buffer.readableBytes - heldBack()
                if ready > 0 { events.append(.data(buffer.readSlice(length: ready)!)) }
                return
            case .epilogue:
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                return
            }
        }
    }

    /// `Name: value` lines separated by CRLF; a line without a colon is malformed.
    private static func headerLines(_ section: ByteBufferView) throws -> [(name: String, value: String)] {
        var lines: [(name: String, value: String)] = []
        var rest = section[...]
        while !rest.isEmpty {
            let line: ByteBufferView.SubSequence
            if let end = rest.firstRange(of: [cr, lf]) {
                line = rest[..<end.lowerBound]
                rest = rest[end.upperBound...]
            } else {
                line = rest
                rest = rest[rest.endIndex...]
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon != line.startIndex else { throw malformed }
            let name = String(decoding: line[..<colon], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            lines.append((name, value))
        }
        return lines
    }

    /// Where `pattern` starts in the unconsumed bytes, as an offset from the first of them.
    private func find(_ pattern: [UInt8]) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard let base = bytes.baseAddress, bytes.count >= pattern.count else { return nil }
            var offset = 0
            let last = bytes.count - pattern.count
            while offset <= last {
                guard let hit = memchr(base + offset, Int32(pattern[0]), last - offset + 1) else { return nil }
                let at = base.distance(to: UnsafeRawPointer(hit))
                if pattern.withUnsafeBytes({ memcmp(base + at, $0.baseAddress!, pattern.count) }) == 0 { return at }
                offset = at + 1
            }
            return nil
        }
    }

    /// How many of the last unconsumed bytes could be the start of a delimiter the next feed
    /// completes (they are kept until it comes).
    private func heldBack() -> Int {
        let view = buffer.readableBytesView
        let longest = min(view.count, delimiter.count - 1)
        for length in stride(from: longest, to: 0, by: -1) where view[view.endIndex - length] == Self.cr {
            if view.suffix(length).elementsEqual(delimiter.prefix(length)) { return length }
        }
        return 0
    }
}
