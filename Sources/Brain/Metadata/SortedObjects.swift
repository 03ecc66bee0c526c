/// A bucket's objects in UTF-8 key order: the only index of a bucket, serving both lookups
/// (binary search, O(log n)) and listings (O(log n + page)).
///
/// Entries live in small sorted blocks, so that an insert or a remove moves at most one block's
/// worth of entries, and so that a copy-on-write copy (the snapshot's consistent cut) copies one
/// block, not the bucket, on the next write. One structure instead of a hash map plus sorted keys
/// also halves the memory per object: a hash table at 1,000,000 entries is half empty.
struct SortedObjects: Sendable, Sequence {
    /// Entries per block before it splits in two; small enough that shifting within it is cheap.
    static let blockEntriesMax = 512

    private struct Block {
        var keys: [ObjectKey]
        var objects: [ObjectRecord]
    }

    private var blocks: [Block] = []
    private(set) var count = 0

    /// An entry's place: block and offset within it.
    struct Position: Equatable {
        var block: Int
        var offset: Int
    }

    var isEmpty: Bool { count == 0 }

    /// Position of the first key for which `isBefore` is false (keys must be partitioned by it).
    func firstPosition(where isBefore: (ObjectKey) -> Bool) -> Position? {
        var low = 0, high = blocks.count
        while low < high {
            let mid = (low + high) / 2
            if isBefore(blocks[mid].keys[blocks[mid].keys.count - 1]) { low = mid + 1 } else { high = mid }
        }
        guard low < blocks.count else { return nil }
        let keys = blocks[low].keys
        var first = 0, last = keys.count
        while first < last {
            let mid = (first + last) / 2
            if isBefore(keys[mid]) { first = mid + 1 } else { last = mid }
        }
        return Position(block: low, offset: first)
    }

    func key(at position: Position) -> ObjectKey { blocks[position.block].keys[position.offset] }
    func object(at position: Position) -> ObjectRecord { blocks[position.block].objects[position.offset] }

    func position(after position: Position) -> Position? {
        if position.offset + 1 < blocks[position.block].keys.count {
            return Position(block: position.block, offset: position.offset + 1)
        }
        return position.block + 1 < blocks.count ? Position(block: position.block + 1, offset: 0) : nil
    }

    private func position(of key: ObjectKey) -> Position? {
        guard let position = firstPosition(where: { $0 < key }), self.key(at: position) == key else { return nil }
        return position
    }

    subscript(key: ObjectKey) -> ObjectRecord? {
        guard let position = position(of: key) else { return nil }
        return object(at: position)
    }

    /// Stores `object` under `key`; returns the object it replaced.
    @discardableResult
    mutating func updateValue(_ object: ObjectRecord, forKey key: ObjectKey) -> ObjectRecord? {
        let isLast = blocks.last.map { $0.keys[$0.keys.count - 1] < key } ?? true
        guard !isLast, let position = firstPosition(where: { $0 < key }) else {
            // Beyond every key (also how a snapshot in key order loads): append to the last block.
            if blocks.isEmpty || blocks[blocks.count - 1].keys.count >= Self.blockEntriesMax {
                blocks.append(Block(keys: [], objects: []))
            }
            blocks[blocks.count - 1].keys.append(key)
            blocks[blocks.count - 1].objects.append(object)
            count += 1
            return nil
        }
        if self.key(at: position) == key {
            defer { blocks[position.block].objects[position.offset] = object }
            return self.object(at: position)
        }
        count += 1
        blocks[position.block].keys.insert(key, at: position.offset)
        blocks[position.block].objects.insert(object, at: position.offset)
        if blocks[position.block].keys.count > Self.blockEntriesMax {
            let half = Self.blockEntriesMax / 2
            let upper = Block(keys: Array(blocks[position.block].keys[half...]), objects: Array(blocks[position.block].objects[half...]))
            blocks[position.block].keys.removeLast(upper.keys.count)
            blocks[position.block].objects.removeLast(upper.objects.count)
            blocks.insert(upper, at: position.block + 1)
        }
        return nil
    }

    /// Removes `key`; returns its object.
    @discardableResult
    mutating func removeValue(forKey key: ObjectKey) -> ObjectRecord? {
        guard let position = position(of: key) else { return nil }
        count -= 1
        blocks[position.block].keys.remove(at: position.offset)
        let removed = blocks[position.block].objects.remove(at: position.offset)
        if blocks[position.block].keys.isEmpty { blocks.remove(at: position.block) }
        return removed
    }

    /// Changes the object stored under `key` in place; false when there is none.
    mutating func modify(_ key: ObjectKey, _ change: (inout ObjectRecord) -> Void) -> Bool {
        guard let position = position(of: key) else { return false }
        change(&blocks[position.block].objects[position.offset])
        return true
    }

    func makeIterator() -> AnyIterator<(key: ObjectKey, object: ObjectRecord)> {
        var next = blocks.isEmpty ? nil : Position(block: 0, offset: 0)
        return AnyIterator {
            guard let current = next else { return nil }
            next = position(after: current)
            return (key(at: current), object(at: current))
        }
    }
}
