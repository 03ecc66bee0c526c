import Foundation
import XCTest

@testable import LogStore

/// One process per data directory: the second lock is refused, naming the holder, until the first goes.
final class DirectoryLockTests: XCTestCase {
    func testASecondLockIsRefusedUntilTheFirstIsReleased() throws {
        let directory = NSTemporaryDirectory() + "lock-\(UUID().uuidString)/data"
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        var first: DirectoryLock? = try DirectoryLock(directory: directory)
        XCTAssertTrue(FileIO.fileExists(directory + "/" + DirectoryLock.fileName))
        XCTAssertThrowsError(try DirectoryLock(directory: directory)) { error in
            XCTAssertEqual(error as? LogStoreError, .directoryInUse(path: directory, holderPID: getpid()))
            XCTAssertTrue("\(error)".contains("in use by process \(getpid())"), "\(error)")
        }
        withExtendedLifetime(first) {}
        first = nil
        let second = try DirectoryLock(directory: directory)
        withExtendedLifetime(second) {}
    }

    func testAMissingDirectoryIsNotCreatedWhenAskedNotTo() throws {
        let directory = NSTemporaryDirectory() + "lock-\(UUID().uuidString)"
        XCTAssertThrowsError(try DirectoryLock(directory: directory, create: false)) { error in
            guard case .io(let operation, _, let code) = error as? LogStoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(operation, "open")
            XCTAssertEqual(code, ENOENT)
        }
        XCTAssertFalse(FileIO.fileExists(directory))
    }
}
