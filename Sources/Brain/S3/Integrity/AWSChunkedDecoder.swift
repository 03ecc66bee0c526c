import NIOCore

/// Strips `Content-Encoding: aws-chunked` framing from a body as it streams, collecting trailers.
///
/// Each chunk is `hex-size[;chunk-signature=...]\r\n` + data + `\r\n`; a zero-size chunk ends the
/// data and may be followed by trailer lines (`x-amz-checksum-crc32:...`) and an empty line.
/// Chunk signatures are not verified: SOS does not check request signatures yet. Tolerates a
/// bare `\n` for `\r\n` and a missing final empty line, as real SDKs send both.
struct AWSChunkedDecoder {
    static let lineBytesMax = 4096
    static let trailerBytesMax = 16 * 1024

    private enum State {
        case chunkHeader
        case data(remaining: Int)
        case dataEnd
        case trailers
        case done
    }

    private var state = State.chunkHeader
    private var line: [UInt8] = []
    private var trailerBytes = 0
    private(set) var trailers: [String: String] = [:]
    private(set) var decodedByteCount: Int64 = 0

    static func malformed(_ why: String) -> S3Error {
        S3Error(.badRequest, "IncompleteBody", "The aws-chunked request body is malformed: \(why).")
    }

    /// Consumes `input`, returning the decoded data it contained.
    mutating func feed(_ input: ByteBuffer) throws -> [ByteBuffer] {
        var input = input
        var output: [ByteBuffer] = []
        while input.readableBytes > 0 {
            switch state {
            case .chunkHeader:
                guard let header = try readLine(&input) else { continue }
                let sizeText = header.split(separator: UInt8(ascii: ";"), maxSplits: 1, omittingEmptySubsequences: false)[0]
                guard !sizeText.isEmpty, sizeText.count <= 16,
                    let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16), size >= 0
                else { throw Self.malformed("bad chunk size line") }
                state = size == 0 ? .trailers : .data(remaining: size)
            case .data(let remaining):
                let piece = input.readSlice(length: min(remaining, input.readableBytes))!
                decodedByteCount += Int64(piece.readableBytes)
                output.append(piece)
                state = remaining == piece.readableBytes ? .dataEnd : .data(remaining: remaining - piece.readableBytes)
            case .dataEnd:
                guard let rest = try readLine(&input) else { continue }
                guard rest.isEmpty else { throw Self.malformed("chunk data longer than its size") }
                state = .chunkHeader
            case .trailers:
                guard let trailer = try readLine(&input) else { continue }
                trailerBytes += trailer.count
                guard trailerBytes <= Self.trailerBytesMax else { throw Self.malformed("trailers too long") }
                if trailer.isEmpty {
                    state = .done
                    continue
                }
                guard let colon = trailer.firstIndex(of: UInt8(ascii: ":")) else { throw Self.malformed("bad trailer line") }
                let name = String(decoding: trailer[..<colon], as: UTF8.self).lowercased()
                let value = String(decoding: trailer[(colon + 1)...], as: UTF8.self).trimmingSpaces()
                trailers[name] = value
            case .done:
                throw Self.malformed("bytes after the end of the body")
            }
        }
        return output
    }

    /// Checks that the body ended where the framing says it ends.
    func finish() throws {
        switch state {
        case .done: return
        case .trailers where line.isEmpty: return
        default: throw Self.malformed("the body ended inside a chunk")
        }
    }

    /// Accumulates one line; nil while it is incomplete. Accepts `\r\n` or `\n`.
    private mutating func readLine(_ input: inout ByteBuffer) throws -> [UInt8]? {
        while let byte: UInt8 = input.readInteger() {
            if byte == UInt8(ascii: "\n") {
                defer { line = [] }
                return line.last == UInt8(ascii: "\r") ? Array(line.dropLast()) : line
            }
            line.append(byte)
            guard line.count <= Self.lineBytesMax else { throw Self.malformed("line too long") }
        }
        return nil
    }
}

extension String {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " || scalars.first == "\t" { scalars.removeFirst() }
        while scalars.last == " " || scalars.last == "\t" || scalars.last == "\r" { scalars.removeLast() }
        return String(scalars)
    }
}
