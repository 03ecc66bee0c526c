import Foundation
import NIOCore

/// `sos admin key ...` on an admin connection: a `keyCommand` frame whose body is this, as JSON,
/// answered by a `keyReply` frame (a `KeyReply` as JSON) or an `error` reply (docs/wire-protocol.md,
/// "Admin requests").
public struct KeyCommand: Codable, Equatable, Sendable {
    public enum Action: String, Codable, Sendable {
        case create, `import`, list, info, delete, allow, deny
    }

    public var action: Action
    public var name: String?
    public var accessKeyID: String?
    /// Only in `import`.
    public var secretKey: String?
    public var bucket: String?
    public var read = false
    public var write = false
    public var owner = false
    /// `allow`/`deny` the right to create buckets.
    public var createBucket = false

    public init(action: Action) { self.action = action }

    /// Flags left out of the JSON are false (the console sends only those it sets).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        action = try container.decode(Action.self, forKey: .action)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        accessKeyID = try container.decodeIfPresent(String.self, forKey: .accessKeyID)
        secretKey = try container.decodeIfPresent(String.self, forKey: .secretKey)
        bucket = try container.decodeIfPresent(String.self, forKey: .bucket)
        read = try container.decodeIfPresent(Bool.self, forKey: .read) ?? false
        write = try container.decodeIfPresent(Bool.self, forKey: .write) ?? false
        owner = try container.decodeIfPresent(Bool.self, forKey: .owner) ?? false
        createBucket = try container.decodeIfPresent(Bool.self, forKey: .createBucket) ?? false
    }

    public func frame(requestID: UInt32) throws -> ClusterFrame {
        ClusterFrame(type: .keyCommand, requestID: requestID, body: ByteBuffer(bytes: try JSONEncoder().encode(self)))
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .keyCommand else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        do {
            self = try JSONDecoder().decode(Self.self, from: Data(frame.body.readableBytesView))
        } catch {
            throw ClusterProtocolError.malformed("key command is not valid JSON")
        }
    }
}

/// An access key as `sos admin key` shows it. The secret is there only in the answer to `create`.
public struct KeyInfo: Codable, Equatable, Sendable {
    public struct BucketGrant: Codable, Equatable, Sendable {
        public var bucket: String
        /// `read`, `write`, `owner`: those the key holds.
        public var permissions: [String]

        public init(bucket: String, permissions: [String]) {
            self.bucket = bucket
            self.permissions = permissions
        }
    }

    public var accessKeyID: String
    public var name: String
    /// ISO 8601, UTC.
    public var created: String
    public var secretKey: String?
    public var createBucket: Bool
    public var buckets: [BucketGrant]

    public init(accessKeyID: String, name: String, created: String, secretKey: String?, createBucket: Bool, buckets: [BucketGrant]) {
        self.accessKeyID = accessKeyID
        self.name = name
        self.created = created
        self.secretKey = secretKey
        self.createBucket = createBucket
        self.buckets = buckets
    }
}

public struct KeyReply: Codable, Equatable, Sendable {
    public var keys: [KeyInfo]

    public init(keys: [KeyInfo]) { self.keys = keys }

    public func frame(requestID: UInt32) throws -> ClusterFrame {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ClusterFrame(type: .keyReply, requestID: requestID, body: ByteBuffer(bytes: try encoder.encode(self)))
    }

    public init(_ frame: ClusterFrame) throws {
        guard frame.type == .keyReply else { throw ClusterProtocolError.unexpectedMessage(frame.type) }
        self = try JSONDecoder().decode(Self.self, from: Data(frame.body.readableBytesView))
    }
}
