import Crypto
import NIOCore

/// Strips `Content-Encoding: aws-chunked` framing from a body as it streams, collecting trailers.
///
/// Each chunk is `hex-size[;chunk-signature=...]\r\n` + data + `\r\n`; a zero-size chunk ends the
/// data and may be followed by trailer lines (`x-amz-checksum-crc32:...`) and an empty line.
/// With a signature chain (a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` body) every chunk must
/// carry `;chunk-signature=` and is verified as soon as its data is in, and so is the trailer's
/// `x-amz-trailer-signature`: a failure is 403 SignatureDoesNotMatch before the body is committed.
/// Tolerates a bare `\n` for `\r\n` and a missing final empty line, as real SDKs send both.
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
    private var signatures: ChunkSignatureChain?
    /// The signature the current chunk's header carried, and the hash of its data so far.
    private var chunkSignature = ""
    private var chunkHash = SHA256()
    private var trailerSignature: String?
    private var line: [UInt8] = []
    private var trailerBytes = 0
    private(set) var trailers: [String: String] = [:]
    private(set) var decodedByteCount: Int64 = 0

    init(signatures: ChunkSignatureChain? = nil) {
        self.signatures = signatures
    }

    static func malformed(_ why: String) -> S3Error {
        S3Error(.incompleteBody, "The aws-chunked request body is malformed: \(why).")
    }

    /// Consumes `input`, returning the decoded data it contained.
    mutating func feed(_ input: ByteBuffer) throws -> [ByteBuffer] {
        var input = input
        var output: [ByteBuffer] = []
        while input.readableBytes > 0 {
            switch state {
            case .chunkHeader:
                guard let header = try readLine(&input) else { continue }
                let parts = header.split(separator: UInt8(ascii: ";"), maxSplits: 1, omittingEmptySubsequences: false)
                let sizeText = parts[0]
                guard !sizeText.isEmpty, sizeText.count <= 16,
                    let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16), size >= 0
                else { throw Self.malformed("bad chunk size line") }
                if signatures != nil {
                    let prefix = "chunk-signature="
                    let fields = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
                    guard fields.hasPrefix(prefix), fields.utf8.count == prefix.utf8.count + 64 else {
                        throw S3Error(.signatureDoesNotMatch, "A chunk of a signed aws-chunked body carries no chunk-signature.")
                    }
                    chunkSignature = String(fields.dropFirst(prefix.count))
                    chunkHash = SHA256()
                    if size == 0 { try verifyChunk() }
                }
                state = size == 0 ? .trailers : .data(remaining: size)
            case .data(let remaining):
                let piece = input.readSlice(length: min(remaining, input.readableBytes))!
                decodedByteCount += Int64(piece.readableBytes)
                if signatures != nil { piece.withUnsafeReadableBytes { chunkHash.update(bufferPointer: $0) } }
                output.append(piece)
                if remaining == piece.readableBytes {
                    if signatures != nil { try verifyChunk() }
                    state = .dataEnd
                } else {
                    state = .data(remaining: remaining - piece.readableBytes)
                }
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
                if name == "x-amz-trailer-signature" {
                    trailerSignature = value
                } else {
                    trailers[name] = value
                }
            case .done:
                throw Self.malformed("bytes after the end of the body")
            }
        }
        return output
    }

    /// Checks that the body ended where the framing says it ends.
    func finish() throws {
        switch state {
        case .done: break
        case .trailers where line.isEmpty: break
        default: throw Self.malformed("the body ended inside a chunk")
        }
        if let signatures, signatures.hasSignedTrailer {
            guard let trailerSignature else {
                throw S3Error(.signatureDoesNotMatch, "The signed aws-chunked body carries no x-amz-trailer-signature.")
            }
            let canonical = trailers.keys.sorted().map { "\($0):\(trailers[$0]!)\n" }.joined()
            try signatures.verifyTrailer(canonicalTrailers: canonical, signature: trailerSignature)
        }
    }

    private mutating func verifyChunk() throws {
        try signatures?.verifyChunk(dataSHA256: chunkHash.finalize(), signature: chunkSignature)
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
