#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

public enum LogStoreError: Error, Equatable, CustomStringConvertible {
    case io(operation: String, path: String, errno: Int32)
    case diskFull(path: String)
    /// An earlier fsync failed: the page cache may have dropped writes, so nothing more is acknowledged.
    case syncFailed(path: String, errno: Int32)
    case corruptRecord(path: String, offset: Int64, reason: String)
    /// Another process (pid when known) holds the directory's `DirectoryLock`.
    case directoryInUse(path: String, holderPID: Int32?)

    public var description: String {
        switch self {
        case .io(let op, let path, let e): return "\(op) failed on \(path): \(String(cString: strerror(e)))"
        case .diskFull(let path): return "no space left on device while appending to \(path)"
        case .syncFailed(let path, let e): return "fsync failed on \(path): \(String(cString: strerror(e))); refusing further writes"
        case .corruptRecord(let path, let offset, let reason): return "corrupt record in \(path) at offset \(offset): \(reason)"
        case .directoryInUse(let path, let pid):
            let holder = pid.map { "process \($0)" } ?? "another process"
            return "\(path) is in use by \(holder) (its \(DirectoryLock.fileName) file is locked); stop that process first"
        }
    }
}

/// Runs blocking file-system calls off the Swift concurrency pool, whose few threads must never block.
public enum BlockingIO {
    private static let queue = DispatchQueue(label: "sos.blocking-io", attributes: .concurrent)

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// Thin wrappers over POSIX calls that report errors as `LogStoreError`.
public enum FileIO {
    public static func pread(fd: Int32, path: String, offset: Int64, count: Int) throws -> [UInt8] {
        // Not zero-filled first: the read overwrites it, and only what was read is kept.
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = try pread(fd: fd, path: path, offset: offset, into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    /// Fills `buffer` from `offset` (less only at end of file); returns the bytes read.
    public static func pread(fd: Int32, path: String, offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw LogStoreError.io(operation: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Makes a directory's entries (new or renamed files) durable.
    public static func syncDirectory(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw LogStoreError.io(operation: "open directory", path: path, errno: errno) }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw LogStoreError.io(operation: "fsync directory", path: path, errno: errno) }
    }

    /// Creates `path` and any missing parents, each made durable by an fsync of the directory it
    /// was created in: without it a power cut soon after a first start could take a data directory,
    /// and everything acknowledged in it, away (the power-loss tests found this).
    public static func createDirectory(_ path: String) throws {
        var parent = path.hasPrefix("/") ? "/" : "."
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o755) == 0 {
                try syncDirectory(parent)
            } else if errno != EEXIST {
                throw LogStoreError.io(operation: "mkdir", path: partial, errno: errno)
            }
            parent = partial
        }
    }

    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw LogStoreError.io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Renames atomically (the caller syncs the directory to make it durable).
    public static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw LogStoreError.io(operation: "rename", path: from, errno: errno) }
    }

    public static func remove(_ path: String) throws {
        guard unlink(path) == 0 else { throw LogStoreError.io(operation: "unlink", path: path, errno: errno) }
    }
}
