import NIOCore

/// Hashes a large body's chunks in order, each on a task of its own, so that the digests (MD5
/// above all: one core hashes about 0.45 GB/s, the slowest step of a large upload) run beside
/// receiving and storing the body instead of in turn with them.
///
/// At most `depth` chunks wait to be hashed: `add` waits for the oldest beyond that, which bounds
/// the memory a fast client can make an upload hold. A task is hashing at most one chunk it was
/// given, so one left behind by a failed upload ends on its own.
struct PipelinedDigests {
    /// The running digests, passed from each task to the next. Unchecked: Crypto's hash states are
    /// not marked Sendable, and each state here is owned by one task at a time, never shared.
    private struct Handoff: @unchecked Sendable {
        var digests: BodyDigests
    }

    private var digests: BodyDigests
    /// The tasks not yet waited for, oldest first; the last hashes the newest chunk, after all the
    /// earlier ones.
    private var queued: [Task<Handoff, Never>] = []
    let depth: Int

    init(_ digests: BodyDigests, depth: Int) {
        precondition(depth > 0)
        self.digests = digests
        self.depth = depth
    }

    mutating func add(_ chunk: ByteBuffer) async {
        // The oldest one's digests stand for everything hashed once no task is left to chain on.
        if queued.count == depth { digests = await queued.removeFirst().value.digests }
        let previous = queued.last
        let initial = Handoff(digests: digests)
        let task = Task {
            var state = await previous?.value ?? initial
            chunk.withUnsafeReadableBytes { state.digests.update($0) }
            return state
        }
        queued.append(task)
    }

    /// The digests of every chunk given, once all are hashed.
    mutating func finish() async -> BodyDigests {
        if let last = queued.last { digests = await last.value.digests }
        queued = []
        return digests
    }
}
