import ClusterProtocol

/// Carries out `sos admin key ...` against the metadata: keys are created, imported, changed and
/// deleted only through WAL mutations, so they survive restarts and crashes. Errors are
/// `ErrorReply`s for the admin tool; none shows a secret.
struct KeyAdministration: Sendable {
    let metadata: MetadataStore
    /// The root key's id (nil with `--insecure-no-auth`): no other key may take it.
    let rootAccessKeyID: String?

    static let nameBytesMax = 128

    func perform(_ command: KeyCommand) async throws -> KeyReply {
        switch command.action {
        case .list:
            return KeyReply(keys: metadata.accessKeys.map { Self.info($0) })
        case .info:
            return KeyReply(keys: [Self.info(try existing(command.accessKeyID))])
        case .create:
            let generated = AccessKey.generate(isRoot: false)
            let record = try await add(generated.accessKeyID, generated.secretKey, name: command.name)
            return KeyReply(keys: [Self.info(record, secret: generated.secretKey)])
        case .import:
            guard let id = command.accessKeyID, let secret = command.secretKey else {
                throw ErrorReply(code: .badRequest, message: "import needs --access-key and a secret key")
            }
            if let problem = AccessKey.problem(accessKeyID: id, secretKey: secret) {
                throw ErrorReply(code: .badRequest, message: problem)
            }
            return KeyReply(keys: [Self.info(try await add(id, secret, name: command.name))])
        case .delete:
            let record = try existing(command.accessKeyID)
            try check(try await metadata.commit(.deleteAccessKey(accessKeyID: record.accessKeyID)), command)
            return KeyReply(keys: [Self.info(record)])
        case .allow, .deny:
            let record = try existing(command.accessKeyID)
            let allow = command.action == .allow
            var named: BucketPermissions = []
            if command.read { named.insert(.read) }
            if command.write { named.insert(.write) }
            if command.owner { named.insert(.owner) }
            if command.createBucket {
                try check(
                    try await metadata.commit(.setKeyMayCreateBuckets(accessKeyID: record.accessKeyID, allowed: allow)), command)
            }
            if let bucket = command.bucket {
                // `deny --bucket B` with no permission named takes every permission on B away.
                if !allow && named.isEmpty { named = .all }
                guard !named.isEmpty else {
                    throw ErrorReply(code: .badRequest, message: "name what to allow: --read, --write and/or --owner")
                }
                let mutation = Mutation.changeKeyPermissions(
                    accessKeyID: record.accessKeyID, bucket: bucket, grant: allow ? named : [], revoke: allow ? [] : named)
                try check(try await metadata.commit(mutation), command)
            } else if !command.createBucket {
                throw ErrorReply(code: .badRequest, message: "name a --bucket, or --create-bucket")
            }
            return KeyReply(keys: [Self.info(try existing(record.accessKeyID))])
        }
    }

    private func add(_ id: String, _ secret: String, name: String?) async throws -> AccessKeyRecord {
        guard let name, !name.isEmpty, name.utf8.count <= Self.nameBytesMax else {
            throw ErrorReply(code: .badRequest, message: "a key needs a --name of 1 to \(Self.nameBytesMax) bytes")
        }
        guard id != rootAccessKeyID else { throw ErrorReply(code: .badRequest, message: "\(id) is the root key's id") }
        let record = AccessKeyRecord(accessKeyID: id, secretKey: secret, name: name, createdMs: Clock.nowMs())
        switch try await metadata.commit(.putAccessKey(record)) {
        case .applied: return record
        case .rejected: throw ErrorReply(code: .badRequest, message: "an access key \(id) exists already")
        }
    }

    private func existing(_ id: String?) throws -> AccessKeyRecord {
        guard let id else { throw ErrorReply(code: .badRequest, message: "name the access key") }
        guard let record = metadata.accessKey(id) else { throw ErrorReply(code: .notFound, message: "no access key \(id)") }
        return record
    }

    private func check(_ outcome: MutationOutcome, _ command: KeyCommand) throws {
        switch outcome {
        case .applied: return
        case .rejected(.noSuchBucket): throw ErrorReply(code: .notFound, message: "no bucket \(command.bucket ?? "")")
        case .rejected(.noSuchAccessKey): throw ErrorReply(code: .notFound, message: "no access key \(command.accessKeyID ?? "")")
        case .rejected(let rejection): throw ErrorReply(code: .internalError, message: "refused: \(rejection)")
        }
    }

    static func info(_ record: AccessKeyRecord, secret: String? = nil) -> KeyInfo {
        KeyInfo(
            accessKeyID: record.accessKeyID, name: record.name, created: HTTPDate.iso8601(ms: record.createdMs),
            secretKey: secret, createBucket: record.mayCreateBuckets,
            buckets: record.buckets.keys.sorted().map { KeyInfo.BucketGrant(bucket: $0, permissions: record.buckets[$0]!.names) })
    }
}
