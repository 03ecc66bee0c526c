import ArgumentParser

@main
struct SOS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sos",
        abstract: "SOS: a distributed S3-compatible object store.",
        discussion: """
            Run `sos server` for a one-process store (a brain and two storage agents over one data
            directory), or `sos brain` plus one `sos storage-agent` per disk or machine for a cluster.
            """,
        subcommands: [ServerCommand.self, BrainCommand.self, StorageAgentCommand.self, AdminCommand.self, BenchCommand.self])
}
