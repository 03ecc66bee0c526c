import Agent
import ArgumentParser
import LogStore

extension RecordCompression: ExpressibleByArgument {}

/// The storage engine's settings, shared by `sos storage-agent` and `sos server` (scripts rely on
/// these names).
struct StorageOptions: ParsableArguments {
    @Option(help: "Size at which a segment file is sealed and a new one started (e.g. 8MiB; at most 4GiB).")
    var segmentSize = ByteSize(bytes: 1 << 30)

    @Option(help: "Compress chunk payloads: lz4 or none. A chunk is stored compressed only when that saves space.")
    var compression: RecordCompression = .none

    @Option(help: ArgumentHelp("Share of a sealed segment's bytes that must be dead before it is compacted.", valueName: "fraction"))
    var compactionThreshold: Double = 0.5

    @Option(help: ArgumentHelp("How often to look for segments to compact (SIGUSR1 compacts now).", valueName: "seconds"))
    var compactionInterval: Double = 60

    @Option(help: ArgumentHelp("How often to verify every record's checksum; 0 turns it off (SIGUSR2 scrubs now).", valueName: "seconds"))
    var scrubInterval: Double = 24 * 3600

    @Option(
        help: ArgumentHelp(
            "Group commit window: wait up to this long for --commit-batch appends to share an fsync; 0 syncs at once.",
            discussion: "Either way an append is acknowledged only once it is durable.", valueName: "microseconds"))
    var commitWindow = 0

    @Option(help: ArgumentHelp("Appends that end a commit window early.", valueName: "appends"))
    var commitBatch = 64

    func validate() throws {
        guard (SegmentStoreConfiguration.segmentBytesMin...SegmentStoreConfiguration.segmentBytesLimit).contains(segmentSize.bytes)
        else { throw ValidationError("--segment-size must be between 64KiB and 4GiB") }
        guard (0...1).contains(compactionThreshold) else { throw ValidationError("--compaction-threshold must be between 0 and 1") }
        guard compactionInterval > 0 else { throw ValidationError("--compaction-interval must be more than 0 seconds") }
        guard scrubInterval >= 0 else { throw ValidationError("--scrub-interval must be 0 (off) or more seconds") }
        guard (0...CommitPolicy.windowMicrosecondsMax).contains(commitWindow) else {
            throw ValidationError("--commit-window must be between 0 and \(CommitPolicy.windowMicrosecondsMax) microseconds")
        }
        guard commitBatch >= 1 else { throw ValidationError("--commit-batch must be at least 1") }
    }

    func apply(to configuration: inout AgentConfiguration) {
        configuration.compression = compression
        configuration.compactionDeadFractionMin = compactionThreshold
        configuration.compactionIntervalSeconds = compactionInterval
        configuration.scrubIntervalSeconds = scrubInterval
        configuration.commitPolicy = commitWindow == 0 ? .everyWrite : .window(microseconds: commitWindow, appendsMax: commitBatch)
    }
}
