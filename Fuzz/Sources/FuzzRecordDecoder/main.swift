import LogStore

/// Segment and WAL bytes come from disk, where anything can happen: decoding them must never
/// crash, and the scanner must always make progress and end.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let record = try? Record(decoding: bytes) {
        // Whatever decodes must re-encode to the same bytes it came from.
        precondition(record.encoded() == Array(bytes.prefix(record.encodedByteCount)))
    }
    var scanner = RecordScanner(bytes: bytes)
    var lastOffset: Int64 = -1
    while let event = try? scanner.next() {
        switch event {
        case .record(let offset, _), .corrupt(let offset, _, _), .invalidTail(let offset, _):
            precondition(offset > lastOffset && offset <= Int64(bytes.count), "scanner went backwards")
            lastOffset = offset
        }
    }
    return 0
}
