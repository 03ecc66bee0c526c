/// The `Range` header of a GET, as S3 reads it: one range of bytes; anything else is ignored.
enum RangeRequest {
    /// The byte range to return, nil for the whole object. Throws InvalidRange (416) when the range
    /// starts beyond the object. Malformed or multi-range headers are ignored, as S3 does.
    static func resolve(_ header: String?, size: Int64) throws -> Range<Int64>? {
        guard let header, header.hasPrefix("bytes=") else { return nil }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash].trimmingCharacters(), last = spec[spec.index(after: dash)...].trimmingCharacters()
        if first.isEmpty {
            guard let suffix = Int64(last), suffix >= 0 else { return nil }
            guard suffix > 0, size > 0 else { throw unsatisfiable(size) }
            return max(0, size - suffix)..<size
        }
        guard let start = Int64(first), start >= 0 else { return nil }
        var end = size - 1
        if !last.isEmpty {
            guard let value = Int64(last), value >= start else { return nil }
            end = min(value, size - 1)
        }
        guard start < size else { throw unsatisfiable(size) }
        return start..<(end + 1)
    }

    static func unsatisfiable(_ size: Int64) -> S3Error {
        var error = S3Error(.invalidRange, "The requested range is not satisfiable")
        error.extraHeaders = [("Content-Range", "bytes */\(size)")]
        return error
    }

    static func contentRange(_ range: Range<Int64>, size: Int64) -> String {
        "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)"
    }
}
