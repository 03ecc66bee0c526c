import ClusterProtocol
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL

/// HTTPS for the S3 API: TLS in front of Hummingbird's HTTP/1.1 channel, with the certificate
/// taken from a `ReloadableTLSContext` as each connection opens, so SIGHUP can replace it without
/// dropping the connections that are open.
struct ReloadableTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let context: ReloadableTLSContext

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context.current))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
