import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `forge ps` resources (CPU%, RSS, CPU seconds, threads, summed over each process group) and
/// `forge top`: one snapshot outside a terminal; on a real terminal (a tmux pane) a full-screen
/// view that sorts by memory on `m`, follows the terminal's size, and gives the terminal back as
/// it was on `q` and when forge goes away.
final class TopTests: ForgeControlTestCase {
  /// A shell wrapper (no `exec`) whose child python holds 48 MiB and prints `ready`.
  private let big = #"python3 -c "import time; b = b'x' * (48 << 20); print('ready', flush=True); time.sleep(600)""#
  /// A shell wrapper whose child shell spins.
  private let hog = #"sh -c 'echo spinning; while :; do :; done'"#

  private func stop(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
  }

  /// The members of process group `group` with (VmRSS in bytes, threads), from /proc.
  private func members(of group: pid_t) -> [(pid: pid_t, rss: Int, threads: Int)] {
    ProcFS.allPids().filter { ProcFS.stat($0)?.pgrp == group }.compactMap { pid in
      guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
      func field(_ name: String) -> Int {
        let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
        return Int(line.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") ?? 0
      }
      return (pid, field("VmRSS") * 1024, field("Threads"))
    }
  }

  // MARK: - forge ps

  func testPsSumsCPUAndMemoryOverEachInstancesProcessGroup() throws {
    try Readiness.requirePython()
    let project = try makeProject(["Procfile": "big: \(big)\nhog: \(hog)\n"])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "ready", from: "big.1")
    try forge.waitForLine(containing: "spinning", from: "hog.1")

    let table = try processTable(in: project)
    let bigGroup = members(of: try table.pid("big.1"))
    XCTAssertEqual(bigGroup.count, 2, "the wrapper shell and python")
    let rss = try XCTUnwrap(table["big.1"]?.fields["rss_bytes"] as? NSNumber).doubleValue
    let measured = Double(bigGroup.reduce(0) { $0 + $1.rss })
    XCTAssertGreaterThan(rss, 48 * 1024 * 1024, "python's 48 MiB count\n\(table.text)")
    XCTAssertEqual(rss, measured, accuracy: measured * 0.1, "the sum over the group\n\(table.text)")
    XCTAssertEqual(
      (table["big.1"]?.fields["threads"] as? NSNumber)?.intValue, bigGroup.reduce(0) { $0 + $1.threads },
      table.text)
    // The spinning child is not the instance's pid: its CPU counts all the same.
    let hogCPU = try XCTUnwrap(table["hog.1"]?.fields["cpu_percent"] as? NSNumber, table.text).doubleValue
    XCTAssertGreaterThan(hogCPU, 10, table.text)
    XCTAssertGreaterThan((table["hog.1"]?.fields["cpu_seconds"] as? NSNumber)?.doubleValue ?? 0, 0, table.text)
    XCTAssertLessThan((table["big.1"]?.fields["cpu_percent"] as? NSNumber)?.doubleValue ?? 100, hogCPU)

    let text = try control(["ps"], in: project).split(separator: "\n").map { $0.split(separator: " ") }
    let header = try XCTUnwrap(text.first)
    let cpu = try XCTUnwrap(header.firstIndex(of: "CPU%"))
    let memory = try XCTUnwrap(header.firstIndex(of: "RSS"))
    let bigRow = try XCTUnwrap(text.first { $0.first == "big.1" })
    XCTAssertNotNil(bigRow[cpu].range(of: #"^\d+\.\d$"#, options: .regularExpression), "\(bigRow)")
    XCTAssertNotNil(bigRow[memory].range(of: #"^\d+\.\dM$"#, options: .regularExpression), "\(bigRow)")
    try stop(forge)
  }

  // MARK: - forge top outside a terminal

  /// The CPU time of a member that has exited counts on (its parent reaped it): the group's
  /// `cpu_seconds` and the metrics counter never go back when a worker ends.
  func testCPUTimeOfAnExitedMemberStaysCounted() throws {
    try Readiness.requirePython()
    // Half a second of CPU in a child, which the shell reaps before it becomes `sleep`.
    let burn = #"python3 -c "import time; t = time.process_time(); exec('while time.process_time() - t < 0.5: pass')""#
    let project = try makeProject(["Procfile": "burn: \(burn); echo burned; exec sleep 600\n"])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "burned", from: "burn.1")
    let first = try XCTUnwrap(try processTable(in: project)["burn.1"]?.fields["cpu_seconds"] as? NSNumber).doubleValue
    XCTAssertGreaterThanOrEqual(first, 0.45, "the child's CPU time is the group's")
    let second = try XCTUnwrap(try processTable(in: project)["burn.1"]?.fields["cpu_seconds"] as? NSNumber).doubleValue
    XCTAssertGreaterThanOrEqual(second, first)
    try stop(forge)
  }

  func testTopOutsideATerminalPrintsOneSnapshotSortedByCPU() throws {
    try Readiness.requirePython()
    let project = try makeProject(["Procfile": "web: exec sleep 600\nbig: \(big)\nhog: \(hog)\n"])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "ready", from: "big.1")
    try forge.waitForLine(containing: "spinning", from: "hog.1")
    let release = try XCTUnwrap(forge.lines(of: "forge").first { $0.hasPrefix("release ") }?.dropFirst(8))

    let top = try runForge(["top"], in: project)
    XCTAssertEqual(top.status, 0, top.stderr)
    XCTAssertEqual(top.stderr, "")
    XCTAssertFalse(
      top.stdout.contains("\u{1B}"), "no terminal control outside a terminal: \(top.stdout.debugDescription)")
    let lines = top.stdoutLines
    XCTAssertEqual(lines.count, 5, top.stdout)
    let summary = #"^forge pid \#(forge.pid)  release \#(release)  CPU \d+\.\d%  RSS [\d.]+[KMG]  sorted by CPU  "#
    XCTAssertNotNil(lines.first?.range(of: summary, options: .regularExpression), top.stdout)
    XCTAssertEqual(
      lines.dropFirst().first?.split(separator: " "),
      ["INSTANCE", "STATE", "READY", "CPU%", "RSS", "RESTARTS", "UPTIME", "PORT", "RELEASE"])
    XCTAssertEqual(lines.dropFirst(2).first?.split(separator: " ").first, "hog.1", "the busiest first\n\(top.stdout)")
    XCTAssertEqual(Set(lines.dropFirst(2).compactMap { $0.split(separator: " ").first }), ["hog.1", "big.1", "web.1"])
    for row in lines.dropFirst(2) { XCTAssertEqual(row.split(separator: " ").last.map(String.init), String(release)) }

    // --json: the same snapshot for scripts, the instances as `ps --json` has them and forge's own.
    let json = try runForge(["top", "--json"], in: project)
    XCTAssertEqual(json.status, 0, json.stderr)
    let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let processes = try XCTUnwrap(object["processes"] as? [[String: Any]], json.stdout)
    XCTAssertEqual(Set(processes.compactMap { $0["name"] as? String }), ["hog.1", "big.1", "web.1"])
    XCTAssertNotNil((object["forge"] as? [String: Any])?["rss_bytes"], json.stdout)
    try stop(forge)
  }

  // MARK: - forge top on a terminal

  func testTopOnATerminalSortsByMemoryOnMFollowsTheSizeAndRestoresTheTerminalOnQ() throws {
    try Readiness.requirePython()
    let project = try makeProject(["Procfile": "web: exec sleep 600\nbig: \(big)\n"])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "ready", from: "big.1")
    let pane = try TmuxPane(self, project)
    try pane.type(
      "stty -g > tty-before; \(try ForgeHarness.forgeBinary()) top; echo top-status=$?; stty -g > tty-after")
    try pane.waitForScreen("the view") { $0.contains("sorted by CPU") && $0.contains("big.1") }
    XCTAssertEqual(try pane.format("#{alternate_on} #{cursor_flag}"), "1 0", "alternate screen, cursor hidden")

    try pane.keys("m")
    let byMemory = try pane.waitForScreen("sorted by memory") { $0.contains("sorted by memory") }
    let rows = byMemory.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) ?? "" }
    XCTAssertEqual(rows.prefix(4), ["forge", "INSTANCE", "big.1", "web.1"], byMemory)

