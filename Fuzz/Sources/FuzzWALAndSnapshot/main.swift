import Brain

/// WAL mutation payloads and snapshot files come from disk: decoding them must never crash. The
/// first byte picks the decoder, so one corpus covers both.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let selector = bytes.first else { return 0 }
    let input = Array(bytes.dropFirst())
    if selector & 1 == 0 {
        _ = UntrustedInput.walMutation(input)
    } else {
        try? UntrustedInput.snapshot(input, generation: UInt64(selector >> 1))
    }
    return 0
}
