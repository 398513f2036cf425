/// Keeps secret values out of the log: every occurrence of one in a line becomes
/// `[redacted:KEY]`. A multi-pattern search: every two-byte window of every secret, at every
/// offset, is in a bitmap; a line is probed only every `stride` bytes (any occurrence of a
/// secret of at least `stride + 1` bytes covers a probed window), and only a probe that hits
/// the bitmap is compared. So a hundred secrets cost about what one does, and a line without
/// a match is passed through untouched (no copy).
final class Redactor {
  private struct Secret {
    let value: [UInt8]
    let replacement: [UInt8]
  }

  private struct Candidate {
    let secret: Int
    let offset: Int
  }

  private var secrets: [Secret] = []
  /// By two-byte window: which secret has it, at which offset. A flat table, no hashing:
  /// `firstCandidate[window]..<firstCandidate[window + 1]` in `candidates`.
  private var firstCandidate = [Int32](repeating: 0, count: 65537)
  private var candidates: [Candidate] = []
  private var bitmap = [UInt64](repeating: 0, count: 1024)
  private(set) var longest = 0
  private var stride = 1

  var isEmpty: Bool { secrets.isEmpty }

  /// Values shorter than two bytes cannot be filtered and are not secrets anyway (the
  /// settings already leave out those under six).
  init(_ given: [(key: String, value: String)]) {
    for (key, value) in given where value.utf8.count >= 2 {
      secrets.append(Secret(value: Array(value.utf8), replacement: Array("[redacted:\(key)]".utf8)))
    }
    // Longer secrets first: where two match at the same place, the longer one wins.
    secrets.sort { $0.value.count > $1.value.count }
    let shortest = secrets.map(\.value.count).min() ?? 2
    stride = max(1, min(4, shortest - 1))
    var byWindow: [[Candidate]] = Array(repeating: [], count: 65536)
    for (index, secret) in secrets.enumerated() {
      longest = max(longest, secret.value.count)
      for offset in 0..<(secret.value.count - 1) {
        let window = UInt16(secret.value[offset]) << 8 | UInt16(secret.value[offset + 1])
        byWindow[Int(window)].append(Candidate(secret: index, offset: offset))
        bitmap[Int(window >> 6)] |= 1 << UInt64(window & 63)
      }
    }
    for window in 0..<65536 {
      firstCandidate[window] = Int32(candidates.count)
      candidates += byWindow[window]
    }
    firstCandidate[65536] = Int32(candidates.count)
  }

  /// The line with secrets replaced, or nil when it holds none.
  func redact(_ line: UnsafeRawBufferPointer) -> [UInt8]? {
    guard !secrets.isEmpty, line.count >= 2, let base = line.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
      return nil
    }
    var found: [(start: Int, secret: Int)] = []
    var i = 0
    let last = line.count - 1
    let step = stride
    bitmap.withUnsafeBufferPointer { bits in
      while i < last {
        let window = Int(base[i]) << 8 | Int(base[i + 1])
        if bits[window >> 6] & (1 << UInt64(window & 63)) != 0 {
          for index in Int(firstCandidate[window])..<Int(firstCandidate[window + 1]) {
            let candidate = candidates[index]
            let start = i - candidate.offset
            let value = secrets[candidate.secret].value
            guard start >= 0, start + value.count <= line.count else { continue }
            if value.withUnsafeBytes({ Memory.equal(base + start, $0.baseAddress!, value.count) }) {
              found.append((start, candidate.secret))
            }
          }
        }
        i += step
      }
    }
    guard !found.isEmpty else { return nil }
    // In order; of overlapping ones the first (and, at the same place, the longest) wins.
    found.sort { ($0.start, $0.secret) < ($1.start, $1.secret) }
    var out: [UInt8] = []
    out.reserveCapacity(line.count + 32)
    var copied = 0
    for match in found where match.start >= copied {
      out.append(contentsOf: UnsafeBufferPointer(start: base + copied, count: match.start - copied))
      out.append(contentsOf: secrets[match.secret].replacement)
      copied = match.start + secrets[match.secret].value.count
    }
    out.append(contentsOf: UnsafeBufferPointer(start: base + copied, count: line.count - copied))
    return out
  }

  /// How many bytes at the end of a piece of an over-long line could begin a secret that the
  /// next piece completes: they are held back and printed with the next piece.
  func heldBack(_ piece: [UInt8]) -> Int {
    guard !secrets.isEmpty else { return 0 }
    let earliest = max(0, piece.count - longest + 1)
    for start in earliest..<piece.count {
      let tail = piece[start...]
      if secrets.contains(where: { $0.value.count > tail.count && $0.value.starts(with: tail) }) {
        return piece.count - start
      }
    }
    return 0
  }
}
