import Crypto
import Foundation
import HTTPTypes

/// Everything a PUT body is checked against, computed in one pass as it streams to the agents:
/// its MD5 (the ETag, and Content-MD5), the x-amz-checksum-* the client sent or asked for, and
/// the hex SHA-256 in x-amz-content-sha256 when it is a digest rather than a streaming marker.
struct BodyDigests {
    private var md5 = Insecure.MD5()
    private var checksum: RunningChecksum?
    private var sha256: SHA256?
    private let expected: Expectations
    private(set) var size: Int64 = 0

    struct Expectations {
        var contentMD5: [UInt8]?
        var checksumAlgorithm: ChecksumAlgorithm?
        /// Base64 value from a header; nil when it will come in an aws-chunked trailer (or not at all).
        var checksumValue: String?
        var contentSHA256: [UInt8]?
    }

    /// Reads what to verify from the request headers; rejects malformed values up front (S3: InvalidDigest, InvalidRequest).
    static func expectations(from headers: HTTPFields, defaultAlgorithm: ChecksumAlgorithm? = nil) throws -> Expectations {
        var expected = Expectations()
        if let contentMD5 = headers[.contentMD5] {
            guard let digest = Data(base64Encoded: contentMD5), digest.count == 16 else {
                throw S3Error(.invalidDigest, "The Content-MD5 you specified was invalid.")
            }
            expected.contentMD5 = Array(digest)
        }
        for algorithm in ChecksumAlgorithm.allCases {
            guard let value = headers[algorithm.headerField] else { continue }
            guard expected.checksumAlgorithm == nil else {
                throw S3Error(.invalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
            }
            guard let digest = Data(base64Encoded: value), digest.count == RunningChecksum.digestByteCount(algorithm) else {
                throw S3Error(.invalidRequest, "Value for \(algorithm.headerName) header is invalid.")
            }
            expected.checksumAlgorithm = algorithm
            expected.checksumValue = value
        }
        let declared = headers[.amzSDKChecksumAlgorithm]
            ?? headers[.amzTrailer].flatMap { trailer in
                trailer.lowercased().hasPrefix("x-amz-checksum-") ? String(trailer.dropFirst("x-amz-checksum-".count)) : nil
            }
        if expected.checksumAlgorithm == nil, let declared {
            guard let algorithm = ChecksumAlgorithm(name: declared) else {
                throw S3Error(.invalidRequest, "Checksum algorithm \(declared) is not supported.")
            }
            expected.checksumAlgorithm = algorithm
        }
        if expected.checksumAlgorithm == nil { expected.checksumAlgorithm = defaultAlgorithm }
        if let sha = headers[.amzContentSHA256], sha.utf8.count == 64, let digest = hexBytes(sha) {
            expected.contentSHA256 = digest
        }
        return expected
    }

    init(_ expected: Expectations) {
        self.expected = expected
        checksum = expected.checksumAlgorithm.map(RunningChecksum.init)
        sha256 = expected.contentSHA256 == nil ? nil : SHA256()
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        size += Int64(bytes.count)
        md5.update(bufferPointer: bytes)
        checksum?.update(bytes)
        sha256?.update(bufferPointer: bytes)
    }

    struct Result {
        var md5: [UInt8]
        var checksum: StoredChecksum?
        var size: Int64
    }

    /// Finishes the digests and compares them with what the client declared; `trailerChecksum`
    /// is the value from an aws-chunked trailer. Throws BadDigest (or XAmzContentSHA256Mismatch).
    func verify(trailerChecksum: String? = nil) throws -> Result {
        let md5Digest = Array(md5.finalize())
        if let contentMD5 = expected.contentMD5, contentMD5 != md5Digest {
            throw S3Error(.badDigest, "The Content-MD5 you specified did not match what we received.")
        }
        if let expectedSHA = expected.contentSHA256, let sha256, Array(sha256.finalize()) != expectedSHA {
            throw S3Error(.xAmzContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
        }
        var stored: StoredChecksum?
        if let checksum {
            let computed = checksum.base64Digest()
            if let declared = expected.checksumValue ?? trailerChecksum, declared != computed {
                throw S3Error(.badDigest, "The \(checksum.algorithm.name) you specified did not match the calculated checksum.")
            }
            stored = StoredChecksum(algorithm: checksum.algorithm, value: computed)
        }
        return Result(md5: md5Digest, checksum: stored, size: size)
    }

    static func hexBytes(_ hex: String) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let byte = UInt8(String(decoding: utf8[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
            index += 2
        }
        return bytes
    }
}
