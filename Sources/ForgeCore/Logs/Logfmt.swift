/// Values of `key=value` text lines (`forge events` without `--json`), logfmt style, so a
/// reader can split a line on spaces and `=` again: a value with a space, `=`, `"` or a control
/// character (or an empty one) is quoted, with `"` and `\` escaped inside the quotes and line
/// breaks and tabs written as `\n`, `\r`, `\t`, so an event stays one line. Others go as they are.
enum Logfmt {
  static func pair(_ key: String, _ value: String) -> String { key + "=" + quoted(value) }

  static func quoted(_ value: String) -> String {
    guard value.isEmpty || value.unicodeScalars.contains(where: needsQuotes) else { return value }
    let escaped = value.escapingScalars { scalar in
      switch scalar {
      case "\"": "\\\""
      case "\\": "\\\\"
      case "\n": "\\n"
      case "\r": "\\r"
      case "\t": "\\t"
      default: nil
      }
    }
    return "\"" + escaped + "\""
  }

  private static func needsQuotes(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value <= 0x20 || scalar.value == 0x7F || scalar == "=" || scalar == "\""
  }
}
