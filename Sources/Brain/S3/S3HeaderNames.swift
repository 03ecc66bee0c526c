import HTTPTypes

/// The S3 header names the handlers read and write, made once: `HTTPField.Name(String)` checks
/// and lowercases its string every time, and a PUT looked up about twenty names.
extension HTTPField.Name {
    static let amzACL = Self("x-amz-acl")!
    static let amzCopySource = Self("x-amz-copy-source")!
    static let amzCopySourceRange = Self("x-amz-copy-source-range")!
    static let amzMetadataDirective = Self("x-amz-metadata-directive")!
    static let amzContentSHA256 = Self("x-amz-content-sha256")!
    static let amzDecodedContentLength = Self("x-amz-decoded-content-length")!
    static let amzTrailer = Self("x-amz-trailer")!
    static let amzSDKChecksumAlgorithm = Self("x-amz-sdk-checksum-algorithm")!
    static let amzChecksumAlgorithm = Self("x-amz-checksum-algorithm")!
    static let amzChecksumType = Self("x-amz-checksum-type")!
    static let amzChecksumMode = Self("x-amz-checksum-mode")!
    static let amzMPPartsCount = Self("x-amz-mp-parts-count")!
    static let amzRequestID = Self("x-amz-request-id")!
    static let amzVersionID = Self("x-amz-version-id")!
    static let amzDeleteMarker = Self("x-amz-delete-marker")!
    static let amzCopySourceVersionID = Self("x-amz-copy-source-version-id")!
    static let amzObjectLockMode = Self(ObjectRetention.modeHeaderName)!
    static let amzObjectLockRetainUntilDate = Self(ObjectRetention.untilHeaderName)!
    static let amzObjectLockLegalHold = Self(ObjectRetention.legalHoldHeaderName)!
    static let amzBucketObjectLockEnabled = Self("x-amz-bucket-object-lock-enabled")!
    static let contentMD5 = Self("content-md5")!
    /// The grant headers, which SOS refuses rather than ignores (it has canned ACLs only).
    static let amzGrants = ["x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp", "x-amz-grant-full-control"]
        .map { Self($0)! }
}

extension ChecksumAlgorithm {
    private static let headerFields = allCases.map { HTTPField.Name($0.headerName)! }

    /// `x-amz-checksum-<algorithm>`, as a header name.
    var headerField: HTTPField.Name { Self.headerFields[Self.allCases.firstIndex(of: self)!] }
}
