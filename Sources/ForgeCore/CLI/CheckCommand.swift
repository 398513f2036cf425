/// `forge check`: parses the Procfile and every env file.
enum CheckCommand {
  static let specs = Options.common + [Options.formation, Options.concurrency, Options.port, Options.envOverride]

  static func run(_ arguments: [String]) throws -> Int32 {
    guard let invocation = try Invocation.parse(arguments, command: "check", specs: specs) else { return 0 }
    if let extra = invocation.parsed.positionals.first {
      throw UsageError("unexpected argument '\(extra)'", command: "check")
    }
    let project = try invocation.loadProject()
    writeRaw(1, "valid procfile detected (\(project.procfile.names.joined(separator: ", ")))\n")
    return ExitCode.success
  }
}
