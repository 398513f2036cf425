import Glibc

/// `forge attach TARGET`: the caller's terminal connected to an instance's terminal through the
/// control socket. Raw mode; `Ctrl-]` (`--detach-keys`) detaches and leaves the process running;
/// the window size follows the caller; the terminal is restored on every way out, and when the
/// process exits, so does `forge attach`, with its status.
enum AttachCommand {
  static let specs = ClientCommands.specs.filter { $0.long != "json" } + [Options.detachKeys, Options.steal]
  static let watched: [Int32] = [SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGQUIT]

  static func run(_ arguments: [String]) throws -> Int32 {
    guard let invocation = try Invocation.parse(arguments, command: "attach", specs: specs) else { return 0 }
    let positionals = invocation.parsed.positionals
    guard positionals.count == 1, let target = positionals.first else {
      throw UsageError("attach needs one TARGET (web or web.2)", command: "attach")
    }
    let detachKey = try parseKey(invocation.parsed.options.last("detach-keys") ?? "ctrl-]")
    var mask = Signal.set(watched)
    _ = pthread_sigmask(SIG_BLOCK, &mask, nil)
    let signals = try SignalFD(signals: watched)
    let client = try ClientCommands.connect(invocation)
    let size = RawTerminal.size
    var rest: [UInt8] = []
    let reply: JSONValue
    do {
      reply = try client.stream(
        .attach(target: target, rows: size.rows, columns: size.columns, steal: invocation.parsed.options.has("steal")),
        output: {
          rest += $0
          return true
        }, untilReply: true)
    } catch {
      throw ClientCommands.describe(error, invocation)
    }
    guard reply["ok"] == .bool(true) else {
      throw Exit(ExitCode.failure, "forge: \(reply["error"]?.string ?? "attach failed")")
    }
    let name = reply["instance"]?.string ?? target
    let terminal = RawTerminal()
    defer { terminal.restore() }
    var inbound = rest
    let socket = client.connection.raw
    var readingKeys = true
    while true {
      for frame in AttachFrame.decode(&inbound) {
        switch frame {
        case .data(let bytes): writeRaw(1, bytes: bytes)
        case .exit(let status):
          terminal.restore()
          writeRaw(2, "\r\nforge: \(name) exited with status \(status)\n")
          return status
        case .notice(let text):
          terminal.restore()
          writeRaw(2, "\r\nforge: detached from \(name): \(text)\n")
          return ExitCode.failure
        case .windowSize: break
        }
      }
      let ready = waitReadable((readingKeys ? [0] : []) + [socket, signals.fd.raw], milliseconds: -1)
      if ready.contains(signals.fd.raw) {
        for signal in (try? signals.drain()) ?? [] {
          if signal == SIGWINCH {
            let now = RawTerminal.size
            _ = try? client.connection.writeAll(AttachFrame.windowSize(rows: now.rows, columns: now.columns).encoded)
          } else {
            terminal.restore()
            writeRaw(2, "\r\nforge: detached from \(name) (\(Signal.name(signal)))\n")
            return ExitCode.failure
          }
        }
      }
      if ready.contains(0) {
        if let keys = readAvailable(0) {
          if let index = keys.firstIndex(of: detachKey) {
            send(Array(keys[..<index]), client)
            terminal.restore()
            writeRaw(2, "\r\nforge: detached from \(name); it keeps running\n")
            return ExitCode.success
          }
          send(keys, client)
        } else {
          readingKeys = false  // stdin has ended; output still comes
        }
      }
      if ready.contains(socket) {
        guard let bytes = readAvailable(socket) else { break }
        inbound += bytes
      }
    }
    terminal.restore()
    writeRaw(2, "\r\nforge: the connection to forge closed\n")
    return ExitCode.failure
  }

  private static func send(_ keys: [UInt8], _ client: ControlClient) {
    guard !keys.isEmpty else { return }
    _ = try? client.connection.writeAll(AttachFrame.data(keys).encoded)
  }

  /// `ctrl-]`, `ctrl-a`, or one character.
  static func parseKey(_ text: String) throws(ConfigError) -> UInt8 {
    let lower = text.lowercased()
    if lower.hasPrefix("ctrl-"), lower.utf8.count == 6, let key = lower.utf8.last {
      switch key {
      case UInt8(ascii: "a")...UInt8(ascii: "z"): return key - UInt8(ascii: "a") + 1
      case UInt8(ascii: "@"): return 0
      case UInt8(ascii: "["): return 27
      case UInt8(ascii: "\\"): return 28
      case UInt8(ascii: "]"): return 29
      case UInt8(ascii: "^"): return 30
      case UInt8(ascii: "_"): return 31
      default: break
      }
    } else if text.utf8.count == 1, let key = text.utf8.first {
      return key
    }
    throw ConfigError(path: "--detach-keys", line: 0, message: "expected ctrl-X or one character, got \"\(text)\"")
  }
}
