import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The limits crash safety adds (README, "When forge itself dies"): descriptor limits raised as
/// far as the formation needs and given back to the processes, configuration files that must be
/// regular files, environments the kernel would refuse to exec, PORTs that never collide (a
/// formation, `forge scale`, `forge run`), and a foreign listener on a formation's PORT named
/// with its pid.
final class LimitsTests: ForgeControlTestCase {
  private static let prlimit = "/usr/bin/prlimit"

  /// `forge <arguments>` under `prlimit --nofile=SOFT:HARD`.
  private func launchLimited(
    soft: Int, hard: Int, _ arguments: [String], in project: ForgeProject
  ) throws -> ForgeProcess {
    guard access(Self.prlimit, X_OK) == 0 else { throw XCTSkip("\(Self.prlimit) is not installed") }
    return try launchProgram(
      Self.prlimit, ["--nofile=\(soft):\(hard)", try ForgeHarness.forgeBinary()] + arguments, in: project)
  }

  /// `forge <arguments>` under `prlimit --stack=BYTES` (ARG_MAX is a quarter of the stack limit).
  private func launch(stack bytes: Int, _ arguments: [String], in project: ForgeProject) throws -> ForgeProcess {
    guard access(Self.prlimit, X_OK) == 0 else { throw XCTSkip("\(Self.prlimit) is not installed") }
    return try launchProgram(
      Self.prlimit, ["--stack=\(bytes)", try ForgeHarness.forgeBinary()] + arguments, in: project)
  }

