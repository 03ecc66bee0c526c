/// Whether an object's chunks are worth an lz4 attempt on the agents, judged from its stored
/// headers: media and archive types are compressed already, and trying costs a pass over every
/// chunk for nothing. Unknown types are left to the agent (which keeps a compressed record only
/// when it saves enough).
enum CompressionHint {
    static func isIncompressible(_ headers: [StoredHeader]) -> Bool {
        var contentType: String?
        for header in headers {
            if header.name == "content-encoding",
                header.value.split(separator: ",").contains(where: { compressedEncodings.contains(normalized($0)) })
            {
                return true
            }
            if header.name == "content-type" { contentType = header.value }
        }
        guard let contentType else { return false }
        let mediaType = normalized(contentType.prefix { $0 != ";" })
        if compressedMediaTypes.contains(mediaType) { return true }
        let topLevel = mediaType.prefix { $0 != "/" }
        return (topLevel == "image" || topLevel == "video" || topLevel == "audio") && !uncompressedMedia.contains(mediaType)
    }

    /// Lower-cased, without surrounding spaces and tabs. Runs once per upload, so kept off
    /// Foundation's character-set trimming, which was 2% of a 4 KiB PUT's CPU.
    private static func normalized(_ text: Substring) -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(text.drop(while: isBlank).reversed().drop(while: isBlank).reversed()).lowercased()
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
