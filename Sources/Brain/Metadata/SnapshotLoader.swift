import Foundation
import LogStore
import NIOCore

/// Loads a snapshot file: its records are read, checked and decoded into mutations, which are
/// applied in file order, through a `RecordPipeline` (two threads for a large file). Reading and
/// checking alone cost about as much as decoding; when the producer decoded everything, the
/// applier was idle most of the time.
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

    static func load(_ scanner: RecordScanner, size: Int64, path: String, generation: UInt64) throws -> MetadataState {
        var applier = Applier(path: path, generation: generation)
        let source = UncheckedSendable(scanner)
        try RecordPipeline.run(
            threaded: size >= RecordPipeline.threadedBytesMin,
            produce: { decodesHere, emit in
                var scanner = source.value
                produce(&scanner, size: size, decodesHere: decodesHere, emit: emit)
            },
            consume: { try applier.take($0) })
        guard let state = applier.result else {
            throw Snapshot.LoadError.invalid(path: path, reason: "no end record (incomplete)")
        }
        return state
    }

    /// Reads records in order, in batches, until the file ends, damage, or `emit` returns false.
    private static func produce(_ scanner: inout RecordScanner, size: Int64, decodesHere: () -> Bool, emit: ([Item]) -> Bool) {
        RecordPipeline.readBatches(&scanner, decodesHere: decodesHere, emit: emit) { event, decoding, offsetAfter in
            switch event {
            case .failure(let error): return (.damaged("read error: \(error)"), true)
            case .success(.record(_, let record)):
                switch record.type {
                case .snapshotHeader: return (.header(record.payload), false)
                case .walMutation:
                    return (decoding ? .mutation(try? MutationCodec.decode(record.payload)) : .encodedMutation(record.payload), false)
                case .snapshotEnd: return (.end(record.payload, atFileEnd: offsetAfter == size), false)
                default: return (.damaged("unexpected \(record.type) record"), true)
                }
            case .success(let damage): return (.damaged("damaged record (\(damage))"), true)
            }
        }
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
                    guard !sawHeader, let version = header.readInteger(as: UInt8.self), Snapshot.formatVersionsReadable.contains(version),
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
