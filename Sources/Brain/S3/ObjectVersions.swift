import HTTPTypes

/// How requests name an object version (`?versionId=`, `x-amz-copy-source: ...?versionId=`) and
/// what reading one gives, as S3 documents it: a delete marker reads as 404 NoSuchKey when it is
/// the latest version and as 405 MethodNotAllowed when named, both with `x-amz-delete-marker`.
enum ObjectVersions {
    static let invalidVersionID = S3Error.invalidArgument("Invalid version id specified")

    /// A version id as a client gives it; 400 InvalidArgument when it is not one SOS made.
    static func parse(_ text: String) throws -> VersionID {
        guard let id = VersionID(text: text) else { throw invalidVersionID }
        return id
    }

    /// The `versionId` query parameter; nil when absent.
    static func requested(_ s3: S3Request) throws -> VersionID? {
        try s3.query["versionId"].map(parse)
    }

    static func noSuchVersion(_ bucket: String, _ key: String) -> S3Error {
        S3Error(
            .noSuchVersion, "The specified version does not exist.", resource: "/\(bucket)/\(key)")
    }

    /// The version a read names (nil: the latest), with its bucket's versioning state and lifecycle
    /// rules, in one read of the metadata.
    static func readable(_ metadata: MetadataStore, bucket: String, key: String, versionID: VersionID?) throws
        -> (object: ObjectRecord, versioning: BucketVersioning, lifecycle: LifecycleConfiguration?)
    {
        let found = metadata.read { state -> (BucketVersioning, LifecycleConfiguration?, ObjectRecord?)? in
            guard let index = state.bucket(bucket) else { return nil }
            let objectKey = ObjectKey(key)
            return (
                index.info.versioning, index.info.lifecycle,
                versionID.map { index.version(objectKey, $0) } ?? index.latest(objectKey)
            )
        }
        guard let (versioning, lifecycle, object) = found else { throw S3Error.noSuchBucket(bucket) }
        guard let object else {
            throw versionID.map { $0.isNull ? S3Error.noSuchKey(bucket, key) : noSuchVersion(bucket, key) }
                ?? S3Error.noSuchKey(bucket, key)
        }
        if object.isDeleteMarker {
            var error = versionID == nil ? S3Error.noSuchKey(bucket, key) : S3Error.methodNotAllowed
            error.extraHeaders = [
                (HTTPField.Name.amzDeleteMarker.canonicalName, "true"),
                (HTTPField.Name.amzVersionID.canonicalName, object.versionID.text),
                (HTTPField.Name.lastModified.canonicalName, HTTPDate.rfc1123(ms: object.lastModifiedMs)),
            ]
            throw error
        }
        return (object, versioning, lifecycle)
    }

    /// Whether responses about a bucket's objects name their version (`x-amz-version-id`): in a
    /// bucket that has had versioning, even the `null` version is named.
    static func namesVersions(_ versioning: BucketVersioning, _ object: ObjectRecord) -> Bool {
        versioning != .unversioned || !object.versionID.isNull
    }
}
