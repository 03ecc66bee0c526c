/// The brain's metadata as a deterministic state machine: `apply` is the only way it changes,
/// and the write-ahead log replays the same mutations in the same order after a restart.
struct MetadataState: Sendable {
    private(set) var buckets: [String: BucketIndex] = [:]
    private(set) var uploads: [String: MultipartUpload] = [:]
    private(set) var agents: [String: AgentMember] = [:]

    mutating func apply(_ mutation: Mutation) -> MutationOutcome {
        switch mutation {
        case .createBucket(let name, let creationDateMs):
            guard buckets[name] == nil else { return .rejected(.bucketAlreadyExists) }
            buckets[name] = BucketIndex(info: BucketInfo(name: name, creationDateMs: creationDateMs))
            return .applied
        case .deleteBucket(let name):
            guard let bucket = buckets[name] else { return .rejected(.noSuchBucket) }
            guard bucket.isEmpty else { return .rejected(.bucketNotEmpty) }
            buckets[name] = nil
            // Unfinished uploads die with their bucket.
            let orphaned = uploads.values.filter { $0.bucket == name }
            for upload in orphaned { uploads[upload.uploadID] = nil }
            return .applied(garbage: orphaned.flatMap { $0.parts.values.flatMap(\.chunks) })
        case .putObject(let bucket, let key, let object):
            guard buckets[bucket] != nil else { return .rejected(.noSuchBucket) }
            return .applied(garbage: buckets[bucket]!.put(ObjectKey(key), object)?.chunks ?? [])
        case .deleteObject(let bucket, let key):
            guard buckets[bucket] != nil else { return .rejected(.noSuchBucket) }
            return .applied(garbage: buckets[bucket]!.remove(ObjectKey(key))?.chunks ?? [])
        case .createUpload(let upload):
            guard buckets[upload.bucket] != nil else { return .rejected(.noSuchBucket) }
            uploads[upload.uploadID] = upload
            return .applied
        case .putPart(let uploadID, let partNumber, let part):
            guard uploads[uploadID] != nil else { return .rejected(.noSuchUpload) }
            let previous = uploads[uploadID]!.parts.updateValue(part, forKey: partNumber)
            return .applied(garbage: previous?.chunks ?? [])
        case .completeUpload(let uploadID, let partNumbers, let partETags, let object):
            guard let upload = uploads[uploadID] else { return .rejected(.noSuchUpload) }
            guard buckets[upload.bucket] != nil else { return .rejected(.noSuchBucket) }
            // The object must be made of exactly the parts as they are now: a part re-uploaded
            // since (even with the same content and ETag) has new chunks, and the old ones are gone.
            let current = partNumbers.compactMap { upload.parts[$0] }
            guard current.count == partNumbers.count, partNumbers.count == partETags.count,
                zip(current, partETags).allSatisfy({ $0.etag == $1 }), current.flatMap(\.chunks) == object.chunks
            else { return .rejected(.invalidPart) }
            uploads[uploadID] = nil
            let used = Set(partNumbers)
            let unusedParts = upload.parts.filter { !used.contains($0.key) }.values.flatMap(\.chunks)
            let replaced = buckets[upload.bucket]!.put(ObjectKey(upload.key), object)?.chunks ?? []
            return .applied(garbage: unusedParts + replaced)
        case .abortUpload(let uploadID):
            guard let upload = uploads.removeValue(forKey: uploadID) else { return .rejected(.noSuchUpload) }
            return .applied(garbage: upload.parts.values.flatMap(\.chunks))
        case .registerAgent(let member):
            agents[member.clientID] = member
            return .applied
        }
    }

    func bucket(_ name: String) -> BucketIndex? { buckets[name] }

    var bucketInfos: [BucketInfo] { buckets.values.map(\.info).sorted { $0.name < $1.name } }

    func upload(_ uploadID: String) -> MultipartUpload? { uploads[uploadID] }

    /// Every chunk an object or an unfinished upload references.
    func forEachChunk(_ body: (ChunkPlacement) -> Void) {
        for bucket in buckets.values {
            for object in bucket.objects.values { object.chunks.forEach(body) }
        }
        for upload in uploads.values {
            for part in upload.parts.values { part.chunks.forEach(body) }
        }
    }

    /// A bucket's unfinished uploads, ordered by key (bytes), then initiation, then id.
    func uploads(in bucket: String) -> [MultipartUpload] {
        uploads.values.filter { $0.bucket == bucket }.sorted {
            if ObjectKey($0.key) != ObjectKey($1.key) { return ObjectKey($0.key) < ObjectKey($1.key) }
            if $0.initiatedMs != $1.initiatedMs { return $0.initiatedMs < $1.initiatedMs }
            return $0.uploadID < $1.uploadID
        }
    }
}