    // Narrower than the summary line: once redrawn (big.1's uptime moves on), every line is
    // cut to the new width and none wraps onto the next.
    func uptime(_ screen: String) -> Substring? {
      screen.split(separator: "\n").first { $0.hasPrefix("big.1 ") }?.split(separator: " ").dropFirst(6).first
    }
    let before = uptime(byMemory)
    try pane.tmux(["resize-window", "-x", "60", "-y", "20"])
    let narrow = try pane.waitForScreen("a redraw after the resize") { uptime($0) != nil && uptime($0) != before }
    let narrowLines = narrow.split(separator: "\n")
    XCTAssertTrue(narrowLines.first?.hasPrefix("forge pid ") ?? false, narrow)
    XCTAssertTrue(narrowLines.dropFirst().first?.hasPrefix("INSTANCE") ?? false, "the summary wrapped\n\(narrow)")

    try pane.keys("q")
    let after = try pane.waitForScreen("the shell again") { $0.contains("top-status=0") }
    XCTAssertTrue(after.contains("top-status=0"), after)
    XCTAssertFalse(after.contains("INSTANCE"), "the view is gone with the alternate screen\n\(after)")
    XCTAssertEqual(try pane.format("#{alternate_on} #{cursor_flag}"), "0 1", "normal screen, cursor shown")
    try pane.waitForScreen("the shell's prompt after it") { $0.contains("top-status=0") && $0.hasSuffix("$") }
    XCTAssertEqual(project.read("tty-after"), project.read("tty-before"), "the terminal modes are restored")
    try stop(forge)
  }

  func testTopRestoresTheTerminalAndSaysSoWhenForgeGoesAway() throws {
    let project = try makeProject(["Procfile": "web: exec sleep 600\n"])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "started with pid", from: "web.1")
    let pane = try TmuxPane(self, project)
    try pane.type(
      "stty -g > tty-before; \(try ForgeHarness.forgeBinary()) top; echo top-status=$?; stty -g > tty-after")
    try pane.waitForScreen("the view") { $0.contains("web.1") }

    try stop(forge)
    let after = try pane.waitForScreen("the shell again") { $0.contains("top-status=0") }
    XCTAssertTrue(after.contains("forge: the forge running here has gone"), after)
    XCTAssertEqual(try pane.format("#{alternate_on} #{cursor_flag}"), "0 1")
    try pane.waitForScreen("the shell's prompt after it") { $0.contains("top-status=0") && $0.hasSuffix("$") }
    XCTAssertEqual(project.read("tty-after"), project.read("tty-before"), "the terminal modes are restored")
  }
}

