/// `forge scale`, `forge ps`, `forge restart` and `forge stop`: requests to a running forge
/// over its control socket.
enum ClientCommands {
  static let specs = [Options.procfile, Options.root, Options.env, Options.socket, Options.json, Options.help]

  /// The options of one client command: the common ones and its own.
  static func specs(of command: String) -> [OptionSpec] {
    switch command {
    case "scale": return specs + [Options.waitReady]
    case "restart": return specs + [Options.noWait]
    case "wait": return specs + [Options.waitTimeout]
    case "reload": return specs + [Options.dryRun]
    case "logs":
      // -f means --follow here, as for tail and docker logs; the Procfile is --procfile only.
      return [Options.procfileLongOnly] + specs.filter { $0.long != "procfile" }
        + [Options.follow, Options.lineCount, Options.arrivalTime, Options.noTimestamp]
    default: return specs
    }
  }

  static func run(_ command: String, _ arguments: [String]) throws -> Int32 {
    guard let invocation = try Invocation.parse(arguments, command: command, specs: specs(of: command)) else {
      return 0
    }
    let positionals = invocation.parsed.positionals
    let options = invocation.parsed.options
    let request: ControlRequest
    var replyTimeout: Int32 = 15_000
    switch command {
    case "scale":
      let parsed: (counts: [(String, Int)], deltas: [(String, Int)])
      do {
        parsed = try ScaleArguments.parse(positionals)
      } catch {
        throw Exit(ExitCode.failure, "forge: \(error.message)")  // the issue: an error exits 1
      }
      let (counts, deltas) = parsed
      request = .scale(counts: counts, deltas: deltas, wait: options.has("wait"))
      if options.has("wait") { replyTimeout = -1 }
    case "ps":
      try expectNoArguments(positionals, command)
      request = .ps
    case "restart":
      guard positionals.count <= 1 else {
        throw UsageError("restart takes at most one TYPE or TYPE.N", command: command)
      }
      // By default the reply comes once the last instance is ready again.
      request = .restart(target: positionals.first, wait: !options.has("no-wait"))
      if !options.has("no-wait") { replyTimeout = -1 }
    case "logs", "events":
      return try stream(command, invocation)
    case "reload":
      try expectNoArguments(positionals, command)
      request = .reload(dryRun: options.has("dry-run"))
      replyTimeout = -1  // the reply comes when the rollout ends
    case "signal":
      guard let signal = positionals.first else {
        throw UsageError("signal needs a SIGNAL (HUP, SIGUSR1, 10…) and optional TYPEs or instances", command: command)
      }
      request = .signal(signal: signal, targets: Array(positionals.dropFirst()))
    case "wait":
      var seconds = 60.0
      if let given = options.last("timeout") {
        guard let value = Double(given), value >= 0, value <= Settings.maximumSeconds else {
          throw ConfigError(path: "--timeout", line: 0, message: "expected seconds (a number from 0), got \"\(given)\"")
        }
        seconds = value
      }
      request = .wait(types: positionals, timeout: seconds)
      replyTimeout = -1  // forge answers at the timeout
    default:
      try expectNoArguments(positionals, command)
      request = .stop
    }
    let client: ControlClient
    do {
      client = try connect(invocation)
    } catch let exit as Exit where exit.message?.contains("no running forge") == true {
      return try noForge(command, invocation, exit)
    }
    let reply: JSONValue
    do {
      reply = try client.send(request, timeoutMilliseconds: replyTimeout)
    } catch .closedWithoutReply where request == .stop {
      // Asked while forge was exiting and too late for it to read the request: it is
      // stopping all the same. Its status went to the stop that was read.
      client.waitForExit()
      writeRaw(1, invocation.parsed.options.has("json") ? "{\"stopped\":true}\n" : "stopped\n")
      return ExitCode.success
    } catch {
      throw describe(error, invocation)
    }
    guard reply["ok"] == .bool(true) else {
      // A reload of files that do not parse is bad input, as it would be for `forge check`.
      let code = reply["bad_input"] == .bool(true) ? ExitCode.usage : ExitCode.failure
      throw Exit(code, "forge: \(reply["error"]?.string ?? "request failed")")
    }
    let json = invocation.parsed.options.has("json")
    switch request {
    case .scale:
      writeRaw(1, json ? (reply["formation"] ?? .null).render() + "\n" : formationLine(reply["formation"]) + "\n")
    case .ps:
      writeRaw(1, json ? (reply["processes"] ?? .null).render() + "\n" : ProcessTable.render(reply["processes"]))
    case .restart:
      if json {
        writeRaw(1, (reply["restarting"] ?? .array([])).render() + "\n")
      } else if case .array(let names)? = reply["restarting"] {
        writeRaw(1, "restarting " + names.compactMap(\.string).joined(separator: ", ") + "\n")
      }
    case .reload(let dryRun):
      if json {
        writeRaw(1, reply.render() + "\n")
      } else {
        let plan = reply["plan"]?.string ?? ""
        let release = reply["release"]?.string ?? ""
        writeRaw(1, dryRun ? plan + "\n" : plan + "\nrelease \(release) running\n")
      }
    case .signal:
      if json {
        writeRaw(1, (reply["signalled"] ?? .array([])).render() + "\n")
      } else if case .array(let names)? = reply["signalled"] {
        writeRaw(1, "signalled " + names.compactMap(\.string).joined(separator: ", ") + "\n")
      }
    case .wait:
      if json {
        writeRaw(1, (reply["ready"] ?? .array([])).render() + "\n")
      } else if case .array(let names)? = reply["ready"] {
        writeRaw(1, "ready: " + names.compactMap(\.string).joined(separator: ", ") + "\n")
      }
    case .stop:
      // forge's own exit status, as `forge stop`'s: 137 when something had to be SIGKILLed.
      let status = client.waitForExit() ?? 0
      writeRaw(1, json ? "{\"stopped\":true,\"status\":\(status)}\n" : "stopped\n")
      return status
    case .env, .logs, .events, .attach:
      break  // not sent from here
    }
    return ExitCode.success
  }

