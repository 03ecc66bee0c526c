import Logging
import LogStore
import Synchronization

/// Logs, once per agent, that its segment store stopped taking writes because an fsync failed.
///
/// After a failed fsync the kernel may have dropped the unsynced pages, so the store refuses every
/// later write (fail-stop, docs/durability.md) and each one answers the brain with an error. The
/// operator needs one clear line saying so, not one per refused write.
final class StoreFailureLog: Sendable {
    private let logger: Logger
    private let logged = Mutex(false)

    init(logger: Logger) { self.logger = logger }

    /// Notes a write's error; the first fsync failure is logged.
    func note(_ error: any Error) {
        guard case LogStoreError.syncFailed = error else { return }
        guard logged.withLock({ first in defer { first = true }; return !first }) else { return }
        logger.critical(
            "the segment store failed to sync and refuses every write from now on; check the disk, then restart the agent",
            metadata: ["error": "\(error)"])
    }
}
