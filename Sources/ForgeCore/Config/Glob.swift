/// Glob patterns for `--watch`: `*` (any run of characters within one path segment), `?` (one
/// character), `**` (any number of whole segments, none included). Paths are relative to the
/// root, with `/` between segments.
struct Glob: Equatable, Sendable {
  let pattern: String
  private let segments: [[UInt8]]

  init(_ pattern: String) {
    var text = pattern
    while text.hasPrefix("./") { text.removeFirst(2) }
    self.pattern = text
    segments = text.split(separator: "/", omittingEmptySubsequences: true).map { Array($0.utf8) }
  }

  /// The directory under which anything can match: the segments before the first wildcard.
  var base: String {
    var parts: [String] = []
    for segment in segments.dropLast() {
      if segment.contains(where: { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") }) { break }
      parts.append(String(decoding: segment, as: UTF8.self))
    }
    return parts.joined(separator: "/")
  }

  func matches(_ path: String) -> Bool {
    let parts = path.split(separator: "/", omittingEmptySubsequences: true).map { Array($0.utf8) }
    return Self.match(segments[...], parts[...])
  }

  private static func match(_ pattern: ArraySlice<[UInt8]>, _ path: ArraySlice<[UInt8]>) -> Bool {
    guard let first = pattern.first else { return path.isEmpty }
    if first == Array("**".utf8) {
      var rest = path
      while true {
        if match(pattern.dropFirst(), rest) { return true }
        guard !rest.isEmpty else { return false }
        rest = rest.dropFirst()
      }
    }
    guard let segment = path.first, matchSegment(first[...], segment[...]) else { return false }
    return match(pattern.dropFirst(), path.dropFirst())
  }

  private static func matchSegment(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
    guard let first = pattern.first else { return text.isEmpty }
    switch first {
    case UInt8(ascii: "*"):
      var rest = text
      while true {
        if matchSegment(pattern.dropFirst(), rest) { return true }
        guard !rest.isEmpty else { return false }
        rest = rest.dropFirst()
      }
    case UInt8(ascii: "?"):
      return !text.isEmpty && matchSegment(pattern.dropFirst(), text.dropFirst())
    default:
      return text.first == first && matchSegment(pattern.dropFirst(), text.dropFirst())
    }
  }
}

/// `--watch 'web=app/**/*.py:templates/**'`: patterns per type, repeatable.
struct WatchSettings: Equatable, Sendable {
  private(set) var perType: [String: [Glob]] = [:]
  private(set) var named: [String] = []

  var isEmpty: Bool { perType.isEmpty }

  mutating func apply(_ spec: String, source: String) throws(ConfigError) {
    for item in spec.split(separator: ",").map({ $0.trimmingBlanks() }) where !item.isEmpty {
      guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
        throw ConfigError(path: source, line: 0, message: "expected TYPE=PATTERN[:PATTERN…], got \"\(item)\"")
      }
      let type = String(item[..<eq])
      let patterns = item[item.index(after: eq)...].split(separator: ":").map { Glob(String($0)) }
      guard !patterns.isEmpty, patterns.allSatisfy({ !$0.pattern.isEmpty && !$0.pattern.hasPrefix("/") }) else {
        throw ConfigError(path: source, line: 0, message: "expected patterns relative to the root in \"\(item)\"")
      }
      perType[type, default: []] += patterns
      named.append(type)
    }
  }
}
