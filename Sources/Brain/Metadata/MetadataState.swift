/// The brain's metadata as a deterministic state machine: `apply` is the only way it changes,
/// and the write-ahead log replays the same mutations in the same order after a restart.
struct MetadataState: Sendable {
    private(set) var buckets: [String: BucketIndex] = [:]

    mutating func apply(_ mutation: Mutation) -> MutationOutcome {
        switch mutation {
        case .createBucket(let name, let creationDateMs):
            guard buckets[name] == nil else { return .bucketAlreadyExists }
            buckets[name] = BucketIndex(info: BucketInfo(name: name, creationDateMs: creationDateMs))
            return .applied
        case .deleteBucket(let name):
            guard let bucket = buckets[name] else { return .noSuchBucket }
            guard bucket.isEmpty else { return .bucketNotEmpty }
            buckets[name] = nil
            return .applied
        case .putObject(let bucket, let key, let object):
            guard buckets[bucket] != nil else { return .noSuchBucket }
            return .objectReplaced(previous: buckets[bucket]!.put(ObjectKey(key), object))
        case .deleteObject(let bucket, let key):
            guard buckets[bucket] != nil else { return .noSuchBucket }
            return .objectReplaced(previous: buckets[bucket]!.remove(ObjectKey(key)))
        }
    }

    func bucket(_ name: String) -> BucketIndex? { buckets[name] }

    var bucketInfos: [BucketInfo] { buckets.values.map(\.info).sorted { $0.name < $1.name } }
}
