@preconcurrency import Dispatch
import Glibc
import Synchronization

/// The S3 request log: one line per request, in swift-log's line format, on standard error with the
/// brain's other log lines. Lines are gathered and written with one system call at most every
/// `flushInterval` (or once `flushBytes` are waiting): swift-log's stream handler writes each line
/// unbuffered, which at ten thousand requests a second cost a quarter of the brain's CPU. A crash
/// loses at most the last interval's lines; warnings and errors go through swift-log, unbuffered.
final class RequestLogWriter: Sendable {
    static let flushBytes = 64 << 10
    static let flushInterval = DispatchTimeInterval.milliseconds(100)

    private struct State {
        var buffer: [UInt8] = []
        /// The second `stamp` was formatted for.
        var second = -1
        var stamp: [UInt8] = []
    }

    private let state = Mutex(State())
    private let prefix: [UInt8]
    private let descriptor: Int32
    private let timer: DispatchSourceTimer

    /// `label` is the logger's (`sos.brain`), as swift-log prints it.
    init(label: String, descriptor: Int32 = STDERR_FILENO) {
        self.prefix = Array(" info \(label):".utf8)
        self.descriptor = descriptor
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "sos.request-log"))
        timer.schedule(deadline: .now() + Self.flushInterval, repeating: Self.flushInterval)
        timer.setEventHandler { [weak self] in self?.flush() }
        timer.resume()
    }

    deinit { timer.cancel() }

    /// Appends the line of one request: its fields in name order, as swift-log prints metadata.
    /// Formatted straight into the buffer: a String per field cost more than the rest of the line.
    func write(_ record: S3RequestRecord, operation: String, status: Int, bytesOut: Int, duration: Duration, failure: String?) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let full = state.withLock { state -> Bool in
            if now.tv_sec != state.second {
                state.second = now.tv_sec
                state.stamp = Self.timestamp(now.tv_sec)
            }
            // The buffer is moved in and out, not copied.
            var line = LineBuilder(bytes: [])
            swap(&line.bytes, &state.buffer)
            defer { swap(&line.bytes, &state.buffer) }
            line.bytes += state.stamp
            line.bytes += prefix
            if !record.accessKeyID.isEmpty { line.field("accessKey", record.accessKeyID) }
            if !record.bucket.isEmpty { line.quotedField("bucket", record.bucket) }
            line.field("bytesIn", record.bytesIn)
            line.field("bytesOut", bytesOut)
            let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
            line.name("durationMs")
            line.number(Int(micros / 1000))
            line.bytes.append(UInt8(ascii: "."))
            line.number(Int(micros % 1000), digits: 3)
            if let failure { line.quotedField("failure", failure) }
            if !record.key.isEmpty { line.quotedField("key", record.key) }
            line.field("operation", operation)
            line.field("requestID", record.requestID)
            line.field("status", status)
            line.bytes += " [Brain] s3 request\n".utf8
            return line.bytes.count >= Self.flushBytes
        }
        if full { flush() }
    }

    /// Appends a log line's parts to bytes.
    struct LineBuilder {
        var bytes: [UInt8]

        mutating func name(_ name: StaticString) {
            bytes.append(UInt8(ascii: " "))
            name.withUTF8Buffer { bytes += $0 }
            bytes.append(UInt8(ascii: "="))
        }

        mutating func field(_ name: StaticString, _ value: String) {
            self.name(name)
            bytes += value.utf8
        }

        mutating func field(_ name: StaticString, _ value: Int) {
            self.name(name)
            number(value)
        }

        /// A client's text, quoted and escaped as Swift's debugDescription does, so that no name can
        /// forge a line: `"a\nb"`.
        mutating func quotedField(_ name: StaticString, _ value: String) {
            self.name(name)
            bytes.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), byte]
                case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case UInt8(ascii: "\r"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case UInt8(ascii: "\t"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case 0..<0x20, 0x7F:
                    bytes += "\\u{".utf8
                    bytes += String(byte, radix: 16, uppercase: true).utf8
                    bytes.append(UInt8(ascii: "}"))
                default: bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }

        /// A non-negative decimal, zero-padded to `digits`.
        mutating func number(_ value: Int, digits: Int = 1) {
            var value = max(0, value)
            let start = bytes.count
            repeat {
                bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
                value /= 10
            } while value > 0 || bytes.count - start < digits
            bytes[start...].reverse()
        }
    }

    /// Writes what is waiting (also at shutdown).
    func flush() {
        let bytes = state.withLock { state -> [UInt8] in
            defer { state.buffer.removeAll(keepingCapacity: true) }
            return state.buffer
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }  // nowhere to log to: the lines are dropped, the requests go on
            written += n
        }
    }

    /// `2026-12-07T20:09:46+0000`, as swift-log stamps its lines (in UTC here).
    static func timestamp(_ seconds: Int) -> [UInt8] {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [Int8](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S+0000", &parts)
        return buffer.prefix(count).map { UInt8(bitPattern: $0) }
    }
}
