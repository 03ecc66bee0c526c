import NIOCore
import NIOSSL
import Synchronization

/// A server's certificate and key from PEM files, as a TLS context that can be read again (on
/// SIGHUP) without dropping anything: each new connection takes the context current when it
/// opens; connections already open keep theirs.
public final class ReloadableTLSContext: Sendable {
    public let certificatePath: String
    public let keyPath: String
    private let context: Mutex<NIOSSLContext>

    public init(certificatePath: String, keyPath: String) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        context = Mutex(try Self.load(certificatePath: certificatePath, keyPath: keyPath))
    }

    public var current: NIOSSLContext { context.withLock { $0 } }

    /// Reads the files again; on failure the previous certificate stays in use.
    public func reload() throws {
        let fresh = try Self.load(certificatePath: certificatePath, keyPath: keyPath)
        context.withLock { $0 = fresh }
    }

    private static func load(certificatePath: String, keyPath: String) throws -> NIOSSLContext {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { NIOSSLCertificateSource.certificate($0) }
            guard !chain.isEmpty else { throw TLSFileError(description: "\(certificatePath) holds no certificate") }
            // PEM whatever the file names end in (NIOSSL's `.file` guesses the format from the extension).
            let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            return try NIOSSLContext(configuration: configuration)
        } catch let error as TLSFileError {
            throw error
        } catch {
            throw TLSFileError(description: "cannot use the TLS certificate \(certificatePath) with the key \(keyPath): \(error)")
        }
    }
}

public struct TLSFileError: Error, CustomStringConvertible {
    public var description: String
}

/// What a TLS client needs: a context that verifies the server, and the name to check it against.
public enum TLSClient {
    /// A client context that trusts the CA in `caPath`, or the system's roots when nil.
    public static func context(caPath: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        configuration.minimumTLSVersion = .tlsv12
        do {
            if let caPath { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath)) }
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFileError(description: "cannot use the CA certificate \(caPath ?? "(system roots)"): \(error)")
        }
    }

    /// The name to verify: a host name is checked against the certificate's DNS names; an IP
    /// address (nil here) against its IP names.
    public static func serverHostname(_ host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil ? nil : host
    }
}

/// TLS on the cluster port: the brain's side uses a `ReloadableTLSContext`; agents and `sos admin`
/// trust the CA given with `--tls-ca` and check the brain's name (or, for an address, its IP).
public enum ClusterTLS: Sendable {
    case server(ReloadableTLSContext)
    case client(NIOSSLContext, serverHostname: String?)

    public static func client(caPath: String, host: String) throws -> ClusterTLS {
        .client(try TLSClient.context(caPath: caPath), serverHostname: TLSClient.serverHostname(host))
    }

    func addHandler(to channel: any Channel) throws {
        switch self {
        case .server(let context):
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context.current))
        case .client(let context, let serverHostname):
            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverHostname))
        }
    }
}
