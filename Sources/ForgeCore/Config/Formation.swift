/// How many instances of each process type run: foreman's `-m web=2,worker=1`. `all=N` sets
/// the count of every type not named; without `all`, types not named do not run.
struct Formation: Equatable, Sendable {
  var counts: [(name: String, count: Int)]
  var all: Int?

  static func == (a: Formation, b: Formation) -> Bool {
    a.all == b.all && a.counts.elementsEqual(b.counts) { $0.name == $1.name && $0.count == $1.count }
  }

  static let `default` = Formation(counts: [], all: 1)
  /// The most instances of one type, here and in `forge scale`.
  static let maximumCount = 1000

  /// Parses `web=2,worker=1` (spaces allowed around commas and `=`). `source` names where the
  /// text came from in errors: `-m`, `FORGE_FORMATION`.
  static func parse(_ text: String, source: String) throws(ConfigError) -> Formation {
    var formation = Formation(counts: [], all: nil)
    let items = text.split(separator: ",", omittingEmptySubsequences: false)
    for raw in items {
      let item = raw.trimmingBlanks()
      guard let eq = item.firstIndex(of: "=") else {
        throw ConfigError(
          path: source, line: 0, message: "expected TYPE=COUNT, got \"\(item)\"")
      }
      let name = item[..<eq].trimmingBlanks()
      let countText = item[item.index(after: eq)...].trimmingBlanks()
      guard !name.isEmpty, name.utf8.allSatisfy(Procfile.isNameByte) else {
        throw ConfigError(path: source, line: 0, message: "invalid process type \"\(name)\" in \"\(item)\"")
      }
      guard let count = parseCount(countText), count <= maximumCount else {
        throw ConfigError(
          path: source, line: 0,
          message: "invalid count \"\(countText)\" for \(name): expected a whole number from 0 to \(maximumCount)")
      }
      if name == "all" {
        guard formation.all == nil else { throw ConfigError(path: source, line: 0, message: "all is given twice") }
        formation.all = count
      } else if formation.counts.contains(where: { $0.name == name }) {
        throw ConfigError(path: source, line: 0, message: "\(name) is given twice")
      } else {
        formation.counts.append((name, count))
      }
    }
    return formation
  }

  static func parseCount(_ text: String) -> Int? {
    guard !text.isEmpty, text.utf8.count <= 6, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
      return nil
    }
    return Int(text)
  }

  /// The count for every Procfile entry, in Procfile order. A named type that is not in the
  /// Procfile is an error.
  func resolve(against procfile: Procfile, source: String) throws(ConfigError) -> [Int] {
    for (name, _) in counts where procfile.index(of: name) == nil {
      throw ConfigError(
        path: source, line: 0,
        message: "unknown process type \"\(name)\" (\(procfile.path) defines \(procfile.names.joined(separator: ", ")))"
      )
    }
    return procfile.entries.map { entry in
      counts.first { $0.name == entry.name }?.count ?? all ?? 0
    }
  }
}

/// foreman's port rule: base + 100 × the type's index in the Procfile + (instance − 1).
enum PortPlan {
  static let highest = 65535

  /// Each type has 100 ports: more instances than that would share ports with the next type.
  /// The first clash, named ("web.101 and worker.1 would both get PORT 5100"), or nil.
  static func collision(counts: [Int], names: [String], base: Int) -> String? {
    for (index, count) in counts.enumerated() where count > 100 {
      for later in (index + 1)..<counts.count where counts[later] > 0 {
        let offset = 100 * (later - index)
        guard count > offset else { break }
        let number = offset + 1
        let port = port(base: base, typeIndex: index, instance: number)
        return "\(names[index]).\(number) and \(names[later]).1 would both get PORT \(port)"
          + " (each type has 100 ports)"
      }
    }
    return nil
  }

  static func port(base: Int, typeIndex: Int, instance: Int) -> Int {
    base + 100 * typeIndex + (instance - 1)
  }
}

extension StringProtocol {
  /// Without leading and trailing spaces and tabs.
  func trimmingBlanks() -> String {
    let bytes = Array(utf8)
    var lower = 0
    var upper = bytes.count
    while lower < upper && TextLines.isSpace(bytes[lower]) { lower += 1 }
    while upper > lower && TextLines.isSpace(bytes[upper - 1]) { upper -= 1 }
    return String(decoding: bytes[lower..<upper], as: UTF8.self)
  }
}
