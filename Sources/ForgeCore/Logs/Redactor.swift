/// Keeps secret values out of the log: every occurrence of one in a line becomes
/// `[redacted:KEY]`.
///
/// A multi-pattern search with a sparse filter. A line is probed only every `stride` bytes,
/// `stride` being the shortest secret's length minus 3: exactly one probe then falls in the
/// first `stride` bytes of any occurrence of a secret. So the four-byte windows of every
/// secret at those offsets are hashed into a 256 Kibit filter (32 KiB, resident in the L1
/// cache), and only a probe that passes it looks up the window's exact candidates (secret,
/// offset) and compares them. With
/// secrets of 16 bytes or more that is 8 probes for a 100-byte line, whatever the number of
/// secrets, and a line without a match is passed through untouched (no copy). Nothing is
/// allocated when there are no secrets.
final class Redactor {
  /// The settings leave out values under six bytes; under four the filter cannot work.
  static let shortestValue = 4
  private static let filterBits = 18

  private struct Secret {
    let value: [UInt8]
    let replacement: [UInt8]
  }

  private struct Candidate {
    let secret: Int
    let offset: Int
  }

  private var secrets: [Secret] = []
  private var filter: UnsafeMutablePointer<UInt64>?
  /// An open-addressing table of the distinct windows: `windows[slot]`'s candidates are
  /// `candidates[firsts[slot]..<ends[slot]]`; an empty slot has `firsts[slot] == -1`.
  private var windows: [UInt32] = []
  private var firsts: [Int32] = []
  private var ends: [Int32] = []
  private var candidates: [Candidate] = []
  private var slotMask = 0
  private(set) var longest = 0
  private var stride = 1

  var isEmpty: Bool { secrets.isEmpty }

  init(_ given: [(key: String, value: String)]) {
    for (key, value) in given where value.utf8.count >= Self.shortestValue {
      secrets.append(Secret(value: Array(value.utf8), replacement: Array("[redacted:\(key)]".utf8)))
    }
    guard !secrets.isEmpty else { return }
    // Longer secrets first: where two match at the same place, the longer one wins.
    secrets.sort { $0.value.count > $1.value.count }
    longest = secrets[0].value.count
    stride = secrets[secrets.count - 1].value.count - 3
    // Probes fall every `stride` bytes, so exactly one falls in the first `stride` bytes of
    // any occurrence: only the windows at those offsets can be probed, and only they are kept.
    var byWindow: [UInt32: [Candidate]] = [:]
    for (index, secret) in secrets.enumerated() {
      secret.value.withUnsafeBytes { bytes in
        for offset in 0..<stride {
          let window = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
          byWindow[window, default: []].append(Candidate(secret: index, offset: offset))
        }
      }
    }
    let words = 1 << (Self.filterBits - 6)
    let bits = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
    bits.initialize(repeating: 0, count: words)
    filter = bits
    var size = 16
    while size < 2 * byWindow.count { size *= 2 }
    slotMask = size - 1
    windows = Array(repeating: 0, count: size)
    firsts = Array(repeating: -1, count: size)
    ends = Array(repeating: -1, count: size)
    for (window, found) in byWindow.sorted(by: { $0.key < $1.key }) {
      let hash = Self.hash(window)
      bits[hash >> 6] |= 1 << UInt64(hash & 63)
      var slot = hash & slotMask
      while firsts[slot] != -1 { slot = (slot + 1) & slotMask }
      windows[slot] = window
      firsts[slot] = Int32(candidates.count)
      candidates += found
      ends[slot] = Int32(candidates.count)
    }
  }

  deinit { filter?.deallocate() }

  @inline(__always)
  private static func hash(_ window: UInt32) -> Int {
    Int(truncatingIfNeeded: (window &* 0x9E37_79B1) >> UInt32(32 - filterBits))
  }

  /// The line with secrets replaced, or nil when it holds none.
  @inline(__always)
  func redact(_ line: UnsafeRawBufferPointer) -> [UInt8]? {
    guard let first = firstSuspect(in: line) else { return nil }
    return redact(line, passedAt: first)
  }

  /// Where in `bytes` (many lines) the first probe passes the filter, if anywhere: every line
  /// that ends before it holds no secret, since any occurrence has a probe inside it. For
  /// the log path's bulk step; the line it falls in takes the line-by-line path.
  @inline(__always)
  func firstSuspect(in bytes: UnsafeRawBufferPointer) -> Int? {
    guard let filter, bytes.count >= Self.shortestValue, let base = bytes.baseAddress else { return nil }
    let step = stride
    var i = 0
    let lastStart = bytes.count - 4
    while i <= lastStart {
      let hash = Self.hash(base.loadUnaligned(fromByteOffset: i, as: UInt32.self))
      if filter[hash >> 6] & (1 << UInt64(hash & 63)) != 0 { return i }
      i &+= step
    }
    return nil
  }

  /// The rest of the search once a probe has passed the filter: the comparisons.
  private func redact(_ line: UnsafeRawBufferPointer, passedAt first: Int) -> [UInt8]? {
    let base = line.baseAddress!
    var found: [(start: Int, secret: Int)] = []
    var i = first
    let lastStart = line.count - 4
    while i <= lastStart {
      let window = base.loadUnaligned(fromByteOffset: i, as: UInt32.self)
      let hash = Self.hash(window)
      if filter![hash >> 6] & (1 << UInt64(hash & 63)) != 0 {
        var slot = hash & slotMask
        while firsts[slot] != -1 && windows[slot] != window { slot = (slot + 1) & slotMask }
        if firsts[slot] != -1 {
          for candidate in candidates[Int(firsts[slot])..<Int(ends[slot])] {
            let start = i - candidate.offset
            let value = secrets[candidate.secret].value
            guard start >= 0, start + value.count <= line.count else { continue }
            if value.withUnsafeBytes({ Memory.equal(base + start, $0.baseAddress!, value.count) }) {
              found.append((start, candidate.secret))
            }
          }
        }
      }
      i &+= stride
    }
    guard !found.isEmpty else { return nil }
    // In order; of overlapping ones the first (and, at the same place, the longest) wins.
    found.sort { ($0.start, $0.secret) < ($1.start, $1.secret) }
    var out: [UInt8] = []
    out.reserveCapacity(line.count + 32)
    var copied = 0
    for match in found where match.start >= copied {
      out.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[copied..<match.start]))
      out.append(contentsOf: secrets[match.secret].replacement)
      copied = match.start + secrets[match.secret].value.count
    }
    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[copied...]))
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
