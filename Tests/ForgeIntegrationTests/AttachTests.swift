import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `forge attach` from a real terminal (`AttachTerminal`: a shell on a pseudo-terminal of the
/// test's own): keys typed into an `--interactive` process and its answers both on the terminal
/// and in the log stream, the window size, detaching, the process's exit status, one caller per
/// instance and `--steal`, the terminal's modes restored, pdb end to end, and the refusals.
final class AttachTests: ForgeControlTestCase {
  private var terminals: [AttachTerminal] = []

  override func tearDown() {
    for terminal in terminals { terminal.kill() }
    terminals.removeAll()
    super.tearDown()
  }

  /// Asks for a name and greets it (`exit N` exits N); prints `size ROWS COLUMNS` on SIGWINCH.
  private let asker = """
    #!/bin/sh
    trap 'echo "size $(stty size)"' WINCH
    echo "ready pid=$$"
    while :; do
      printf 'name? '
      read -r answer || continue
      case "$answer" in
        exit\\ *) exit "${answer#exit }" ;;
        *) echo "hello, $answer" ;;
      esac
    done

    """

  /// `forge start --interactive web` with web running `asker` (or `procfile`, with `files`);
  /// returns once web.1 has printed `ready`.
  private func startAsker(
    _ procfile: String = "web: exec ./asker.sh\n", files: [String: String] = [:], ready: String = "ready pid="
  ) throws -> (ForgeProject, ForgeProcess) {
    let project = try makeProject(
      files.merging(["Procfile": procfile, "asker.sh": asker, "service.sh": HelperScripts.service]) { $1 })
    let forge = try startFormation(["-t", "1", "--interactive", "web"], in: project, mode: .subreaper).process
    try forge.waitForLine(containing: ready, from: "web.1")
    return (project, forge)
  }

  /// `forge attach ARGUMENTS` on a new terminal of `rows` × `columns` in `project`.
  private func attach(
    _ arguments: [String], in project: ForgeProject, rows: Int = 30, columns: Int = 100
  ) throws -> AttachTerminal {
    let terminal = try AttachTerminal(
      forge: ["attach"] + arguments, directory: project.directory, environment: environment(for: project),
      rows: rows, columns: columns)
    terminals.append(terminal)
    return terminal
  }

  /// `stty -g` printed the same modes before forge attach and after it.
  private func assertModesRestored(
    _ terminal: AttachTerminal, file: StaticString = #filePath, line: UInt = #line
  ) {
    let modes = terminal.modes
    XCTAssertEqual(modes.count, 2, terminal.screen, file: file, line: line)
    XCTAssertEqual(modes.first, modes.last, "modes before and after\n\(terminal.screen)", file: file, line: line)
  }

  // MARK: - Typing, detaching, the window size

  func testTypedLineReachesTheProcessAndItsAnswerTheTerminalAndTheLogStream() throws {
    let (project, forge) = try startAsker()
    let pid = try processTable(in: project).pid("web.1")
    let terminal = try attach(["web"], in: project)
    try terminal.waitForLine(containing: "ready pid=\(pid)")  // the last screenful, replayed
    try forge.waitForLine(containing: "web.1: attached by", from: "forge")
    terminal.type("Ada\r")
    try terminal.waitForLine(containing: "hello, Ada")
    try forge.waitForLine(containing: "hello, Ada", from: "web.1")
    // The replay ended with the prompt it waits at, a partial line.
    XCTAssertTrue(terminal.output.text.contains("ready pid=\(pid)\r\nname? "), terminal.screen)

    terminal.detach()
    XCTAssertEqual(try terminal.waitForExit(), 0, terminal.screen)
    try terminal.waitForLine(containing: "forge: detached from web.1; it keeps running", timeout: 0)
    assertModesRestored(terminal)
    let table = try processTable(in: project)
    XCTAssertEqual(table["web.1"]?.pid, pid, table.text)
    XCTAssertEqual(table["web.1"]?.state, "running", table.text)
    XCTAssertTrue(ProcFS.isAlive(pid))

    // The instance is free again, and still answering.
    let again = try attach(["web.1"], in: project)
    try again.waitForLine(containing: "hello, Ada")  // replayed
    again.type("Bob\r")
    try again.waitForLine(containing: "hello, Bob")
    try forge.waitForLine(containing: "hello, Bob", from: "web.1")
    again.detach()
    XCTAssertEqual(try again.waitForExit(), 0, again.screen)
    XCTAssertEqual(try processTable(in: project)["web.1"]?.pid, pid)
  }

  func testWindowSizeFollowsTheCallerAndForgesOwnIsRestoredOnDetach() throws {
    let (project, forge) = try startAsker()
    let terminal = try attach(["--detach-keys", "ctrl-x", "web"], in: project, rows: 30, columns: 100)
    try terminal.waitForLine(containing: "size 30 100")  // set on attach: SIGWINCH
    terminal.resize(rows: 40, columns: 120)
    try terminal.waitForLine(containing: "size 40 120")
    try forge.waitForLine(containing: "size 40 120", from: "web.1")
    terminal.type(bytes: [0x18])  // Ctrl-X
    XCTAssertEqual(try terminal.waitForExit(), 0, terminal.screen)
    try forge.waitForLine(containing: "size 50 200", from: "web.1")
    assertModesRestored(terminal)
  }

  // MARK: - The process exiting

  func testProcessExitingEndsAttachWithItsStatus() throws {
    // `exit 7` typed; Ctrl-C, in raw mode a key like any other, reaching it as SIGINT; SIGKILL.
    for (how, status) in [("exit 7", Int32(7)), ("Ctrl-C", 128 + SIGINT), ("SIGKILL", 128 + SIGKILL)] {
      let (project, _) = try startAsker()
      let terminal = try attach(["web"], in: project)
      try terminal.waitForLine(containing: "ready pid=")
      switch how {
      case "Ctrl-C": terminal.type(bytes: [0x03])
      case "SIGKILL": kill(try processTable(in: project).pid("web.1"), SIGKILL)
      default: terminal.type(how + "\r")
      }
      XCTAssertEqual(try terminal.waitForExit(), status, "\(how)\n\(terminal.screen)")
      try terminal.waitForLine(containing: "forge: web.1 exited with status \(status)", timeout: 0)
      assertModesRestored(terminal)
    }
  }

  func testTerminalIsRestoredWhenAttachIsSignalledOrForgeGoesAway() throws {
    for how in ["SIGTERM", "SIGHUP", "forge killed"] {
      let (project, forge) = try startAsker()
      let terminal = try attach(["web"], in: project)
      try terminal.waitForLine(containing: "ready pid=")
      switch how {
      case "SIGTERM": kill(try terminal.attachPID(), SIGTERM)
      case "SIGHUP": kill(try terminal.attachPID(), SIGHUP)
      default: forge.send(SIGKILL)
      }
      XCTAssertEqual(try terminal.waitForExit(), 1, "\(how)\n\(terminal.screen)")
      let said = how.hasPrefix("SIG") ? "detached from web.1 (\(how))" : "the connection to forge closed"
      try terminal.waitForLine(containing: "forge: " + said, timeout: 0)
      assertModesRestored(terminal)
    }
  }

  func testPdbBreakpointEndToEnd() throws {
    try XCTSkipIf(ForgeHarness.which("python3") == nil, "python3 is not installed")
    // On a line of its own: with `-c 'breakpoint(); print(…)'` pdb would stop only on return.
    let (project, forge) = try startAsker(
      "web: exec python3 app.py\n", files: ["app.py": "breakpoint()\nprint('after', 6 * 7)\n"],
      ready: "app.py(2)<module>()")
    let terminal = try attach(["web"], in: project)
    try terminal.waitForLine(containing: "app.py(2)<module>()")  // where pdb stopped, replayed
    XCTAssertFalse(terminal.output.text.contains("after 42") || forge.stdout.text.contains("after 42"))
    terminal.type("c\r")
    try terminal.waitForLine(containing: "after 42")
    XCTAssertEqual(try terminal.waitForExit(), 0, terminal.screen)
    try terminal.waitForLine(containing: "forge: web.1 exited with status 0", timeout: 0)
    assertModesRestored(terminal)
    try forge.waitForLine(containing: "after 42", from: "web.1")
  }

  // MARK: - One caller per instance

  func testSecondCallerIsRefusedAndStealTakesOver() throws {
    let (project, _) = try startAsker()
    let first = try attach(["web"], in: project)
    try first.waitForLine(containing: "ready pid=")
    let holder = try first.attachPID()

    let refused = try runForge(["attach", "web"], in: project)
    XCTAssertEqual(refused.status, 1, refused.stderr)
    XCTAssertEqual(refused.stderr, "forge: web.1 is attached from pid \(holder); use --steal to take over\n")
    XCTAssertEqual(refused.stdout, "")
    first.type("Ann\r")  // undisturbed
    try first.waitForLine(containing: "hello, Ann")

    let second = try attach(["--steal", "web"], in: project)
    try second.waitForLine(containing: "ready pid=")
    let stealer = try second.attachPID()
    XCTAssertEqual(try first.waitForExit(), 1, first.screen)
    try first.waitForLine(containing: "forge: detached from web.1: taken over by pid \(stealer)", timeout: 0)
    assertModesRestored(first)

    second.type("Cy\r")
    try second.waitForLine(containing: "hello, Cy")
    second.detach()
    XCTAssertEqual(try second.waitForExit(), 0, second.screen)
    assertModesRestored(second)
  }

  // MARK: - Refusals

  func testAttachingToATypeWithoutTerminalOrAnUnknownInstanceFails() throws {
    let (project, forge) = try startAsker("web: exec ./asker.sh\nworker: exec ./service.sh\n")
    try forge.waitForLine(containing: "ready pid=", from: "worker.1")

    let noTerminal = try runForge(["attach", "worker"], in: project)
    XCTAssertEqual(noTerminal.status, 1, noTerminal.stderr)
    XCTAssertEqual(noTerminal.stderr, "forge: worker.1 has no terminal: start forge with --interactive worker\n")
    for (target, instance) in [("web.3", "web.3"), ("api", "api.1")] {
      let unknown = try runForge(["attach", target], in: project)
      XCTAssertEqual(unknown.status, 1, unknown.stderr)
      XCTAssertEqual(unknown.stderr, "forge: no instance \(instance) (instances: web.1, worker.1)\n")
    }

    // From a terminal: the same message, and the terminal left as it was.
    let terminal = try attach(["worker"], in: project)
    XCTAssertEqual(try terminal.waitForExit(), 1, terminal.screen)
    try terminal.waitForLine(containing: "worker.1 has no terminal", timeout: 0)
    assertModesRestored(terminal)
    XCTAssertFalse(forge.stdout.text.contains("attached by"), forge.transcript())
  }
}