  /// No forge answers. What a forge that died left running is told by `ps` and stopped by
  /// `stop`; stopping is idempotent, as `systemctl stop` is: nothing running is success.
  private static func noForge(_ command: String, _ invocation: Invocation, _ exit: Exit) throws -> Int32 {
    let statePath = StateFile.path(forSocket: invocation.settings.socketPath)
    let state = Leftovers.read(statePath).flatMap { Leftovers.forgeIsGone($0) ? $0 : nil }
    let found = state.map(Leftovers.find) ?? []
    switch command {
    case "stop":
      // The dead forge's socket goes with its state file (nothing listens on it: connecting
      // failed); a file of another kind at that path is not ours to delete.
      if state != nil, UnixSocket.identity(invocation.settings.socketPath) != nil {
        UnixSocket.remove(invocation.settings.socketPath)
      }
      guard let state, !found.isEmpty else {
        if state != nil { Leftovers.remove(statePath) }
        writeRaw(1, invocation.parsed.options.has("json") ? "{\"stopped\":false}\n" : "no forge running\n")
        return ExitCode.success
      }
      let survivors = Leftovers.stop(found, grace: invocation.settings.timeoutSeconds)
      Leftovers.remove(statePath)
      writeRaw(
        1,
        "stopped what a forge that died (pid \(state.forgePID)) left running: "
          + found.map(\.label).joined(separator: ", ") + "\n")
      if !survivors.isEmpty {
        throw Exit(
          ExitCode.failure, "forge: still there after SIGKILL: " + survivors.map(\.label).joined(separator: ", "))
      }
      return ExitCode.success
    case "ps" where !found.isEmpty:
      let list = found.map { leftover in
        "\(leftover.label): " + leftover.processes.map { "\($0.pid) (\($0.command))" }.joined(separator: ", ")
      }
      throw Exit(
        ExitCode.failure,
        "forge: the forge that ran here (pid \(state?.forgePID ?? 0)) has died; left running:\n  "
          + list.joined(separator: "\n  ") + "\n(forge stop stops them; forge start stops them first)")
    default:
      throw exit
    }
  }

