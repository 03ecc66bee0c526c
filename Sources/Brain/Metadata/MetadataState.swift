/// The brain's metadata as a deterministic state machine: `apply` is the only way it changes,
/// and the write-ahead log replays the same mutations in the same order after a restart.
struct MetadataState: Sendable {
    private(set) var buckets: [String: BucketIndex] = [:]
    private(set) var uploads: [String: MultipartUpload] = [:]
    private(set) var agents: [String: AgentMember] = [:]
    private(set) var accessKeys: [String: AccessKeyRecord] = [:]

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
            // A bucket created again under this name starts with no key's permissions.
            for id in accessKeys.keys where accessKeys[id]!.buckets[name] != nil { accessKeys[id]!.buckets[name] = nil }
            // Unfinished uploads die with their bucket.
            let orphaned = uploads.values.filter { $0.bucket == name }
            for upload in orphaned { uploads[upload.uploadID] = nil }
            return .applied(garbage: orphaned.flatMap { $0.parts.values.flatMap(\.chunks) })
        case .putObject(let bucket, let key, let object):
            guard buckets[bucket] != nil else { return .rejected(.noSuchBucket) }
            if let locked = lockRejection(replacing: object, bucket, ObjectKey(key)) { return .rejected(locked) }
            return .applied(garbage: buckets[bucket]!.put(ObjectKey(key), object))
        case .deleteObject(let bucket, let key, let marker, let markerTimeMs):
            guard let index = buckets[bucket] else { return .rejected(.noSuchBucket) }
            if index.info.versioning == .unversioned {
                return .applied(garbage: buckets[bucket]!.removeVersion(ObjectKey(key), .null)?.chunks ?? [])
            }
            let deleteMarker = ObjectRecord.deleteMarker(marker, timeMs: markerTimeMs)
            if let locked = lockRejection(replacing: deleteMarker, bucket, ObjectKey(key)) { return .rejected(locked) }
            return .applied(garbage: buckets[bucket]!.put(ObjectKey(key), deleteMarker))
        case .deleteVersion(let bucket, let key, let versionID, let bypassGovernance, let nowMs):
            guard buckets[bucket] != nil else { return .rejected(.noSuchBucket) }
            guard let version = buckets[bucket]!.version(ObjectKey(key), versionID) else { return .rejected(.noSuchVersion) }
            if let locked = ObjectRetention.rejection(removing: version, nowMs: nowMs, bypassGovernance: bypassGovernance) {
                return .rejected(locked)
            }
            return .applied(garbage: buckets[bucket]!.removeVersion(ObjectKey(key), versionID)?.chunks ?? [])
        case .setBucketVersioning(let name, let versioning):
            guard buckets[name] != nil else { return .rejected(.noSuchBucket) }
            guard buckets[name]!.info.objectLock == nil || versioning == .enabled else { return .rejected(.invalidBucketState) }
            buckets[name]!.info.versioning = versioning
            return .applied
        case .setObjectLockConfiguration(let name, let configuration):
            guard buckets[name] != nil else { return .rejected(.noSuchBucket) }
            guard buckets[name]!.info.versioning == .enabled else { return .rejected(.invalidBucketState) }
            buckets[name]!.info.objectLock = configuration
            return .applied
        case .createLockedBucket(let name, let creationDateMs, let owner):
            guard buckets[name] == nil else { return .rejected(.bucketAlreadyExists) }
            guard owner.isEmpty || accessKeys[owner] != nil else { return .rejected(.noSuchAccessKey) }
            var info = BucketInfo(name: name, creationDateMs: creationDateMs)
            info.versioning = .enabled
            info.objectLock = ObjectLockConfiguration()
            buckets[name] = BucketIndex(info: info)
            if !owner.isEmpty { accessKeys[owner]!.buckets[name] = .all }
            return .applied
        case .setObjectRetention(let bucket, let key, let versionID, let retention, let bypassGovernance, let nowMs):
            guard buckets[bucket]?.info.objectLock != nil else { return .rejected(buckets[bucket] == nil ? .noSuchBucket : .invalidBucketState) }
            if let version = buckets[bucket]!.version(ObjectKey(key), versionID), !version.isDeleteMarker,
                let locked = ObjectRetention.rejection(
                    changing: version.retention, to: retention, nowMs: nowMs, bypassGovernance: bypassGovernance)
            {
                return .rejected(locked)
            }
            return changeHeaders(bucket, key, versionID) {
                ObjectRetention.headers($0, retention: retention, legalHold: ObjectRetention.hasLegalHold($0))
            }
        case .setObjectLegalHold(let bucket, let key, let versionID, let on):
            guard buckets[bucket]?.info.objectLock != nil else { return .rejected(buckets[bucket] == nil ? .noSuchBucket : .invalidBucketState) }
            return changeHeaders(bucket, key, versionID) { ObjectRetention.headers($0, retention: ObjectRetention(headers: $0), legalHold: on) }
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
            // Replica lists may have changed since (repair), so chunks are compared by id, and the
            // object takes the parts' current lists.
            let current = partNumbers.compactMap { upload.parts[$0] }
            let currentChunks = current.flatMap(\.chunks)
            guard current.count == partNumbers.count, partNumbers.count == partETags.count,
                zip(current, partETags).allSatisfy({ $0.etag == $1 }), currentChunks.map(\.id) == object.chunks.map(\.id)
            else { return .rejected(.invalidPart) }
            var object = object
            object.chunks = currentChunks
            if let locked = lockRejection(replacing: object, upload.bucket, ObjectKey(upload.key)) { return .rejected(locked) }
            uploads[uploadID] = nil
            let used = Set(partNumbers)
            let unusedParts = upload.parts.filter { !used.contains($0.key) }.values.flatMap(\.chunks)
            let replaced = buckets[upload.bucket]!.put(ObjectKey(upload.key), object)
            return .applied(garbage: unusedParts + replaced)
        case .abortUpload(let uploadID):
            guard let upload = uploads.removeValue(forKey: uploadID) else { return .rejected(.noSuchUpload) }
            return .applied(garbage: upload.parts.values.flatMap(\.chunks))
        case .registerAgent(let member):
            agents[member.clientID] = AgentMember(
                clientID: member.clientID, zone: member.zone, draining: agents[member.clientID]?.draining ?? false)
            return .applied
        case .setChunkReplicas(let location, let chunkID, let previousAgents, let newAgents):
            guard let old = chunk(at: location), old.id == chunkID, old.agents == previousAgents, !newAgents.isEmpty else {
                return .rejected(.staleChunk)
            }
            let moved = ChunkPlacement(id: chunkID, length: old.length, agents: newAgents)
            switch location {
            case .object(let bucket, let key, let version, let index):
                _ = buckets[bucket]!.modifyVersion(ObjectKey(key), version) { $0.chunks[index] = moved }
            case .part(let uploadID, let partNumber, let index):
                uploads[uploadID]!.parts[partNumber]!.chunks[index] = moved
            }
            let dropped = old.agents.filter { !newAgents.contains($0) }
            return .applied(garbage: dropped.isEmpty ? [] : [ChunkPlacement(id: chunkID, length: old.length, agents: dropped)])
        case .setAgentDraining(let clientID, let draining):
            guard agents[clientID] != nil else { return .rejected(.noSuchAgent) }
            agents[clientID]!.draining = draining
            return .applied
        case .removeAgent(let clientID):
            guard agents.removeValue(forKey: clientID) != nil else { return .rejected(.noSuchAgent) }
            return .applied
        case .putAccessKey(let record):
            guard accessKeys[record.accessKeyID] == nil else { return .rejected(.accessKeyExists) }
            accessKeys[record.accessKeyID] = record
            return .applied
        case .deleteAccessKey(let id):
            guard accessKeys.removeValue(forKey: id) != nil else { return .rejected(.noSuchAccessKey) }
            return .applied
        case .changeKeyPermissions(let id, let bucket, let grant, let revoke):
            guard accessKeys[id] != nil else { return .rejected(.noSuchAccessKey) }
            guard buckets[bucket] != nil else { return .rejected(.noSuchBucket) }
            let permissions = accessKeys[id]!.permissions(on: bucket).union(grant).subtracting(revoke)
            accessKeys[id]!.buckets[bucket] = permissions.isEmpty ? nil : permissions
            return .applied
        case .setKeyMayCreateBuckets(let id, let allowed):
            guard accessKeys[id] != nil else { return .rejected(.noSuchAccessKey) }
            accessKeys[id]!.mayCreateBuckets = allowed
            return .applied
        case .createOwnedBucket(let name, let creationDateMs, let owner):
            guard buckets[name] == nil else { return .rejected(.bucketAlreadyExists) }
            guard accessKeys[owner] != nil else { return .rejected(.noSuchAccessKey) }
            buckets[name] = BucketIndex(info: BucketInfo(name: name, creationDateMs: creationDateMs))
            accessKeys[owner]!.buckets[name] = .all
            return .applied
        case .setBucketACL(let name, let acl):
            guard buckets[name] != nil else { return .rejected(.noSuchBucket) }
            buckets[name]!.info.acl = acl
            return .applied
        case .setBucketPolicy(let name, let text):
            guard buckets[name] != nil else { return .rejected(.noSuchBucket) }
            if text.isEmpty {
                buckets[name]!.info.policy = nil
            } else {
                // Checked before it was committed; if it no longer parses, it closes the bucket rather than vanish.
                buckets[name]!.info.policy =
                    (try? BucketPolicy(parsing: text, bucket: name)) ?? .denyingEverything(text: text)
            }
            return .applied
        case .conditional(let condition, let mutation):
            if let target = target(of: mutation), let bucket = buckets[target.bucket] {
                var deleting = false
                if case .deleteObject = mutation { deleting = true }
                if let rejection = condition.rejection(of: bucket.current(ObjectKey(target.key)), deleting: deleting) {
                    return .rejected(rejection)
                }
            }
            return apply(mutation)
        case .setObjectTagging(let bucket, let key, let versionID, let tagging):
            return changeHeaders(bucket, key, versionID) { ObjectRecord.headers($0, withTagging: tagging) }
        case .setBucketCors(let name, let text):
            guard buckets[name] != nil else { return .rejected(.noSuchBucket) }
            // Checked before it was committed; one that no longer parses allows no origin rather than any.
            buckets[name]!.info.cors = text.isEmpty ? nil : try? CORSConfiguration(text: text)
            return .applied
        case .setBucketLifecycle(let name, let text):
            guard buckets[name] != nil else { return .rejected(.noSuchBucket) }
            // Checked before it was committed; one that no longer parses expires nothing rather than anything.
            buckets[name]!.info.lifecycle = text.isEmpty ? nil : try? LifecycleConfiguration(text: text)
            return .applied
        case .setBucketTagging(let name, let tagging):
            guard buckets[name] != nil else { return .rejected(.noSuchBucket) }
            buckets[name]!.info.tagging = tagging
            return .applied
        case .setObjectACL(let bucket, let key, let versionID, let acl):
            return changeHeaders(bucket, key, versionID) { ObjectRecord.headers($0, withACL: acl) }
        }
    }

    /// Whether Object Lock forbids `object` to replace the version of `key` with its id (the `null`
    /// version), judged at the time it was made.
    private func lockRejection(replacing object: ObjectRecord, _ bucket: String, _ key: ObjectKey) -> MutationRejection? {
        guard let index = buckets[bucket], index.info.objectLock != nil, let existing = index.version(key, object.versionID) else {
            return nil
        }
        return ObjectRetention.rejection(removing: existing, nowMs: object.lastModifiedMs, bypassGovernance: false)
    }

    /// Sets the stored headers of one version (its tags or ACL; a delete marker has none: NoSuchKey).
    private mutating func changeHeaders(
        _ bucket: String, _ key: String, _ versionID: VersionID, _ change: ([StoredHeader]) -> [StoredHeader]
    ) -> MutationOutcome {
        guard buckets[bucket] != nil else { return .rejected(.noSuchBucket) }
        guard let version = buckets[bucket]!.version(ObjectKey(key), versionID), !version.isDeleteMarker else {
            return .rejected(versionID.isNull ? .noSuchKey : .noSuchVersion)
        }
        _ = buckets[bucket]!.modifyVersion(ObjectKey(key), versionID) { $0.headers = change($0.headers) }
        return .applied  // the same chunks: no garbage
    }

    func chunk(at location: ChunkLocation) -> ChunkPlacement? {
        switch location {
        case .object(let bucket, let key, let version, let index):
            guard let chunks = buckets[bucket]?.version(ObjectKey(key), version)?.chunks, chunks.indices.contains(index) else { return nil }
            return chunks[index]
        case .part(let uploadID, let partNumber, let index):
            guard let chunks = uploads[uploadID]?.parts[partNumber]?.chunks, chunks.indices.contains(index) else { return nil }
            return chunks[index]
        }
    }

    /// The object key a conditional mutation's condition is about: a put's or a delete's, or the
    /// key of the upload a completion finishes (nil when that upload is gone: the completion is
    /// then rejected by itself).
    private func target(of mutation: Mutation) -> (bucket: String, key: String)? {
        switch mutation {
        case .putObject(let bucket, let key, _), .deleteObject(let bucket, let key, _, _): return (bucket, key)
        case .completeUpload(let uploadID, _, _, _): return uploads[uploadID].map { ($0.bucket, $0.key) }
        default: return nil
        }
    }

    func bucket(_ name: String) -> BucketIndex? { buckets[name] }

    var bucketInfos: [BucketInfo] { buckets.values.map(\.info).sorted { $0.name < $1.name } }

    func upload(_ uploadID: String) -> MultipartUpload? { uploads[uploadID] }

    /// Every chunk an object or an unfinished upload references.
    func forEachChunk(_ body: (ChunkPlacement) -> Void) {
        forEachChunkLocation { _, chunk in body(chunk) }
    }

    /// Every referenced chunk with where it is referenced from.
    func forEachChunkLocation(_ body: (ChunkLocation, ChunkPlacement) -> Void) {
        for (name, bucket) in buckets {
            func visit(_ key: ObjectKey, _ version: ObjectRecord) {
                for (index, chunk) in version.chunks.enumerated() {
                    body(.object(bucket: name, key: key.string, version: version.versionID, index: index), chunk)
                }
            }
            for (key, latest) in bucket.objects { visit(key, latest) }
            for (key, versions) in bucket.noncurrent {
                for version in versions { visit(key, version) }
            }
        }
        for upload in uploads.values {
            for (number, part) in upload.parts {
                for (index, chunk) in part.chunks.enumerated() {
                    body(.part(uploadID: upload.uploadID, partNumber: number, index: index), chunk)
                }
            }
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
