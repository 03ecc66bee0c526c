import Foundation
import LogStore
import NIOCore

/// Loads a snapshot file: its records are read, checked and decoded into mutations, which are
/// applied in file order. Restart is CPU-bound on this work, so for a large file it runs on two
/// threads: a producer reads and checks records, the caller applies them, and each batch is
/// decoded by whichever of the two is ahead (reading and checking alone cost about as much as
/// decoding; the producer decoding everything left the applier idle most of the time).
enum SnapshotLoader {
    /// One record of a snapshot as the producer read it.
    enum Item: Sendable {
        case header([UInt8])
        /// nil: the payload is not a mutation.
        case mutation(Mutation?)
        /// A walMutation record's payload, left for the applier to decode.
        case encodedMutation([UInt8])
        case end([UInt8], atFileEnd: Bool)
        case damaged(String)
    }

    /// Below this size the file is loaded on the calling thread (a thread costs more than it saves).
    static let pipelineBytesMin: Int64 = 4 << 20
    static let batchItems = 4096
    /// Batches decoded ahead of the applier: bounds the memory the producer may run ahead with.
    static let batchesAheadMax = 4

    static func load(_ scanner: RecordScanner, size: Int64, path: String, generation: UInt64) throws -> MetadataState {
        var applier = Applier(path: path, generation: generation)
        if size < pipelineBytesMin {
            var scanner = scanner
            try produce(&scanner, size: size, decodesHere: { true }) { try applier.take($0) }
        } else {
            let channel = BatchChannel<[Item]>(capacity: batchesAheadMax)
            let producer = UncheckedSendable(scanner)
            let finished = DispatchSemaphore(value: 0)
            Thread {
                var scanner = producer.value
                // Decoding here only while the applier has batches queued: otherwise it is waiting for this thread.
                produce(&scanner, size: size, decodesHere: { channel.queuedCount > 0 }) { channel.send($0) }
                channel.finish()
                finished.signal()
            }.start()
            defer {
                channel.cancel()  // unblocks a producer still sending after the applier stopped
                finished.wait()
            }
            while let batch = channel.receive(), try applier.take(batch) {}
        }
        guard let state = applier.result else {
            throw Snapshot.LoadError.invalid(path: path, reason: "no end record (incomplete)")
        }
        return state
    }

    /// Reads records in order, in batches, until the file ends or `emit` returns false; decodes
    /// the mutations of the batches for which `decodesHere` (asked as each batch starts) is true.
    private static func produce(
        _ scanner: inout RecordScanner, size: Int64, decodesHere: () -> Bool, emit: ([Item]) throws -> Bool
    ) rethrows {
        var batch: [Item] = []
        batch.reserveCapacity(batchItems)
        var decoding = decodesHere()
        while true {
            let event: RecordScanner.Event?
            do {
                event = try scanner.next()
            } catch {
                batch.append(.damaged("read error: \(error)"))
                _ = try emit(batch)
                return
            }
            guard let event else { break }
            guard case .record(_, let record) = event else {
                batch.append(.damaged("damaged record (\(event))"))
                break
            }
            switch record.type {
            case .snapshotHeader: batch.append(.header(record.payload))
            case .walMutation:
                batch.append(decoding ? .mutation(try? MutationCodec.decode(record.payload)) : .encodedMutation(record.payload))
            case .snapshotEnd: batch.append(.end(record.payload, atFileEnd: scanner.offset == size))
            default: batch.append(.damaged("unexpected \(record.type) record"))
            }
            if batch.count == batchItems {
                guard try emit(batch) else { return }
                batch.removeAll(keepingCapacity: true)
                decoding = decodesHere()
            }
        }
        if !batch.isEmpty { _ = try emit(batch) }
    }

    /// Applies items in file order, checking the header's version and generation and the end count.
    private struct Applier {
        let path: String
        let generation: UInt64
        var state = MetadataState()
        var count: UInt64 = 0
        var sawHeader = false
        /// The state, once the end record has been taken.
        var result: MetadataState?

        init(path: String, generation: UInt64) {
            self.path = path
            self.generation = generation
        }

        /// Applies `batch`; false once the end record has been taken.
        mutating func take(_ batch: [Item]) throws -> Bool {
            for item in batch {
                switch item {
                case .header(let payload):
                    var header = ByteBuffer(bytes: payload)
                    guard !sawHeader, header.readInteger(as: UInt8.self) == Snapshot.formatVersion,
                        header.readInteger(as: UInt64.self) == generation
                    else { throw invalid("bad header") }
                    sawHeader = true
                case .mutation(let mutation):
                    try apply(mutation)
                case .encodedMutation(let payload):
                    try apply(try? MutationCodec.decode(payload))
                case .end(let payload, let atFileEnd):
                    guard sawHeader else { throw invalid("unexpected snapshotEnd record") }
                    var end = ByteBuffer(bytes: payload)
                    guard end.readInteger(as: UInt64.self) == count, atFileEnd else {
                        throw invalid("record count or length mismatch")
                    }
                    result = state
                    return false
                case .damaged(let reason):
                    throw invalid(reason)
                }
            }
            return true
        }

        private mutating func apply(_ mutation: Mutation?) throws {
            guard sawHeader else { throw invalid("unexpected walMutation record") }
            guard let mutation, case .applied = state.apply(mutation) else { throw invalid("a mutation that does not apply") }
            count += 1
        }

        private func invalid(_ reason: String) -> Snapshot.LoadError { .invalid(path: path, reason: reason) }
    }
}

/// A bounded queue of batches from one producer thread to one consumer thread.
final class BatchChannel<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var batches: [Element] = []
    private var finished = false
    private var cancelled = false
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Batches sent and not yet received.
    var queuedCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return batches.count
    }

    /// Waits for room; false when the consumer has gone away.
    func send(_ batch: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while batches.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        batches.append(batch)
        condition.broadcast()
        return true
    }

    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next batch; nil once the producer has finished and everything was taken.
    func receive() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while batches.isEmpty && !finished { condition.wait() }
        guard !batches.isEmpty else { return nil }
        condition.broadcast()
        return batches.removeFirst()
    }
}

/// Hands a value that is not `Sendable` to exactly one other thread, which then owns it.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
