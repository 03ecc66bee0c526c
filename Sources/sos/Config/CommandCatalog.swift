import ArgumentParser
import Foundation

/// Every command's settings (its long options and flags), read off the argument parser's own
/// description of the commands: names, defaults and help live once, in the option declarations.
struct CommandCatalog {
    /// One option or flag a config file key or an `SOS_` variable can set.
    struct Setting: Equatable {
        /// The long name, without dashes: the config key (`s3-address`).
        var name: String
        var isFlag: Bool
        var isRepeating: Bool
        /// What the command uses when nothing sets it, as `--help` shows it.
        var defaultValue: String?
        /// The values an option takes, when it names them (`on`, `off`).
        var allValues: [String]?
        var abstract: String

        /// `SOS_S3_ADDRESS` for `s3-address`.
        var environmentName: String { "SOS_" + name.uppercased().replacingOccurrences(of: "-", with: "_") }

        /// Whether secrets could be its value: `sos config print` masks them.
        var isSecret: Bool { ["cookie", "token", "secret", "password"].contains { name.contains($0) } }
    }

    /// Settings no file or variable gives: `--config` itself and the parser's own.
    static let unconfigurable: Set<String> = ["config", "help", "version", "experimental-dump-help"]

    private struct CommandInfo: Decodable {
        var commandName: String
        var subcommands: [CommandInfo]?
        var arguments: [ArgumentInfo]?
    }

    private struct ArgumentInfo: Decodable {
        struct Name: Decodable {
            var kind: String
            var name: String
        }
        var kind: String
        var names: [Name]?
        var isRepeating: Bool
        var defaultValue: String?
        var allValues: [String]?
        var abstract: String?
    }

    private struct ToolInfo: Decodable { var command: CommandInfo }

    private let root: CommandInfo

    init(_ command: any ParsableCommand.Type) throws {
        root = try JSONDecoder().decode(ToolInfo.self, from: Data(command._dumpHelp().utf8)).command
    }

    /// The subcommand path that `arguments` start with (`["admin", "key", "create"]`).
    func commandPath(of arguments: [String]) -> [String] {
        var path: [String] = []
        var command = root
        for argument in arguments {
            guard let next = command.subcommands?.first(where: { $0.commandName == argument }) else { break }
            path.append(argument)
            command = next
        }
        return path
    }

    /// The settings of the commands along `path` (a subcommand's and its parents', which parse together).
    func settings(of path: [String]) -> [Setting] {
        var command = root
        var found = Self.settings(in: command)
        for name in path {
            guard let next = command.subcommands?.first(where: { $0.commandName == name }) else { break }
            command = next
            found += Self.settings(in: command)
        }
        return found
    }

    /// Whether the commands along `path` declare `--config` themselves (to show it in their help).
    func declaresConfig(_ path: [String]) -> Bool {
        var command = root
        var declared = Self.declares(command, "config")
        for name in path {
            guard let next = command.subcommands?.first(where: { $0.commandName == name }) else { break }
            command = next
            declared = declared || Self.declares(command, "config")
        }
        return declared
    }

    private static func declares(_ command: CommandInfo, _ long: String) -> Bool {
        (command.arguments ?? []).contains { $0.names?.contains { $0.kind == "long" && $0.name == long } ?? false }
    }

    /// Every setting name of every command: a config key outside it is a mistake.
    var allSettingNames: Set<String> {
        var names: Set<String> = []
        var queue = [root]
        while let command = queue.popLast() {
            names.formUnion(Self.settings(in: command).map(\.name))
            queue += command.subcommands ?? []
        }
        return names
    }

    private static func settings(in command: CommandInfo) -> [Setting] {
        (command.arguments ?? []).compactMap { argument in
            guard argument.kind == "option" || argument.kind == "flag",
                let long = argument.names?.first(where: { $0.kind == "long" })?.name,
                !unconfigurable.contains(long)
            else { return nil }
            return Setting(
                name: long, isFlag: argument.kind == "flag", isRepeating: argument.isRepeating,
                defaultValue: argument.defaultValue, allValues: argument.allValues, abstract: argument.abstract ?? "")
        }
    }
}
