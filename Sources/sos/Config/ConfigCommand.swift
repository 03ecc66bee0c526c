import ArgumentParser
import Foundation

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Show the settings a command would run with.", subcommands: [Print.self])

    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a command's effective settings as TOML, each with where it comes from; secrets masked.",
            discussion: """
                Every option of every command can also come from a TOML file (--config FILE, or SOS_CONFIG), with the \
                option's long name as its key (s3-address = "127.0.0.1:9000"), and from an environment variable \
                (SOS_S3_ADDRESS). Precedence: command line > environment > file > default.
                """)

        @Option(help: "The config file (TOML) to read; also SOS_CONFIG.")
        var config: String?

        @Argument(help: "The command whose settings to print, e.g. server, brain, storage-agent, admin.")
        var command: [String] = ["server"]

        func run() throws {
            let catalog = try CommandCatalog(SOS.self)
            let path = catalog.commandPath(of: command)
            guard path == command else { throw ConfigError("no command \"\(command.joined(separator: " "))\"") }
            var environment = ProcessInfo.processInfo.environment
            if let config { environment[ConfigResolver.configVariable] = config }
            let resolver = ConfigResolver(catalog: catalog, environment: environment)
            let (file, _) = try resolver.takeConfigFile([])
            print("# sos \(command.joined(separator: " ")): effective settings" + (file.map { " (config file \($0.path))" } ?? ""))
            for resolved in try resolver.resolve(command, file: file) {
                print(Self.line(resolved))
            }
        }

        static func line(_ resolved: ConfigResolver.Resolved) -> String {
            let setting = resolved.setting
            guard let values = resolved.values, !values.isEmpty else { return "# \(setting.name) is not set" }
            let shown = setting.isSecret ? ["********"] : values
            let rendered = shown.map { tomlValue($0, flag: setting.isFlag) }
            let value = setting.isRepeating ? "[" + rendered.joined(separator: ", ") + "]" : rendered[0]
            return "\(setting.name) = \(value)  # \(resolved.source.rawValue)"
        }

        /// A number or boolean as itself, anything else as a TOML string.
        static func tomlValue(_ text: String, flag: Bool) -> String {
            if flag || text == "true" || text == "false" { return ["true", "1", "yes", "on"].contains(text.lowercased()) ? "true" : "false" }
            if Int(text) != nil || Double(text)?.isFinite == true { return text }
            var escaped = ""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": escaped += "\\\""
                case "\\": escaped += "\\\\"
                case "\n": escaped += "\\n"
                case "\t": escaped += "\\t"
                default:
                    if scalar.value < 0x20 || scalar.value == 0x7F {
                        escaped += String(format: "\\u%04X", scalar.value)
                    } else {
                        escaped.unicodeScalars.append(scalar)
                    }
                }
            }
            return "\"" + escaped + "\""
        }
    }
}
