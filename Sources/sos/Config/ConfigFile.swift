import ArgumentParser
import Foundation
import TOMLKit

/// A TOML config file (`--config FILE`): top-level keys named like the long options, e.g.
///
///     s3-address = "127.0.0.1:9000"
///     directory = "/srv/sos"
///     replication = 2
///     insecure-no-auth = false
///
/// Each value becomes the text the option would be given on the command line.
struct ConfigFile {
    let path: String
    /// Key to the option's values (several for a repeating option given an array).
    let values: [String: [String]]

    init(path: String) throws {
        self.path = path
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError("cannot read the config file \(path): \(error.localizedDescription)")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError("\(path), line \(error.source.begin.line): \(error.description)")
        }
        var values: [String: [String]] = [:]
        for (key, value) in table {
            if let array = value.array {
                values[key] = try array.map { try Self.text(of: $0, key: key, path: path) }
            } else {
                values[key] = [try Self.text(of: value, key: key, path: path)]
            }
        }
        self.values = values
    }

    private static func text(of value: any TOMLValueConvertible, key: String, path: String) throws -> String {
        if let string = value.string { return string }
        if let int = value.int { return String(int) }
        if let double = value.double { return String(double) }
        if let bool = value.bool { return bool ? "true" : "false" }
        throw ConfigError("\(path): \(key) must be a string, a number or true/false (settings are top-level keys)")
    }
}

/// A config file or setting that cannot be used; the message names the file or variable.
struct ConfigError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
