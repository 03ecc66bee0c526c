#if canImport(Glibc)
import Glibc
#endif
import LogStore

/// Hint files and segments come from disk, where anything can happen. The first byte picks the
/// decoder: even, the hint decoder alone (with bit 1 set, after fixing up the checksum trailer) (whatever decodes must re-encode to the same bytes);
/// odd, a whole store recovery over a directory holding the rest of the input as both a sealed
/// segment and its hint, and as the active segment. Neither may crash, hang or allocate without bound.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    var bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] & 1 == 0 {
        if data[0] & 2 != 0, bytes.count >= 8 {
            // Seal the input with a correct checksum so mutations reach the entry checks behind it.
            let checksum = Checksum.xxh3(bytes, to: bytes.count - 8)
            for i in 0..<8 { bytes[bytes.count - 8 + i] = UInt8(truncatingIfNeeded: checksum >> (8 * UInt64(i))) }
        }
        if let hint = try? HintFile.Decoded(bytes) {
            precondition(HintFile.encode(segment: hint.segment, segmentByteCount: hint.segmentByteCount, entries: hint.entries) == bytes)
        }
        return 0
    }
    let directory = scratchDirectory
    for name in (try? FileIO.listDirectory(directory)) ?? [] { unlink(directory + "/" + name) }
    write(bytes, to: directory + "/segment-00000001.sos")
    write(bytes, to: directory + "/segment-00000001.hint")
    write(bytes, to: directory + "/segment-00000002.sos")
    if let store = try? SegmentStore(configuration: SegmentStoreConfiguration(directory: directory, segmentBytesMax: 1 << 20)) {
        precondition(store.recordCount <= bytes.count / 40 + 1, "more records than the bytes can hold")
    }
    return 0
}

let scratchDirectory: String = {
    var template = Array("/tmp/sos-fuzz-recovery-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}()

func write(_ bytes: [UInt8], to path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0)
    _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    close(fd)
}
