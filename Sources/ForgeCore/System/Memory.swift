import Glibc

/// The C library's vectorised byte search and copy, for the log path.
enum Memory {
  /// Offset of the first `byte` in `count` bytes at `base`, if any.
  @inline(__always)
  static func find(_ byte: UInt8, in base: UnsafeRawPointer, count: Int) -> Int? {
    guard count > 0, let hit = memchr(base, Int32(byte), count) else { return nil }
    return UnsafeRawPointer(hit) - base
  }

  @inline(__always)
  static func copy(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) {
    if count > 0 { memcpy(destination, source, count) }
  }

  @inline(__always)
  static func move(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) {
    if count > 0 { memmove(destination, source, count) }
  }

  /// How many `byte`s `bytes` holds (a `memchr` per hit, not a loop per byte).
  static func count(_ byte: UInt8, in bytes: UnsafeRawBufferPointer) -> Int {
    guard let base = bytes.baseAddress else { return 0 }
    var hits = 0
    var at = 0
    while let offset = find(byte, in: base + at, count: bytes.count - at) {
      hits += 1
      at += offset + 1
    }
    return hits
  }

  /// Whether `needle` occurs in `haystack`.
  static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty else { return true }
    guard let base = haystack.baseAddress, haystack.count >= needle.count else { return false }
    return needle.withUnsafeBytes { memmem(base, haystack.count, $0.baseAddress!, needle.count) != nil }
  }

  static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
    memcmp(a, b, count) == 0
  }
}
