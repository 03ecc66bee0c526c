import ArgumentParser
import Brain
import ClusterProtocol
import Foundation
import LogStore
import NIOCore
import NIOPosix

struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Ask a running brain about its cluster. Authenticates with the cluster cookie, like an agent.",
        subcommands: [
            Status.self, Agents.self, Drain.self, Remove.self, Rebalance.self, Backup.self, AdminKeyCommand.self, RepairWAL.self,
        ])

    @OptionGroup var connection: Connection

    struct Connection: ParsableArguments {
        @Option(help: "The brain's cluster address.")
        var brain = HostPort(host: "127.0.0.1", port: 9100)

        @Option(help: "Cluster cookie (or set SOS_COOKIE).")
        var cookie: String?

        @Option(help: "CA certificate (PEM) that signed the brain's cluster TLS certificate: connect over TLS and verify it.")
        var tlsCa: String?

        var client: AdminClient {
            get throws {
                AdminClient(
                    host: brain.host, port: brain.port, cookie: try CookieSource.resolve(cookie),
                    tls: try tlsCa.map { try ClusterTLS.client(caPath: $0, host: brain.host) })
            }
        }

        func fetchStatus() async throws -> (ClusterStatus, Data) {
            let data = try await client.status()
            return (try JSONDecoder().decode(ClusterStatus.self, from: data), data)
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move every chunk off an agent: it gets no new chunks and repair copies its chunks elsewhere.",
            discussion: "Watch `sos admin status`: the agent's referencedChunks reaches 0 when it is empty; then `remove` it.")
        @ParentCommand var admin: AdminCommand
        @Argument(help: "The agent's client id.") var agent: String

        func run() async throws {
            try await admin.connection.client.command("drain", agent)
            print("draining \(agent)")
        }
    }

    struct RepairWAL: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "repair-wal",
            abstract: "Offline: cut a stopped brain's metadata log at its first damaged record, keeping a backup.",
            discussion: "Run it when the brain refuses to start over a corrupt WAL record. Mutations after the cut are lost.")
        @Option(help: "The brain's --directory.") var directory: String

        func run() async throws {
            let lock = try DirectoryLock(directory: directory, create: false)
            print(try MetadataStore.repairWAL(directory: directory + "/metadata"))
            withExtendedLifetime(lock) {}
        }
    }

    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Have the brain write a consistent copy of its metadata: a brain directory to restore from.",
            discussion: """
                DIR is a path on the brain's machine (a relative one is made absolute here); its metadata/ must be \
                new or empty. It holds every bucket, object, version, upload and access key acknowledged before \
                the backup, as one snapshot. Restore: stop the brain and start it with `--directory DIR` (or put \
                DIR in place of `sos server`'s brain/). Object data stays on the agents: keep them.
                """)
        @ParentCommand var admin: AdminCommand
        @Option(help: "Directory to write the backup to (on the brain's machine).") var to: String

        func run() async throws {
            let path = to.hasPrefix("/") ? to : FileManager.default.currentDirectoryPath + "/" + to
            try await admin.connection.client.command("backup", path)
            print("metadata backed up to \(path)")
        }
    }

    struct Rebalance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move chunk replicas from the fullest agents to the emptiest, in the background.",
            discussion: "Progress shows under `rebalance` in `sos admin status --json`.")
        @ParentCommand var admin: AdminCommand

        func run() async throws {
            try await admin.connection.client.command("rebalance", "")
            print("rebalance started")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget an agent that holds no referenced chunks (drain it first).")
        @ParentCommand var admin: AdminCommand
        @Argument(help: "The agent's client id.") var agent: String

        func run() async throws {
            try await admin.connection.client.command("remove", agent)
            print("removed \(agent)")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Agents, their states and space, and how many chunks lack replicas.")
        @ParentCommand var admin: AdminCommand

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            let (status, json) = try await admin.connection.fetchStatus()
            if self.json { return print(String(decoding: json, as: UTF8.self)) }
            print("replication factor: \(status.replication)")
            print("chunks: \(status.chunks)  under-replicated: \(status.underReplicatedChunks)  unavailable: \(status.unavailableChunks)")
            print("repair: \(status.repair.pendingChunks) pending, \(status.repair.repairedChunks) repaired")
            print("rebalance: \(status.rebalance.running ? "running" : "idle"), \(status.rebalance.movedChunks) chunks moved")
            print("")
            AgentTable.print(status.agents)
        }
    }

    struct Agents: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every agent the cluster knows, one per line.")
        @ParentCommand var admin: AdminCommand

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            let (status, _) = try await admin.connection.fetchStatus()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                return print(String(decoding: try encoder.encode(status.agents), as: UTF8.self))
            }
            AgentTable.print(status.agents)
        }
    }
}

