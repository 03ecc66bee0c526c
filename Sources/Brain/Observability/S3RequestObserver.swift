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
/// client (a GET's duration includes sending the object; a response of at most 64 KiB is recorded
/// as it is handed to the connection).
struct S3RequestObserver: Sendable {
    /// Whether the metrics are recorded (`--metrics`).
    let recordsMetrics: Bool
    /// Where request lines go; nil with `--request-log off` or a log level above info.
    let log: RequestLogWriter?

    init(recordsMetrics: Bool, logsRequests: Bool, logger: Logger) {
        self.recordsMetrics = recordsMetrics
        self.log = logsRequests && logger.logLevel <= .info ? RequestLogWriter(label: logger.label) : nil
    }

    /// A body up to this size is sent in one write once the handler returns: its request is
    /// recorded then, without wrapping the body (which cost a 4 KiB GET a tenth of its speed).
    static let unwrappedBodyBytesMax = 64 << 10

    /// `response`, its body wrapped so that the request is recorded when the body has been sent.
    func observe(_ response: Response, _ record: S3RequestRecord) -> Response {
        guard recordsMetrics || log != nil else { return response }
        let status = response.status.code
        let declared = response.body.contentLength
        if let declared, declared <= Self.unwrappedBodyBytesMax {
            finish(record, status: status, bytesOut: declared, failure: nil)
            return response
        }
        var response = response
        let body = response.body
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
            let metrics = BrainMetrics.s3Request(operation: operation, status: status)
            metrics.requests.increment()
            metrics.duration.record(duration: duration)
            if record.bytesIn > 0 { BrainMetrics.s3ReceivedBytes.increment(by: record.bytesIn) }
            if bytesOut > 0 { BrainMetrics.s3SentBytes.increment(by: bytesOut) }
        }
        log?.write(record, operation: operation, status: status, bytesOut: bytesOut, duration: duration, failure: failure)
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