  /// forge's own RLIMIT_NOFILE (soft, hard), from /proc/PID/limits.
  private func descriptorLimit(of pid: pid_t) -> (soft: Int, hard: Int)? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8),
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") })
    else { return nil }
    let words = line.split(separator: " ")
    guard words.count >= 5, let soft = Int(words[3]), let hard = Int(words[4]) else { return nil }
    return (soft, hard)
  }

  // MARK: - Descriptors

  func testThousandInstancesStartWithTheSoftLimitRaisedAndChildrenGetTheLimitForgeWasStartedWith() throws {
    let project = try makeProject(["Procfile": "probe: ulimit -n; exec sleep 1000\nidle: exec sleep 1000\n"])
    let base = try Readiness.freePortBase(offsets: [0])
    let forge = try launchLimited(
      soft: 1024, hard: 4096, ["start", "-t", "5", "-p", "\(base)", "-m", "probe=1,idle=1000"], in: project)
    let started = try forge.waitForLines("1001 × \"started with pid\"", count: 1001, timeout: 60) {
      $0.contains("| started with pid")
    }
    XCTAssertEqual(Set(started.compactMap { LogLine($0)?.process }).count, 1001, "one line per instance")
    XCTAssertTrue(forge.lines(of: "idle.1000").contains { $0.hasPrefix("started with pid") })
    try forge.waitForLine(containing: "1024", from: "probe.1")
    let limit = try XCTUnwrap(descriptorLimit(of: forge.pid))
    XCTAssertEqual(limit.hard, 4096)
    XCTAssertEqual(limit.soft, 64 + 2 * 1001, "raised as far as the formation needs")
    XCTAssertFalse(forge.stdout.text.contains("failed"), forge.transcript())
    XCTAssertEqual(forge.stderr.text, "")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(timeout: 30), 0, forge.transcript())
  }

  func testAFormationAboveTheHardLimitFailsNamingItAndAScaleAboveItChangesNothing() throws {
    let project = try makeProject(["Procfile": "idle: exec sleep 1000\n"])
    let refused = try launchLimited(soft: 1024, hard: 1024, ["start", "-m", "idle=1000"], in: project)
    XCTAssertEqual(try refused.waitForExit(), 1, refused.transcript())
    XCTAssertEqual(
      refused.stderr.text,
      "forge: the formation needs about 2064 descriptors, above the hard limit of 1024 (ulimit -Hn)\n")
    XCTAssertFalse(refused.stdout.text.contains("started"), refused.transcript())
    XCTAssertFalse(project.exists(".forge.sock"), "the control socket was left behind")

    let forge = try launchLimited(soft: 1024, hard: 1024, ["start", "-t", "3"], in: project)
    try forge.waitForLine(containing: "started with pid", from: "idle.1")
    let scale = try runForge(["scale", "idle=1000"], in: project)
    XCTAssertEqual(scale.status, 1, scale.stderr)
    XCTAssertEqual(
      scale.stderr,
      "forge: the formation would need about 2064 descriptors, above the hard limit of 1024 (ulimit -Hn); "
        + "nothing changed\n")
    XCTAssertEqual(try processTable(in: project).names, ["idle.1"])
    try control(["stop"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  // MARK: - Configuration files

  func testFIFOAndDevicesAsConfigurationAreBadInputWithoutHanging() throws {
    let project = try makeProject(["real/Procfile": "web: exec sleep 300\n"])
    XCTAssertEqual(mkfifo(project.path("Procfile"), 0o644), 0, String(cString: strerror(errno)))
    let cases: [([String], String)] = [
      ([], "Procfile"),
      (["-f", "/dev/zero"], "/dev/zero"),
      (["-f", "real/Procfile", "-e", "/dev/zero"], "/dev/zero"),
    ]
    for (arguments, path) in cases {
      for command in ["check", "start"] {
        let result = try runForge([command] + arguments, in: project, timeout: 5)
        XCTAssertEqual(result.status, 2, "\(command) \(arguments): \(result.stderr)")
        XCTAssertTrue(
          result.stderr.hasPrefix("forge: ")
            && result.stderr.hasSuffix("\(path): expected a regular file (not a FIFO, device or directory)\n"),
          "\(command) \(arguments): \(result.stderr)")
        XCTAssertEqual(result.stdout, "", "\(command) \(arguments)")
      }
    }
  }

  func testAnEnvironmentTheKernelWouldRefuseIsBadInput() throws {
    let hundredKiB = String(repeating: "x", count: 100_000)
    let project = try makeProject([
      "Procfile": "web: echo ${#A} ${#B} ${#C}\n",
      ".env": "A=\(hundredKiB)\nB=\(hundredKiB)\nC=\(hundredKiB)\n",
      "big.env": "BIG=\(String(repeating: "y", count: 200_000))\n",
    ])
    // One variable above MAX_ARG_STRLEN.
    for command in ["check", "start"] {
      let result = try runForge([command, "-e", "big.env"], in: project)
      XCTAssertEqual(result.status, 2, result.stderr)
      XCTAssertEqual(
        result.stderr, "forge: environment: BIG is 200005 bytes, above the kernel's 128 KiB for one variable\n")
    }
    // 300 KB in all: above ARG_MAX with a 1 MiB stack…
    for command in ["check", "start"] {
      let forge = try launch(stack: 1 << 20, [command], in: project)
      XCTAssertEqual(try forge.waitForExit(), 2, forge.transcript())
      let said = forge.stderr.text
      XCTAssertTrue(
        said.hasPrefix("forge: environment: ")
          && said.hasSuffix("bytes, above the system's limit of 262144 (ARG_MAX)\n"),
        said)
      XCTAssertEqual(forge.stdout.text, "", "nothing started")
    }
    // …and fine with the usual 8 MiB.
    let forge = try launch(stack: 8 << 20, ["start"], in: project)
    try forge.waitForLine(containing: "100000 100000 100000", from: "web.1")
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  // MARK: - PORTs

  func testInstancesThatWouldShareAPortAreRefused() throws {
    let project = try makeProject(["Procfile": "web: exec sleep 300\nworker: exec sleep 300\n"])
    let clash = "web.101 and worker.1 would both get PORT 5100 (each type has 100 ports)"
    for command in ["check", "start"] {
      let refused = try runForge([command, "-m", "web=101,worker=1"], in: project)
      XCTAssertEqual(refused.status, 2, refused.stderr)
      XCTAssertEqual(refused.stderr, "forge: --formation: \(clash)\n")
      XCTAssertEqual(refused.stdout, "")
    }
    // Without worker, web may have 101 instances.
    XCTAssertEqual(try runForge(["check", "-m", "web=101,worker=0"], in: project).status, 0)

    let forge = try launch(["start", "-t", "3"], in: project)
    try forge.waitForLine(containing: "started with pid", from: "worker.1")
    try forge.waitForLine(containing: "started with pid", from: "web.1")
    let before = try processTable(in: project)
    let scale = try runForge(["scale", "web=101"], in: project)
    XCTAssertEqual(scale.status, 1, scale.stderr)
    XCTAssertEqual(scale.stderr, "forge: \(clash)\n")
    let after = try processTable(in: project)
    XCTAssertEqual(after.names, ["web.1", "worker.1"], after.text)
    XCTAssertEqual(try after.pid("web.1"), try before.pid("web.1"))
    XCTAssertEqual(try after.pid("worker.1"), try before.pid("worker.1"))
    XCTAssertFalse(forge.stdout.text.contains("web.2"), forge.transcript())
    try control(["stop"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  func testRunGetsAPortNoTypeOfTheFormationUses() throws {
    let project = try makeProject(["Procfile": "web: exec sleep 300\nworker: exec sleep 300\n"])
    let result = try runForge(["run", "sh", "-c", "echo $PORT"], in: project)
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stdout, "5200\n")
  }

  func testAForeignListenerOnAPortIsNamedWithItsPid() throws {
    let python = try Readiness.requirePython()
    let port = try Readiness.freePortBase(offsets: [0, 1])
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let server = try launchProgram(python, ["-u", "-m", "http.server", "\(port)", "--bind", "127.0.0.1"], in: project)
    try server.waitForLine(containing: "Serving HTTP on")
    let forge = try launch(["start", "-t", "3", "-p", "\(port)", "-m", "web=2"], in: project)
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    try forge.waitForLine(containing: "ready pid=", from: "web.2")
    let warnings = forge.lines(of: "forge").filter { $0.hasPrefix("port ") }
    XCTAssertEqual(
      warnings, ["port \(port) for web.1 is in use by pid \(server.pid) (python3); web.1 will likely fail"],
      forge.transcript())
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }
}
