import ClusterProtocol
import NIOCore

/// Binary encoding of a `Mutation` as a WAL record payload (docs/formats.md, "WAL mutations").
public enum MutationCodec {
    enum Tag: UInt8 {
        case createBucket = 1
        case deleteBucket = 2
        case putObject = 3
        case deleteObject = 4
    }

    public static func encode(_ mutation: Mutation) -> [UInt8] {
        var out = ByteBuffer()
        switch mutation {
        case .createBucket(let name, let creationDateMs):
            out.writeInteger(Tag.createBucket.rawValue)
            out.writeShortString(name)
            out.writeInteger(creationDateMs)
        case .deleteBucket(let name):
            out.writeInteger(Tag.deleteBucket.rawValue)
            out.writeShortString(name)
        case .putObject(let bucket, let key, let object):
            out.writeInteger(Tag.putObject.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(key)
            out.writeInteger(object.size)
            out.writeBytes(object.md5)
            out.writeInteger(object.lastModifiedMs)
            out.writeShortString(object.contentType)
            out.writeInteger(UInt32(object.chunks.count))
            for chunk in object.chunks {
                out.writeChunkID(chunk.id)
                out.writeInteger(chunk.length)
                out.writeShortString(chunk.agent)
            }
        case .deleteObject(let bucket, let key):
            out.writeInteger(Tag.deleteObject.rawValue)
            out.writeShortString(bucket)
            out.writeShortString(key)
        }
        return Array(out.readableBytesView)
    }

    public static func decode(_ bytes: [UInt8]) throws -> Mutation {
        var input = ByteBuffer(bytes: bytes)
        guard let raw: UInt8 = input.readInteger(), let tag = Tag(rawValue: raw) else {
            throw ClusterProtocolError.malformed("unknown mutation tag")
        }
        let mutation: Mutation
        switch tag {
        case .createBucket:
            let name = try input.readShortString()
            let date = try input.readUInt64("creation date")
            mutation = .createBucket(name: name, creationDateMs: Int64(bitPattern: date))
        case .deleteBucket:
            mutation = .deleteBucket(name: try input.readShortString())
        case .putObject:
            let bucket = try input.readShortString()
            let key = try input.readShortString()
            let size = Int64(bitPattern: try input.readUInt64("size"))
            let md5 = try input.readExactBytes(16, what: "md5")
            let lastModified = Int64(bitPattern: try input.readUInt64("last modified"))
            let contentType = try input.readShortString()
            let count = try input.readUInt32("chunk count")
            // Each chunk takes at least 22 bytes: refuse counts the payload cannot hold.
            guard Int(count) <= input.readableBytes / 22 else { throw ClusterProtocolError.malformed("chunk count") }
            var chunks: [ChunkPlacement] = []
            chunks.reserveCapacity(Int(count))
            for _ in 0..<count {
                let id = try input.readChunkID()
                let length = try input.readUInt32("chunk length")
                chunks.append(ChunkPlacement(id: id, length: length, agent: try input.readShortString()))
            }
            mutation = .putObject(
                bucket: bucket, key: key,
                object: ObjectRecord(size: size, md5: md5, lastModifiedMs: lastModified, contentType: contentType, chunks: chunks))
        case .deleteObject:
            let bucket = try input.readShortString()
            mutation = .deleteObject(bucket: bucket, key: try input.readShortString())
        }
        guard input.readableBytes == 0 else { throw ClusterProtocolError.malformed("trailing bytes after mutation") }
        return mutation
    }
}
