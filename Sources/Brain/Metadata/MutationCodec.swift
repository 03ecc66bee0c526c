import ClusterProtocol
import LogStore
import NIOCore

/// Binary encoding of a `Mutation` as a WAL record payload (docs/formats.md, "WAL mutations").
/// Integers are big-endian; strings are a 2-byte length and UTF-8 bytes.
///
/// A payload starts with `0x80 | formatVersion`, then the tag. Payloads of format version 1
/// (before object versions) start with the tag itself, which is below 0x80: they still decode,
/// and the next snapshot rewrites them in the current version.
public enum MutationCodec {
    static let formatVersion: UInt8 = 2
    static let formatVersionFlag: UInt8 = 0x80

    enum Tag: UInt8 {
        case createBucket = 1
        case deleteBucket = 2
        case putObject = 3
        case deleteObject = 4
        case createUpload = 5
        case putPart = 6
        case completeUpload = 7
        case abortUpload = 8
        case registerAgent = 9
        case setChunkReplicas = 10
        case setAgentDraining = 11
        case removeAgent = 12
        case putAccessKey = 13
        case deleteAccessKey = 14
        case changeKeyPermissions = 15
        case setKeyMayCreateBuckets = 16
        case createOwnedBucket = 17
        case setBucketACL = 18
        case setObjectACL = 19
        case setBucketPolicy = 20
        case conditional = 21
        case setObjectTagging = 22
        case setBucketTagging = 23
        case setBucketVersioning = 24
        case deleteVersion = 25
        case setObjectRetention = 26
        case setObjectLegalHold = 27
        case setObjectLockConfiguration = 28
        case createLockedBucket = 29
        case setBucketCors = 30
        case setBucketLifecycle = 31
    }

    public static func encode(_ mutation: Mutation) -> [UInt8] {
        MutationBytes.serialize { writeVersioned(mutation, to: &$0) }
    }

    /// The mutation as a WAL record, ready to append: serialized after room for the record header,
    /// in one buffer (every commit makes one).
    public static func encodeRecord(_ mutation: Mutation) throws -> [UInt8] {
        var record = MutationBytes.serialize(headerRoom: RecordFormat.headerByteCount) { writeVersioned(mutation, to: &$0) }
        let payloadCount = record.count - RecordFormat.headerByteCount
        guard payloadCount <= RecordFormat.payloadBytesMax else { throw MetadataError.mutationTooLarge(bytes: payloadCount) }
        Record.seal(&record, type: .walMutation)
        return record
    }

    private static func writeVersioned(_ mutation: Mutation, to out: inout MutationBytes) {
        out.writeInteger(formatVersionFlag | formatVersion)
        write(mutation, to: &out)
    }

