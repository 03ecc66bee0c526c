import Hummingbird
import NIOCore

/// Hummingbird's request context plus the client's address, which bucket policies' `aws:SourceIp`
/// conditions need.
struct S3RequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
