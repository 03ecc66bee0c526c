import ArgumentParser
import Foundation
import LogStore

#if canImport(Glibc)
import Glibc
#endif

/// `sos bench`: benchmarks that report each figure next to a baseline measured in the same run on
/// the same disk. One subcommand per component; add new ones to `subcommands`.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Load an S3 endpoint (put, get, ...), or measure a component against a baseline.",
        subcommands: [
            BenchPutCommand.self, BenchGetCommand.self, BenchHeadCommand.self, BenchDeleteCommand.self, BenchListCommand.self,
            BenchMixedCommand.self, BenchMultipartCommand.self, BenchLogStoreCommand.self, BenchMetadataCommand.self,
            BenchAuthCommand.self,
        ])
}

/// One measured figure. `target` applies to `ratio` when there is a baseline, else to `value`.
struct BenchResult: Codable {
    enum Better: String, Codable { case higher, lower }
    var name: String
    var value: Double
    var unit: String
    var baseline: Double?
    var ratio: Double?
    var target: Double
    var better: Better

    init(name: String, value: Double, unit: String, baseline: Double?, target: Double, better: Better) {
        self.name = name
        self.value = value
        self.unit = unit
        self.baseline = baseline
        self.ratio = baseline.map { $0 == 0 ? 0 : value / $0 }
        self.target = target
        self.better = better
    }

    var met: Bool {
        let measured = ratio ?? value
        return better == .higher ? measured >= target : measured <= target
    }

    // Always emit every key, `null` where there is no baseline.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(value, forKey: .value)
        try c.encode(unit, forKey: .unit)
        try c.encode(baseline, forKey: .baseline)
        try c.encode(ratio, forKey: .ratio)
        try c.encode(target, forKey: .target)
        try c.encode(better, forKey: .better)
    }
}

enum BenchOutput {
    static func print(_ results: [BenchResult], json: Bool) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Swift.print(String(decoding: try encoder.encode(results), as: UTF8.self))
            return
        }
        func f(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "-" }
        Swift.print("name".padding(toLength: 40, withPad: " ", startingAt: 0), "value", "unit", "baseline", "ratio", "target", "met")
        for r in results {
            Swift.print(
                r.name.padding(toLength: 40, withPad: " ", startingAt: 0), f(r.value), r.unit, f(r.baseline), f(r.ratio),
                (r.better == .higher ? ">= " : "<= ") + f(r.target), r.met ? "yes" : "NO")
        }
    }
}

/// Scratch directory for one benchmark run, removed afterwards.
struct BenchDirectory {
    let path: String

    init(parent: String) throws {
        path = parent + "/sos-bench-\(UUID().uuidString)"
        try FileIO.createDirectory(path)
    }

    func sub(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

enum Stopwatch {
    static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try await body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
