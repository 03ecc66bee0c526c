import Brain
import Dispatch
import Foundation
import Logging

/// SIGHUP re-reads the brain's TLS certificates and keys (when it has any); a failure keeps the
/// ones in use and is logged.
func reloadCertificatesOnHangup(_ brain: BrainService, logger: Logger) -> any DispatchSourceSignal {
    signal(SIGHUP, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
    source.setEventHandler {
        do {
            try brain.reloadCertificates()
            logger.notice("SIGHUP: TLS certificates read again")
        } catch {
            logger.error("SIGHUP: TLS certificates not reloaded, the previous ones stay in use", metadata: ["error": "\(error)"])
        }
    }
    source.resume()
    return source
}

/// Runs `body` until it returns or SIGINT/SIGTERM arrives; a signal cancels it for a clean stop.
/// Every acknowledged write is already durable, so if shutdown stalls the process exits anyway.
func runUntilTerminated(_ body: @escaping @Sendable () async throws -> Void) async throws {
    let task = Task { try await body() }
    var sources: [any DispatchSourceSignal] = []
    for signalNumber in [SIGINT, SIGTERM] {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        source.setEventHandler {
            task.cancel()
            DispatchQueue.global().asyncAfter(deadline: .now() + 5) { exit(0) }
        }
        source.resume()
        sources.append(source)
    }
    defer { sources.forEach { $0.cancel() } }
    do {
        try await task.value
    } catch is CancellationError {}
}
