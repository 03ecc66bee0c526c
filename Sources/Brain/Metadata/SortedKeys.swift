/// Object keys in UTF-8 byte order, kept as a list of small sorted blocks so that an insert or a
/// remove moves at most one block's worth of keys (a flat sorted array moves half the bucket).
/// Lookups binary-search the blocks by their last key, then the block.
struct SortedKeys: Sendable {
    /// Keys per block before it splits in two; small enough that shifting within it is cheap.
    static let blockKeysMax = 512

    private var blocks: [[ObjectKey]] = []
    private(set) var count = 0

    /// A key's place: block and offset within it.
    struct Position: Equatable {
        var block: Int
        var offset: Int
    }

    /// Position of the first key for which `isBefore` is false (keys must be partitioned by it).
    func firstPosition(where isBefore: (ObjectKey) -> Bool) -> Position? {
        var low = 0, high = blocks.count
        while low < high {
            let mid = (low + high) / 2
            if isBefore(blocks[mid][blocks[mid].count - 1]) { low = mid + 1 } else { high = mid }
        }
        guard low < blocks.count else { return nil }
        let block = blocks[low]
        var first = 0, last = block.count
        while first < last {
            let mid = (first + last) / 2
            if isBefore(block[mid]) { first = mid + 1 } else { last = mid }
        }
        return Position(block: low, offset: first)
    }

    subscript(position: Position) -> ObjectKey { blocks[position.block][position.offset] }

    func position(after position: Position) -> Position? {
        if position.offset + 1 < blocks[position.block].count {
            return Position(block: position.block, offset: position.offset + 1)
        }
        return position.block + 1 < blocks.count ? Position(block: position.block + 1, offset: 0) : nil
    }

    /// Adds `key`, which must not be present.
    mutating func insert(_ key: ObjectKey) {
        count += 1
        guard let position = firstPosition(where: { $0 < key }) else {
            // Beyond every key: append to the last block (or start the first).
            if blocks.isEmpty || blocks[blocks.count - 1].count >= Self.blockKeysMax { blocks.append([]) }
            blocks[blocks.count - 1].append(key)
            return
        }
        assert(self[position] != key, "key already present")
        blocks[position.block].insert(key, at: position.offset)
        if blocks[position.block].count > Self.blockKeysMax {
            let upper = Array(blocks[position.block][(Self.blockKeysMax / 2)...])
            blocks[position.block].removeLast(upper.count)
            blocks.insert(upper, at: position.block + 1)
        }
    }

    /// Removes `key`, which must be present.
    mutating func remove(_ key: ObjectKey) {
        guard let position = firstPosition(where: { $0 < key }), self[position] == key else {
            preconditionFailure("removing a key that is not present")
        }
        count -= 1
        blocks[position.block].remove(at: position.offset)
        if blocks[position.block].isEmpty { blocks.remove(at: position.block) }
    }
}
