/// One bucket's objects: each key's latest version in key order (`SortedObjects`), and the older
/// versions of the keys that have any beside it, so that a bucket without versioning pays nothing
/// for them.
///
/// Listing is O(log n + page) in a bucket without delete markers: the start is found by binary
/// search, and each common prefix is stepped over with another binary search instead of walking the
/// keys under it. ListObjects steps over keys whose latest version is a delete marker one by one
/// (and walks a common prefix until a key with a current object), as many as there are.
struct BucketIndex: Sendable {
    var info: BucketInfo
    /// Each key's latest version, which may be a delete marker.
    private(set) var objects = SortedObjects()
    /// The noncurrent versions of keys that have any, newest first.
    private(set) var noncurrent: [ObjectKey: [ObjectRecord]] = [:]

    init(info: BucketInfo) { self.info = info }

    /// No versions and no delete markers: the bucket may be deleted.
    var isEmpty: Bool { objects.isEmpty }

    /// Current versions that are not delete markers, and their bytes (the console's bucket list).
    var usage: (objects: Int, bytes: Int64) {
        var count = 0
        var bytes: Int64 = 0
        for (_, object) in objects where !object.isDeleteMarker {
            count += 1
            bytes += object.size
        }
        return (count, bytes)
    }

    /// What a GET without a version id sees: the latest version, unless that is a delete marker.
    func current(_ key: ObjectKey) -> ObjectRecord? {
        objects[key].flatMap { $0.isDeleteMarker ? nil : $0 }
    }

    /// The latest version of `key`, which may be a delete marker.
    func latest(_ key: ObjectKey) -> ObjectRecord? { objects[key] }

    func version(_ key: ObjectKey, _ id: VersionID) -> ObjectRecord? {
        guard let latest = objects[key] else { return nil }
        return latest.versionID == id ? latest : noncurrent[key]?.first { $0.versionID == id }
    }

    /// Every version of `key`, newest first.
    func versions(of key: ObjectKey) -> [ObjectRecord] {
        guard let latest = objects[key] else { return [] }
        return [latest] + (noncurrent[key] ?? [])
    }

    /// Stores `object` as a version of `key` (`Mutation.putObject`): it replaces the version with
    /// its id, or else becomes the newest. Returns the chunks of the version it replaced.
    mutating func put(_ key: ObjectKey, _ object: ObjectRecord) -> [ChunkPlacement] {
        guard let previous = objects.updateValue(object, forKey: key) else { return [] }
        if previous.versionID == object.versionID { return previous.chunks }
        let replaced = removeNoncurrent(key, object.versionID)
        Self.prepend(previous, to: &noncurrent[key, default: []])
        return replaced?.chunks ?? []
    }

    /// Inserts at the front, growing the list by an eighth when it is full rather than doubling it:
    /// a key's versions mostly only grow, and a doubled list would be up to half empty slots of
    /// 112 bytes (`rss_bytes_per_noncurrent_version` in `sos bench metadata`).
    private static func prepend(_ version: ObjectRecord, to versions: inout [ObjectRecord]) {
        if versions.count == versions.capacity { versions.reserveCapacity(versions.count + versions.count / 8 + 1) }
        versions.insert(version, at: 0)
    }

    /// Removes version `id` of `key`; the newest remaining version becomes the latest.
    mutating func removeVersion(_ key: ObjectKey, _ id: VersionID) -> ObjectRecord? {
        guard let latest = objects[key] else { return nil }
        guard latest.versionID == id else { return removeNoncurrent(key, id) }
        if var older = noncurrent.removeValue(forKey: key) {
            objects.updateValue(older.removeFirst(), forKey: key)
            if !older.isEmpty { noncurrent[key] = older }
        } else {
            objects.removeValue(forKey: key)
        }
        return latest
    }

    private mutating func removeNoncurrent(_ key: ObjectKey, _ id: VersionID) -> ObjectRecord? {
        guard let index = noncurrent[key]?.firstIndex(where: { $0.versionID == id }) else { return nil }
        let removed = noncurrent[key]!.remove(at: index)
        if noncurrent[key]!.isEmpty { noncurrent[key] = nil }
        return removed
    }

