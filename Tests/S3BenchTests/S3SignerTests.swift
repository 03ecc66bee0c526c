import Foundation
import XCTest

@testable import S3Bench

/// Signatures from AWS's documented S3 SigV4 examples ("Examples: Signature Calculations in AWS
/// Signature Version 4"), cross-checked with botocore's S3SigV4Auth at the same date.
final class S3SignerTests: XCTestCase {
    private let signer = S3Signer(
        accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    private let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    private func authorization(_ headers: [(String, String)]) -> String? {
        headers.first { $0.0 == "authorization" }?.1
    }

    func testTimestamps() {
        let (amzDate, day) = S3Signer.timestamps(date)
        XCTAssertEqual(amzDate, "20130524T000000Z")
        XCTAssertEqual(day, "20130524")
    }

    func testAWSGetObjectExample() {
        var headers = [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")]
        signer.sign(method: "GET", path: "/test.txt", query: [], headers: &headers, payloadHash: S3Signer.emptyPayloadHash, date: date)
        XCTAssertEqual(
            authorization(headers),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    func testAWSListObjectsExample() {
        var headers = [("Host", "examplebucket.s3.amazonaws.com")]
        signer.sign(
            method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: &headers,
            payloadHash: S3Signer.emptyPayloadHash, date: date)
        XCTAssertEqual(
            authorization(headers)?.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"), true)
    }

    /// Path-style PUT of a part with an encoded key and query, against botocore's result.
    func testPathStylePartUploadMatchesBotocore() {
        let body = Array("hello".utf8)
        var headers = [("host", "127.0.0.1:9000"), ("content-length", "5")]
        signer.sign(
            method: "PUT", path: "/bench-bucket/" + S3Signer.uriEncode("dir/obj one", keepSlash: true),
            query: [("uploadId", "a+b"), ("partNumber", "3")], headers: &headers, payloadHash: S3Signer.payloadHash(body),
            date: date)
        XCTAssertEqual(
            authorization(headers)?.hasSuffix("Signature=6036646c4f612f1fdb9d40e7d83af52a46a96eb81644079172f87fcfa748e98a"), true)
        XCTAssertTrue(headers.contains { $0 == ("x-amz-content-sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824") })
    }
}
