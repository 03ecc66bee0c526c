import Brain

/// The S3 request layer's parsers of client bytes: aws-chunked bodies, Range and date headers,
/// percent-encoding, XML bodies. The first byte picks the parser (and a piece size).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let selector = bytes.first else { return 0 }
    let input = Array(bytes.dropFirst())
    let text = String(decoding: input, as: UTF8.self)
    switch selector % 5 {
    case 0: _ = try? UntrustedInput.awsChunked(input, pieceSize: Int(selector / 5) + 1)
    case 1: _ = try? UntrustedInput.range(text, size: Int64(input.count) * 37)
    case 2: try? UntrustedInput.xml(input)
    case 3: _ = UntrustedInput.percentDecoded(text)
    default: _ = UntrustedInput.httpDate(text)
    }
    return 0
}
