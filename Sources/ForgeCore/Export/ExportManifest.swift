/// `DIR/.forge-export`: the files the last export wrote, so the next one can delete those it
/// no longer produces (the drop-in of an instance scaled away) and never touch anything else.
enum ExportManifest {
  static let name = ".forge-export"

  static func render(_ format: ExportFormat, _ paths: [String]) -> String {
    var text =
      "# Written by 'forge export \(format.rawValue)': the next export deletes the files it no longer writes.\n"
    for path in paths { text += path + "\n" }
    return text
  }

  /// The listed paths. A line that is not a plain relative path inside DIR (absolute, with a
  /// `..` or `.` component, with a control character) is ignored: a manifest that was edited
  /// or damaged must never make forge delete a file outside its export.
  static func parse(_ text: String) -> [String] {
    text.split(separator: "\n").map(String.init).filter { line in
      guard !line.hasPrefix("#"), !line.hasPrefix("/"), !line.isEmpty, line != name else { return false }
      guard !line.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return false }
      let parts = line.split(separator: "/", omittingEmptySubsequences: false)
      return !parts.contains { $0.isEmpty || $0 == ".." || $0 == "." }
    }
  }

  /// What the new export no longer writes, in the old manifest's order.
  static func stale(previous: [String], current: [String]) -> [String] {
    let kept = Set(current)
    return previous.filter { !kept.contains($0) }
  }

  /// The directories of `paths` below DIR, deepest first: emptied ones can be removed.
  static func directories(of paths: [String]) -> [String] {
    var found: Set<String> = []
    for path in paths {
      var parts = path.split(separator: "/").dropLast()
      while !parts.isEmpty {
        found.insert(parts.joined(separator: "/"))
        parts = parts.dropLast()
      }
    }
    return found.sorted { a, b in
      let (depthA, depthB) = (a.split(separator: "/").count, b.split(separator: "/").count)
      return depthA != depthB ? depthA > depthB : a < b
    }
  }
}
