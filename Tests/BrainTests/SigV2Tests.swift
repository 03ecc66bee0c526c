import HTTPTypes
import XCTest

@testable import Brain

/// SigV2 checked against the examples of AWS's S3 developer guide ("Signing and authenticating REST
/// requests"), key AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, bucket johnsmith.
final class SigV2Tests: XCTestCase {
    let authenticator = RequestAuthenticator(keys: KeyDirectory(root: SigV4Tests.key))
    let getSeconds = HTTPDate.parseSeconds("Tue, 27 Mar 2007 19:36:42 GMT")!

    private func request(
        _ method: String, _ path: String, query: String = "", headers: [(String, String)], virtualHost: Bool = true
    ) -> SignedRequestParts {
        var fields = HTTPFields()
        for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return SignedRequestParts(
            method: method, rawPath: path, rawQuery: query, host: "johnsmith.s3.amazonaws.com", headers: fields,
            virtualHostBucket: virtualHost ? "johnsmith" : nil)
    }

    func testPublishedObjectGetPutAndListExamples() throws {
        let get = request(
            "GET", "/photos/puppy.jpg",
            headers: [("date", "Tue, 27 Mar 2007 19:36:42 +0000"), ("authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=")])
        XCTAssertEqual(try authenticator.authenticate(get, nowSeconds: getSeconds).principal, .key(SigV4Tests.key))
        let put = request(
            "PUT", "/photos/puppy.jpg",
            headers: [
                ("content-type", "image/jpeg"), ("content-length", "94328"), ("date", "Tue, 27 Mar 2007 21:15:45 +0000"),
                ("authorization", "AWS AKIAIOSFODNN7EXAMPLE:MyyxeRY7whkBe+bq8fHCL/2kKUg="),
            ])
        XCTAssertNoThrow(try authenticator.authenticate(put, nowSeconds: getSeconds + 6000))
        let list = request(
            "GET", "/", query: "prefix=photos&max-keys=50&marker=puppy",
            headers: [("date", "Tue, 27 Mar 2007 19:42:41 +0000"), ("authorization", "AWS AKIAIOSFODNN7EXAMPLE:htDYFYduRNen8P9ZfE/s9SuKy0U=")])
        XCTAssertNoThrow(try authenticator.authenticate(list, nowSeconds: getSeconds + 360))

        var tampered = get
        tampered.rawPath = "/photos/kitten.jpg"
        XCTAssertThrowsError(try authenticator.authenticate(tampered, nowSeconds: getSeconds)) {
            XCTAssertEqual(($0 as? S3Error)?.code, .signatureDoesNotMatch)
        }
        XCTAssertThrowsError(try authenticator.authenticate(get, nowSeconds: getSeconds + 3600)) {
            XCTAssertEqual(($0 as? S3Error)?.code, .requestTimeTooSkewed)
        }
        let off = RequestAuthenticator(keys: KeyDirectory(root: SigV4Tests.key), allowSigV2: false)
        XCTAssertThrowsError(try off.authenticate(get, nowSeconds: getSeconds)) {
            XCTAssertEqual(($0 as? S3Error)?.code, .invalidRequest)
            XCTAssertTrue(($0 as? S3Error)?.message.contains("AWS4-HMAC-SHA256") == true)
        }
    }

    func testStringToSignCoversAmzHeadersAndSubresources() {
        let parts = request(
            "PUT", "/db-backup.dat.gz", query: "uploadId=abc%2Fdef&partNumber=2&unrelated=1",
            headers: [
                ("x-amz-date", "Tue, 27 Mar 2007 21:06:08 +0000"), ("X-Amz-Meta-ReviewedBy", "joe@johnsmith.net"),
                ("x-amz-meta-reviewedby", "jane@johnsmith.net"), ("content-md5", "4gJE4saaMU4BqNR0kLY+lw=="),
                ("content-type", "application/x-download"),
            ])
        XCTAssertEqual(
            SigV2Authenticator.stringToSign(parts, dateLine: ""),
            "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\n\n"
                + "x-amz-date:Tue, 27 Mar 2007 21:06:08 +0000\nx-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n"
                + "/johnsmith/db-backup.dat.gz?partNumber=2&uploadId=abc/def")
    }

    func testPresignedQueryExpires() throws {
        let expires = getSeconds + 600
        let text = "GET\n\n\n\(expires)\n/johnsmith/photos/puppy.jpg"
        let signature = SigV2Tests.sign(text)
        let encoded = signature.replacingOccurrences(of: "+", with: "%2B").replacingOccurrences(of: "/", with: "%2F")
            .replacingOccurrences(of: "=", with: "%3D")
        let get = request(
            "GET", "/photos/puppy.jpg", query: "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=\(expires)&Signature=\(encoded)",
            headers: [])
        XCTAssertEqual(try authenticator.authenticate(get, nowSeconds: getSeconds).principal, .key(SigV4Tests.key))
        XCTAssertThrowsError(try authenticator.authenticate(get, nowSeconds: expires + 1)) {
            XCTAssertEqual(($0 as? S3Error)?.code, .accessDenied)
        }
        var longer = get
        longer.rawQuery = longer.rawQuery.replacingOccurrences(of: "Expires=\(expires)", with: "Expires=\(expires + 1)")
        XCTAssertThrowsError(try authenticator.authenticate(longer, nowSeconds: getSeconds)) {
            XCTAssertEqual(($0 as? S3Error)?.code, .signatureDoesNotMatch)
        }
    }

    static func sign(_ text: String) -> String {
        Data(
            HMAC<Insecure.SHA1>.authenticationCode(
                for: Array(text.utf8), using: SymmetricKey(data: Array(SigV4Tests.key.secretKey.utf8)))
        ).base64EncodedString()
    }
}

import Crypto
import Foundation
