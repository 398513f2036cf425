/// `forge env [--json]`: the environment processes get, before PORT, PS and DYNO. Follows a
/// running forge's release when one answers (see `ReleaseLookup`).
enum EnvCommand {
  static let specs =
    Options.common + [Options.json, Options.envOverride, Options.fresh, Options.socket, Options.reveal]
    + Options.secretHandling

  static func run(_ arguments: [String]) throws -> Int32 {
    guard let invocation = try Invocation.parse(arguments, command: "env", specs: specs) else { return 0 }
    if let extra = invocation.parsed.positionals.first {
      throw UsageError("unexpected argument '\(extra)'", command: "env")
    }
    let release = try ReleaseLookup.resolve(invocation)
    let reveal = invocation.parsed.options.has("reveal")
    // Secret values show as [redacted] unless asked for (`--reveal`).
    let pairs = release.environment.sorted { $0.key < $1.key }.map { pair in
      (key: pair.key, value: !reveal && release.secretKeys.contains(pair.key) ? "[redacted]" : pair.value)
    }
    if invocation.parsed.options.has("json") {
      let value = JSONValue.object(pairs.map { ($0.key, .string($0.value)) })
      writeRaw(1, value.render() + "\n")
    } else {
      var text = ""
      for (key, value) in pairs { text += "\(key)=\(ShellQuote.quote(value))\n" }
      writeRaw(1, text)
    }
    return ExitCode.success
  }
}

/// Shell quoting for values printed or appended to commands.
enum ShellQuote {
  /// The value as is when it needs no quoting, else in single quotes.
  static func quote(_ value: String) -> String {
    if !value.isEmpty && value.utf8.allSatisfy(isSafe) { return value }
    return "'" + value.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
  }

  private static func isSafe(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"):
      return true
    default:
      return "_-./:,@%+=".utf8.contains(byte)
    }
  }
}
