/// The CRC of two byte strings joined, from their CRCs and the second one's length (zlib's
/// `crc32_combine`, for any reflected CRC whose initial value and final XOR are all ones: CRC-32,
/// CRC-32C, CRC-64/NVME). A multipart upload's FULL_OBJECT checksum is its parts' CRCs combined:
/// appending B to A multiplies A's CRC by x^(8 |B|) modulo the polynomial, in GF(2).
struct CRCCombine {
    let width: Int
    /// The reflected polynomial.
    let polynomial: UInt64
    /// x^(2^k) modulo the polynomial, k = 0 ..< width.
    private let powers: [UInt64]

    static let crc32 = CRCCombine(width: 32, polynomial: 0xEDB8_8320)
    static let crc32c = CRCCombine(width: 32, polynomial: 0x82F6_3B78)
    static let crc64nvme = CRCCombine(width: 64, polynomial: 0x9A6C_9329_AC4B_C9B5)

    static func forAlgorithm(_ algorithm: ChecksumAlgorithm) -> CRCCombine? {
        switch algorithm {
        case .crc32: .crc32
        case .crc32c: .crc32c
        case .crc64nvme: .crc64nvme
        case .sha1, .sha256: nil
        }
    }

    private init(width: Int, polynomial: UInt64) {
        self.width = width
        self.polynomial = polynomial
        var powers: [UInt64] = [UInt64(1) << (width - 2)]  // x^1 (x^0 is the top bit, reflected)
        for _ in 1..<width { powers.append(Self.multiply(powers[powers.count - 1], powers[powers.count - 1], width, polynomial)) }
        self.powers = powers
    }

    /// a * b modulo the polynomial.
    private static func multiply(_ a: UInt64, _ b: UInt64, _ width: Int, _ polynomial: UInt64) -> UInt64 {
        var m = UInt64(1) << (width - 1)
        var product: UInt64 = 0
        var b = b
        while m != 0 {
            if a & m != 0 {
                product ^= b
                if a & (m - 1) == 0 { break }
            }
            m >>= 1
            b = b & 1 != 0 ? (b >> 1) ^ polynomial : b >> 1
        }
        return product
    }

    /// The CRC of A followed by B, given CRC(A), CRC(B) and B's length in bytes.
    func combine(_ first: UInt64, _ second: UInt64, secondLength: Int64) -> UInt64 {
        // x^(8 * length): the powers x^(2^k) for the bits of length, from k = 3.
        var shift = UInt64(1) << (width - 1)
        var n = UInt64(secondLength)
        var k = 3
        while n != 0 {
            if n & 1 != 0 { shift = Self.multiply(powers[k % width], shift, width, polynomial) }
            n >>= 1
            k += 1
        }
        return Self.multiply(shift, first, width, polynomial) ^ second
    }

    /// The big-endian digest bytes of a CRC of this width, and back.
    func bytes(_ crc: UInt64) -> [UInt8] {
        width == 32 ? UInt32(truncatingIfNeeded: crc).bigEndianBytes : crc.bigEndianBytes
    }

    func value(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count == width / 8 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
