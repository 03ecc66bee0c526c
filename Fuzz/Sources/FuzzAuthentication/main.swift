import Brain

/// The parsers of authentication bytes: the Authorization header (SigV4 and SigV2), the presigned
/// query (SigV4 and SigV2 parameters), request dates, signed aws-chunked bodies, bucket policies, and
/// browser POST upload forms with their policy documents.
/// The first byte picks what is fed; for requests the rest is `header \n path \n query \n date`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let selector = bytes.first else { return 0 }
    let input = Array(bytes.dropFirst())
    switch selector % 5 {
    case 0:
        let fields = String(decoding: input, as: UTF8.self).split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false)
            .map(String.init)
        let field = { (index: Int) in index < fields.count ? fields[index] : "" }
        _ = UntrustedInput.authentication(
            authorization: field(0).isEmpty ? nil : field(0), rawPath: "/" + field(1), rawQuery: field(2), date: field(3))
    case 1: try? UntrustedInput.signedAWSChunked(input, pieceSize: Int(selector / 5) + 1, signedTrailer: false)
    case 2: try? UntrustedInput.signedAWSChunked(input, pieceSize: Int(selector / 5) + 1, signedTrailer: true)
    case 3: UntrustedInput.bucketPolicy(String(decoding: input, as: UTF8.self))
    default: try? UntrustedInput.postForm(input, pieceSize: Int(selector / 5) + 1)
    }
    return 0
}
