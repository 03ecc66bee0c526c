import ClusterProtocol
import Logging
import Synchronization

/// Chunk replicas waiting out the garbage delay before they are deleted from their agents.
///
/// One queue and one worker, not a sleeping task per discard: a task costs kilobytes while it
/// waits, and at thousands of overwrites or deletes a second the delay's worth of them grew the
/// brain by hundreds of megabytes. The delay is the same for every entry, so the queue is in
/// deadline order and the worker only ever looks at its head.
final class ChunkGarbage: Sendable {
    private struct Entry {
        var chunk: ChunkPlacement
        var dueAt: ContinuousClock.Instant
    }

    private struct Queue {
        var entries: [Entry] = []
        var head = 0
        var count: Int { entries.count - head }
    }

    let delay: Duration
    private let queue = Mutex(Queue())
    /// Rung on every enqueue, so that an idle worker wakes for new entries.
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation
    /// Replica deletions in flight at once.
    static let deletionsInFlightMax = 16

    init(delaySeconds: Double) {
        delay = .milliseconds(Int64(delaySeconds * 1000))
        (doorbell, ring) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    var pendingCount: Int { queue.withLock { $0.count } }

    func enqueue(_ chunks: [ChunkPlacement]) {
        let dueAt = ContinuousClock.now + delay
        queue.withLock { queue in
            for chunk in chunks { queue.entries.append(Entry(chunk: chunk, dueAt: dueAt)) }
        }
        ring.yield()
    }

    /// When the oldest entry is due; nil when there is none.
    private var nextDue: ContinuousClock.Instant? {
        queue.withLock { $0.head < $0.entries.count ? $0.entries[$0.head].dueAt : nil }
    }

    /// Takes the entries that are due, oldest first, at most `limit`.
    private func takeDue(limit: Int) -> [ChunkPlacement] {
        let now = ContinuousClock.now
        return queue.withLock { queue in
            var due: [ChunkPlacement] = []
            while queue.head < queue.entries.count, due.count < limit, queue.entries[queue.head].dueAt <= now {
                due.append(queue.entries[queue.head].chunk)
                queue.head += 1
            }
            if queue.head > 1024, queue.head * 2 > queue.entries.count {
                queue.entries.removeFirst(queue.head)
                queue.head = 0
            }
            return due
        }
    }

    /// Deletes due replicas until cancelled. Best effort: a replica whose agent is away stays
    /// behind as an orphan, which the reconcile pass reclaims.
    /// Runs once per store: it is the doorbell's only listener.
    func run(registry: AgentRegistry, logger: Logger) async {
        var rings = doorbell.makeAsyncIterator()
        while !Task.isCancelled {
            let due = takeDue(limit: 256)
            if due.isEmpty {
                // Later entries are never due before the oldest: sleeping until it is due is exact.
                if let nextDue {
                    try? await Task.sleep(until: nextDue, clock: .continuous)
                } else {
                    _ = await rings.next()
                }
                continue
            }
            let replicas = due.flatMap { chunk in chunk.agents.map { (chunk.id, $0) } }
            await withTaskGroup(of: Void.self) { group in
                var inFlight = 0
                for (chunkID, agentID) in replicas {
                    if inFlight == Self.deletionsInFlightMax {
                        await group.next()
                        inFlight -= 1
                    }
                    inFlight += 1
                    group.addTask {
                        do {
                            guard let agent = registry.connection(for: agentID) else {
                                throw AgentRequestError.disconnected(agent: agentID)
                            }
                            try await agent.deleteChunk(chunkID)
                        } catch {
                            logger.warning(
                                "could not delete an unreferenced chunk replica",
                                metadata: ["chunk": "\(chunkID)", "agent": "\(agentID)", "error": "\(error)"])
                        }
                    }
                }
            }
        }
    }
}
