/// ANSI colours, one per process type in Procfile order (foreman's sequence), cycling.
enum Palette {
  static let reset: [UInt8] = Array("\u{1B}[0m".utf8)
  /// forge's own lines: bold, so they stand apart from every process colour.
  static let forge: [UInt8] = Array("\u{1B}[1m".utf8)

  private static let colours: [[UInt8]] = [
    "36", "33", "32", "35", "31", "34", "96", "93", "92", "95", "91", "94",
  ].map { Array("\u{1B}[\($0)m".utf8) }

  static func colour(forTypeIndex index: Int) -> [UInt8] {
    colours[index % colours.count]
  }

  /// Colour is on when stdout is a terminal, `NO_COLOR` is unset or empty and `TERM` is not
  /// `dumb`; `--color` / `--no-color` decide over that.
  static func enabled(forced: Bool?, stdoutIsTerminal: Bool, environment: [String: String]) -> Bool {
    if let forced { return forced }
    if let noColor = environment["NO_COLOR"], !noColor.isEmpty { return false }
    if environment["TERM"] == "dumb" { return false }
    return stdoutIsTerminal
  }
}
