/// `forge top`: a live view of the forge running here, refreshed every second: instances
/// sorted by CPU (`m`: by memory, `c`: by CPU again, `q` quits), with state, readiness,
/// restarts, uptime, port and release, and forge's own CPU and memory. Outside a terminal it
/// prints one snapshot and exits.
enum TopCommand {
  static let specs = ClientCommands.specs

  enum Order {
    case cpu
    case memory
  }

  static func run(_ arguments: [String]) throws -> Int32 {
    guard let invocation = try Invocation.parse(arguments, command: "top", specs: specs) else { return 0 }
    if let extra = invocation.parsed.positionals.first {
      throw UsageError("unexpected argument '\(extra)'", command: "top")
    }
    let colour = ProcessEnvironment.current().first { $0.key == "NO_COLOR" }.map { $0.value.isEmpty } ?? true
    if invocation.parsed.options.has("json") {
      // One snapshot for scripts, on a terminal too: the instances (as `ps --json`) and forge.
      let snapshot = try fetch(invocation)
      let fields: [(String, JSONValue)] = [
        ("processes", snapshot["processes"] ?? .array([])), ("forge", snapshot["forge"] ?? .null),
      ]
      writeRaw(1, JSONValue.object(fields).render() + "\n")
      return ExitCode.success
    }
    guard TerminalScreen.isTerminal else {
      let snapshot = try fetch(invocation)
      writeRaw(1, render(snapshot, order: .cpu, rows: Int.max, columns: Int.max, colour: false))
      return ExitCode.success
    }
    let screen = TerminalScreen()
    defer { screen.restore() }
    var order = Order.cpu
    while true {
      let snapshot: JSONValue
      do {
        snapshot = try fetch(invocation)
      } catch {
        screen.restore()
        writeRaw(2, "forge: the forge running here has gone\n")
        return ExitCode.success
      }
      let (rows, columns) = screen.size
      writeRaw(1, "\u{1B}[H\u{1B}[2J" + render(snapshot, order: order, rows: rows, columns: columns, colour: colour))
      switch screen.wait(milliseconds: 1000) {
      case .key(let key) where key == UInt8(ascii: "q") || key == 3 || key == 4:
        return ExitCode.success
      case .key(let key) where key == UInt8(ascii: "m"):
        order = .memory
      case .key(let key) where key == UInt8(ascii: "c"):
        order = .cpu
      case .signal(let signal) where signal != Signal.windowChange:
        return ExitCode.success
      default:
        break
      }
    }
  }

  private static func fetch(_ invocation: Invocation) throws -> JSONValue {
    let client = try ClientCommands.connect(invocation)
    do {
      return try client.send(.ps)
    } catch {
      throw ClientCommands.describe(error, invocation)
    }
  }

  static func render(_ reply: JSONValue, order: Order, rows: Int, columns: Int, colour: Bool) -> String {
    guard case .array(var processes)? = reply["processes"] else { return "" }
    let key = order == .cpu ? "cpu_percent" : "rss_bytes"
    processes.sort { ($0[key]?.number ?? -1) > ($1[key]?.number ?? -1) }
    let forge = reply["forge"]
    var lines: [String] = []
    let cpu = forge?["cpu_percent"]?.number.map(ProcessTable.formatPercent) ?? "-"
    let rss = forge?["rss_bytes"]?.number.map(ProcessTable.formatBytes) ?? "-"
    lines.append(
      "forge pid \(forge?["pid"]?.integer ?? 0)  release \(forge?["release"]?.string ?? "?")  "
        + "CPU \(cpu)%  RSS \(rss)  sorted by \(order == .cpu ? "CPU" : "memory")  (m: memory, c: CPU, q: quit)")
    var table: [[String]] = [["INSTANCE", "STATE", "READY", "CPU%", "RSS", "RESTARTS", "UPTIME", "PORT", "RELEASE"]]
    for process in processes {
      table.append([
        process["name"]?.string ?? "?", process["state"]?.string ?? "?",
        process["ready"] == .bool(true) ? "yes" : "no",
        process["cpu_percent"]?.number.map(ProcessTable.formatPercent) ?? "-",
        process["rss_bytes"]?.number.map(ProcessTable.formatBytes) ?? "-",
        process["restarts"]?.integer.map(String.init) ?? "0",
        process["uptime"]?.number.map(ProcessTable.duration) ?? "-",
        process["port"]?.integer.map(String.init) ?? "-",
        process["release"]?.string ?? "-",
      ])
    }
    var widths = [Int](repeating: 0, count: table[0].count)
    for row in table { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    for (index, row) in table.enumerated() {
      var line = ""
      for (i, cell) in row.enumerated() {
        line += i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 2)
      }
      if line.count > columns { line = String(line.prefix(columns)) }
      lines.append(index == 0 && colour ? "\u{1B}[7m" + line + "\u{1B}[0m" : line)
    }
    if lines[0].count > columns { lines[0] = String(lines[0].prefix(columns)) }
    return lines.prefix(max(1, rows - 1)).joined(separator: "\n") + "\n"
  }
}
