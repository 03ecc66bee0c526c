import Logging
import Synchronization

/// Applies the buckets' lifecycle rules in the background: expires current objects (a delete, or
/// in a versioned bucket a delete marker), noncurrent versions and lone delete markers, and aborts
/// old multipart uploads. Each pass decides from the metadata as it is and commits one mutation an
/// action, at most `actionsPerSecondMax` a second; a brain restarted mid-pass finds in its next pass
/// exactly the work not yet done. A version Object Lock protects is left alone (the commit is
/// refused), and an object changed since the pass looked at it is not expired (a conditional commit).
public final class LifecycleService: Sendable {
    let metadata: MetadataStore
    let chunks: ChunkRouter
    let logger: Logger
    public let clock: LifecycleClock
    public let actionsPerSecondMax: Double
    /// Actions one pass takes at most; the next pass goes on.
    static let actionsPerPassMax = 10_000
    private let totals = Mutex(Counts())

    /// What passes did, for logs and tests.
    public struct Counts: Sendable, Equatable {
        public var expired = 0
        public var noncurrentExpired = 0
        public var deleteMarkersRemoved = 0
        public var uploadsAborted = 0
        /// Actions whose commit was refused: Object Lock, or the object changed meanwhile.
        public var refused = 0

        var total: Int { expired + noncurrentExpired + deleteMarkersRemoved + uploadsAborted + refused }
    }

    enum Action {
        case expire(bucket: String, key: String, object: ObjectRecord)
        case expireNoncurrent(bucket: String, key: String, versionID: VersionID)
        case removeDeleteMarker(bucket: String, key: String, versionID: VersionID)
        case abort(bucket: String, uploadID: String)

        var metric: BrainMetrics.LifecycleAction {
            switch self {
            case .expire: .expire
            case .expireNoncurrent: .expireNoncurrent
            case .removeDeleteMarker: .removeDeleteMarker
            case .abort: .abortUpload
            }
        }
    }

    init(metadata: MetadataStore, chunks: ChunkRouter, logger: Logger, clock: LifecycleClock, actionsPerSecondMax: Double) {
        self.metadata = metadata
        self.chunks = chunks
        self.logger = logger
        self.clock = clock
        self.actionsPerSecondMax = actionsPerSecondMax
    }

    public var counts: Counts { totals.withLock { $0 } }

    /// Seconds between passes: an hour of real days, less with shorter lifecycle days.
    var intervalSeconds: Int64 { max(1, min(3600, clock.daySeconds / 24)) }

    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(intervalSeconds))
            await pass()
        }
    }

    public func pass() async {
        let nowMs = Clock.nowMs()
        var done = Counts()
        for action in actions(nowMs: nowMs) {
            if Task.isCancelled { break }
            await take(action, nowMs: nowMs, counts: &done)
            try? await Task.sleep(for: .microseconds(Int64(1_000_000 / actionsPerSecondMax)))
        }
        guard done.total > 0 else { return }
        totals.withLock {
            $0.expired += done.expired
            $0.noncurrentExpired += done.noncurrentExpired
            $0.deleteMarkersRemoved += done.deleteMarkersRemoved
            $0.uploadsAborted += done.uploadsAborted
            $0.refused += done.refused
        }
        logger.info(
            "lifecycle pass",
            metadata: [
                "expired": "\(done.expired)", "noncurrentExpired": "\(done.noncurrentExpired)",
                "deleteMarkersRemoved": "\(done.deleteMarkersRemoved)", "uploadsAborted": "\(done.uploadsAborted)",
                "refused": "\(done.refused)",
            ])
    }

    /// What the rules ask for at `nowMs`, decided on copies of the buckets (the metadata is not held meanwhile).
    func actions(nowMs: Int64) -> [Action] {
        let buckets = metadata.read { state in state.bucketInfos.filter { $0.lifecycle != nil }.compactMap { state.bucket($0.name) } }
        var actions: [Action] = []
        for index in buckets {
            guard let rules = index.info.lifecycle else { continue }
            let bucket = index.info.name
            for upload in metadata.uploads(in: bucket) where rules.abortsUpload(upload, nowMs: nowMs, clock: clock) {
                actions.append(.abort(bucket: bucket, uploadID: upload.uploadID))
            }
            for (key, latest) in index.objects {
                if actions.count >= Self.actionsPerPassMax { return actions }
                let older = index.noncurrent[key] ?? []
                if latest.isDeleteMarker {
                    if older.isEmpty, rules.removesLoneDeleteMarker(key) {
                        actions.append(.removeDeleteMarker(bucket: bucket, key: key.string, versionID: latest.versionID))
                    }
                } else if let expiration = rules.expiration(of: key, latest, clock: clock), expiration.atMs <= nowMs {
                    actions.append(.expire(bucket: bucket, key: key.string, object: latest))
                }
                guard !older.isEmpty else { continue }
                // A noncurrent version became noncurrent when the version after it was made.
                let successors = [latest] + older.dropLast()
                let aged = zip(older, successors).map { ($0, $1.lastModifiedMs) }
                for version in rules.expiredNoncurrent(key, aged, nowMs: nowMs, clock: clock) {
                    actions.append(.expireNoncurrent(bucket: bucket, key: key.string, versionID: version.versionID))
                }
            }
        }
        return actions
    }

    private func take(_ action: Action, nowMs: Int64, counts: inout Counts) async {
        let mutation: Mutation
        switch action {
        case .expire(let bucket, let key, let object):
            guard metadata.object(bucket: bucket, key: key) != nil else { return }  // deleted meanwhile
            // Only the object the pass saw: a newer write to the key is not expired.
            let seen = WriteCondition(
                etag: WriteCondition.bare(object.etag), size: object.size, lastModifiedSeconds: object.lastModifiedMs / 1000)
            let marker = metadata.versioning(bucket: bucket)?.newVersionID() ?? .null
            mutation = .conditional(seen, .deleteObject(bucket: bucket, key: key, marker: marker, markerTimeMs: Clock.nowMs()))
        case .expireNoncurrent(let bucket, let key, let versionID), .removeDeleteMarker(let bucket, let key, let versionID):
            mutation = .deleteVersion(bucket: bucket, key: key, versionID: versionID, bypassGovernance: false, nowMs: Clock.nowMs())
        case .abort(_, let uploadID):
            mutation = .abortUpload(uploadID: uploadID)
        }
        do {
            switch try await metadata.commit(mutation) {
            case .applied(let garbage):
                chunks.discard(garbage)
                switch action {
                case .expire: counts.expired += 1
                case .expireNoncurrent: counts.noncurrentExpired += 1
                case .removeDeleteMarker: counts.deleteMarkersRemoved += 1
                case .abort: counts.uploadsAborted += 1
                }
                BrainMetrics.lifecycleActions(action.metric).increment()
            case .rejected:
                counts.refused += 1
                BrainMetrics.lifecycleActions(.refused).increment()
            }
        } catch {
            logger.warning("lifecycle action failed", metadata: ["error": "\(error)"])
        }
    }
}
