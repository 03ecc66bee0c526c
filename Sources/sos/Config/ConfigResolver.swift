import ArgumentParser
import Foundation

/// Gives each setting of a command that its command line leaves out a value from the environment
/// (`SOS_S3_ADDRESS` for `--s3-address`) or else from the config file (`--config FILE`, or
/// `SOS_CONFIG`): precedence flag > environment > file > default. It works on the arguments before
/// the parser sees them, so every command, option and check stays as the parser declares it.
struct ConfigResolver {
    enum Source: String {
        case flag, environment, file, `default`
    }

    /// A setting's effective value and where it came from (nil values: unset, no default).
    struct Resolved {
        var setting: CommandCatalog.Setting
        var values: [String]?
        var source: Source
    }

    static let configOption = "--config"
    static let configVariable = "SOS_CONFIG"

    let catalog: CommandCatalog
    let environment: [String: String]

    /// The file `--config FILE` (or `SOS_CONFIG`) names, and the arguments without that option
    /// unless the command declares it.
    func takeConfigFile(_ arguments: [String]) throws -> (file: ConfigFile?, arguments: [String]) {
        let keepsOption = catalog.declaresConfig(catalog.commandPath(of: arguments))
        var rest: [String] = []
        var path = environment[Self.configVariable].flatMap { $0.isEmpty ? nil : $0 }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                rest += arguments[index...]
                break
            }
            if argument == Self.configOption {
                guard index + 1 < arguments.count else { throw ConfigError("--config needs a file") }
                path = arguments[index + 1]
                if keepsOption { rest += arguments[index...(index + 1)] }
                index += 2
                continue
            }
            if argument.hasPrefix(Self.configOption + "=") {
                path = String(argument.dropFirst(Self.configOption.count + 1))
                if keepsOption { rest.append(argument) }
            } else {
                rest.append(argument)
            }
            index += 1
        }
        return (try path.map { try ConfigFile(path: $0) }, rest)
    }

    /// Every setting of the command `arguments` name, resolved.
    func resolve(_ arguments: [String], file: ConfigFile?) throws -> [Resolved] {
        if let file {
            let known = catalog.allSettingNames
            if let unknown = file.values.keys.sorted().first(where: { !known.contains($0) }) {
                throw ConfigError("\(file.path): unknown setting \"\(unknown)\" (keys are the long options, e.g. s3-address)")
            }
        }
        let given = Self.optionsGiven(in: arguments)
        return catalog.settings(of: catalog.commandPath(of: arguments)).map { setting in
            if given.contains(setting.name) { return Resolved(setting: setting, values: nil, source: .flag) }
            if let value = environment[setting.environmentName] {
                return Resolved(setting: setting, values: [Self.normalized(value, setting)], source: .environment)
            }
            if let values = file?.values[setting.name] {
                return Resolved(setting: setting, values: values.map { Self.normalized($0, setting) }, source: .file)
            }
            return Resolved(setting: setting, values: setting.defaultValue.map { [$0] }, source: .default)
        }
    }

    /// `arguments` with the settings the environment and the file give appended as options.
    func expand(_ arguments: [String]) throws -> [String] {
        let (file, arguments) = try takeConfigFile(arguments)
        var expanded = arguments
        var extra: [String] = []
        for resolved in try resolve(arguments, file: file) where resolved.source == .environment || resolved.source == .file {
            let origin = resolved.source == .file ? file!.path : resolved.setting.environmentName
            extra += try Self.options(resolved.setting, resolved.values ?? [], origin: origin)
        }
        // Before a `--`, which ends the options.
        expanded.insert(contentsOf: extra, at: expanded.firstIndex(of: "--") ?? expanded.count)
        return expanded
    }

    /// The long option names on a command line (before any `--`).
    static func optionsGiven(in arguments: [String]) -> Set<String> {
        var names: Set<String> = []
        for argument in arguments {
            if argument == "--" { break }
            guard argument.hasPrefix("--") else { continue }
            names.insert(String(argument.dropFirst(2).prefix { $0 != "=" }))
        }
        return names
    }

    /// The command-line options that give `setting` these values.
    static func options(_ setting: CommandCatalog.Setting, _ values: [String], origin: String) throws -> [String] {
        let option = "--" + setting.name
        guard values.count == 1 || setting.isRepeating else {
            throw ConfigError("\(origin): \(setting.name) takes one value, not a list")
        }
        if setting.isFlag {
            switch values[0].lowercased() {
            case "true", "1", "yes", "on": return [option]
            case "false", "0", "no", "off", "": return []
            default: throw ConfigError("\(origin): \(setting.name) is true or false, not \"\(values[0])\"")
            }
        }
        return values.flatMap { [option, normalized($0, setting)] }
    }

    /// `sigv2 = false` for an on/off option is `off`.
    static func normalized(_ value: String, _ setting: CommandCatalog.Setting) -> String {
        guard setting.allValues == ["on", "off"], value == "true" || value == "false" else { return value }
        return value == "true" ? "on" : "off"
    }
}
