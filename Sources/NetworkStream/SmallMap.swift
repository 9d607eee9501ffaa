// SPDX-License-Identifier: Apache-2.0

/// A map for the few entries a process keeps at once (its waits and their timers: three at the
/// most), as an array searched from the end: no hashing, and nothing allocated while empty.
struct SmallMap<Key: Equatable, Value> {
    private var entries: [(key: Key, value: Value)] = []

    /// The value for `key`; setting nil removes it.
    subscript(key: Key) -> Value? {
        get { entries.last { $0.key == key }?.value }
        set {
            if let index = entries.lastIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    /// Removes the value for `key` and returns it.
    @discardableResult
    mutating func removeValue(forKey key: Key) -> Value? {
        guard let index = entries.lastIndex(where: { $0.key == key }) else { return nil }
        return entries.remove(at: index).value
    }

    /// How many entries there are.
    var count: Int { entries.count }
}
