import LogStore
import Synchronization

/// Lets commits through to the current WAL file, and lets the snapshotter switch files at a
/// point where every commit to the old file has been applied and none to the new one has:
/// the consistent cut a snapshot needs, and the order a replay will follow.
final class CommitGate: Sendable {
    struct WALFile: Sendable {
        var generation: UInt64
        var file: AppendOnlyFile
        /// WAL bytes in the generations since the newest snapshot's, before this one: with this
        /// file's size, what the next snapshot would spare a replay.
        var bytesBefore: Int64 = 0
    }

    private struct State {
        var current: WALFile
        var inFlight = 0
        var closed = false
        /// Commits waiting for the gate to reopen.
        var waiting: [CheckedContinuation<Void, Never>] = []
        /// The roller, waiting for in-flight commits to finish.
        var drained: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>

    init(_ current: WALFile) { state = Mutex(State(current: current)) }

    var current: WALFile { state.withLock { $0.current } }

    /// Runs `body` with the WAL file to append to; the file cannot change until `body` returns.
    func withFile<T>(_ body: (WALFile) async throws -> T) async throws -> T {
        let file = await enter()
        defer { leave() }
        return try await body(file)
    }

    private func enter() async -> WALFile {
        while true {
            let file: WALFile? = state.withLock { s in
                guard !s.closed else { return nil }
                s.inFlight += 1
                return s.current
            }
            if let file { return file }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { s -> Bool in
                    if !s.closed { return true }
                    s.waiting.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    private func leave() {
        let roller = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.inFlight -= 1
            guard s.closed, s.inFlight == 0 else { return nil }
            defer { s.drained = nil }
            return s.drained
        }
        roller?.resume()
    }

    /// Closes the gate, waits until no commit is in flight, runs `switchFile` (which returns the
    /// new file and may capture the state: nothing changes it meanwhile), then reopens.
    func roll(_ switchFile: (WALFile) throws -> WALFile) async rethrows {
        await withCheckedContinuation { continuation in
            let drainedNow = state.withLock { s -> Bool in
                precondition(!s.closed, "one roll at a time")
                s.closed = true
                if s.inFlight == 0 { return true }
                s.drained = continuation
                return false
            }
            if drainedNow { continuation.resume() }
        }
        let waiting: [CheckedContinuation<Void, Never>]
        do {
            let next = try switchFile(current)
            waiting = state.withLock { s in
                s.current = next
                s.closed = false
                defer { s.waiting = [] }
                return s.waiting
            }
        } catch {
            let stuck = state.withLock { s in
                s.closed = false
                defer { s.waiting = [] }
                return s.waiting
            }
            stuck.forEach { $0.resume() }
            throw error
        }
        waiting.forEach { $0.resume() }
    }
}
