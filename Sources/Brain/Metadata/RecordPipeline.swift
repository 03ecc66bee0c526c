import Foundation
import LogStore

/// Reads a file's records on a producer thread while the calling thread applies them, in batches
/// in file order: restart (snapshot load, WAL replay) is CPU-bound on both halves. Each batch is
/// decoded by whichever side is ahead: `produce` is told whether the consumer has batches queued.
enum RecordPipeline {
    /// Below this size a file is read on the calling thread (a thread costs more than it saves).
    static let threadedBytesMin: Int64 = 4 << 20
    static let batchItems = 4096
    /// Batches read ahead of the consumer: bounds the memory the producer may run ahead with.
    static let batchesAheadMax = 4

    /// Runs `produce`, which passes batches to `emit` until the file ends or `emit` returns false,
    /// and `consume` for each batch, in order, until it returns false or throws (which `run`
    /// rethrows). With `threaded`, `produce` runs on its own thread, joined before `run` returns.
    static func run<Item: Sendable>(
        threaded: Bool,
        produce: @escaping (_ decodesHere: () -> Bool, _ emit: ([Item]) -> Bool) -> Void,
        consume: ([Item]) throws -> Bool
    ) throws {
        guard threaded else {
            var failure: (any Error)?
            produce({ true }) { batch in
                guard failure == nil else { return false }
                do { return try consume(batch) } catch {
                    failure = error
                    return false
                }
            }
            if let failure { throw failure }
            return
        }
        let channel = BatchChannel<[Item]>(capacity: batchesAheadMax)
        let producer = UncheckedSendable(produce)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            // Decoding there only while the consumer has batches queued: otherwise it waits for this thread.
            producer.value({ channel.queuedCount > 0 }) { channel.send($0) }
            channel.finish()
            finished.signal()
        }.start()
        defer {
            channel.cancel()  // unblocks a producer still sending after the consumer stopped
            finished.wait()
        }
        while let batch = channel.receive(), try consume(batch) {}
    }

    /// A producer's loop: makes an item of each scanner event (or read failure) with `item`, which
    /// is told whether this batch is decoded here and the offset after the event, and passes them
    /// to `emit` in batches, until the file ends, an item is the last (damage), or `emit` says stop.
    static func readBatches<Item>(
        _ scanner: inout RecordScanner, decodesHere: () -> Bool, emit: ([Item]) -> Bool,
        item: (Result<RecordScanner.Event, any Error>, _ decoding: Bool, _ offsetAfter: Int64) -> (item: Item, isLast: Bool)
    ) {
        var batch: [Item] = []
        batch.reserveCapacity(batchItems)
        var decoding = decodesHere()
        while true {
            let event: Result<RecordScanner.Event, any Error>
            do {
                guard let next = try scanner.next() else { break }
                event = .success(next)
            } catch {
                event = .failure(error)
            }
            let (next, isLast) = item(event, decoding, scanner.offset)
            batch.append(next)
            if isLast { break }
            if batch.count == batchItems {
                guard emit(batch) else { return }
                batch.removeAll(keepingCapacity: true)
                decoding = decodesHere()
            }
        }
        if !batch.isEmpty { _ = emit(batch) }
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
