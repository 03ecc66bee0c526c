import Foundation
import LogStore

/// Files that hold a secret (the root credentials, the cluster cookie): created with mode 0600 and
/// made durable, and refused at start when anyone but their owner may read them.
public enum SecretFile {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// The file's text; throws when it cannot be read or its mode lets group or others in.
    public static func read(_ path: String) throws -> String {
        try checkPrivate(path)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Problem(description: "cannot read \(path) as UTF-8 text")
        }
        return text
    }

    /// Throws when `path` does not exist or its mode lets group or others in.
    public static func checkPrivate(_ path: String) throws {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw Problem(description: "cannot read \(path): it does not exist or is not accessible")
        }
        if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw Problem(
                description: "\(path) holds a secret but is readable by others (mode \(String(mode, radix: 8))); run: chmod 600 \(path)")
        }
    }

    /// Creates `path` (which must not exist) with mode 0600, writes `text`, and syncs the file and its directory.
    public static func create(_ path: String, text: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Problem(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            throw Problem(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        try FileIO.syncDirectory((path as NSString).deletingLastPathComponent)
    }
}
