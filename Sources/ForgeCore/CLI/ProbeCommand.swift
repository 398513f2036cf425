/// `forge probe-http PORT PATH` (not in help): the `http:` probe, run by forge as a child so
/// a slow server never holds the event loop. Prints the status code or the reason; exits 0 on
/// 2xx or 3xx within 1 s.
enum ProbeCommand {
  static func run(_ arguments: [String]) -> Int32 {
    guard arguments.count == 2, let port = Int(arguments[0]), port > 0, port < 65536 else {
      writeRaw(2, "forge: usage: forge probe-http PORT PATH\n")
      return ExitCode.usage
    }
    switch httpStatus(port: port, path: arguments[1], timeoutMilliseconds: 1000) {
    case .success(let code):
      writeRaw(1, "\(code)\n")
      return (200..<400).contains(code) ? ExitCode.success : ExitCode.failure
    case .failure(let error):
      writeRaw(1, "\(error.reason)\n")
      return ExitCode.failure
    }
  }
}
