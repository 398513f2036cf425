/// forge's probes as the exported files ask them, without forge: Kubernetes has its own
/// `tcpSocket`, `httpGet` and `exec` handlers; Compose healthchecks and systemd units run a shell
/// test. The shell tests need a tool in the image or on the host, so each has a fallback:
///
/// - `port`: `nc -z 127.0.0.1 PORT`, else bash's `/dev/tcp` (busybox images have nc, Debian's
///   slim images bash).
/// - `http:PATH`: `wget` (busybox has it), else `curl -f`. Both take 2xx and 3xx as forge does;
///   wget follows a redirect, curl does not.
/// - `exec:COMMAND`: the command itself, as `/bin/sh -c` (with `PORT` in its environment).
///
/// `log` and `notify` are told to forge by the process: only systemd has an equivalent (notify).
enum ExportProbes {
  /// A shell test that exits 0 when `probe` passes; `port` is a number or `$PORT`. nil for the
  /// probes nothing outside forge can ask (`log`, `notify`).
  static func shellTest(_ probe: Probe, port: String) -> String? {
    switch probe {
    case .port:
      return "nc -z 127.0.0.1 \(port) || bash -c ': </dev/tcp/127.0.0.1/\(port)'"
    case .http(let path):
      // In double quotes when the path needs quoting: `$PORT` still expands there.
      var url = "http://127.0.0.1:\(port)\(path)"
      if !isPlain(path) {
        url = "\"http://127.0.0.1:\(port)"
        for character in path {
          if "\\\"$`".contains(character) { url.append("\\") }
          url.append(character)
        }
        url += "\""
      }
      let seconds = timeoutSeconds(probe)
      return "wget -q -T \(seconds) -O /dev/null \(url) || curl -fsS -m \(seconds) -o /dev/null \(url)"
    case .exec(let command):
      return command
    case .log, .notify:
      return nil
    }
  }

  /// How long one probe may take, as forge allows it: an HTTP answer 1 s, a command 5 s (a
  /// port is answered at once; 1 s for the connection).
  static func timeoutSeconds(_ probe: Probe) -> Int {
    if case .exec = probe { return 5 }
    return 1
  }

  /// Whole seconds, for Kubernetes, which counts only those: rounded up, at least 1, capped so
  /// the conversion cannot trap.
  static func wholeSeconds(_ value: Double) -> Int {
    max(1, Int(min(max(value, 0), 1e9).rounded(.up)))
  }

  /// `text` as one shell word: as it is when every character is plain, else in single quotes.
  static func shellWord(_ text: String) -> String {
    if isPlain(text) { return text }
    return "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
  }

  /// Not empty, and nothing the shell would read as more than the characters themselves.
  private static func isPlain(_ text: String) -> Bool {
    !text.isEmpty
      && text.utf8.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
          UInt8(ascii: "0")...UInt8(ascii: "9"):
          return true
        default:
          return "/._-%+:@,=".utf8.contains(byte)
        }
      }
  }
}
