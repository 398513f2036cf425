import Foundation
import XCTest

/// `forge run`: one-off processes with the formation's environment. forge replaces itself with
/// the command, so its exit status, signals and terminal are the command's own; with a running
/// formation it uses that formation's release.
final class RunCommandTests: ForgeControlTestCase {
  private func run(
    _ arguments: [String], in project: ForgeProject, environment: [String: String] = [:]
  ) throws -> ForgeResult {
    try runForge(["run"] + arguments, in: project, environment: environment)
  }

  // MARK: - Exit status

  func testExitStatusIsTheCommands() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    XCTAssertEqual(try run(["sh", "-c", "exit 7"], in: project).status, 7)
    XCTAssertEqual(try run(["true"], in: project).status, 0)
    XCTAssertEqual(try run(["false"], in: project).status, 1)
    XCTAssertEqual(try run(["sh", "-c", "exit 255"], in: project).status, 255)
    // A single word with shell syntax goes through /bin/sh -c.
    let shell = try run(["echo one; exit 4"], in: project)
    XCTAssertEqual(shell.status, 4)
    XCTAssertEqual(shell.stdout, "one\n")
  }

  func testDeathBySignalIsTheCommands() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try ForgeHarness.forgeBinary())
    process.arguments = ["run", "sh", "-c", "kill -TERM $$"]
    process.currentDirectoryURL = URL(fileURLWithPath: project.directory)
    process.environment = ForgeHarness.baseEnvironment(home: project.directory, marker: UUID().uuidString)
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationReason, .uncaughtSignal, "forge run itself dies of the signal")
    XCTAssertEqual(process.terminationStatus, SIGTERM)
  }

  func testMissingCommandExits127() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let result = try run(["no-such-command-xyz", "arg"], in: project)
    XCTAssertEqual(result.status, 127)
    XCTAssertEqual(result.stderr, "forge: command not found: no-such-command-xyz\n")
    XCTAssertEqual(result.stdout, "")
    let path = try run(["./missing.sh"], in: project)
    XCTAssertEqual(path.status, 127)
    XCTAssertEqual(path.stderr, "forge: command not found: ./missing.sh\n")
  }

  func testNonExecutableFileExits126() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service, "data.txt": "not a program\n",
    ])
    let result = try run(["./data.txt"], in: project)
    XCTAssertEqual(result.status, 126)
    XCTAssertEqual(result.stderr, "forge: permission denied: ./data.txt\n")
    let directory = try run(["/tmp"], in: project)
    XCTAssertEqual(directory.status, 126, directory.stderr)
  }

  // MARK: - Environment

  func testEnvironmentPrecedencePortAndPS() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service,
      ".env": "FOO=from-file\nONLY_FILE=file\n",
    ])
    let show = ["sh", "-c", "echo \"FOO=$FOO ONLY_FILE=$ONLY_FILE PORT=$PORT PS=$PS DYNO=$DYNO\""]
    let plain = try run(show, in: project, environment: ["FOO": "from-env"])
    XCTAssertEqual(plain.status, 0, plain.stderr)
    // One type (web, 5000): a one-off gets the port a second type would, 5100.
    XCTAssertEqual(plain.stdout, "FOO=from-env ONLY_FILE=file PORT=5100 PS=run.1 DYNO=run.1\n")

    let overridden = try runForge(["run", "--env-override"] + show, in: project, environment: ["FOO": "from-env"])
    XCTAssertEqual(overridden.stdout, "FOO=from-file ONLY_FILE=file PORT=5100 PS=run.1 DYNO=run.1\n")

    let port = try runForge(["run", "-p", "6200"] + show, in: project)
    XCTAssertEqual(port.stdout, "FOO=from-file ONLY_FILE=file PORT=6300 PS=run.1 DYNO=run.1\n")

    // A PORT in the environment is the base port; PS and DYNO are always run.1.
    let fromEnvironment = try run(show, in: project, environment: ["PORT": "7300", "PS": "web.9"])
    XCTAssertEqual(fromEnvironment.stdout, "FOO=from-file ONLY_FILE=file PORT=7400 PS=run.1 DYNO=run.1\n")

    let release = try run(["printenv", "FORGE_RELEASE"], in: project)
    XCTAssertEqual(release.status, 0)
    XCTAssertEqual(release.stdout.count, 9, "an 8-digit release id: \(release.stdout)")
  }

  func testProcfileTypeRunsItsCommandWithExtraArguments() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nmigrate: echo migrating\n", "service.sh": HelperScripts.service,
    ])
    let result = try run(["migrate", "--fast"], in: project)
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stdout, "migrating --fast\n")
    // Extra arguments are quoted: one argument each, nothing expanded.
    let quoted = try run(["migrate", "two words", "$HOME"], in: project)
    XCTAssertEqual(quoted.stdout, "migrating two words $HOME\n")
    XCTAssertEqual(try run(["migrate"], in: project).stdout, "migrating\n")
  }

  // MARK: - The running release

  func testRunAndEnvUseTheRunningReleaseUntilFresh() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service, ".env": "X=old\n",
    ])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    // The clients run with forge's own environment, so only the file can make a difference.
    let same = [ForgeHarness.markerVariable: forge.marker]

    let unchanged = try run(["printenv", "X"], in: project, environment: same)
    XCTAssertEqual(unchanged.stdout, "old\n")
    XCTAssertEqual(unchanged.stderr, "", "nothing changed, nothing to warn about")

    try project.write(".env", "X=new\n")
    let pinned = try run(["printenv", "X"], in: project, environment: same)
    XCTAssertEqual(pinned.status, 0)
    XCTAssertEqual(pinned.stdout, "old\n", "the running release")
    XCTAssertTrue(pinned.stderr.contains("changed since the formation started"), pinned.stderr)

    let fresh = try runForge(["run", "--fresh", "printenv", "X"], in: project, environment: same)
    XCTAssertEqual(fresh.stdout, "new\n")
    XCTAssertEqual(fresh.stderr, "")

    let env = try runForge(["env"], in: project, environment: same)
    XCTAssertEqual(env.status, 0)
    XCTAssertTrue(env.stdout.split(separator: "\n").contains("X=old"), env.stdout)
    XCTAssertTrue(env.stderr.contains("changed since the formation started"), env.stderr)
    let freshEnv = try runForge(["env", "--fresh"], in: project, environment: same)
    XCTAssertTrue(freshEnv.stdout.split(separator: "\n").contains("X=new"), freshEnv.stdout)
    XCTAssertEqual(freshEnv.stderr, "")

    // The release id a one-off process gets is the formation's.
    let formationRelease = try XCTUnwrap(
      forge.lines(of: "forge").first { $0.hasPrefix("release ") }.map { String($0.dropFirst("release ".count)) })
    XCTAssertEqual(
      try run(["printenv", "FORGE_RELEASE"], in: project, environment: same).stdout, formationRelease + "\n")

    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    // Without a running forge the files are used.
    let after = try run(["printenv", "X"], in: project, environment: same)
    XCTAssertEqual(after.stdout, "new\n")
    XCTAssertEqual(after.stderr, "")
  }

  /// The warning says `.env` changed: it must not appear when only the caller's own
  /// environment differs from forge's (another terminal, another `$_`, an extra variable), as
  /// it does for practically every `forge run` typed in a second shell.
  func testNoWarningWhenOnlyTheCallersEnvironmentDiffers() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service, ".env": "X=same\n",
    ])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    // A marker of its own (every launch gets one) and one more variable: nothing in the files.
    let result = try run(["printenv", "X"], in: project, environment: ["TERM_SESSION": "second-terminal"])
    XCTAssertEqual(result.stdout, "same\n")
    XCTAssertEqual(result.stderr, "", "neither .env nor the Procfile changed")
    let env = try runForge(["env"], in: project, environment: ["TERM_SESSION": "second-terminal"])
    XCTAssertEqual(env.stderr, "", "neither .env nor the Procfile changed")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  // MARK: - Terminal

  func testCommandSeesTheTerminal() throws {
    guard let python = ForgeHarness.which("python3") else { throw XCTSkip("python3 is not installed") }
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let check = "import sys; print(sys.stdin.isatty(), sys.stdout.isatty(), sys.stderr.isatty())"
    let onTerminal = try runOnTerminal(
      try ForgeHarness.forgeBinary(), ["run", python, "-c", check], directory: project.directory,
      environment: environment(for: project))
    XCTAssertEqual(onTerminal.status, 0, onTerminal.output)
    XCTAssertEqual(onTerminal.output, "True True True\n")
    // The control: through the harness, stdin is /dev/null and stdout a pipe.
    let piped = try run([python, "-c", check], in: project)
    XCTAssertEqual(piped.stdout, "False False False\n")
  }
}
