import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

// Helpers for ReloadTests and WatchTests: releases read from forge's own lines, plain HTTP
// requests to the instances, a poller that asks them all through a rollout, and the
// directories forge's inotify instance watches.

enum ReloadSupport {
  /// A service with a SIGHUP handler that appends to `hup-$PS` and prints `got HUP`; prints
  /// `ready pid=<pid>`, and `got TERM` on SIGTERM.
  static let hupRecorder = """
    #!/bin/sh
    trap 'echo "got TERM"; exit 0' TERM
    trap 'echo hup >> "hup-$PS"; echo "got HUP"' HUP
    \(HelperScripts.idleSetup)
    echo "ready pid=$$"
    \(HelperScripts.idleLoop)

    """

  /// A service without a SIGHUP handler: SIGHUP kills it. Prints `ready pid=<pid>`.
  static let noHUPHandler = """
    #!/bin/sh
    trap 'echo "got TERM"; exit 0' TERM
    \(HelperScripts.idleSetup)
    echo "ready pid=$$"
    \(HelperScripts.idleLoop)

    """

  /// `python3 -m http.server` on 127.0.0.1:$PORT serving the directory `directory`.
  static func httpServer(serving directory: String) -> String {
    "exec python3 -u -m http.server --bind 127.0.0.1 --directory \(directory) $PORT"
  }

  /// The release forge started with (its first `forge | release X` line).
  static func startingRelease(of forge: ForgeProcess) throws -> String {
    let line = try forge.waitForLine(containing: "release ", from: "forge")
    guard let text = LogLine(line)?.text, text.hasPrefix("release ") else {
      throw HarnessError("no release in \"\(line)\"\n\(forge.transcript())")
    }
    return String(text.dropFirst("release ".count))
  }

  /// The new release of a plan `reload: release A → B: …`, checking that it starts `reload:
  /// release A → ` and goes on with `changes`.
  static func newRelease(
    inPlan plan: String, from old: String, changes: String, file: StaticString = #filePath, line: UInt = #line
  ) throws -> String {
    let pattern = "^reload: release \(old) → ([0-9a-f]{8}): " + NSRegularExpression.escapedPattern(for: changes) + "$"
    let regex = try NSRegularExpression(pattern: pattern)
    guard let match = regex.firstMatch(in: plan, range: NSRange(plan.startIndex..., in: plan)),
      let range = Range(match.range(at: 1), in: plan)
    else {
      XCTFail("plan \"\(plan)\" is not /\(pattern)/", file: file, line: line)
      throw HarnessError("unexpected plan: \(plan)")
    }
    return String(plan[range])
  }

  /// The index among forge's stdout lines of the `count`-th line of `process` whose text
  /// starts with `prefix`.
  static func index(of prefix: String, from process: String, count: Int = 1, in forge: ForgeProcess) throws -> Int {
    let lines = forge.stdout.lines
    let matches = lines.indices.filter { index in
      guard let parsed = LogLine(lines[index]) else { return false }
      return parsed.process == process && parsed.text.hasPrefix(prefix)
    }
    guard matches.count >= count else {
      throw HarnessError("no \(count). line \"\(prefix)…\" from \(process)\n\(forge.transcript())")
    }
    return matches[count - 1]
  }

  /// The `release` field of a `forge ps --json` row.
  static func release(_ row: PSTable.Row?) -> String? {
    row?.fields["release"] as? String
  }

  /// `GET /` on 127.0.0.1:`port`: the body of a 200 answer, or nil (refused, reset, another
  /// status, no answer within `timeout`).
  static func get(_ port: Int, timeout: TimeInterval = 1) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    let connected = withUnsafePointer(to: &address) {
      Glibc.connect(fd, __CONST_SOCKADDR_ARG(__sockaddr_in__: $0), socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
    }
    guard connected else { return nil }
    let request = Array("GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    guard sent == request.count else { return nil }
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { return nil }
      if n == 0 { break }
      answer.append(contentsOf: buffer[0..<n])
    }
    let text = String(decoding: answer, as: UTF8.self)
    guard text.hasPrefix("HTTP/1.0 200 ") || text.hasPrefix("HTTP/1.1 200 "),
      let end = text.range(of: "\r\n\r\n")
    else { return nil }
    return String(text[end.upperBound...])
  }

  /// The inode numbers of the directories forge's inotify instance watches, from
  /// /proc/PID/fdinfo (`inotify wd:1 ino:f96034 …`).
  static func watchedInodes(of pid: pid_t) -> Set<UInt64> {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
    var inodes: Set<UInt64> = []
    for fd in fds {
      guard
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) == "anon_inode:inotify",
        let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8)
      else { continue }
      for line in info.split(separator: "\n") where line.hasPrefix("inotify ") {
        guard let field = line.split(separator: " ").first(where: { $0.hasPrefix("ino:") }),
          let inode = UInt64(field.dropFirst(4), radix: 16)
        else { continue }
        inodes.insert(inode)
      }
    }
    return inodes
  }

  /// The inode number of `path`, or nil.
  static func inode(_ path: String) -> UInt64? {
    var info = stat()
    return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
  }
}

extension ForgeControlTestCase {
  /// `forge reload` that must succeed with `changes`; returns the new release.
  @discardableResult
  func expectReload(
    _ project: ForgeProject, from old: String, changes: String, file: StaticString = #filePath, line: UInt = #line
  ) throws -> String {
    let result = try runForge(["reload"], in: project)
    XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
    XCTAssertEqual(result.stderr, "", file: file, line: line)
    let lines = result.stdoutLines
    let new = try ReloadSupport.newRelease(
      inPlan: lines.first ?? "", from: old, changes: changes, file: file, line: line)
    XCTAssertEqual(Array(lines.dropFirst()), ["release \(new) running"], file: file, line: line)
    return new
  }

  /// The release a plan logged by forge goes to (the `count`-th `reload:` line).
  func releaseOfLoggedPlan(_ forge: ForgeProcess, from old: String, changes: String, count: Int = 1) throws -> String {
    let line = try forge.waitForLine(containing: "reload: release", from: "forge", count: count)
    return try ReloadSupport.newRelease(inPlan: LogLine(line)?.text ?? line, from: old, changes: changes)
  }
}

/// Asks every port with `GET /` every 20 ms on a thread of its own, until stopped: what each
/// poll got, per port (the body, or nil when that port did not answer).
final class PortPoller: @unchecked Sendable {
  private let ports: [Int]
  private let condition = NSCondition()
  private var polls: [[String?]] = []
  private var stopping = false
  private var finished = false

  init(ports: [Int]) {
    self.ports = ports
  }

  func start() {
    let thread = Thread { [self] in
      var next = Date()
      while true {
        let answers = ports.map { ReloadSupport.get($0) }
        condition.lock()
        polls.append(answers)
        // Polls start every 20 ms, or at once when one took longer.
        next = max(next.addingTimeInterval(0.02), Date())
        while !stopping && condition.wait(until: next) {}
        let done = stopping
        if done {
          finished = true
          condition.broadcast()
        }
        condition.unlock()
        if done { return }
      }
    }
    thread.name = "forge-itest port poller"
    thread.start()
  }

  /// The polls so far; once the poll under way has ended.
  func stop() -> [[String?]] {
    condition.lock()
    defer { condition.unlock() }
    stopping = true
    condition.broadcast()
    while !finished { condition.wait() }
    return polls
  }
}
