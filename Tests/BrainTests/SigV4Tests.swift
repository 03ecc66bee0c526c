import HTTPTypes
import NIOCore
import XCTest

@testable import Brain

/// SigV4 checked against the example requests and signatures AWS publishes (S3 API reference,
/// "Examples: Signature Calculations" and "Signature Calculations ... (Chunked Upload)"), whose
/// key is AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY on 2013-05-24.
final class SigV4Tests: XCTestCase {
    static let key = AccessKey(
        accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", isRoot: true)
    static let exampleSeconds = HTTPDate.parseAmzDate("20130524T000000Z")!
    let authenticator = RequestAuthenticator(keys: KeyDirectory(root: key))

    private func request(
        _ method: String, _ path: String, query: String = "", host: String = "examplebucket.s3.amazonaws.com",
        headers: [(String, String)], signature: String? = nil, signedHeaders: String? = nil
    ) -> SignedRequestParts {
        var fields = HTTPFields()
        for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        if let signature, let signedHeaders {
            fields[HTTPField.Name("authorization")!] =
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=\(signedHeaders),Signature=\(signature)"
        }
        return SignedRequestParts(method: method, rawPath: path, rawQuery: query, host: host, headers: fields)
    }

    private func assertS3Error(_ code: S3ErrorCode, _ body: () throws -> Authentication, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { XCTAssertEqual(($0 as? S3Error)?.code, code, line: line) }
    }

    private let empty = SigV4.emptyPayloadSHA256

    func testPublishedGetObjectExample() throws {
        let get = request(
            "GET", "/test.txt", headers: [("range", "bytes=0-9"), ("x-amz-content-sha256", empty), ("x-amz-date", "20130524T000000Z")],
            signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            signedHeaders: "host;range;x-amz-content-sha256;x-amz-date")
        let authentication = try authenticator.authenticate(get, nowSeconds: Self.exampleSeconds + 60)
        XCTAssertEqual(authentication.principal, .key(Self.key))
        XCTAssertNil(authentication.chunkSignatures)

        var tampered = get
        tampered.headers[HTTPField.Name("range")!] = "bytes=0-10"
        assertS3Error(.signatureDoesNotMatch) { try authenticator.authenticate(tampered, nowSeconds: Self.exampleSeconds) }
        var otherHost = get
        otherHost.host = "otherbucket.s3.amazonaws.com"
        assertS3Error(.signatureDoesNotMatch) { try authenticator.authenticate(otherHost, nowSeconds: Self.exampleSeconds) }
        assertS3Error(.requestTimeTooSkewed) { try authenticator.authenticate(get, nowSeconds: Self.exampleSeconds + 15 * 60 + 1) }
        assertS3Error(.requestTimeTooSkewed) { try authenticator.authenticate(get, nowSeconds: Self.exampleSeconds - 15 * 60 - 1) }
        let stranger = RequestAuthenticator(
            keys: KeyDirectory(root: AccessKey(accessKeyID: "SOMEONEELSE", secretKey: "secret-secret", isRoot: true)))
        assertS3Error(.invalidAccessKeyId) { try stranger.authenticate(get, nowSeconds: Self.exampleSeconds) }
    }

    func testPublishedPutObjectExampleWithAnEncodedPathAndDateHeader() throws {
        let put = request(
            "PUT", "/test%24file.text",
            headers: [
                ("date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"),
            ],
            signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            signedHeaders: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class")
        XCTAssertEqual(try authenticator.authenticate(put, nowSeconds: Self.exampleSeconds).principal, .key(Self.key))
    }

    func testPublishedBucketExamplesWithQueries() throws {
        let lifecycle = request(
            "GET", "/", query: "lifecycle", headers: [("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", empty)],
            signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            signedHeaders: "host;x-amz-content-sha256;x-amz-date")
        XCTAssertNoThrow(try authenticator.authenticate(lifecycle, nowSeconds: Self.exampleSeconds))
        let list = request(
            "GET", "/", query: "max-keys=2&prefix=J", headers: [("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", empty)],
            signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            signedHeaders: "host;x-amz-content-sha256;x-amz-date")
        XCTAssertNoThrow(try authenticator.authenticate(list, nowSeconds: Self.exampleSeconds))
        // The query's order on the wire does not matter; its values do.
        var reordered = list
        reordered.rawQuery = "prefix=J&max-keys=2"
        XCTAssertNoThrow(try authenticator.authenticate(reordered, nowSeconds: Self.exampleSeconds))
        var changed = list
        changed.rawQuery = "max-keys=3&prefix=J"
        assertS3Error(.signatureDoesNotMatch) { try authenticator.authenticate(changed, nowSeconds: Self.exampleSeconds) }
    }

    func testPublishedPresignedURL() throws {
        let query =
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        let get = request("GET", "/test.txt", query: query, headers: [])
        XCTAssertEqual(try authenticator.authenticate(get, nowSeconds: Self.exampleSeconds + 3600).principal, .key(Self.key))
        assertS3Error(.accessDenied) { try authenticator.authenticate(get, nowSeconds: Self.exampleSeconds + 86401) }
        var tampered = get
        tampered.rawPath = "/test2.txt"
        assertS3Error(.signatureDoesNotMatch) { try authenticator.authenticate(tampered, nowSeconds: Self.exampleSeconds) }
        var longer = get
        longer.rawQuery = query.replacingOccurrences(of: "X-Amz-Expires=86400", with: "X-Amz-Expires=604801")
        assertS3Error(.authorizationQueryParametersError) { try authenticator.authenticate(longer, nowSeconds: Self.exampleSeconds) }
        var missing = get
        missing.rawQuery = query.replacingOccurrences(of: "X-Amz-Date=20130524T000000Z&", with: "")
        assertS3Error(.authorizationQueryParametersError) { try authenticator.authenticate(missing, nowSeconds: Self.exampleSeconds) }
    }

    func testMalformedAndMixedAuthentication() throws {
        let base = request("GET", "/test.txt", headers: [("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", empty)])
        for header in [
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/2013/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=" + String(repeating: "0", count: 64),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=abc",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=x-amz-date,Signature=" + String(repeating: "0", count: 64),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130525/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=" + String(repeating: "0", count: 64),
        ] {
            var malformed = base
            malformed.headers[HTTPField.Name("authorization")!] = header
            assertS3Error(.authorizationHeaderMalformed) { try authenticator.authenticate(malformed, nowSeconds: Self.exampleSeconds) }
        }
        var both = base
        both.headers[HTTPField.Name("authorization")!] = "AWS4-HMAC-SHA256 Credential=x"
        both.rawQuery = "X-Amz-Signature=abc"
        assertS3Error(.invalidArgument) { try authenticator.authenticate(both, nowSeconds: Self.exampleSeconds) }
        var noPayloadHash = request(
            "GET", "/test.txt", headers: [("range", "bytes=0-9"), ("x-amz-date", "20130524T000000Z")],
            signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            signedHeaders: "host;range;x-amz-content-sha256;x-amz-date")
        assertS3Error(.invalidRequest) { try authenticator.authenticate(noPayloadHash, nowSeconds: Self.exampleSeconds) }
        noPayloadHash.headers[.amzContentSHA256] = "not-a-hash"
        assertS3Error(.invalidArgument) { try authenticator.authenticate(noPayloadHash, nowSeconds: Self.exampleSeconds) }
        XCTAssertEqual(try authenticator.authenticate(base, nowSeconds: 0).principal, .anonymous)
    }

    // MARK: Streaming (chunked) uploads

    private func streamingRequest() -> SignedRequestParts {
        request(
            "PUT", "/examplebucket/chunkObject.txt", host: "s3.amazonaws.com",
            headers: [
                ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "66560"), ("content-length", "66824"),
            ],
            signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            signedHeaders:
                "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class")
    }

    private static func exampleBody(corruptByte: Bool = false, dropSecondChunk: Bool = false) -> [UInt8] {
        var body: [UInt8] = []
        let chunks = [
            (65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
            (1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
            (0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"),
        ]
        for (index, (size, signature)) in chunks.enumerated() where !(dropSecondChunk && index == 1) {
            body += Array("\(String(size, radix: 16));chunk-signature=\(signature)\r\n".utf8)
            var data = [UInt8](repeating: UInt8(ascii: "a"), count: size)
            if corruptByte && size == 1024 { data[10] = UInt8(ascii: "b") }
            body += data + Array("\r\n".utf8)
        }
        return body
    }

    private func decode(_ body: [UInt8], chain: ChunkSignatureChain?, pieceSize: Int) throws -> Int {
        var decoder = AWSChunkedDecoder(signatures: chain)
        var decoded = 0
        var index = 0
        while index < body.count {
            let piece = ByteBuffer(bytes: body[index..<min(body.count, index + pieceSize)])
            for output in try decoder.feed(piece) { decoded += output.readableBytes }
            index += pieceSize
        }
        try decoder.finish()
        return decoded
    }

    func testPublishedStreamingUploadSeedAndChunkSignatures() throws {
        let authentication = try authenticator.authenticate(streamingRequest(), nowSeconds: Self.exampleSeconds)
        let chain = try XCTUnwrap(authentication.chunkSignatures)
        for pieceSize in [1000, 65536, 70000, 200_000] {
            XCTAssertEqual(try decode(Self.exampleBody(), chain: chain, pieceSize: pieceSize), 66560)
        }
        for bad in [Self.exampleBody(corruptByte: true), Self.exampleBody(dropSecondChunk: true)] {
            XCTAssertThrowsError(try decode(bad, chain: chain, pieceSize: 4096)) {
                XCTAssertEqual(($0 as? S3Error)?.code, .signatureDoesNotMatch)
            }
        }
        let unsigned = Array("5\r\nhello\r\n0\r\n\r\n".utf8)
        XCTAssertThrowsError(try decode(unsigned, chain: chain, pieceSize: 100)) {
            XCTAssertEqual(($0 as? S3Error)?.code, .signatureDoesNotMatch)
        }
    }

    func testSignedTrailerIsVerified() throws {
        let scope = SigV4.Scope(date: "20130524", region: "us-east-1", service: "s3")
        let key = SigV4.signingKey(secret: Self.key.secretKey, scope: scope)
        let seed = String(repeating: "1", count: 64)
        var signer = ChunkSignatureChain(key: key, amzDate: "20130524T000000Z", scope: scope, seedSignature: seed, hasSignedTrailer: true)
        func chunkSignature(_ data: [UInt8], previous: String) -> String {
            SigV4.signature(
                "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n\(scope.text)\n\(previous)\n\(SigV4.emptyPayloadSHA256)\n"
                    + SigV4.hex(SHA256Hash.of(data)), key: key)
        }
        let data = Array("hello".utf8)
        let first = chunkSignature(data, previous: seed)
        let last = chunkSignature([], previous: first)
        let trailer = "x-amz-checksum-crc32:NhCmhg==\n"
        let trailerSignature = SigV4.signature(
            "AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n\(scope.text)\n\(last)\n\(SigV4.sha256Hex(trailer))", key: key)
        func body(_ checksum: String) -> [UInt8] {
            Array(
                "5;chunk-signature=\(first)\r\nhello\r\n0;chunk-signature=\(last)\r\nx-amz-checksum-crc32:\(checksum)\r\nx-amz-trailer-signature:\(trailerSignature)\r\n\r\n"
                    .utf8)
        }
        XCTAssertEqual(try decode(body("NhCmhg=="), chain: signer, pieceSize: 3), 5)
        XCTAssertThrowsError(try decode(body("AAAAAA=="), chain: signer, pieceSize: 3)) {
            XCTAssertEqual(($0 as? S3Error)?.code, .signatureDoesNotMatch)
        }
        signer = ChunkSignatureChain(key: key, amzDate: "20130524T000000Z", scope: scope, seedSignature: seed, hasSignedTrailer: true)
        let noSignature = Array("5;chunk-signature=\(first)\r\nhello\r\n0;chunk-signature=\(last)\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n".utf8)
        XCTAssertThrowsError(try decode(noSignature, chain: signer, pieceSize: 7))
    }

    func testSigningKeysAreCachedPerSecretAndScope() {
        let cache = SigningKeyCache()
        let scope = SigV4.Scope(date: "20130524", region: "us-east-1", service: "s3")
        let a = cache.key(secret: "secret-one", scope: scope)
        XCTAssertEqual(a, cache.key(secret: "secret-one", scope: scope))
        XCTAssertNotEqual(a, cache.key(secret: "secret-two", scope: scope))
        XCTAssertEqual(a, SigV4.signingKey(secret: "secret-one", scope: scope))
    }

    func testPreparedHMACIsSwiftCryptosHMAC() {
        for keyLength in [0, 1, 32, 63, 64] {
            let key = (0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let prepared = PreparedHMAC(key: key)
            for messageLength in [0, 1, 55, 56, 64, 65, 1000] {
                let message = (0..<messageLength).map { UInt8(truncatingIfNeeded: $0 &* 13) }
                let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
                XCTAssertEqual(message.withUnsafeBytes { Array(prepared.mac($0)) }, expected, "key \(keyLength), message \(messageLength)")
            }
        }
    }

    /// The published GET example's Authorization header written other ways clients write it:
    /// spaces after the commas, the signature in upper case, a repeated signed header's values.
    func testAuthorizationHeaderSpellings() throws {
        let signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        let credential = "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
        let signedHeaders = "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"
        for header in [
            "AWS4-HMAC-SHA256 \(credential), \(signedHeaders), Signature=\(signature)",
            "AWS4-HMAC-SHA256 \(credential),\(signedHeaders),Signature=\(signature.uppercased())",
            "AWS4-HMAC-SHA256   \(credential) ,  \(signedHeaders),Signature=\(signature)  ",
        ] {
            var get = request(
                "GET", "/test.txt", headers: [("range", "bytes=0-9"), ("x-amz-content-sha256", empty), ("x-amz-date", "20130524T000000Z")])
            get.headers[HTTPField.Name("authorization")!] = header
            XCTAssertEqual(try authenticator.authenticate(get, nowSeconds: Self.exampleSeconds).principal, .key(Self.key), header)
        }
        // The same range sent as two fields: their values joined by a comma are what is signed.
        var split = request(
            "GET", "/test.txt", headers: [("range", "bytes=0-9"), ("x-amz-content-sha256", empty), ("x-amz-date", "20130524T000000Z")],
            signature: signature, signedHeaders: "host;range;x-amz-content-sha256;x-amz-date")
        split.headers.append(HTTPField(name: .range, value: "bytes=20-29"))
        assertS3Error(.signatureDoesNotMatch) { try authenticator.authenticate(split, nowSeconds: Self.exampleSeconds) }
    }

    func testRootCredentialsFileIsPrivateAndReused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sos-root-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (generated, origin) = try RootCredentials.resolve(environment: [:], file: nil, directory: directory)
        let path = directory + "/" + RootCredentials.fileName
        XCTAssertEqual(origin, .generated(path))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        XCTAssertEqual(mode?.intValue, 0o600)
        let (again, secondOrigin) = try RootCredentials.resolve(environment: [:], file: nil, directory: directory)
        XCTAssertEqual(again, generated)
        XCTAssertEqual(secondOrigin, .file(path))
        let fromEnvironment = try RootCredentials.resolve(
            environment: ["SOS_ROOT_ACCESS_KEY": "envkey", "SOS_ROOT_SECRET_KEY": "env-secret-key"], file: nil, directory: directory)
        XCTAssertEqual(fromEnvironment.0.accessKeyID, "envkey")
        XCTAssertThrowsError(try RootCredentials.resolve(environment: ["SOS_ROOT_ACCESS_KEY": "envkey"], file: nil, directory: directory))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        XCTAssertThrowsError(try RootCredentials.resolve(environment: [:], file: nil, directory: directory)) {
            XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)")
            XCTAssertFalse("\($0)".contains(generated.secretKey))
        }
    }
}

import Crypto
import Foundation

private enum SHA256Hash {
    static func of(_ bytes: [UInt8]) -> SHA256.Digest { SHA256.hash(data: bytes) }
}
