/// `.forge.state`, beside the control socket (mode 0600, replaced atomically on every change):
/// forge's pid and start time, and each instance's name, pid, process group, start time, port
/// and stop signal. When forge dies without stopping (SIGKILL, the OOM killer, a crash), the
/// next `forge start`, `forge stop` or `forge ps` finds what it left running, and never
/// touches a reused pid (start times must match).
struct StateFile: Equatable {
  struct Entry: Equatable {
    let name: String
    let pid: Int32
    let group: Int32
    /// Clock ticks since boot (/proc/PID/stat field 22).
    let start: UInt64
    let port: Int
    let stopSignal: Int32
  }

  var forgePID: Int32
  var forgeStart: UInt64
  var entries: [Entry]

  static func path(forSocket socket: String) -> String {
    socket.hasSuffix(".sock") ? String(socket.dropLast(5)) + ".state" : socket + ".state"
  }

  func encoded() -> String {
    JSONValue.object([
      ("forge", .object([("pid", .number(Double(forgePID))), ("start", .number(Double(forgeStart)))])),
      (
        "instances",
        .array(
          entries.map { entry in
            .object([
              ("name", .string(entry.name)), ("pid", .number(Double(entry.pid))),
              ("group", .number(Double(entry.group))),
              ("start", .number(Double(entry.start))), ("port", .number(Double(entry.port))),
              ("stop_signal", .number(Double(entry.stopSignal))),
            ])
          })
      ),
    ]).render() + "\n"
  }

  static func decode(_ bytes: [UInt8]) -> StateFile? {
    let line = Array(bytes.prefix { $0 != 0x0A })
    guard let value = try? JSONValue.parse(line), let forge = value["forge"],
      let pid = forge["pid"]?.integer, let start = forge["start"]?.integer, case .array(let items)? = value["instances"]
    else { return nil }
    let entries = items.compactMap { item -> Entry? in
      guard let name = item["name"]?.string, let pid = item["pid"]?.integer, let group = item["group"]?.integer,
        let start = item["start"]?.integer
      else { return nil }
      return Entry(
        name: name, pid: Int32(pid), group: Int32(group), start: UInt64(max(0, start)),
        port: item["port"]?.integer ?? 0,
        stopSignal: Int32(item["stop_signal"]?.integer ?? 15))
    }
    return StateFile(forgePID: Int32(pid), forgeStart: UInt64(max(0, start)), entries: entries)
  }
}
