import XCTest

@testable import LogStore

final class RecordIndexTests: XCTestCase {
    private typealias Location = SegmentStore.Location

    /// Random inserts, overwrites and removals over a small key space (so probe runs collide and
    /// wrap around the table's end) must leave the index equal to a Dictionary given the same steps.
    func testMatchesADictionaryUnderRandomOperations() {
        var rng = SystemRandomNumberGenerator()
        for keySpace in [3, 40, 2_000] {
            var index = RecordIndex()
            var model: [StoreKey: Location] = [:]
            for step in 0..<20_000 {
                // Keys with equal halves and small values, so that the mixing, not luck, spreads them.
                let n = UInt64.random(in: 0..<UInt64(keySpace), using: &rng)
                let key = StoreKey(high: n % 7, low: n)
                if Bool.random(using: &rng) || step < keySpace {
                    let location = Location(segment: UInt32(step), offset: UInt32(n), length: 1)
                    XCTAssertEqual(index.updateValue(location, forKey: key), model.updateValue(location, forKey: key))
                } else {
                    XCTAssertEqual(index.removeValue(forKey: key), model.removeValue(forKey: key))
                }
                XCTAssertEqual(index.count, model.count)
            }
            for n in 0..<UInt64(keySpace) {
                let key = StoreKey(high: n % 7, low: n)
                XCTAssertEqual(index[key], model[key], "key \(n) of \(keySpace)")
            }
            XCTAssertEqual(Set(index.map(\.key)), Set(model.keys))
            XCTAssertLessThanOrEqual(index.count * RecordIndex.fillDenominator, index.slotCount * RecordIndex.fillNumerator)
        }
    }

    func testSubscriptSetsAndRemovesAndReserveSizesOnce() {
        var index = RecordIndex()
        index.reserveCapacity(1_000)
        let slots = index.slotCount
        XCTAssertEqual(slots, 1_000 * 8 / 7 + 1)
        for n in 0..<1_000 as Range<UInt64> {
            index[StoreKey(high: 0, low: n)] = Location(segment: 1, offset: UInt32(n), length: 2)
        }
        XCTAssertEqual(index.slotCount, slots, "a reserved index must not grow")
        XCTAssertEqual(index[StoreKey(high: 0, low: 999)], Location(segment: 1, offset: 999, length: 2))
        index[StoreKey(high: 0, low: 999)] = nil
        XCTAssertNil(index[StoreKey(high: 0, low: 999)])
        XCTAssertEqual(index.count, 999)
        XCTAssertNil(RecordIndex()[StoreKey(high: 1, low: 1)])
    }
}
