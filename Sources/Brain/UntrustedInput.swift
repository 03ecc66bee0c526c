import Foundation
import LogStore
import NIOCore

/// Every decoder the brain runs on bytes it did not write itself, callable on plain bytes: the
/// entry points of the fuzz targets in Fuzz/. Each throws or returns; none may crash.
public enum UntrustedInput {
    /// A WAL record payload. Returns whether it decoded; a decoded mutation must re-encode to the same bytes.
    public static func walMutation(_ bytes: [UInt8]) -> Bool {
        guard let mutation = try? MutationCodec.decode(bytes) else { return false }
        precondition(MutationCodec.encode(mutation) == bytes, "mutation does not round-trip")
        return true
    }

    /// A snapshot file's bytes, loaded as if it were snapshot `generation`.
    public static func snapshot(_ bytes: [UInt8], generation: UInt64) throws {
        _ = try Snapshot.load(RecordScanner(bytes: bytes), size: Int64(bytes.count), path: "fuzz", generation: generation)
    }

    /// An aws-chunked body cut into pieces at `splits`; returns the decoded bytes.
    public static func awsChunked(_ bytes: [UInt8], pieceSize: Int) throws -> [UInt8] {
        var decoder = AWSChunkedDecoder()
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + max(1, pieceSize))
            for piece in try decoder.feed(ByteBuffer(bytes: bytes[index..<end])) { out += piece.readableBytesView }
            index = end
        }
        try decoder.finish()
        return out
    }

    /// A Range header against an object of `size` bytes; the range, if any, lies inside the object.
    public static func range(_ header: String, size: Int64) throws -> Range<Int64>? {
        let range = try RangeRequest.resolve(header, size: size)
        if let range { precondition(range.lowerBound >= 0 && range.upperBound <= size && !range.isEmpty) }
        return range
    }

    /// An XML request body (CompleteMultipartUpload, Delete).
    public static func xml(_ bytes: [UInt8]) throws {
        _ = try XMLNode.parse(Data(bytes))
    }

    /// A percent-encoded path or query component.
    public static func percentDecoded(_ text: String) -> String? { PercentEncoding.decode(text) }

    /// An HTTP date header.
    public static func httpDate(_ text: String) -> Int64? { HTTPDate.parseSeconds(text) }
}
