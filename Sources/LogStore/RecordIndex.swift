/// The store's in-memory index, record key -> location, kept in flat arrays because it is the
/// agent's largest use of memory (issue target: at most 64 bytes per record).
///
/// Open addressing with linear probing and backward-shift deletion (no tombstones), over a table
/// of any size, not only powers of two: a slot costs 28 bytes plus an occupancy bit, and the
/// table grows by half when it is 7/8 full, so it stays between 58% and 87.5% full and an entry
/// costs 32 to 48 bytes. Swift's `Dictionary` doubles at 3/4 full: at 1,000,000 records it holds
/// 2^21 slots, 59 bytes a record before any other overhead.
struct RecordIndex: Sequence {
    typealias Location = SegmentStore.Location

    private(set) var count = 0
    private var keys: [StoreKey] = []
    private var locations: [Location] = []
    /// One bit per slot: whether it holds an entry.
    private var occupied: [UInt64] = []

    static let fillNumerator = 7
    static let fillDenominator = 8
    static let slotsMin = 16

    var slotCount: Int { keys.count }

    /// Sizes the table for `entries` without growing on the way; never shrinks it.
    mutating func reserveCapacity(_ entries: Int) {
        let slots = Swift.max(Self.slotsMin, entries * Self.fillDenominator / Self.fillNumerator + 1)
        if slots > slotCount { rebuild(slots: slots) }
    }

    subscript(key: StoreKey) -> Location? {
        get { slot(of: key).map { locations[$0] } }
        set {
            if let newValue { updateValue(newValue, forKey: key) } else { removeValue(forKey: key) }
        }
    }

    /// Sets the location of `key`; returns the one it replaces.
    @discardableResult
    mutating func updateValue(_ location: Location, forKey key: StoreKey) -> Location? {
        if (count + 1) * Self.fillDenominator > slotCount * Self.fillNumerator {
            rebuild(slots: Swift.max(Self.slotsMin, slotCount + slotCount / 2))
        }
        var index = home(of: key)
        while isOccupied(index) {
            if keys[index] == key {
                defer { locations[index] = location }
                return locations[index]
            }
            index = next(index)
        }
        keys[index] = key
        locations[index] = location
        occupied[index >> 6] |= 1 << UInt64(index & 63)
        count += 1
        return nil
    }

    /// Removes `key`; returns its location. Later entries of the probe run move back into the
    /// gap, so that lookups can stop at the first empty slot.
    @discardableResult
    mutating func removeValue(forKey key: StoreKey) -> Location? {
        guard var gap = slot(of: key) else { return nil }
        let removed = locations[gap]
        var candidate = next(gap)
        while isOccupied(candidate) {
            let wanted = home(of: keys[candidate])
            // The entry may fill the gap unless its home lies cyclically after the gap, up to itself.
            let staysPut = gap <= candidate ? (gap < wanted && wanted <= candidate) : (gap < wanted || wanted <= candidate)
            if !staysPut {
                keys[gap] = keys[candidate]
                locations[gap] = locations[candidate]
                gap = candidate
            }
            candidate = next(candidate)
        }
        occupied[gap >> 6] &= ~(1 << UInt64(gap & 63))
        count -= 1
        return removed
    }

    func makeIterator() -> AnyIterator<(key: StoreKey, location: Location)> {
        var index = 0
        return AnyIterator {
            while index < slotCount {
                defer { index += 1 }
                if isOccupied(index) { return (keys[index], locations[index]) }
            }
            return nil
        }
    }

    // MARK: Slots

    private func slot(of key: StoreKey) -> Int? {
        guard count > 0 else { return nil }
        var index = home(of: key)
        while isOccupied(index) {
            if keys[index] == key { return index }
            index = next(index)
        }
        return nil
    }

    /// Keys are chunk ids the brain drew at random, but are mixed anyway so that structured ids
    /// cannot pile up; the product's high half maps the hash onto any table size without a division.
    private func home(of key: StoreKey) -> Int {
        var hash = key.high ^ (key.low &* 0x9E37_79B9_7F4A_7C15)
        hash ^= hash >> 33
        hash &*= 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 33
        return Int(hash.multipliedFullWidth(by: UInt64(slotCount)).high)
    }

    private func next(_ index: Int) -> Int { index + 1 == slotCount ? 0 : index + 1 }

    private func isOccupied(_ index: Int) -> Bool { occupied[index >> 6] & (1 << UInt64(index & 63)) != 0 }

    private mutating func rebuild(slots: Int) {
        var bigger = RecordIndex()
        bigger.keys = Array(repeating: StoreKey(high: 0, low: 0), count: slots)
        bigger.locations = Array(repeating: Location(segment: 0, offset: 0, length: 0), count: slots)
        bigger.occupied = Array(repeating: 0, count: (slots + 63) / 64)
        for (key, location) in self { bigger.updateValue(location, forKey: key) }
        self = bigger
    }
}
