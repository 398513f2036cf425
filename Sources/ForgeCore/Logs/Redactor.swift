/// Keeps secret values out of the log: every occurrence of one in a line becomes
/// `[redacted:KEY]`. A multi-pattern search: a bitmap of the first two bytes of every secret
/// filters positions, and only candidates are compared, so a hundred secrets cost about what
/// one does. Lines without a match are passed through untouched (no copy).
final class Redactor {
  private struct Secret {
    let value: [UInt8]
    let replacement: [UInt8]
  }

  /// By their first two bytes; longer secrets first, so the longest match wins.
  private var buckets: [UInt16: [Secret]] = [:]
  private var bitmap = [UInt64](repeating: 0, count: 1024)
  private(set) var longest = 0
  private let all: [Secret]

  var isEmpty: Bool { all.isEmpty }

  /// Values shorter than two bytes cannot be filtered and are not secrets anyway (the
  /// settings already leave out those under six).
  init(_ secrets: [(key: String, value: String)]) {
    var list: [Secret] = []
    for (key, value) in secrets where value.utf8.count >= 2 {
      list.append(Secret(value: Array(value.utf8), replacement: Array("[redacted:\(key)]".utf8)))
    }
    list.sort { $0.value.count > $1.value.count }
    all = list
    for secret in list {
      let prefix = UInt16(secret.value[0]) << 8 | UInt16(secret.value[1])
      buckets[prefix, default: []].append(secret)
      bitmap[Int(prefix >> 6)] |= 1 << UInt64(prefix & 63)
      longest = max(longest, secret.value.count)
    }
  }

  /// The line with secrets replaced, or nil when it holds none.
  func redact(_ line: UnsafeRawBufferPointer) -> [UInt8]? {
    guard !all.isEmpty, line.count >= 2, let base = line.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
      return nil
    }
    var out: [UInt8]?
    var copied = 0
    var i = 0
    let end = line.count - 1
    while i < end {
      let prefix = UInt16(base[i]) << 8 | UInt16(base[i + 1])
      guard bitmap[Int(prefix >> 6)] & (1 << UInt64(prefix & 63)) != 0, let candidates = buckets[prefix],
        let match = candidates.first(where: { matches($0.value, base + i, line.count - i) })
      else {
        i += 1
        continue
      }
      if out == nil {
        out = []
        out?.reserveCapacity(line.count + 32)
      }
      out?.append(contentsOf: UnsafeBufferPointer(start: base + copied, count: i - copied))
      out?.append(contentsOf: match.replacement)
      i += match.value.count
      copied = i
    }
    guard var result = out else { return nil }
    result.append(contentsOf: UnsafeBufferPointer(start: base + copied, count: line.count - copied))
    return result
  }

  private func matches(_ value: [UInt8], _ at: UnsafePointer<UInt8>, _ available: Int) -> Bool {
    guard value.count <= available else { return false }
    return value.withUnsafeBytes { Memory.equal(at, $0.baseAddress!, value.count) }
  }

  /// How many bytes at the end of a piece of an over-long line could begin a secret that the
  /// next piece completes: they are held back and printed with the next piece.
  func heldBack(_ piece: [UInt8]) -> Int {
    guard !all.isEmpty else { return 0 }
    let longestStart = max(0, piece.count - longest + 1)
    for start in longestStart..<piece.count {
      let tail = piece[start...]
      if all.contains(where: { $0.value.count > tail.count && $0.value.starts(with: tail) }) {
        return piece.count - start
      }
    }
    return 0
  }
}
