import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore

/// What one S3 request was, filled in while it is routed; counted and logged once its response is written.
struct S3RequestRecord: Sendable {
    let requestID: String
    let started = ContinuousClock.now
    /// Nil when the request named no operation (a malformed one).
    var operation: S3Operation?
    var bucket = ""
    var key = ""
    /// The signing key's id; empty for anonymous requests.
    var accessKeyID = ""
    /// The request's Content-Length (what the client sent, framing included).
    let bytesIn: Int

    init(requestID: String, headers: HTTPFields) {
        self.requestID = requestID
        self.bytesIn = headers[.contentLength].flatMap { Int($0) } ?? 0
    }
}

/// Counts every S3 request in the metrics (by operation and status, its latency, bytes in and
/// out) and writes it as one structured info line, once its response has been written to the
/// client (a GET's duration includes sending the object).
struct S3RequestObserver: Sendable {
    /// Whether the metrics are recorded (`--metrics`) and the request lines written (`--request-log`).
    let recordsMetrics: Bool
    let logsRequests: Bool
    let logger: Logger

    /// `response`, its body wrapped so that the request is recorded when the body has been sent.
    func observe(_ response: Response, _ record: S3RequestRecord) -> Response {
        guard recordsMetrics || logsRequests else { return response }
        var response = response
        let status = response.status.code
        let body = response.body
        let declared = body.contentLength
        response.body = ResponseBody(contentLength: declared) { writer in
            do {
                try await body.write(writer)
            } catch {
                finish(record, status: status, bytesOut: 0, failure: "\(error)")
                throw error
            }
            finish(record, status: status, bytesOut: declared ?? 0, failure: nil)
        }
        return response
    }

    private func finish(_ record: S3RequestRecord, status: Int, bytesOut: Int, failure: String?) {
        let duration = ContinuousClock.now - record.started
        let operation = record.operation?.name ?? "Unknown"
        if recordsMetrics {
            BrainMetrics.s3Request(operation: operation, status: status).increment()
            BrainMetrics.s3RequestDuration(operation: operation).record(duration: duration)
            if record.bytesIn > 0 { BrainMetrics.s3ReceivedBytes.increment(by: record.bytesIn) }
            if bytesOut > 0 { BrainMetrics.s3SentBytes.increment(by: bytesOut) }
        }
        guard logsRequests else { return }
        var metadata: Logger.Metadata = [
            "requestID": .string(record.requestID), "operation": .string(operation), "status": .stringConvertible(status),
            "bytesIn": .stringConvertible(record.bytesIn), "bytesOut": .stringConvertible(bytesOut),
            "durationMs": .string(Self.milliseconds(duration)),
        ]
        // Names come from clients: quoted and escaped, so that no key can forge a log line.
        if !record.bucket.isEmpty { metadata["bucket"] = .string(record.bucket.debugDescription) }
        if !record.key.isEmpty { metadata["key"] = .string(record.key.debugDescription) }
        if !record.accessKeyID.isEmpty { metadata["accessKey"] = .string(record.accessKeyID) }
        if let failure { metadata["failure"] = .string(failure) }
        logger.info("s3 request", metadata: metadata)
    }

    /// `1.234`: milliseconds with three decimals.
    static func milliseconds(_ duration: Duration) -> String {
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        let whole = micros / 1000, fraction = micros % 1000
        let digits = String(fraction)
        return "\(whole)." + String(repeating: "0", count: 3 - digits.count) + digits
    }
}

/// Keeps `sos_s3_open_connections`: one more for each connection while it is open.
final class OpenConnectionCounter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Never
    private var counted = false

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { count(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        count(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        uncount()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { uncount() }

    private func count(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        BrainMetrics.s3OpenConnections.increment()
    }

    private func uncount() {
        guard counted else { return }
        counted = false
        BrainMetrics.s3OpenConnections.decrement()
    }
}
