import CZlib
import Crypto
import Foundation

/// A checksum computed incrementally over a body as it streams through.
struct RunningChecksum {
    let algorithm: ChecksumAlgorithm
    private var crc32: UInt = 0
    private var crc32c: UInt32 = 0xFFFF_FFFF
    private var crc64: UInt64 = 0xFFFF_FFFF_FFFF_FFFF
    private var sha1 = Insecure.SHA1()
    private var sha256 = SHA256()

    init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
        if algorithm == .crc32 { crc32 = CZlib.crc32(0, nil, 0) }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        switch algorithm {
        case .crc32:
            // zlib takes at most UInt32.max bytes per call; bodies arrive in far smaller pieces.
            crc32 = CZlib.crc32(crc32, bytes.baseAddress!.assumingMemoryBound(to: Bytef.self), uInt(bytes.count))
        case .crc32c: crc32c = CRCTables.updateCRC32C(crc32c, bytes)
        case .crc64nvme: crc64 = CRCTables.updateCRC64NVME(crc64, bytes)
        case .sha1: sha1.update(bufferPointer: bytes)
        case .sha256: sha256.update(bufferPointer: bytes)
        }
    }

    /// The raw digest, big-endian for the CRCs, as S3 encodes them before base64.
    func digest() -> [UInt8] {
        switch algorithm {
        case .crc32: return UInt32(crc32).bigEndianBytes
        case .crc32c: return (crc32c ^ 0xFFFF_FFFF).bigEndianBytes
        case .crc64nvme: return (crc64 ^ 0xFFFF_FFFF_FFFF_FFFF).bigEndianBytes
        case .sha1: return Array(sha1.finalize())
        case .sha256: return Array(sha256.finalize())
        }
    }

    func base64Digest() -> String { Data(digest()).base64EncodedString() }

    /// Byte length of a digest, for validating client-supplied values.
    static func digestByteCount(_ algorithm: ChecksumAlgorithm) -> Int {
        switch algorithm {
        case .crc32, .crc32c: return 4
        case .crc64nvme: return 8
        case .sha1: return 20
        case .sha256: return 32
        }
    }
}

/// Table-driven (reflected) CRCs that zlib lacks: CRC-32C (Castagnoli) and CRC-64/NVME.
enum CRCTables {
    static let crc32c: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static let crc64nvme: [UInt64] = (0..<256).map { index in
        var crc = UInt64(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x9A6C_9329_AC4B_C9B5 : crc >> 1 }
        return crc
    }

    static func updateCRC32C(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = crc
        crc32c.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)] ^ (crc >> 8) }
        }
        return crc
    }

    static func updateCRC64NVME(_ crc: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var crc = crc
        crc64nvme.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)] ^ (crc >> 8) }
        }
        return crc
    }
}

extension FixedWidthInteger {
    var bigEndianBytes: [UInt8] { withUnsafeBytes(of: self.bigEndian) { Array($0) } }
}
