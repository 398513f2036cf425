import Foundation
import XCTest

/// One-off processes against the running release: the release's Procfile, its env files
/// (not the caller's defaults), the caller's own variables kept, settings of other commands
/// ignored.
final class ReleasePinningTests: ForgeTestCase {
  private func startService(_ project: ForgeProject, _ arguments: [String] = []) throws -> ForgeProcess {
    let forge = try launch(["start", "-t", "1", "-m", "web=1,mig=0"] + arguments, in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    return forge
  }

  private func files(_ extra: [String: String] = [:]) -> [String: String] {
    var files = [
      "Procfile": "web: exec ./service.sh\nmig: echo mig-old\n", "service.sh": HelperScripts.service,
      ".env": "X=old\n",
    ]
    for (name, text) in extra { files[name] = text }
    return files
  }

  func testProcfileTypeRunsTheRunningReleasesCommand() throws {
    let project = try makeProject(files())
    let forge = try startService(project)
    try project.write("Procfile", "web: exec ./service.sh\nmig: echo mig-new\n")
    let pinned = try runForge(["run", "mig"], in: project)
    XCTAssertEqual(pinned.stdout, "mig-old\n")
    XCTAssertTrue(pinned.stderr.contains("forge: Procfile changed since the formation started"), pinned.stderr)
    let fresh = try runForge(["run", "--fresh", "mig"], in: project)
    XCTAssertEqual(fresh.stdout, "mig-new\n")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  func testFormationStartedWithOtherEnvFilesGivesNoFalseWarning() throws {
    let project = try makeProject(files(["other.env": "X=other\n"]))
    let forge = try startService(project, ["-e", "other.env"])
    let pinned = try runForge(["run", "printenv", "X"], in: project)
    XCTAssertEqual(pinned.stdout, "other\n")
    XCTAssertEqual(pinned.stderr, "", "nothing changed")
    try project.write("other.env", "X=changed\n")
    let changed = try runForge(["run", "printenv", "X"], in: project)
    XCTAssertEqual(changed.stdout, "other\n")
    XCTAssertTrue(changed.stderr.contains("forge: .env changed since the formation started"), changed.stderr)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  /// A formation started with `--secrets` (the secret's value is part of its release): `run`
  /// and `env` without the flag resolve the files as it did, so no false ".env changed"; a
  /// rotated secret is a change.
  func testFormationStartedWithSecretsGivesNoFalseWarning() throws {
    let project = try makeProject(files(["secrets/API_TOKEN": "token-value-1\n"]))
    let forge = try startService(project, ["--secrets", "secrets"])
    for command in [["run", "printenv", "API_TOKEN"], ["env"]] {
      let result = try runForge(command, in: project)
      XCTAssertEqual(result.status, 0, result.stderr)
      XCTAssertEqual(result.stderr, "", "\(command): nothing changed")
    }
    XCTAssertEqual(try runForge(["run", "printenv", "API_TOKEN"], in: project).stdout, "token-value-1\n")
    try project.write("secrets/API_TOKEN", "token-value-2\n")
    let rotated = try runForge(["run", "printenv", "API_TOKEN"], in: project)
    XCTAssertEqual(rotated.stdout, "token-value-1\n", "pinned to the running release")
    XCTAssertTrue(
      rotated.stderr.contains("forge: .env or a secret changed since the formation started"), rotated.stderr)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  func testCallersOwnVariablesAreKeptWhereTheReleaseHasNone() throws {
    let project = try makeProject(files())
    let forge = try startService(project)
    let result = try runForge(
      ["run", "sh", "-c", "echo \"$TERM $ONLY_HERE $X\""], in: project,
      environment: ["TERM": "xterm-test", "ONLY_HERE": "mine", "X": "caller"])
    // X is the release's (forge's own environment had none, so the file's value): pinned.
    XCTAssertEqual(result.stdout, "xterm-test mine old\n", result.stderr)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  func testSettingsOfOtherCommandsDoNotStopRunOrEnv() throws {
    let project = try makeProject(files())
    let bad = ["FORGE_TIMEOUT": "x", "FORGE_LOG_FORMAT": "xml", "FORGE_COLOR": "maybe"]
    let run = try runForge(["run", "printenv", "X"], in: project, environment: bad)
    XCTAssertEqual(run.status, 0, run.stderr)
    XCTAssertEqual(run.stdout, "old\n")
    let env = try runForge(["env"], in: project, environment: bad)
    XCTAssertEqual(env.status, 0, env.stderr)
    // `check` checks what `start` would use, so there the same variable is an error.
    let check = try runForge(["check"], in: project, environment: ["FORGE_TIMEOUT": "x"])
    XCTAssertEqual(check.status, 2)
    XCTAssertTrue(check.stderr.hasPrefix("forge: FORGE_TIMEOUT: "), check.stderr)
  }

  func testOptionsBeforeTheCommand() throws {
    let project = try makeProject(["Procfile.dev": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let check = try runForge(["-f", "Procfile.dev", "check"], in: project)
    XCTAssertEqual(check.status, 0, check.stderr)
    XCTAssertEqual(check.stdout, "valid procfile detected (web)\n")
    let unknown = try runForge(["--bogus"], in: project)
    XCTAssertEqual(unknown.status, 2)
    XCTAssertTrue(unknown.stderr.hasPrefix("forge: unknown option --bogus\n"), unknown.stderr)
  }

  func testTTYTypeKeepsDevNullAsStdin() throws {
    let project = try makeProject(["Procfile": "web: readlink /proc/self/fd/0; cat; echo cat-done\n"])
    let forge = try launch(["start", "--tty", "web"], in: project)
    try forge.waitForLine(containing: "cat-done", from: "web.1")
    XCTAssertEqual(forge.lines(of: "web.1").first { $0.hasPrefix("/") }, "/dev/null", forge.transcript())
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }
}
