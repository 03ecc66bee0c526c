#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Logging
import LogStore
import Synchronization

/// Runs the store's background work: compaction every `compactionIntervalSeconds`, a scrub every
/// `scrubIntervalSeconds`, and either at once when an operator (or a test) asks for it.
///
/// The store runs one such job at a time on its own queue; this loop only decides when.
final class MaintenanceScheduler: Sendable {
    enum Job: Sendable, Hashable { case compaction, scrub }

    private let store: SegmentStore
    private let configuration: AgentConfiguration
    private let logger: Logger
    private let requested = Mutex<Set<Job>>([])
    /// How often the loop wakes to look at the clock and at requests: the delay of an
    /// on-demand trigger.
    static let pollIntervalMs = 200

    init(store: SegmentStore, configuration: AgentConfiguration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    func request(_ job: Job) { _ = requested.withLock { $0.insert(job) } }

    func run() async {
        let clock = ContinuousClock()
        var nextCompaction = clock.now + .seconds(configuration.compactionIntervalSeconds)
        var nextScrub = clock.now + .seconds(configuration.scrubIntervalSeconds)
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Self.pollIntervalMs))
            let asked = requested.withLock { asked in
                defer { asked.removeAll() }
                return asked
            }
            if asked.contains(.compaction) || clock.now >= nextCompaction {
                await compact()
                nextCompaction = clock.now + .seconds(configuration.compactionIntervalSeconds)
            }
            if asked.contains(.scrub) || (configuration.scrubIntervalSeconds > 0 && clock.now >= nextScrub) {
                await scrub()
                nextScrub = clock.now + .seconds(configuration.scrubIntervalSeconds)
            }
        }
    }

    private func compact() async {
        do {
            let report = try await store.compact()
            for (segment, reason) in report.segmentsSkipped {
                logger.error("compaction skipped a segment", metadata: ["segment": "\(segment)", "reason": "\(reason)"])
            }
            logger.info(
                "compaction finished",
                metadata: [
                    "rewritten": "\(report.segmentsRewritten.count)", "deleted": "\(report.segmentsDeleted.count)",
                    "bytesReclaimed": "\(report.bytesReclaimed)",
                ])
        } catch {
            logger.error("compaction failed", metadata: ["error": "\(error)"])
        }
    }

    private func scrub() async {
        do {
            let report = try await store.scrub()
            for corruption in report.corruptions {
                logger.error("scrub found a corrupt record", metadata: ["detail": "\(corruption)"])
            }
            for key in report.corruptKeys {
                logger.error("chunk is corrupt and will not be served", metadata: ["chunk": "\(key)"])
            }
            logger.info(
                "scrub finished",
                metadata: [
                    "segments": "\(report.segmentsChecked)", "records": "\(report.recordsChecked)",
                    "bytes": "\(report.bytesChecked)", "corruptChunks": "\(report.corruptKeys.count)",
                ])
        } catch {
            logger.error("scrub failed", metadata: ["error": "\(error)"])
        }
    }
}

extension StorageAgent {
    /// SIGUSR1 asks every agent for a compaction pass now, SIGUSR2 for a scrub. Keep the returned
    /// sources alive for as long as the signals should be handled.
    public static func handleOperatorSignals(for agents: [StorageAgent]) -> [any DispatchSourceSignal] {
        let actions: [(Int32, @Sendable (StorageAgent) -> Void)] = [
            (SIGUSR1, { $0.requestCompaction() }), (SIGUSR2, { $0.requestScrub() }),
        ]
        return actions.map { signalNumber, action in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { agents.forEach(action) }
            source.resume()
            return source
        }
    }
}