    /// Changes version `id` of `key` in place (its replicas, tags or ACL, never its identity);
    /// false when there is no such version.
    mutating func modifyVersion(_ key: ObjectKey, _ id: VersionID, _ change: (inout ObjectRecord) -> Void) -> Bool {
        var changed = false
        _ = objects.modify(key) { latest in
            guard latest.versionID == id else { return }
            change(&latest)
            changed = true
        }
        if changed { return true }
        guard let index = noncurrent[key]?.firstIndex(where: { $0.versionID == id }) else { return false }
        change(&noncurrent[key]![index])
        return true
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

    /// Where a listing of `prefix` resumes after `marker`.
    private func startPosition(prefix: String, marker: ListMarker?) -> SortedObjects.Position? {
        let position = firstPosition(notBeforeBytes: Array(prefix.utf8))
        guard let marker else { return position }
        let afterMarker: SortedObjects.Position?
        switch marker {
        case .key(let key): afterMarker = firstPosition(notBeforeBytes: Array(key.utf8) + [0])
        case .commonPrefix(let commonPrefix): afterMarker = firstPosition(after: commonPrefix)
        }
        guard let current = position, let after = afterMarker else { return nil }
        return objects.key(at: after) < objects.key(at: current) ? current : after
    }

    /// Whether a key from `start` up to (not including) `end` has a latest version that is not a delete marker.
    private func hasCurrentObject(from start: SortedObjects.Position, before end: SortedObjects.Position?) -> Bool {
        var position: SortedObjects.Position? = start
        while let current = position, current != end {
            if !objects.object(at: current).isDeleteMarker { return true }
            position = objects.position(after: current)
        }
        return false
    }

    struct ListPage {
        var objects: [(key: ObjectKey, object: ObjectRecord)] = []
        var commonPrefixes: [String] = []
        var isTruncated = false
        /// Where the next page starts: the last key or common prefix returned.
        var resumeMarker: ListMarker?
    }

    /// Keys, or their common prefixes, after `marker`, in byte order (ListObjects: current
    /// objects only; a key whose latest version is a delete marker is not listed).
    func list(prefix: String, delimiter: String, marker: ListMarker?, maxKeys: Int) -> ListPage {
        var page = ListPage()
        var position = startPosition(prefix: prefix, marker: marker)
        var returned = 0
        while let current = position, objects.key(at: current).hasPrefix(prefix) {
            let key = objects.key(at: current)
            if !delimiter.isEmpty, let commonPrefix = Self.commonPrefix(of: key.string, prefix: prefix, delimiter: delimiter) {
                let next = firstPosition(after: commonPrefix)
                if hasCurrentObject(from: current, before: next) {
                    if returned == maxKeys {
                        page.isTruncated = true
                        break
                    }
                    page.commonPrefixes.append(commonPrefix)
                    page.resumeMarker = .commonPrefix(commonPrefix)
                    returned += 1
                }
                position = next
                continue
            }
            let object = objects.object(at: current)
            position = objects.position(after: current)
            if object.isDeleteMarker { continue }
            if returned == maxKeys {
                page.isTruncated = true
                break
            }
            page.objects.append((key, object))
            page.resumeMarker = .key(key.string)
            returned += 1
        }
        return page
    }

    struct VersionPage {
        var versions: [(key: ObjectKey, version: ObjectRecord, isLatest: Bool)] = []
        var commonPrefixes: [String] = []
        var isTruncated = false
        /// Where the next page starts: the last key or common prefix returned, and the last
        /// version returned (nil after a common prefix).
        var nextKeyMarker: String?
        var nextVersionIDMarker: VersionID?
    }

    /// Every version and delete marker, by key (byte order) and newest first within a key, after
    /// `marker` (ListObjectVersions); with `versionIDMarker`, the key of a `.key` marker is
    /// listed on from the version after that one.
    func listVersions(prefix: String, delimiter: String, marker: ListMarker?, versionIDMarker: VersionID?, maxKeys: Int)
        -> VersionPage
    {
        var page = VersionPage()
        var returned = 0
        func add(_ key: ObjectKey, _ versions: ArraySlice<ObjectRecord>) -> Bool {
            for (index, version) in zip(versions.indices, versions) {
                if returned == maxKeys {
                    page.isTruncated = true
                    return false
                }
                page.versions.append((key, version, index == 0))
                page.nextKeyMarker = key.string
                page.nextVersionIDMarker = version.versionID
                returned += 1
            }
            return true
        }
        if case .key(let markerKey) = marker, let versionIDMarker, ObjectKey(markerKey).hasPrefix(prefix) {
            let versions = self.versions(of: ObjectKey(markerKey))
            if let index = versions.firstIndex(where: { $0.versionID == versionIDMarker }) {
                guard add(ObjectKey(markerKey), versions[(index + 1)...]) else { return page }
            }
        }
        var position = startPosition(prefix: prefix, marker: marker)
        while let current = position, objects.key(at: current).hasPrefix(prefix) {
            let key = objects.key(at: current)
            if !delimiter.isEmpty, let commonPrefix = Self.commonPrefix(of: key.string, prefix: prefix, delimiter: delimiter) {
                if returned == maxKeys {
                    page.isTruncated = true
                    break
                }
                page.commonPrefixes.append(commonPrefix)
                page.nextKeyMarker = commonPrefix
                page.nextVersionIDMarker = nil
                returned += 1
                position = firstPosition(after: commonPrefix)
                continue
            }
            guard add(key, versions(of: key)[...]) else { break }
            position = objects.position(after: current)
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
