import Foundation

/// Whether an object's chunks are worth an lz4 attempt on the agents, judged from its stored
/// headers: media and archive types are compressed already, and trying costs a pass over every
/// chunk for nothing. Unknown types are left to the agent (which keeps a compressed record only
/// when it saves enough).
enum CompressionHint {
    static func isIncompressible(_ headers: [StoredHeader]) -> Bool {
        if let encoding = headers.first(where: { $0.name == "content-encoding" })?.value.lowercased(),
            encoding.split(separator: ",").contains(where: { compressedEncodings.contains($0.trimmingSpaces) })
        {
            return true
        }
        guard let contentType = headers.first(where: { $0.name == "content-type" })?.value.lowercased() else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first?.trimmingSpaces ?? ""
        if compressedMediaTypes.contains(mediaType) { return true }
        let topLevel = mediaType.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        return ["image", "video", "audio"].contains(topLevel) && !uncompressedMedia.contains(mediaType)
    }

    private static let compressedEncodings: Set<String> = ["gzip", "x-gzip", "br", "zstd", "deflate", "compress", "x-compress"]

    private static let compressedMediaTypes: Set<String> = [
        "application/zip", "application/gzip", "application/x-gzip", "application/x-bzip2", "application/x-xz",
        "application/zstd", "application/x-7z-compressed", "application/x-rar-compressed", "application/vnd.rar",
        "application/java-archive", "application/x-lz4", "application/pdf", "application/vnd.apache.parquet",
        "font/woff", "font/woff2",
    ]

    /// Media types that are raw samples or markup and do compress.
    private static let uncompressedMedia: Set<String> = [
        "image/svg+xml", "image/bmp", "image/x-ms-bmp", "image/tiff", "image/x-portable-pixmap", "audio/wav",
        "audio/x-wav", "audio/wave",
    ]
}

extension Substring {
    fileprivate var trimmingSpaces: String { String(self).trimmingCharacters(in: .whitespaces) }
}
