import ArgumentParser
import ClusterProtocol
import Foundation

/// `sos admin key ...`: the access keys kept in the brain's metadata, and what each may do.
struct AdminKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Create, import, list and delete S3 access keys, and allow or deny them buckets.",
        discussion: """
            A key may do only what it is allowed: read (GET, HEAD, listings), write (PUT, copy, uploads, DELETE) \
            and owner (delete the bucket) per bucket, and create buckets (which it then owns). The root key \
            (SOS_ROOT_ACCESS_KEY, or DIRECTORY/root-credentials) may do everything.
            """,
        subcommands: [Create.self, Import.self, List.self, Info.self, Delete.self, Allow.self, Deny.self])

    @ParentCommand var admin: AdminCommand

    func send(_ command: KeyCommand) async throws -> KeyReply {
        try await admin.connection.client.key(command)
    }

    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func describe(_ key: KeyInfo) {
        print("access key: \(key.accessKeyID)")
        print("name: \(key.name)")
        print("created: \(key.created)")
        print("may create buckets: \(key.createBucket ? "yes" : "no")")
        print(key.buckets.isEmpty ? "buckets: none" : "buckets:")
        for grant in key.buckets { print("  \(grant.bucket): \(grant.permissions.joined(separator: ","))") }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key with a random id and secret; the secret is printed this once.")
        @ParentCommand var key: AdminKeyCommand
        @Option(help: "A label for the key.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            var command = KeyCommand(action: .create)
            command.name = name
            let created = try await key.send(command).keys[0]
            if json { return try AdminKeyCommand.printJSON(created) }
            print("access key: \(created.accessKeyID)")
            print("secret key: \(created.secretKey ?? "")")
            print("The secret is not shown again. The key may do nothing until allowed: sos admin key allow \(created.accessKeyID) ...")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a key pair made elsewhere (when moving from another store).",
            discussion: "The secret comes from --secret-key or, better (it stays out of the process list), SOS_IMPORT_SECRET_KEY.")
        @ParentCommand var key: AdminKeyCommand
        @Option(help: "A label for the key.") var name: String
        @Option(help: "The access key id.") var accessKey: String
        @Option(help: "The secret key (or set SOS_IMPORT_SECRET_KEY).") var secretKey: String?

        func run() async throws {
            guard let secret = secretKey ?? ProcessInfo.processInfo.environment["SOS_IMPORT_SECRET_KEY"], !secret.isEmpty else {
                throw ValidationError("give the secret with --secret-key or SOS_IMPORT_SECRET_KEY")
            }
            var command = KeyCommand(action: .import)
            command.name = name
            command.accessKeyID = accessKey
            command.secretKey = secret
            let imported = try await key.send(command).keys[0]
            print("imported \(imported.accessKeyID) (\(imported.name))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every key (never their secrets).")
        @ParentCommand var key: AdminKeyCommand
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let keys = try await key.send(KeyCommand(action: .list)).keys
            if json { return try AdminKeyCommand.printJSON(keys) }
            let header = ["ACCESS KEY", "NAME", "CREATED", "CREATE-BUCKET", "BUCKETS"]
            let rows = keys.map {
                [$0.accessKeyID, $0.name, $0.created, $0.createBucket ? "yes" : "no",
                 $0.buckets.map { "\($0.bucket)(\($0.permissions.joined(separator: ",")))" }.joined(separator: " ")]
            }
            TextTable.print(header, rows)
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One key: its name, creation and permissions.")
        @ParentCommand var key: AdminKeyCommand
        @Argument(help: "The access key id.") var accessKey: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            var command = KeyCommand(action: .info)
            command.accessKeyID = accessKey
            let info = try await key.send(command).keys[0]
            if json { return try AdminKeyCommand.printJSON(info) }
            AdminKeyCommand.describe(info)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key: its requests are refused from now on.")
        @ParentCommand var key: AdminKeyCommand
        @Argument(help: "The access key id.") var accessKey: String

        func run() async throws {
            var command = KeyCommand(action: .delete)
            command.accessKeyID = accessKey
            _ = try await key.send(command)
            print("deleted \(accessKey)")
        }
    }

    struct Permissions: ParsableArguments {
        @Option(help: "The bucket.") var bucket: String?
        @Flag(help: "GET, HEAD and listings.") var read = false
        @Flag(help: "PUT, copy, multipart uploads, DELETE.") var write = false
        @Flag(help: "Deleting the bucket (and, later, its settings).") var owner = false
        @Flag(help: "Creating buckets (which the key then owns).") var createBucket = false

        func command(_ action: KeyCommand.Action, _ accessKey: String) throws -> KeyCommand {
            guard bucket != nil || createBucket else { throw ValidationError("name a --bucket, or --create-bucket") }
            var command = KeyCommand(action: action)
            command.accessKeyID = accessKey
            command.bucket = bucket
            command.read = read
            command.write = write
            command.owner = owner
            command.createBucket = createBucket
            return command
        }
    }

    struct Allow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Allow a key a bucket (--read, --write, --owner) or creating buckets (--create-bucket).")
        @ParentCommand var key: AdminKeyCommand
        @Argument(help: "The access key id.") var accessKey: String
        @OptionGroup var permissions: Permissions

        func run() async throws {
            AdminKeyCommand.describe(try await key.send(try permissions.command(.allow, accessKey)).keys[0])
        }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take permissions away: those named, or with only --bucket, all of that bucket's.")
        @ParentCommand var key: AdminKeyCommand
        @Argument(help: "The access key id.") var accessKey: String
        @OptionGroup var permissions: Permissions

        func run() async throws {
            AdminKeyCommand.describe(try await key.send(try permissions.command(.deny, accessKey)).keys[0])
        }
    }
}