    private static func write(_ mutation: Mutation, to out: inout MutationBytes) {
        switch mutation {
        case .createBucket(let name, let creationDateMs):
            out.writeInteger(Tag.createBucket.rawValue)
            out.writeShortString(name)
            out.writeInteger(creationDateMs)
        case .deleteBucket(let name):
            out.writeInteger(Tag.deleteBucket.rawValue)
            out.writeShortString(name)
        case .putObject(let bucket, let key, let object):
            out.writeInteger(Tag.putObject.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(key)
            out.writeObject(object)
        case .deleteObject(let bucket, let key, let marker, let markerTimeMs):
            out.writeInteger(Tag.deleteObject.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(key)
            out.writeVersionID(marker)
            out.writeInteger(markerTimeMs)
        case .deleteVersion(let bucket, let key, let versionID, let bypassGovernance, let nowMs):
            out.writeInteger(Tag.deleteVersion.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(key)
            out.writeVersionID(versionID)
            out.writeInteger(UInt8(bypassGovernance ? 1 : 0))
            out.writeInteger(nowMs)
        case .setObjectRetention(let bucket, let key, let versionID, let retention, let bypassGovernance, let nowMs):
            out.writeInteger(Tag.setObjectRetention.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(key)
            out.writeVersionID(versionID)
            out.writeRetentionMode(retention?.mode)
            if let retention { out.writeInteger(retention.untilMs) }
            out.writeInteger(UInt8(bypassGovernance ? 1 : 0))
            out.writeInteger(nowMs)
        case .setObjectLegalHold(let bucket, let key, let versionID, let on):
            out.writeInteger(Tag.setObjectLegalHold.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(key)
            out.writeVersionID(versionID)
            out.writeInteger(UInt8(on ? 1 : 0))
        case .setObjectLockConfiguration(let bucket, let configuration):
            out.writeInteger(Tag.setObjectLockConfiguration.rawValue)
            out.writeShortString(bucket)
            out.writeRetentionMode(configuration.defaultMode)
            out.writeInteger(UInt32(configuration.defaultDays))
            out.writeInteger(UInt32(configuration.defaultYears))
        case .createLockedBucket(let name, let creationDateMs, let owner):
            out.writeInteger(Tag.createLockedBucket.rawValue)
            out.writeShortString(name)
            out.writeInteger(creationDateMs)
            out.writeShortString(owner)
        case .setBucketVersioning(let bucket, let versioning):
            out.writeInteger(Tag.setBucketVersioning.rawValue)
            out.writeShortString(bucket)
            out.writeInteger(versioning.rawValue)
        case .createUpload(let upload):
            out.writeInteger(Tag.createUpload.rawValue)
            out.writeShortString(upload.uploadID)
            out.writeShortString(upload.bucket)
            out.writeShortString(upload.key)
            out.writeInteger(upload.initiatedMs)
            out.writeHeaders(upload.headers)
            out.writeInteger(upload.checksumAlgorithm?.rawValue ?? 0)
            out.writeInteger(UInt8(upload.fullObjectChecksum ? 1 : 0))
        case .putPart(let uploadID, let partNumber, let part):
            out.writeInteger(Tag.putPart.rawValue)
            out.writeShortString(uploadID)
            out.writeInteger(UInt32(partNumber))
            out.writeInteger(part.size)
            out.writeShortString(part.etag)
            out.writeInteger(part.lastModifiedMs)
            out.writeShortString(part.checksum ?? "")
            out.writeChunks(part.chunks)
        case .completeUpload(let uploadID, let partNumbers, let partETags, let object):
            out.writeInteger(Tag.completeUpload.rawValue)
            out.writeShortString(uploadID)
            out.writeInteger(UInt32(partNumbers.count))
            for (number, etag) in zip(partNumbers, partETags) {
                out.writeInteger(UInt32(number))
                out.writeShortString(etag)
            }
            out.writeObject(object)
        case .abortUpload(let uploadID):
            out.writeInteger(Tag.abortUpload.rawValue)
            out.writeShortString(uploadID)
        case .registerAgent(let member):
            out.writeInteger(Tag.registerAgent.rawValue)
            out.writeShortString(member.clientID)
            out.writeShortString(member.zone)
        case .setChunkReplicas(let location, let chunkID, let previousAgents, let agents):
            out.writeInteger(Tag.setChunkReplicas.rawValue)
            switch location {
            case .object(let bucket, let key, let version, let index):
                out.writeInteger(UInt8(0))
                out.writeShortString(bucket)
                out.writeShortString(key)
                out.writeVersionID(version)
                out.writeInteger(UInt32(index))
            case .part(let uploadID, let partNumber, let index):
                out.writeInteger(UInt8(1))
                out.writeShortString(uploadID)
                out.writeInteger(UInt32(partNumber))
                out.writeInteger(UInt32(index))
            }
            out.writeChunkID(chunkID)
            for list in [previousAgents, agents] {
                out.writeInteger(UInt8(list.count))
                for agent in list { out.writeShortString(agent) }
            }
        case .setAgentDraining(let clientID, let draining):
            out.writeInteger(Tag.setAgentDraining.rawValue)
            out.writeShortString(clientID)
            out.writeInteger(UInt8(draining ? 1 : 0))
        case .removeAgent(let clientID):
            out.writeInteger(Tag.removeAgent.rawValue)
            out.writeShortString(clientID)
        case .putAccessKey(let record):
            out.writeInteger(Tag.putAccessKey.rawValue)
            out.writeShortString(record.accessKeyID)
            out.writeShortString(record.secretKey)
            out.writeShortString(record.name)
            out.writeInteger(record.createdMs)
            out.writeInteger(UInt8(record.mayCreateBuckets ? 1 : 0))
            out.writeInteger(UInt32(record.buckets.count))
            for bucket in record.buckets.keys.sorted() {
                out.writeShortString(bucket)
                out.writeInteger(record.buckets[bucket]!.rawValue)
            }
        case .deleteAccessKey(let id):
            out.writeInteger(Tag.deleteAccessKey.rawValue)
            out.writeShortString(id)
        case .changeKeyPermissions(let id, let bucket, let grant, let revoke):
            out.writeInteger(Tag.changeKeyPermissions.rawValue)
            out.writeShortString(id)
            out.writeShortString(bucket)
            out.writeInteger(grant.rawValue)
            out.writeInteger(revoke.rawValue)
        case .setKeyMayCreateBuckets(let id, let allowed):
            out.writeInteger(Tag.setKeyMayCreateBuckets.rawValue)
            out.writeShortString(id)
            out.writeInteger(UInt8(allowed ? 1 : 0))
        case .createOwnedBucket(let name, let creationDateMs, let owner):
            out.writeInteger(Tag.createOwnedBucket.rawValue)
            out.writeShortString(name)
            out.writeInteger(creationDateMs)
            out.writeShortString(owner)
        case .setBucketACL(let bucket, let acl):
            out.writeInteger(Tag.setBucketACL.rawValue)
            out.writeShortString(bucket)
            out.writeInteger(acl.rawValue)
        case .setObjectACL(let bucket, let key, let versionID, let acl):
            out.writeInteger(Tag.setObjectACL.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(key)
            out.writeVersionID(versionID)
            out.writeInteger(acl.rawValue)
        case .conditional(let condition, let inner):
            out.writeInteger(Tag.conditional.rawValue)
            let flags: UInt8 =
                (condition.mustNotExist ? 1 : 0) | (condition.etag != nil ? 2 : 0) | (condition.size != nil ? 4 : 0)
                | (condition.lastModifiedSeconds != nil ? 8 : 0)
            out.writeInteger(flags)
            if let etag = condition.etag { out.writeShortString(etag) }
            if let size = condition.size { out.writeInteger(UInt64(bitPattern: size)) }
            if let seconds = condition.lastModifiedSeconds { out.writeInteger(UInt64(bitPattern: seconds)) }
            write(inner, to: &out)
        case .setObjectTagging(let bucket, let key, let versionID, let tagging):
            out.writeInteger(Tag.setObjectTagging.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(key)
            out.writeVersionID(versionID)
            out.writeShortString(tagging)
        case .setBucketTagging(let bucket, let tagging):
            out.writeInteger(Tag.setBucketTagging.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(tagging)
        case .setBucketLifecycle(let bucket, let lifecycle):
            out.writeInteger(Tag.setBucketLifecycle.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(lifecycle)
        case .setBucketCors(let bucket, let cors):
            out.writeInteger(Tag.setBucketCors.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(cors)
        case .setBucketPolicy(let bucket, let policy):
            out.writeInteger(Tag.setBucketPolicy.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(policy)
        }
    }

    public static func decode(_ bytes: [UInt8]) throws -> Mutation {
        try bytes.withUnsafeBytes { try decode(MutationReader($0)) }
    }

    private static func decode(_ reader: MutationReader) throws -> Mutation {
        var input = reader
        guard let first: UInt8 = input.readInteger() else { throw ClusterProtocolError.malformed("empty mutation") }
        var tag: Tag
        if first & formatVersionFlag != 0 {
            input.formatVersion = first & ~formatVersionFlag
            guard input.formatVersion == formatVersion else {
                throw ClusterProtocolError.malformed(
                    "mutation format version \(input.formatVersion) (this brain writes \(formatVersion), and reads 1 without a version byte)")
            }
            tag = try readTag(&input)
        } else {
            // Format version 1 knew tags 1 to 23.
            guard let known = Tag(rawValue: first), known.rawValue <= Tag.setBucketTagging.rawValue else {
                throw ClusterProtocolError.malformed("unknown mutation tag")
            }
            tag = known
        }
        var condition: WriteCondition?
        if tag == .conditional {
            condition = try readCondition(&input)
            tag = try readTag(&input)
            guard [.putObject, .deleteObject, .completeUpload].contains(tag) else {
                throw ClusterProtocolError.malformed("a condition on mutation tag \(tag.rawValue)")
            }
        }
        let mutation = try decode(tag, from: &input)
        guard input.readableBytes == 0 else { throw ClusterProtocolError.malformed("trailing bytes after mutation") }
        return condition.map { .conditional($0, mutation) } ?? mutation
    }

    private static func readTag(_ input: inout MutationReader) throws -> Tag {
        guard let raw: UInt8 = input.readInteger(), let tag = Tag(rawValue: raw) else {
            throw ClusterProtocolError.malformed("unknown mutation tag")
        }
        return tag
    }

    /// A conditional mutation's condition: flags (1 must not exist, 2 ETag, 4 size, 8 last
    /// modified), then the values the flags name, in that order.
    private static func readCondition(_ input: inout MutationReader) throws -> WriteCondition {
        guard let flags: UInt8 = input.readInteger(), flags & ~0x0F == 0 else {
            throw ClusterProtocolError.malformed("condition flags")
        }
        var condition = WriteCondition(mustNotExist: flags & 1 != 0)
        if flags & 2 != 0 { condition.etag = try input.readShortString() }
        if flags & 4 != 0 { condition.size = try input.readInt64("condition size") }
        if flags & 8 != 0 { condition.lastModifiedSeconds = try input.readInt64("condition last modified") }
        return condition
    }

    /// The fields of the mutation `tag` names.
    private static func decode(_ tag: Tag, from input: inout MutationReader) throws -> Mutation {
        let mutation: Mutation
        switch tag {
        case .createBucket:
            let name = try input.readShortString()
            mutation = .createBucket(name: name, creationDateMs: try input.readInt64("creation date"))
        case .deleteBucket:
            mutation = .deleteBucket(name: try input.readShortString())
        case .putObject:
            let bucket = try input.readShortString()
            let key = try input.readShortString()
            mutation = .putObject(bucket: bucket, key: key, object: try input.readObject())
        case .deleteObject:
            let bucket = try input.readShortString()
            let key = try input.readShortString()
            let marker = try input.readVersionID()
            let markerTimeMs = input.formatVersion >= 2 ? try input.readInt64("marker time") : 0
            mutation = .deleteObject(bucket: bucket, key: key, marker: marker, markerTimeMs: markerTimeMs)
        case .deleteVersion:
            let bucket = try input.readShortString()
            let key = try input.readShortString()
            let versionID = try input.readVersionID()
            let bypass = try input.readFlag("bypass flag")
            mutation = .deleteVersion(
                bucket: bucket, key: key, versionID: versionID, bypassGovernance: bypass, nowMs: try input.readInt64("time"))
        case .setObjectRetention:
            let bucket = try input.readShortString()
            let key = try input.readShortString()
            let versionID = try input.readVersionID()
            let retention = try input.readRetentionMode().map { mode in
                let untilMs = try input.readInt64("retain until")
                // Whole seconds, as written: what decodes re-encodes to the same bytes.
                guard untilMs % 1000 == 0 else { throw ClusterProtocolError.malformed("retain-until of a fraction of a second") }
                return ObjectRetention(mode: mode, untilMs: untilMs)
            }
            let bypass = try input.readFlag("bypass flag")
            mutation = .setObjectRetention(
                bucket: bucket, key: key, versionID: versionID, retention: retention, bypassGovernance: bypass,
                nowMs: try input.readInt64("time"))
        case .setObjectLegalHold:
            let bucket = try input.readShortString()
            let key = try input.readShortString()
            let versionID = try input.readVersionID()
            mutation = .setObjectLegalHold(bucket: bucket, key: key, versionID: versionID, on: try input.readFlag("legal hold"))
        case .setObjectLockConfiguration:
            let bucket = try input.readShortString()
            let mode = try input.readRetentionMode()
            let days = Int(try input.readUInt32("days")), years = Int(try input.readUInt32("years"))
            guard mode != nil || (days == 0 && years == 0), days <= ObjectLockConfiguration.defaultDaysMax,
                years <= ObjectLockConfiguration.defaultYearsMax
            else { throw ClusterProtocolError.malformed("default retention period") }
            mutation = .setObjectLockConfiguration(
                bucket: bucket, configuration: ObjectLockConfiguration(defaultMode: mode, days: days, years: years))
        case .createLockedBucket:
            let name = try input.readShortString()
            let creationDateMs = try input.readInt64("creation date")
            mutation = .createLockedBucket(name: name, creationDateMs: creationDateMs, owner: try input.readShortString())
        case .setBucketVersioning:
            let bucket = try input.readShortString()
            guard let raw: UInt8 = input.readInteger(), let versioning = BucketVersioning(rawValue: raw), versioning != .unversioned
            else { throw ClusterProtocolError.malformed("bucket versioning") }
            mutation = .setBucketVersioning(bucket: bucket, versioning: versioning)
        case .createUpload:
            var upload = MultipartUpload(
                uploadID: try input.readShortString(), bucket: try input.readShortString(), key: try input.readShortString(),
                initiatedMs: try input.readInt64("initiated"), headers: [], checksumAlgorithm: nil)
            upload.headers = try input.readHeaders()
            upload.checksumAlgorithm = try input.readChecksumAlgorithm()
            if input.formatVersion >= 2 { upload.fullObjectChecksum = try input.readFlag("checksum type") }
            mutation = .createUpload(upload)
        case .putPart:
            let uploadID = try input.readShortString()
            let partNumber = Int(try input.readUInt32("part number"))
            let size = try input.readInt64("part size")
            let etag = try input.readShortString()
            let lastModified = try input.readInt64("last modified")
            let checksum = try input.readShortString()
            let part = PartRecord(
                size: size, etag: etag, lastModifiedMs: lastModified, checksum: checksum.isEmpty ? nil : checksum,
                chunks: try input.readChunks())
            mutation = .putPart(uploadID: uploadID, partNumber: partNumber, part: part)
        case .completeUpload:
            let uploadID = try input.readShortString()
            let count = try input.readCount(minimumBytesEach: 6)
            var numbers: [Int] = [], etags: [String] = []
            for _ in 0..<count {
                numbers.append(Int(try input.readUInt32("part number")))
                etags.append(try input.readShortString())
            }
            mutation = .completeUpload(uploadID: uploadID, partNumbers: numbers, partETags: etags, object: try input.readObject())
        case .abortUpload:
            mutation = .abortUpload(uploadID: try input.readShortString())
        case .registerAgent:
            mutation = .registerAgent(AgentMember(clientID: try input.readShortString(), zone: try input.readShortString()))
        case .setChunkReplicas:
            guard let kind: UInt8 = input.readInteger() else { throw ClusterProtocolError.malformed("location kind") }
            let location: ChunkLocation
            switch kind {
            case 0:
                location = .object(
                    bucket: try input.readShortString(), key: try input.readShortString(), version: try input.readVersionID(),
                    index: Int(try input.readUInt32("chunk index")))
            case 1:
                location = .part(
                    uploadID: try input.readShortString(), partNumber: Int(try input.readUInt32("part number")),
                    index: Int(try input.readUInt32("chunk index")))
            default: throw ClusterProtocolError.malformed("location kind \(kind)")
            }
            let chunkID = try input.readChunkID()
            let lists = try (0..<2).map { _ -> [String] in
                guard let count: UInt8 = input.readInteger(), count > 0 else { throw ClusterProtocolError.malformed("replica count") }
                return try (0..<count).map { _ in try input.readShortString() }
            }
            mutation = .setChunkReplicas(location: location, chunkID: chunkID, previousAgents: lists[0], agents: lists[1])
        case .setAgentDraining:
            let clientID = try input.readShortString()
            guard let flag: UInt8 = input.readInteger(), flag <= 1 else { throw ClusterProtocolError.malformed("draining flag") }
            mutation = .setAgentDraining(clientID: clientID, draining: flag == 1)
        case .removeAgent:
            mutation = .removeAgent(clientID: try input.readShortString())
        case .putAccessKey:
            mutation = .putAccessKey(try input.readAccessKey())
        case .deleteAccessKey:
            mutation = .deleteAccessKey(accessKeyID: try input.readShortString())
        case .changeKeyPermissions:
            let id = try input.readShortString()
            let bucket = try input.readShortString()
            mutation = .changeKeyPermissions(
                accessKeyID: id, bucket: bucket, grant: try input.readPermissions(allowEmpty: true),
                revoke: try input.readPermissions(allowEmpty: true))
        case .setKeyMayCreateBuckets:
            let id = try input.readShortString()
            mutation = .setKeyMayCreateBuckets(accessKeyID: id, allowed: try input.readFlag("may-create-buckets flag"))
        case .createOwnedBucket:
            let name = try input.readShortString()
            let creationDateMs = try input.readInt64("creation date")
            mutation = .createOwnedBucket(name: name, creationDateMs: creationDateMs, owner: try input.readShortString())
        case .setBucketACL:
            let bucket = try input.readShortString()
            mutation = .setBucketACL(bucket: bucket, acl: try input.readACL())
        case .setObjectACL:
            let bucket = try input.readShortString()
            let key = try input.readShortString()
            let versionID = try input.readVersionID()
            mutation = .setObjectACL(bucket: bucket, key: key, versionID: versionID, acl: try input.readACL())
        case .setBucketLifecycle:
            let bucket = try input.readShortString()
            mutation = .setBucketLifecycle(bucket: bucket, lifecycle: try input.readShortString())
        case .setBucketCors:
            let bucket = try input.readShortString()
            mutation = .setBucketCors(bucket: bucket, cors: try input.readShortString())
        case .setBucketPolicy:
            let bucket = try input.readShortString()
            mutation = .setBucketPolicy(bucket: bucket, policy: try input.readShortString())
        case .setObjectTagging:
            let bucket = try input.readShortString()
            let key = try input.readShortString()
            let versionID = try input.readVersionID()
            mutation = .setObjectTagging(bucket: bucket, key: key, versionID: versionID, tagging: try input.readShortString())
        case .setBucketTagging:
            let bucket = try input.readShortString()
            mutation = .setBucketTagging(bucket: bucket, tagging: try input.readShortString())
        case .conditional:
            throw ClusterProtocolError.malformed("a condition on a condition")
        }
        return mutation
    }
}
