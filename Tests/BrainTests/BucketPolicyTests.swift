import XCTest

@testable import Brain

final class BucketPolicyTests: XCTestCase {
    private func request(
        _ action: String, _ resource: String, key: String? = nil, ip: String? = "203.0.113.7", secure: Bool = false,
        prefix: String? = nil
    ) -> BucketPolicy.Request {
        BucketPolicy.Request(action: action, resource: resource, accessKeyID: key, sourceIP: ip, secureTransport: secure, prefix: prefix)
    }

    func testAnonymousReadOfAPrefixAndAnExplicitDenyThatWins() throws {
        let policy = try BucketPolicy(
            parsing: """
                {"Version": "2012-10-17", "Statement": [
                  {"Sid": "public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                   "Resource": "arn:aws:s3:::site/public/*"},
                  {"Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam::123456789012:user/BADKEY"]}, "Action": ["s3:*"],
                   "Resource": ["arn:aws:s3:::site", "arn:aws:s3:::site/*"]}
                ]}
                """, bucket: "site")
        XCTAssertEqual(policy.evaluate(request("s3:GetObject", "arn:aws:s3:::site/public/a.html")), .allow)
        XCTAssertEqual(policy.evaluate(request("s3:GetObject", "arn:aws:s3:::site/private/a.html")), .noOpinion)
        XCTAssertEqual(policy.evaluate(request("s3:PutObject", "arn:aws:s3:::site/public/a.html")), .noOpinion)
        XCTAssertEqual(policy.evaluate(request("s3:GetObject", "arn:aws:s3:::site/public/a.html", key: "BADKEY")), .deny)
        XCTAssertEqual(policy.evaluate(request("s3:ListBucket", "arn:aws:s3:::site", key: "BADKEY")), .deny)
        XCTAssertEqual(policy.evaluate(request("s3:ListBucket", "arn:aws:s3:::site", key: "GOODKEY")), .noOpinion)
        XCTAssertTrue(policy.isPublic)
    }

    func testConditionsOnSourceIPPrefixAndSecureTransport() throws {
        let policy = try BucketPolicy(
            parsing: """
                {"Statement": [
                  {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
                   "Condition": {"StringLike": {"s3:prefix": ["logs/*", ""]}, "IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}},
                  {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*",
                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                ]}
                """, bucket: "b")
        XCTAssertEqual(policy.evaluate(request("s3:ListBucket", "arn:aws:s3:::b", prefix: "logs/2026")), .allow)
        XCTAssertEqual(policy.evaluate(request("s3:ListBucket", "arn:aws:s3:::b", prefix: "")), .allow)
        XCTAssertEqual(policy.evaluate(request("s3:ListBucket", "arn:aws:s3:::b", prefix: "secret/")), .noOpinion)
        XCTAssertEqual(policy.evaluate(request("s3:ListBucket", "arn:aws:s3:::b", ip: "198.51.100.1", prefix: "logs/")), .noOpinion)
        XCTAssertEqual(policy.evaluate(request("s3:ListBucket", "arn:aws:s3:::b", ip: "2001:db8::5", prefix: "logs/")), .allow)
        XCTAssertEqual(policy.evaluate(request("s3:ListBucket", "arn:aws:s3:::b", ip: "::ffff:203.0.113.9", prefix: "logs/")), .allow)
        XCTAssertEqual(policy.evaluate(request("s3:GetObject", "arn:aws:s3:::b/k", secure: false)), .deny)
        XCTAssertEqual(policy.evaluate(request("s3:GetObject", "arn:aws:s3:::b/k", secure: true)), .noOpinion)
        XCTAssertFalse(policy.isPublic)
    }

    func testMalformedPoliciesAreRefused() {
        let bad = [
            "not json", "[]", #"{"Statement": []}"#, #"{"Version": "2020-01-01", "Statement": {}}"#,
            #"{"Statement": {"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#,
            #"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ec2:RunInstances", "Resource": "arn:aws:s3:::b/*"}}"#,
            #"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}}"#,
            #"{"Statement": {"Effect": "Allow", "Principal": {"Service": "x"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#,
            #"{"Statement": {"Effect": "Allow", "Principal": "*", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}"#,
            #"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {"StringEquals": {"aws:Referer": "x"}}}}"#,
            #"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", "Condition": {"IpAddress": {"aws:SourceIp": "999.1.1.1"}}}}"#,
        ]
        for text in bad {
            XCTAssertThrowsError(try BucketPolicy(parsing: text, bucket: "b"), text)
        }
    }

    func testWildcardsAndRanges() {
        XCTAssertTrue(Wildcard.matches("s3:Get*", "s3:GetObject", caseInsensitive: true))
        XCTAssertTrue(Wildcard.matches("S3:get?bject", "s3:GetObject", caseInsensitive: true))
        XCTAssertFalse(Wildcard.matches("arn:aws:s3:::b/A*", "arn:aws:s3:::b/abc", caseInsensitive: false))
        XCTAssertTrue(Wildcard.matches("*a*b*", "xxaxxbxx", caseInsensitive: false))
        XCTAssertFalse(Wildcard.matches("a*b", "acbc", caseInsensitive: false))
        XCTAssertTrue(IPRange("10.0.0.0/8")!.contains("10.200.3.4"))
        XCTAssertFalse(IPRange("10.0.0.0/8")!.contains("11.0.0.1"))
        XCTAssertTrue(IPRange("0.0.0.0/0")!.contains("192.0.2.1"))
        XCTAssertNil(IPRange("10.0.0.0/33"))
    }

    func testAPolicyThatNoLongerParsesClosesTheBucket() {
        var state = MetadataState()
        _ = state.apply(.createBucket(name: "b", creationDateMs: 1))
        XCTAssertEqual(state.apply(.setBucketPolicy(bucket: "b", policy: "{ no longer valid")), .applied)
        let policy = state.bucket("b")?.info.policy
        XCTAssertEqual(policy?.evaluate(request("s3:GetObject", "arn:aws:s3:::b/k", key: "ANY")), .deny)
        XCTAssertEqual(policy?.text, "{ no longer valid")
        _ = state.apply(.setBucketPolicy(bucket: "b", policy: ""))
        XCTAssertNil(state.bucket("b")?.info.policy)
        let mutation = Mutation.setBucketPolicy(bucket: "b", policy: #"{"Statement": []}"#)
        XCTAssertEqual(try MutationCodec.decode(MutationCodec.encode(mutation)), mutation)
    }
}