/// A tmux session of its own (its own server socket in the project) whose one pane, 120 × 30,
/// runs `/bin/sh` in the project with the harness's environment, `TERM=screen` and the prompt
/// `$ `. Everything in it carries a marker of the test's, so teardown kills it.
private final class TmuxPane {
  private let test: ForgeControlTestCase
  private let project: ForgeProject
  private let tmux: String
  private let socket: String
  private let marker = UUID().uuidString

  init(_ test: ForgeControlTestCase, _ project: ForgeProject) throws {
    guard let tmux = ForgeHarness.which("tmux") else { throw XCTSkip("tmux is not installed") }
    (self.test, self.project, self.tmux, socket) = (test, project, tmux, project.path("tmux.sock"))
    let environment = ForgeHarness.baseEnvironment(home: project.directory, marker: marker).map {
      "\($0.key)=\($0.value)"
    }
    let shell = (["env", "-i"] + environment + ["TERM=screen", "PS1='$ '", "/bin/sh"]).joined(separator: " ")
    try self.tmux(["new-session", "-d", "-x", "120", "-y", "30", "-c", project.directory, shell])
    test.addTeardownBlock { [tmux, socket] in
      _ = try? Process.run(URL(fileURLWithPath: tmux), arguments: ["-S", socket, "kill-server"])
    }
  }

  /// Runs a tmux command against this server; its stdout.
  @discardableResult
  func tmux(_ arguments: [String]) throws -> String {
    let result = try test.runProgram(
      tmux, ["-S", socket] + arguments, in: project, environment: [ForgeHarness.markerVariable: marker])
    guard result.status == 0 else { throw HarnessError("tmux \(arguments): \(result.status) \(result.stderr)") }
    return result.stdout
  }

  /// Types a command line and Enter.
  func type(_ line: String) throws {
    try tmux(["send-keys", "-l", line])
    try tmux(["send-keys", "Enter"])
  }

  func keys(_ keys: String) throws { try tmux(["send-keys", "-l", keys]) }

  func format(_ format: String) throws -> String {
    try tmux(["display-message", "-p", format]).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// The visible screen, trailing blank lines and spaces dropped.
  func screen() throws -> String {
    try tmux(["capture-pane", "-p"]).split(separator: "\n", omittingEmptySubsequences: false)
      .map { $0.replacingOccurrences(of: #"\s+$"#, with: "", options: .regularExpression) }
      .joined(separator: "\n").trimmingCharacters(in: .newlines)
  }

  /// A terminal's screen announces nothing: it is looked at until it shows `what`.
  @discardableResult
  func waitForScreen(_ what: String, timeout: TimeInterval = 10, _ predicate: (String) -> Bool) throws -> String {
    var last = ""
    if eventually(
      timeout: timeout, interval: 0.1,
      {
        last = (try? screen()) ?? ""
        return predicate(last)
      })
    {
      return last
    }
    throw HarnessError("the pane never showed \(what):\n\(last)")
  }
}
