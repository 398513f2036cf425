/// `forge check`: reads and checks everything `forge start` would (the Procfile, every env
/// file, the formation and the other settings) without starting anything.
enum CheckCommand {
  static let specs = StartCommand.specs

  static func run(_ arguments: [String]) throws -> Int32 {
    guard let invocation = try Invocation.parse(arguments, command: "check", specs: specs) else { return 0 }
    if let extra = invocation.parsed.positionals.first {
      throw UsageError("unexpected argument '\(extra)'", command: "check")
    }
    let (project, _) = try StartCommand.configure(invocation)
    writeRaw(1, "valid procfile detected (\(project.procfile.names.joined(separator: ", ")))\n")
    return ExitCode.success
  }
}
