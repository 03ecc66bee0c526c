import Foundation
import NIOCore
import XCTest

@testable import Brain

/// The pieces of a browser POST upload: the multipart/form-data events, the form's fields, the
/// policy document and its signature.
final class PostUploadTests: XCTestCase {
    static let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"

    static func form(_ fields: [(String, String)], file: [UInt8], filename: String = "a.txt") -> [UInt8] {
        var text = ""
        for (name, value) in fields {
            text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\n"
        text += "Content-Type: text/plain\r\n\r\n"
        return Array(text.utf8) + file + Array("\r\n--\(boundary)--\r\n".utf8)
    }

    /// Feeds `bytes` in pieces of `pieceSize`; returns the fields and the file's bytes.
    static func parse(_ bytes: [UInt8], pieceSize: Int) throws -> (PostForm, [UInt8]) {
        let parser = FormDataParser(boundary: boundary)
        var form = PostForm()
        var file: [UInt8] = []
        var inFile = false
        var fileEnded = false
        for start in stride(from: 0, to: bytes.count, by: pieceSize) {
            try parser.feed(ByteBuffer(bytes: bytes[start..<min(start + pieceSize, bytes.count)]))
            while let event = parser.next() {
                if inFile {
                    switch event {
                    case .data(let data): file += data.readableBytesView
                    case .partEnd: inFile = false; fileEnded = true
                    case .partHeaders: XCTFail("headers inside the file")
                    }
                } else if !fileEnded {
                    inFile = try form.consume(event)
                }
            }
        }
        XCTAssertTrue(fileEnded)
        return (form, file)
    }

    func testFieldsAndFileSurviveEverySplit() throws {
        let content = Array("line one\r\n--not-the-boundary\r\n\r\n--\(Self.boundary.dropLast())x end".utf8)
        let bytes = Self.form([("key", "uploads/${filename}"), ("Content-Type", "text/plain"), ("x-ignore-a", "")], file: content)
        for pieceSize in [1, 2, 3, 7, 64, bytes.count] {
            let (form, file) = try Self.parse(bytes, pieceSize: pieceSize)
            XCTAssertEqual(file, content, "piece size \(pieceSize)")
            XCTAssertEqual(form.fields, ["key": "uploads/${filename}", "content-type": "text/plain", "x-ignore-a": ""])
            XCTAssertEqual(form.file, FormPartHeaders(name: "file", filename: "a.txt", contentType: "text/plain"))
            XCTAssertEqual(try form.key(), "uploads/a.txt")
        }
    }

    func testFormMistakesAreS3Errors() throws {
        let twice = Self.form([("key", "a"), ("KEY", "b")], file: [])
        XCTAssertThrowsError(try Self.parse(twice, pieceSize: 5)) {
            XCTAssertEqual(($0 as? S3Error)?.code, .invalidArgument)
        }
        let huge = Self.form([("x-amz-meta-big", String(repeating: "b", count: PostForm.fieldsBytesMax))], file: [])
        XCTAssertThrowsError(try Self.parse(huge, pieceSize: 4096)) {
            XCTAssertEqual(($0 as? S3Error)?.code, .maxPostPreDataLengthExceeded)
        }
        var form = PostForm()
        XCTAssertThrowsError(try form.consume(.data(ByteBuffer(string: "no part")))) {
            XCTAssertEqual(($0 as? S3Error)?.code, .malformedPOSTRequest)
        }
        XCTAssertThrowsError(try PostForm().key()) { XCTAssertEqual(($0 as? S3Error)?.code, .invalidArgument) }
    }

    func testFramingVariantsAndHostileHeaders() throws {
        // A preamble before the first delimiter, transport padding after one, a nameless part's
        // header bytes above 0x7F (multipart-kit 4.7.1 trapped on those), and an epilogue.
        var body = Array("preamble text\r\n--\(Self.boundary)  \r\n".utf8)
        body += Array("Content-Disposition: form-data; name=\"key\"\r\nX-\u{e9}t\u{e9}: \u{ff}\r\n\r\nk\r\n".utf8)
        body += Array("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n".utf8)
        body += [0x80, 0xff, 0x0d] + Array("\r\n--\(Self.boundary)--\r\nepilogue".utf8)
        for pieceSize in [1, 5, body.count] {
            let (form, file) = try Self.parse(body, pieceSize: pieceSize)
            XCTAssertEqual(form.fields, ["key": "k"])
            XCTAssertEqual(file, [0x80, 0xff, 0x0d])
        }
        for bad in [
            "--\(Self.boundary)\r\nno colon here\r\n\r\nx", "--\(Self.boundary)X\r\n",
            "--\(Self.boundary)\r\nA: " + String(repeating: "a", count: FormDataParser.headerBytesMax + 1),
        ] {
            XCTAssertThrowsError(try FormDataParser(boundary: Self.boundary).feed(ByteBuffer(string: bad))) {
                XCTAssertEqual(($0 as? S3Error)?.code, .malformedPOSTRequest)
            }
        }
    }

    func testContentTypeAndDispositionParameters() {
        XCTAssertEqual(FormDataParser.boundary(contentType: "multipart/form-data; boundary=abc"), "abc")
        XCTAssertEqual(FormDataParser.boundary(contentType: "Multipart/Form-Data;boundary=\"a b;c\""), "a b;c")
        XCTAssertNil(FormDataParser.boundary(contentType: "application/x-www-form-urlencoded"))
        XCTAssertNil(FormDataParser.boundary(contentType: "multipart/form-data"))
        XCTAssertNil(FormDataParser.boundary(contentType: "multipart/form-data; boundary=" + String(repeating: "b", count: 71)))
        XCTAssertEqual(
            FormPartHeaders.parameters(#"form-data; name="file"; filename="my \"cv\".pdf""#, type: "form-data"),
            ["name": "file", "filename": #"my "cv".pdf"#])
        XCTAssertNil(FormPartHeaders.parameters(#"form-data; name="open"#, type: "form-data"))
        XCTAssertNil(FormPartHeaders(lines: [("Content-Type", "text/plain")]))
    }

    func testISO8601Expiration() {
        XCTAssertEqual(HTTPDate.parseISO8601("2015-12-30T12:00:00.000Z"), 1_451_476_800)
        XCTAssertEqual(HTTPDate.parseISO8601("2015-12-30T12:00:00Z"), 1_451_476_800)
        XCTAssertNil(HTTPDate.parseISO8601("2015-12-30 12:00:00Z"))
        XCTAssertNil(HTTPDate.parseISO8601("2015-12-30T12:00:00.Z"))
        XCTAssertNil(HTTPDate.parseISO8601("2015-13-30T12:00:00Z"))
    }

    static func policy(_ json: String) throws -> PostPolicy { try PostPolicy(base64: Data(json.utf8).base64EncodedString()) }

    /// The conditions of AWS's example policy ("Example: Browser-Based Upload using HTTP POST").
    static let example = """
        { "expiration": "2015-12-30T12:00:00.000Z",
          "conditions": [
            {"bucket": "sigv4examplebucket"},
            ["starts-with", "$key", "user/user1/"],
            {"acl": "public-read"},
            ["starts-with", "$Content-Type", "image/"],
            {"x-amz-meta-uuid": "14365123651274"},
            ["starts-with", "$x-amz-meta-tag", ""],
            ["content-length-range", 1, "1048576"],
            {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-date": "20151229T000000Z" }
          ]
        }
        """

    func testPolicyConditionsDecideTheForm() throws {
        let policy = try Self.policy(Self.example)
        XCTAssertEqual(policy.expirationSeconds, 1_451_476_800)
        XCTAssertTrue(policy.conditions.contains(.startsWith(field: "content-type", prefix: "image/")))
        let fields = [
            "key": "user/user1/photo.jpg", "acl": "public-read", "content-type": "image/jpeg", "x-amz-meta-uuid": "14365123651274",
            "x-amz-meta-tag": "anything", "x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
            "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-date": "20151229T000000Z", "policy": "...", "x-amz-signature": "...",
            "x-ignore-me": "1",
        ]
        let now: Int64 = 1_451_400_000
        let sizes = try policy.check(fields, bucket: "sigv4examplebucket", nowSeconds: now)
        XCTAssertEqual(sizes.minimum, 1)
        XCTAssertEqual(sizes.maximum, 1_048_576)
        func refusal(_ change: (inout [String: String]) -> Void, bucket: String = "sigv4examplebucket", at: Int64 = now) -> String? {
            var changed = fields
            change(&changed)
            do {
                _ = try policy.check(changed, bucket: bucket, nowSeconds: at)
                return nil
            } catch let error as S3Error {
                XCTAssertEqual(error.code, .accessDenied)
                return error.message
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(refusal { $0["key"] = "user/user2/photo.jpg" }, #"Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/user1/"]"#)
        XCTAssertNotNil(refusal { $0["content-type"] = "image/png,text/html" })
        XCTAssertNil(refusal { $0["content-type"] = "image/png, image/gif" })
        XCTAssertNotNil(refusal { $0["acl"] = nil })
        XCTAssertEqual(refusal { $0["x-amz-meta-other"] = "x" }, "Invalid according to Policy: Extra input fields: x-amz-meta-other")
        XCTAssertNotNil(refusal({ _ in }, bucket: "otherbucket"))
        XCTAssertEqual(refusal({ _ in }, at: 1_451_476_801), "Invalid according to Policy: Policy expired.")
    }

    func testMalformedPoliciesAreInvalidPolicyDocument() {
        for text in [
            "not json", #"{"conditions": []}"#, #"{"expiration": "tomorrow", "conditions": []}"#,
            #"{"expiration": "2015-12-30T12:00:00Z"}"#, #"{"expiration": "2015-12-30T12:00:00Z", "conditions": [["in", "$key", "a"]]}"#,
            #"{"expiration": "2015-12-30T12:00:00Z", "conditions": [["content-length-range", 10, 1]]}"#,
            #"{"expiration": "2015-12-30T12:00:00Z", "conditions": [["eq", "key", "a"]]}"#,
            #"{"expiration": "2015-12-30T12:00:00Z", "conditions": [{"key": 5}]}"#,
        ] {
            XCTAssertThrowsError(try Self.policy(text), text) { XCTAssertEqual(($0 as? S3Error)?.code, .invalidPolicyDocument) }
        }
        XCTAssertThrowsError(try PostPolicy(base64: "%%%")) { XCTAssertEqual(($0 as? S3Error)?.code, .invalidPolicyDocument) }
    }

    func testFormSignaturesV4AndV2() throws {
        let authenticator = RequestAuthenticator(keys: KeyDirectory(root: SigV4Tests.key))
        let policy = Data(Self.example.utf8).base64EncodedString()
        let scope = SigV4.Scope(date: "20151229", region: "us-east-1", service: "s3")
        let signature = SigV4.signature(policy, key: SigV4.signingKey(secret: SigV4Tests.key.secretKey, scope: scope))
        var v4 = [
            "policy": policy, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-date": "20151229T000000Z",
            "x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request", "x-amz-signature": signature,
        ]
        XCTAssertEqual(try authenticator.authenticatePostForm(v4), .key(SigV4Tests.key))
        v4["policy"] = Data((Self.example + " ").utf8).base64EncodedString()
        XCTAssertThrowsError(try authenticator.authenticatePostForm(v4)) { XCTAssertEqual(($0 as? S3Error)?.code, .signatureDoesNotMatch) }
        v4["x-amz-date"] = nil
        XCTAssertThrowsError(try authenticator.authenticatePostForm(v4)) { XCTAssertEqual(($0 as? S3Error)?.code, .invalidArgument) }

        let v2 = ["policy": policy, "awsaccesskeyid": "AKIAIOSFODNN7EXAMPLE", "signature": SigV2Authenticator.signature(policy, secret: SigV4Tests.key.secretKey)]
        XCTAssertEqual(try authenticator.authenticatePostForm(v2), .key(SigV4Tests.key))
        XCTAssertThrowsError(try RequestAuthenticator(keys: KeyDirectory(root: SigV4Tests.key), allowSigV2: false).authenticatePostForm(v2))
        XCTAssertEqual(try authenticator.authenticatePostForm(["key": "a"]), .anonymous)
        XCTAssertThrowsError(try authenticator.authenticatePostForm(["key": "a", "policy": policy]))
    }
}
