import ArgumentParser
import Foundation

@main
struct SOS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sos",
        abstract: "SOS: a distributed S3-compatible object store.",
        discussion: """
            Run `sos server` for a one-process store (a brain and two storage agents over one data
            directory), or `sos brain` plus one `sos storage-agent` per disk or machine for a cluster.
            Every option can also come from the environment (SOS_S3_ADDRESS for --s3-address) or from a
            TOML file given with --config FILE (s3-address = "..."): see `sos config print --help`.
            """,
        subcommands: [
            ServerCommand.self, BrainCommand.self, StorageAgentCommand.self, AdminCommand.self, BenchCommand.self,
            ConfigCommand.self,
        ])

    /// Parses the command line once the environment's and the config file's settings are added to it.
    static func main() async {
        let arguments: [String]
        do {
            let resolver = ConfigResolver(catalog: try CommandCatalog(SOS.self), environment: ProcessInfo.processInfo.environment)
            arguments = try resolver.expand(Array(CommandLine.arguments.dropFirst()))
        } catch {
            exit(withError: error)
        }
        await main(arguments)
    }
}
