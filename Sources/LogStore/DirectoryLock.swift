#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps a data directory to one process: an exclusive `flock` on its `LOCK` file, held while
/// this object lives. Two brains appending to one WAL, or two agents to one segment, would
/// interleave records and corrupt both; LevelDB's LOCK file guards its directory the same way.
/// The kernel drops the lock when the process dies, however it dies, so a crash never leaves
/// a directory locked. The file holds the holder's pid, only to name it in the refusal.
public final class DirectoryLock: Sendable {
    public static let fileName = "LOCK"
    public let path: String
    private let fd: Int32

    /// Locks `directory` (creating it when missing and `create`); throws `LogStoreError.directoryInUse`
    /// when another open lock (another process, or another `DirectoryLock` here) holds it.
    public init(directory: String, create: Bool = true) throws {
        if create { try FileIO.createDirectory(directory) }
        path = directory + "/" + Self.fileName
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LogStoreError.io(operation: "open", path: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            let holder = Self.holderPID(fd)
            close(fd)
            if error == EWOULDBLOCK { throw LogStoreError.directoryInUse(path: directory, holderPID: holder) }
            throw LogStoreError.io(operation: "flock", path: path, errno: error)
        }
        // Best effort: the pid only improves the message another process prints (a full disk
        // must not keep the store from starting).
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
    }

    deinit { close(fd) }

    private static func holderPID(_ fd: Int32) -> Int32? {
        guard let bytes = try? FileIO.pread(fd: fd, path: "", offset: 0, count: 16) else { return nil }
        return Int32(String(decoding: bytes.prefix(while: { $0 != UInt8(ascii: "\n") }), as: UTF8.self))
    }
}
