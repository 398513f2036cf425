/// Monotonic nanoseconds (`Clock.now()`); the machine is handed the time, never reads it.
typealias Deadline = UInt64

/// A binary min-heap of `(deadline, key)`. Entries are never removed early: an entry whose key
/// no longer has that deadline is stale and is skipped when it reaches the top (lazy deletion),
/// so arming and disarming cost O(log n) and nothing scans the formation per wake-up.
struct DeadlineHeap<Key: Hashable> {
  struct Entry {
    let deadline: Deadline
    let key: Key
  }

  private var entries: [Entry] = []

  var isEmpty: Bool { entries.isEmpty }
  var count: Int { entries.count }
  var top: Entry? { entries.first }

  mutating func push(_ deadline: Deadline, _ key: Key) {
    entries.append(Entry(deadline: deadline, key: key))
    var child = entries.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard entries[child].deadline < entries[parent].deadline else { break }
      entries.swapAt(child, parent)
      child = parent
    }
  }

  @discardableResult
  mutating func pop() -> Entry? {
    guard let first = entries.first else { return nil }
    let last = entries.removeLast()
    guard !entries.isEmpty else { return first }
    entries[0] = last
    var parent = 0
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < entries.count && entries[left].deadline < entries[smallest].deadline { smallest = left }
      if right < entries.count && entries[right].deadline < entries[smallest].deadline { smallest = right }
      if smallest == parent { break }
      entries.swapAt(parent, smallest)
      parent = smallest
    }
    return first
  }
}
