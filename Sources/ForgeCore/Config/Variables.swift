/// The variables settings are read from: the environment over `.forge`, with where each
/// `.forge` value was written, so an error names `.forge:LINE` rather than the variable.
struct Variables {
  private(set) var values: [String: String] = [:]
  private var origins: [String: String] = [:]

  init(environment: [(key: String, value: String)], file: [SettingsFile.Entry] = [], accepts: (String) -> Bool) {
    for entry in file where accepts(entry.key) {
      values[entry.key] = entry.value
      origins[entry.key] = "\(SettingsFile.name):\(entry.line)"
    }
    for (key, value) in environment where accepts(key) {
      values[key] = value
      origins[key] = nil
    }
  }

  subscript(_ key: String) -> String? { values[key] }

  /// How an error names the place a variable's value came from.
  func source(of key: String) -> String { origins[key] ?? key }
}