enum AgentTable {
    static func print(_ agents: [ClusterStatus.Agent]) {
        let header = ["AGENT", "STATE", "ADDRESS", "ZONE", "CAPACITY", "USED", "FREE", "CHUNKS", "REFERENCED"]
        let rows = agents.map {
            [$0.id, $0.state.rawValue + ($0.draining ? " (draining)" : ""), $0.address, $0.zone, bytes($0.capacityBytes),
             bytes($0.usedBytes), bytes($0.freeBytes), String($0.chunkCount), String($0.referencedChunks)]
        }
        TextTable.print(header, rows)
    }

    static func bytes(_ value: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var amount = Double(value), unit = 0
        while amount >= 1024 && unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f %@", amount, units[unit])
    }
}

/// Columns padded to their widest cell, two spaces apart, for the admin tool's listings.
enum TextTable {
    static func print(_ header: [String], _ rows: [[String]]) {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
        for row in [header] + rows {
            Swift.print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
    }
}

/// The admin side of the cluster protocol: the agent handshake with the admin role, then questions.
struct AdminClient {
    let host: String
    let port: Int
    let cookie: String
    let tls: ClusterTLS?

    enum Failure: Error, CustomStringConvertible {
        case refused(String)
        case brainNotAuthenticated
        case unexpected(String)

        var description: String {
            switch self {
            case .refused(let reason): return "the brain refused this admin connection: \(reason)"
            case .brainNotAuthenticated: return "the brain did not prove it knows the cluster cookie"
            case .unexpected(let what): return "unexpected answer from the brain: \(what)"
            }
        }
    }

    func status() async throws -> Data {
        try await session { frames, outbound in
            try await outbound.write(ClusterFrame(type: .statusRequest, requestID: 1))
            guard let reply = try await frames.next(), reply.type == .statusReply else {
                throw Failure.unexpected("no status reply")
            }
            return Data(reply.body.readableBytesView)
        }
    }

    func command(_ command: String, _ argument: String) async throws {
        try await session { frames, outbound in
            try await outbound.write(AdminCommandRequest(command: command, argument: argument).frame(requestID: 1))
            guard let reply = try await frames.next() else { throw Failure.unexpected("no reply") }
            if reply.type == .error { throw Failure.refused(try ErrorReply(reply).message) }
            guard reply.type == .ok else { throw Failure.unexpected("\(reply.type)") }
        }
    }

    func key(_ command: KeyCommand) async throws -> KeyReply {
        try await session { frames, outbound in
            try await outbound.write(try command.frame(requestID: 1))
            guard let reply = try await frames.next() else { throw Failure.unexpected("no reply") }
            if reply.type == .error { throw Failure.refused(try ErrorReply(reply).message) }
            return try KeyReply(reply)
        }
    }

    /// Connects, authenticates with the admin role, and runs `body` on the open connection.
    private func session<T: Sendable>(
        _ body: (inout NIOAsyncChannelInboundStream<ClusterFrame>.AsyncIterator, NIOAsyncChannelOutboundWriter<ClusterFrame>)
            async throws -> T
    ) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try ClusterChannel.wrap(channel, tls: tls) }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var frames = inbound.makeAsyncIterator()
            guard let first = try await frames.next() else { throw Failure.unexpected("closed before the challenge") }
            if first.type == .refused { throw Failure.refused(try Refused(first).reason) }
            let challenge = try Challenge(first)
            let nonce = ClusterAuth.makeNonce()
            let clientID = "admin"
            let proof = ClusterAuth.agentProof(cookie: cookie, brainNonce: challenge.brainNonce, agentNonce: nonce, clientID: clientID)
            try await outbound.write(
                Hello(clientID: clientID, agentNonce: nonce, proof: proof, capacityBytes: 0, freeBytes: 0, role: .admin).frame())
            guard let answer = try await frames.next() else { throw Failure.unexpected("closed during the handshake") }
            if answer.type == .refused { throw Failure.refused(try Refused(answer).reason) }
            let expected = ClusterAuth.brainProof(cookie: cookie, brainNonce: challenge.brainNonce, agentNonce: nonce)
            guard ClusterAuth.proofsMatch(try Welcome(answer).proof, expected) else { throw Failure.brainNotAuthenticated }
            return try await body(&frames, outbound)
        }
    }
}
