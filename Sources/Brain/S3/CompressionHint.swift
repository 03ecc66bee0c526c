/// Whether an object's chunks are worth an lz4 attempt on the agents, judged from its stored
/// headers: media and archive types are compressed already, and trying costs a pass over every
/// chunk for nothing. Unknown types are left to the agent (which keeps a compressed record only
/// when it saves enough).
enum CompressionHint {
    static func isIncompressible(_ headers: [StoredHeader]) -> Bool {
        var contentType: String?
        for header in headers {
            if header.name == "content-encoding",
                header.value.utf8.split(separator: UInt8(ascii: ",")).contains(where: { compressedEncodings.contains(normalized($0)) })
            {
                return true
            }
            if header.name == "content-type" { contentType = header.value }
        }
        guard let contentType else { return false }
        let mediaType = normalized(contentType.utf8.prefix { $0 != UInt8(ascii: ";") })
        if compressedMediaTypes.contains(mediaType) { return true }
        let topLevel = mediaType.utf8.prefix { $0 != UInt8(ascii: "/") }
        return ["image", "video", "audio"].contains { topLevel.elementsEqual($0.utf8) } && !uncompressedMedia.contains(mediaType)
    }

    /// ASCII-lower-cased, without surrounding spaces and tabs. Byte by byte: runs once per upload,
    /// and Foundation's trimming and lowercasing of Characters were 2% of a 4 KiB PUT's CPU.
    private static func normalized(_ text: some BidirectionalCollection<UInt8>) -> String {
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = text.firstIndex(where: { !isBlank($0) }), let last = text.lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return String(decoding: text[first...last].map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
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
