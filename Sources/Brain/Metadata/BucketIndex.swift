/// One bucket's objects, in key order (`SortedObjects`).
///
/// Listing is O(log n + page): the start is found by binary search, and each common prefix is
/// stepped over with another binary search instead of walking the keys under it.
struct BucketIndex: Sendable {
    var info: BucketInfo
    private(set) var objects = SortedObjects()

    init(info: BucketInfo) { self.info = info }

    var isEmpty: Bool { objects.isEmpty }

    /// Stores `object` under `key`, returning what it replaced.
    mutating func put(_ key: ObjectKey, _ object: ObjectRecord) -> ObjectRecord? {
        objects.updateValue(object, forKey: key)
    }

    mutating func replaceChunk(of key: ObjectKey, at index: Int, with chunk: ChunkPlacement) {
        let found = objects.modify(key) { $0.chunks[index] = chunk }
        precondition(found, "replacing a chunk of an object that is not there")
    }

    mutating func remove(_ key: ObjectKey) -> ObjectRecord? {
        objects.removeValue(forKey: key)
    }

    /// Position of the first key >= the raw byte string `bytes`.
    private func firstPosition(notBeforeBytes bytes: [UInt8]) -> SortedObjects.Position? {
        objects.firstPosition { $0.precedes(bytes: bytes) }
    }

    /// Position of the first key that does not start with `prefix` and sorts after it.
    /// UTF-8 never contains 0xFF, so prefix + 0xFF is above every key that starts with prefix.
    private func firstPosition(after prefix: String) -> SortedObjects.Position? {
        firstPosition(notBeforeBytes: Array(prefix.utf8) + [0xFF])
    }

    struct ListPage {
        var objects: [(key: ObjectKey, object: ObjectRecord)] = []
        var commonPrefixes: [String] = []
        var isTruncated = false
        /// Where the next page starts: the last key or common prefix returned.
        var resumeMarker: ListMarker?
    }

    /// Keys, or their common prefixes, after `marker`, in byte order.
    func list(prefix: String, delimiter: String, marker: ListMarker?, maxKeys: Int) -> ListPage {
        var page = ListPage()
        var position = firstPosition(notBeforeBytes: Array(prefix.utf8))
        if let marker {
            let afterMarker: SortedObjects.Position?
            switch marker {
            case .key(let key): afterMarker = firstPosition(notBeforeBytes: Array(key.utf8) + [0])
            case .commonPrefix(let commonPrefix): afterMarker = firstPosition(after: commonPrefix)
            }
            if let current = position, let after = afterMarker {
                position = objects.key(at: after) < objects.key(at: current) ? current : after
            } else {
                position = nil
            }
        }
        var returned = 0
        while let current = position, objects.key(at: current).hasPrefix(prefix) {
            if returned == maxKeys {
                page.isTruncated = true
                break
            }
            let key = objects.key(at: current)
            if !delimiter.isEmpty, let commonPrefix = Self.commonPrefix(of: key.string, prefix: prefix, delimiter: delimiter) {
                page.commonPrefixes.append(commonPrefix)
                page.resumeMarker = .commonPrefix(commonPrefix)
                position = firstPosition(after: commonPrefix)
            } else {
                page.objects.append((key, objects.object(at: current)))
                page.resumeMarker = .key(key.string)
                position = objects.position(after: current)
            }
            returned += 1
        }
        return page
    }

    /// The key up to and including the first `delimiter` after `prefix`, if there is one.
    static func commonPrefix(of key: String, prefix: String, delimiter: String) -> String? {
        let keyBytes = Array(key.utf8)
        let start = prefix.utf8.count
        let delimiterBytes = Array(delimiter.utf8)
        guard keyBytes.count >= start + delimiterBytes.count else { return nil }
        var i = start
        while i + delimiterBytes.count <= keyBytes.count {
            if Array(keyBytes[i..<i + delimiterBytes.count]) == delimiterBytes {
                return String(decoding: keyBytes[0..<i + delimiterBytes.count], as: UTF8.self)
            }
            i += 1
        }
        return nil
    }
}

/// A position in a listing: after a key, or after everything under a common prefix.
enum ListMarker: Equatable {
    case key(String)
    case commonPrefix(String)

    /// ListObjects v1 hands back a common prefix as NextMarker; resuming from it must skip every
    /// key under that prefix, or the same prefix would be listed again forever.
    init(v1Marker marker: String, prefix: String, delimiter: String) {
        if !delimiter.isEmpty, marker.utf8.starts(with: prefix.utf8),
            BucketIndex.commonPrefix(of: marker, prefix: prefix, delimiter: delimiter) == marker
        {
            self = .commonPrefix(marker)
        } else {
            self = .key(marker)
        }
    }
}
