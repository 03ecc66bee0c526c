import NIOCore

/// One event of a `multipart/form-data` body (RFC 7578), in order: a part's headers, its content
/// in pieces, its end.
enum FormDataEvent {
    case partHeaders(FormPartHeaders)
    case data(ByteBuffer)
    case partEnd
}

/// What a part's headers say: `Content-Disposition: form-data; name="..."[; filename="..."]` and
/// its Content-Type.
struct FormPartHeaders: Equatable {
    var name: String
    var filename: String?
    var contentType: String?

    init(name: String, filename: String? = nil, contentType: String? = nil) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
    }

    /// From a part's header lines; nil when it has no form-data disposition with a name.
    init?(lines: [(name: String, value: String)]) {
        var disposition: [String: String]?
        for (name, value) in lines {
            switch name.lowercased() {
            case "content-disposition": disposition = Self.parameters(value, type: "form-data")
            case "content-type": contentType = value
            default: continue
            }
        }
        guard let disposition, let name = disposition["name"] else { return nil }
        self.name = name
        self.filename = disposition["filename"]
    }

    /// `TYPE; a=b; c="d e"` -> [a: b, c: d e] (names lowercased); nil when the type is not `type`
    /// or a quoted string does not end.
    static func parameters(_ value: String, type: String) -> [String: String]? {
        var rest = Substring(value)
        func skipSpaces() { while rest.first == " " || rest.first == "\t" { rest.removeFirst() } }
        skipSpaces()
        let first = rest.prefix { $0 != ";" }
        guard first.trimmingCharacters(in: " ").lowercased() == type else { return nil }
        rest = rest.dropFirst(first.count)
        var parameters: [String: String] = [:]
        while rest.first == ";" {
            rest.removeFirst()
            skipSpaces()
            let name = rest.prefix { $0 != "=" && $0 != ";" }
            rest = rest.dropFirst(name.count)
            guard rest.first == "=" else { continue }
            rest.removeFirst()
            var parameterValue = ""
            if rest.first == "\"" {
                rest.removeFirst()
                var closed = false
                while let character = rest.popFirst() {
                    if character == "\"" {
                        closed = true
                        break
                    }
                    // A backslash quotes the next character (RFC 7230 quoted-pair).
                    parameterValue.append(character == "\\" ? rest.popFirst() ?? "\\" : character)
                }
                guard closed else { return nil }
            } else {
                parameterValue = String(rest.prefix { $0 != ";" }.trimmingCharacters(in: " "))
            }
            rest = rest.drop { $0 != ";" }
            parameters[name.trimmingCharacters(in: " ").lowercased()] = parameterValue
        }
        return parameters
    }
}

/// Pulls a form's events from a request body as they are needed, so that a file part streams
/// through without being held whole.
final class FormDataReader<Body: AsyncIteratorProtocol> where Body.Element == ByteBuffer {
    private var body: Body
    private let parser: FormDataParser
    /// Bytes that may arrive without making an event (a preamble, a part's header lines), so that
    /// the parser never gathers more than this.
    private let quietBytesMax: Int
    /// Bytes of the body read so far.
    private(set) var bytesRead = 0

    init(boundary: String, body: Body, quietBytesMax: Int) {
        self.body = body
        self.parser = FormDataParser(boundary: boundary)
        self.quietBytesMax = quietBytesMax
    }

    /// The next event; nil when the body has ended.
    func next() async throws -> FormDataEvent? {
        if let event = parser.next() { return event }
        var quietBytes = 0
        while let bytes = try await body.next() {
            bytesRead += bytes.readableBytes
            try parser.feed(bytes)
            if let event = parser.next() { return event }
            quietBytes += bytes.readableBytes
            guard quietBytes <= quietBytesMax else { throw FormDataParser.malformed }
        }
        return nil
    }

    /// The content of the part whose headers were just read, as a body for `BodyStorer`: it
    /// ends at the part's end, and a body that ends before it is malformed (a truncated upload).
    var partContent: PartContent { PartContent(reader: self) }

    struct PartContent: AsyncSequence {
        typealias Element = ByteBuffer
        let reader: FormDataReader

        func makeAsyncIterator() -> Iterator { Iterator(reader: reader) }

        struct Iterator: AsyncIteratorProtocol {
            let reader: FormDataReader
            var ended = false

            mutating func next() async throws -> ByteBuffer? {
                guard !ended else { return nil }
                switch try await reader.next() {
                case .data(let bytes): return bytes
                case .partEnd:
                    ended = true
                    return nil
                case .partHeaders, nil: throw FormDataParser.malformed
                }
            }
        }
    }
}