  static func connect(_ invocation: Invocation) throws -> ControlClient {
    do {
      return try ControlClient.connect(invocation.settings.socketPath)
    } catch {
      throw describe(error, invocation)
    }
  }

  static func describe(_ error: ControlClient.Failure, _ invocation: Invocation) -> Exit {
    switch error {
    case .notRunning:
      return Exit(
        ExitCode.failure,
        "forge: no running forge found at \(invocation.socketDisplay) (start one with 'forge start')")
    case .closedWithoutReply:
      return Exit(ExitCode.failure, "forge: forge closed the connection")
    case .failed(let message):
      return Exit(ExitCode.failure, "forge: \(message)")
    }
  }

  static func expectNoArguments(_ positionals: [String], _ command: String) throws {
    if let extra = positionals.first { throw UsageError("unexpected argument '\(extra)'", command: command) }
  }

  /// `web=2 worker=1`: the form `forge scale` accepts back.
  static func formationLine(_ value: JSONValue?) -> String {
    guard case .object(let members)? = value else { return "" }
    return members.map { "\($0.0)=\($0.1.integer ?? 0)" }.joined(separator: " ")
  }
}

/// The `forge ps` table.
enum ProcessTable {
  static let header = [
    "INSTANCE", "PID", "STATE", "READY", "HEALTH", "CPU%", "RSS", "UPTIME", "RESTARTS", "PORT", "NEXT RETRY", "STATUS",
  ]

  static func render(_ value: JSONValue?) -> String {
    guard case .array(let processes)? = value else { return "" }
    var rows: [[String]] = [Self.header]
    for process in processes {
      rows.append([
        process["name"]?.string ?? "?",
        process["pid"]?.integer.map(String.init) ?? "-",
        process["state"]?.string ?? "?",
        process["ready"] == .bool(true) ? "yes" : "no",
        process["healthy"].flatMap { $0 == .null ? nil : ($0 == .bool(true) ? "healthy" : "unhealthy") } ?? "-",
        process["cpu_percent"]?.number.map { formatPercent($0) } ?? "-",
        process["rss_bytes"]?.number.map { formatBytes($0) } ?? "-",
        process["uptime"]?.number.map(duration) ?? "-",
        process["restarts"]?.integer.map(String.init) ?? "0",
        process["port"]?.integer.map(String.init) ?? "-",
        process["next_retry"]?.number.map { "in " + duration($0) } ?? "-",
        process["status_text"]?.string ?? "-",
      ])
    }
    var widths = [Int](repeating: 0, count: rows[0].count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    var text = ""
    for row in rows {
      var line = ""
      for (i, cell) in row.enumerated() {
        line += i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 2)
      }
      text += line + "\n"
    }
    return text
  }

  static func formatPercent(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
  }

  /// "12.3M", "640K", "1.2G".
  static func formatBytes(_ value: Double) -> String {
    if value < 1024 * 1024 { return "\(Int(value / 1024))K" }
    if value < 1024 * 1024 * 1024 { return formatPercent(value / 1024 / 1024) + "M" }
    return formatPercent(value / 1024 / 1024 / 1024) + "G"
  }

  static func duration(_ seconds: Double) -> String {
    let whole = Int(seconds)
    if whole < 60 { return "\(whole)s" }
    if whole < 3600 { return "\(whole / 60)m\(whole % 60)s" }
    return "\(whole / 3600)h\(whole % 3600 / 60)m"
  }
}
