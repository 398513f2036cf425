/// `forge logs` and `forge events`: a request whose reply is followed by a stream.
extension ClientCommands {
  /// `forge logs` and `forge events`: the stream goes to stdout until forge closes it (or
  /// Ctrl-C, whose default action ends the client).
  static func stream(_ command: String, _ invocation: Invocation) throws -> Int32 {
    let options = invocation.parsed.options
    let json = options.has("json")
    let request: ControlRequest
    if command == "events" {
      try expectNoArguments(invocation.parsed.positionals, command)
      request = .events(json: json)
    } else {
      var lines = 100
      if let given = options.last("lines") {
        guard let n = Int(given), n >= 0, n <= 1_000_000 else {
          throw ConfigError(path: "--lines", line: 0, message: "expected a count, got \"\(given)\"")
        }
        lines = n
      }
      // The live stream's format unless the viewer asks for time stamps or none.
      let stamped = options.lastGiven(of: ["timestamp", "no-timestamp"]).map { $0 == "timestamp" }
      // A follower gets its stream through a pipe of its own, which forge fills by reference.
      request = .logs(
        targets: invocation.parsed.positionals, lines: lines, follow: options.has("follow"), json: json,
        timestamps: stamped, pipe: options.has("follow"))
    }
    let client = try connect(invocation)
    if command == "events" || options.has("follow") { Scheduling.yieldToFormation() }
    let output = StreamOutput()
    let reply: JSONValue
    switch streamReply(client, request, to: output) {
    case .success(let value): reply = value
    case .failure(let failure): throw describe(failure, invocation)
    }
    guard reply["ok"] == .bool(true) else {
      throw Exit(ExitCode.failure, "forge: \(reply["error"]?.string ?? "request failed")")
    }
    // The stream is JSON with --json, or when forge prints JSON (`--log-format json`).
    output.finish { cutLineWasJSON in lostNotice(events: command == "events", json: json || cutLineWasJSON) }
    if let failure = output.failure { throw Exit(ExitCode.failure, "forge: \(failure)") }
    return ExitCode.success
  }

  private static func streamReply(
    _ client: ControlClient, _ request: ControlRequest, to output: StreamOutput
  ) -> Result<JSONValue, ControlClient.Failure> {
    do {
      return .success(try client.stream(request) { bytes in output.print(bytes) })
    } catch {
      return .failure(error)
    }
  }

  /// In place of a line forge cut when it stopped with this client behind, in the stream's
  /// own format (as `… N lines skipped` is).
  private static func lostNotice(events: Bool, json: Bool) -> String {
    let text = "… the end of the stream was lost: forge stopped while this client was behind"
    guard json else { return text + "\n" }
    let wall = Clock.wall()
    let time = JSONValue.string(WallTime.rfc3339(wall.seconds, wall.milliseconds))
    let fields: [(String, JSONValue)] =
      events
      ? [("time", time), ("event", .string("lost")), ("instance", .null)]
      : [("time", time), ("process", .string(LogSource.forgeName)), ("line", .string(text)), ("lost", .bool(true))]
    return JSONValue.object(fields).render() + "\n"
  }
}
