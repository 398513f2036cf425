import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Secrets through the real binary: a process gets its secret's real value while the log
/// stream (text and JSON, across the pieces of an over-long line) shows `[redacted:KEY]`;
/// `X_FILE` references; the platform's variable over the secret file; `forge env` masking;
/// unreadable secrets as bad input; a rotated secret as a new release that `forge reload`
/// rolls out.
final class SecretsTests: ForgeTestCase {
  private let password = "hunter2-correct-horse"

  /// A project whose secrets directory `secrets/` holds DB_PASSWORD.
  private func project(_ procfile: String, files: [String: String] = [:]) throws -> ForgeProject {
    var all = files
    all["Procfile"] = procfile
    all["secrets/DB_PASSWORD"] = password + "\n"
    return try makeProject(all)
  }

  func testProcessSeesItsSecretWhileTheLogShowsItRedacted() throws {
    let project = try project(
      #"web: printf '%s' "$DB_PASSWORD" > seen.txt; echo "password is $DB_PASSWORD""# + "\n")
    let result = try runForge(["start", "--secrets", "secrets"], in: project)
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(project.read("seen.txt"), password, "the process gets the real value")
    let lines = result.stdoutLines.compactMap(LogLine.init).filter { $0.process == "web.1" }.map(\.text)
    XCTAssertTrue(lines.contains("password is [redacted:DB_PASSWORD]"), result.stdout)
    XCTAssertFalse(result.stdout.contains(password), result.stdout)
    XCTAssertFalse(result.stderr.contains(password), result.stderr)

    let json = try runForge(["start", "--secrets", "secrets", "--log-format", "json"], in: project)
    XCTAssertEqual(json.status, 0, json.stderr)
    XCTAssertFalse(json.stdout.contains(password), json.stdout)
    let objects = try json.stdoutLines.map { line in
      try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
    }
    XCTAssertTrue(
      objects.contains {
        $0["process"] as? String == "web.1" && $0["line"] as? String == "password is [redacted:DB_PASSWORD]"
      }, json.stdout)
  }

  /// forge prints a line over 64 KiB in pieces; a secret that straddles the cut, at any
  /// offset, is still replaced whole.
  func testSecretAcrossThePieceBoundaryOfALongLineIsRedacted() throws {
    let piece = 64 * 1024
    // Lines whose secret starts 1, half its length, and its length less one byte before the cut.
    let offsets = [1, password.utf8.count / 2, password.utf8.count - 1]
    let script =
      "#!/bin/sh\n"
      + offsets.map { offset in
        "head -c \(piece - offset) /dev/zero | tr '\\0' x; printf '%s' \"$DB_PASSWORD\"; echo ' end-of-line'"
      }.joined(separator: "\n") + "\n"
    let project = try project("web: exec ./long.sh\n", files: ["long.sh": script])
    let result = try runForge(["start", "--secrets", "secrets"], in: project)
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertFalse(result.stdout.contains(password), "a secret leaked across a piece boundary")
    // Each line arrives in two pieces; together they hold the replacement once, whole.
    let texts = result.stdoutLines.compactMap(LogLine.init).filter { $0.process == "web.1" }.map(\.text)
    let joined = texts.joined()
    XCTAssertEqual(joined.components(separatedBy: "[redacted:DB_PASSWORD]").count - 1, offsets.count)
    XCTAssertEqual(joined.components(separatedBy: " end-of-line").count - 1, offsets.count)
    let pieces = texts.filter { $0.hasPrefix("x") || $0.contains(" end-of-line") }
    XCTAssertEqual(pieces.count, 2 * offsets.count, "each line in two pieces: \(pieces.map(\.count))")
  }

  /// `DB_PASSWORD_FILE` in .env with --file-refs: the process gets DB_PASSWORD with the file's
  /// content, and no DB_PASSWORD_FILE.
  func testFileReferenceFromTheEnvFileIsResolvedAndRemoved() throws {
    let project = try makeProject([
      "Procfile": "web: echo \"[${DB_PASSWORD_FILE-unset}]\"\n", ".env": "DB_PASSWORD_FILE=conf/db.txt\n",
      "conf/db.txt": password + "\n",
    ])
    let run = try runForge(
      ["run", "--file-refs", "sh", "-c", #"printf '%s|%s' "$DB_PASSWORD" "${DB_PASSWORD_FILE-unset}""#], in: project)
    XCTAssertEqual(run.status, 0, run.stderr)
    XCTAssertEqual(run.stdout, "\(password)|unset")
    let env = try runForge(["env", "--file-refs", "--reveal"], in: project)
    XCTAssertEqual(env.status, 0, env.stderr)
    XCTAssertTrue(env.stdoutLines.contains("DB_PASSWORD=\(password)"), env.stdout)
    XCTAssertFalse(env.stdout.contains("DB_PASSWORD_FILE"), env.stdout)
    let start = try runForge(["start", "--file-refs"], in: project)
    XCTAssertEqual(start.status, 0, start.stderr)
    XCTAssertTrue(start.stdout.contains("| [unset]\n"), start.stdout)
    // Without --file-refs the reference is an ordinary variable (secret by its name).
    let plain = try runForge(["env", "--reveal"], in: project)
    XCTAssertTrue(plain.stdoutLines.contains("DB_PASSWORD_FILE=conf/db.txt"), plain.stdout)
    XCTAssertFalse(plain.stdout.contains(password), plain.stdout)
  }

  /// A secret file takes part as an env file value: the platform's variable still wins, and
  /// is redacted as the secret it replaces.
  func testPlatformVariableWinsOverTheSecretFile() throws {
    let project = try project(#"web: printf '%s' "$DB_PASSWORD" > seen.txt; echo "pw=$DB_PASSWORD""# + "\n")
    let platform = "from-the-platform-99"
    let result = try runForge(["start", "--secrets", "secrets"], in: project, environment: ["DB_PASSWORD": platform])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(project.read("seen.txt"), platform)
    XCTAssertTrue(result.stdout.contains("| pw=[redacted:DB_PASSWORD]\n"), result.stdout)
    XCTAssertFalse(result.stdout.contains(platform), result.stdout)
    let env = try runForge(
      ["env", "--secrets", "secrets", "--reveal"], in: project, environment: ["DB_PASSWORD": platform])
    XCTAssertTrue(env.stdoutLines.contains("DB_PASSWORD=\(platform)"), env.stdout)
  }

  func testEnvMasksSecretsUnlessRevealed() throws {
    let project = try project("web: true\n", files: [".env": "API_TOKEN=tok-0123456789\nPLAIN=visible\n"])
    // From the secrets directory through $CREDENTIALS_DIRECTORY, as systemd's LoadCredential= gives it.
    let credentials = ["CREDENTIALS_DIRECTORY": project.path("secrets")]
    let masked = try runForge(["env"], in: project, environment: credentials)
    XCTAssertEqual(masked.status, 0, masked.stderr)
    XCTAssertTrue(masked.stdoutLines.contains("DB_PASSWORD='[redacted]'"), masked.stdout)
    XCTAssertTrue(masked.stdoutLines.contains("API_TOKEN='[redacted]'"), "secret by its name: \(masked.stdout)")
    XCTAssertTrue(masked.stdoutLines.contains("PLAIN=visible"), masked.stdout)
    XCTAssertFalse(masked.stdout.contains(password), masked.stdout)
    let json = try runForge(["env", "--json"], in: project, environment: credentials)
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: String])
    XCTAssertEqual(object["DB_PASSWORD"], "[redacted]")
    let revealed = try runForge(["env", "--reveal"], in: project, environment: credentials)
    XCTAssertTrue(revealed.stdoutLines.contains("DB_PASSWORD=\(password)"), revealed.stdout)
    XCTAssertTrue(revealed.stdoutLines.contains("API_TOKEN=tok-0123456789"), revealed.stdout)
  }

  /// A secret that cannot be read is bad input naming its path (exit 2), never an empty
  /// value. chmod 000 does not stop root, so: a directory, a dangling link, a missing directory.
  func testUnreadableSecretIsBadInputNamingThePath() throws {
    let project = try makeProject(["Procfile": "web: true\n", "conf/is-a-directory/x": "x\n"])
    try FileManager.default.createSymbolicLink(
      atPath: project.path("conf/dangling"), withDestinationPath: project.path("conf/nowhere"))
    for (reference, message) in [
      ("conf/is-a-directory", "conf/is-a-directory: expected a regular file"),
      ("conf/dangling", "conf/dangling: no such file (DB_PASSWORD_FILE)"),
    ] {
      try project.write(".env", "DB_PASSWORD_FILE=\(reference)\n")
      for command in [["check"], ["env"], ["start"], ["run", "true"]] {
        let result = try runForge([command[0], "--file-refs"] + command.dropFirst(), in: project)
        XCTAssertEqual(result.status, 2, "\(command) \(reference): \(result.stderr)")
        XCTAssertTrue(result.stderr.hasPrefix("forge: \(message)"), "\(command): \(result.stderr)")
        XCTAssertTrue(result.stderr.contains("DB_PASSWORD_FILE"), result.stderr)
      }
    }
    let missing = try runForge(["check", "--secrets", "no-such-dir"], in: project)
    XCTAssertEqual(missing.status, 2, missing.stderr)
    XCTAssertEqual(missing.stderr, "forge: \(project.path("no-such-dir")): cannot read the secrets directory\n")
  }

  /// In the secrets directory, only regular files are secrets: a directory or a FIFO is left
  /// out (a FIFO is never opened: reading it could hang). An entry that cannot be examined at
  /// all, a dangling link (what a broken Kubernetes secret volume looks like), is bad input
  /// naming it, as an unreadable file is.
  func testSecretsDirectoryTakesRegularFilesAndAnUnreadableEntryIsBadInput() throws {
    let project = try project(
      "web: true\n", files: ["secrets/API_TOKEN/x": "x\n", "secrets/MAIL_PASSWORD": "pw-123456\n"])
    XCTAssertEqual(mkfifo(project.path("secrets/QUEUE_SECRET"), 0o600), 0)
    let taken = try runForge(["env", "--secrets", "secrets", "--reveal"], in: project)
    XCTAssertEqual(taken.status, 0, taken.stderr)
    XCTAssertTrue(taken.stdoutLines.contains("MAIL_PASSWORD=pw-123456"), taken.stdout)
    XCTAssertFalse(taken.stdout.contains("API_TOKEN"), taken.stdout)
    XCTAssertFalse(taken.stdout.contains("QUEUE_SECRET"), taken.stdout)

    try FileManager.default.createSymbolicLink(
      atPath: project.path("secrets/SESSION_SECRET"), withDestinationPath: project.path("secrets/..data/gone"))
    let result = try runForge(["check", "--secrets", "secrets"], in: project)
    XCTAssertEqual(result.status, 2, result.stderr)
    XCTAssertTrue(result.stderr.contains(project.path("secrets/SESSION_SECRET")), result.stderr)
  }

  /// An error message that would echo a secret value shows it redacted.
  func testErrorMessagesDoNotShowSecretValues() throws {
    let project = try makeProject([
      "Procfile": "web: true\n", ".env": "MY_SECRET=abcdef-long-secret\nPORT=$MY_SECRET\n",
    ])
    for command in [["check"], ["start"], ["env"]] {
      let result = try runForge(command, in: project)
      XCTAssertEqual(result.status, 2, "\(command): \(result.stderr)")
      XCTAssertEqual(
        result.stderr, "forge: PORT: expected a port from 1 to 65535, got \"[redacted:MY_SECRET]\"\n", "\(command)")
    }
  }

  /// A secret value shorter than 6 bytes is not replaced in the log (every "abc" would go),
  /// and forge says so once, naming the key; `forge env` still masks it.
  func testShortSecretIsWarnedAboutOnceAndLeftInTheLog() throws {
    let project = try project("web: echo \"pin is $APP_PIN\"; exec sleep 600\n", files: ["secrets/APP_PIN": "4321\n"])
    let forge = try launch(["start", "-t", "1", "--secrets", "secrets"], in: project)
    try forge.waitForLine(containing: "pin is", from: "web.1")
    XCTAssertEqual(forge.lines(of: "web.1").filter { $0 == "pin is 4321" }.count, 1, forge.transcript())
    let warnings = (forge.stdout.lines + forge.stderr.lines).filter { $0.contains("too short to be secret") }
    XCTAssertEqual(warnings.count, 1, forge.transcript())
    XCTAssertTrue(warnings.first?.hasSuffix(": APP_PIN") ?? false, "\(warnings)")
    let env = try runForge(["env", "--secrets", "secrets"], in: project)
    XCTAssertTrue(
      env.stdoutLines.contains("APP_PIN='[redacted]'") || env.stdoutLines.contains("APP_PIN=[redacted]"), env.stdout)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  /// The 64 KiB limit is the value's: a file of 64 KiB and a newline is taken, one more byte is
  /// bad input.
  func testSecretLimitIsSixtyFourKiBOfValue() throws {
    let value = String(repeating: "s", count: 64 * 1024)
    let project = try project("web: true\n", files: ["secrets/BIG_SECRET": value + "\n"])
    XCTAssertEqual(try runForge(["check", "--secrets", "secrets"], in: project).status, 0)
    try project.write("secrets/BIG_SECRET", value + "s\n")
    let over = try runForge(["check", "--secrets", "secrets"], in: project)
    XCTAssertEqual(over.status, 2, over.stderr)
    XCTAssertTrue(over.stderr.contains("a secret of 65537 bytes, above the 64 KiB limit"), over.stderr)
  }

  /// A rotated secret file is a new release (FORGE_RELEASE differs), and `forge reload` rolls it
  /// out: the replaced process has the new value, redacted in the log as the old one was.
  func testRotatingASecretIsANewReleaseThatReloadRollsOut() throws {
    // On SIGTERM it says goodbye with its (old) secret: printed after the reload, redacted all
    // the same.
    let project = try project(
      #"web: trap 'echo "bye with $DB_PASSWORD"; exit 0' TERM; printf '%s' "$DB_PASSWORD" > seen.txt; "#
        + #"echo "up with $DB_PASSWORD as $FORGE_RELEASE"; sleep 600 & wait"# + "\n")
    let forge = try launch(["start", "--secrets", "secrets", "-t", "1"], in: project)
    try forge.waitForLine(containing: "up with [redacted:DB_PASSWORD]", from: "web.1")
    let old = try XCTUnwrap(
      forge.lines(of: "forge").first { $0.hasPrefix("release ") }.map { String($0.dropFirst("release ".count)) })
    XCTAssertEqual(project.read("seen.txt"), password)
    // The release id is a hash of the Procfile and the whole environment: with forge's own
    // environment (its marker), the files on disk (--fresh) give the running release.
    let same = [ForgeHarness.markerVariable: forge.marker]
    let release = ["run", "--fresh", "--secrets", "secrets", "printenv", "FORGE_RELEASE"]
    XCTAssertEqual(try runForge(release, in: project, environment: same).stdout, old + "\n")

    let rotated = "rotated-battery-staple-77"
    try project.write("secrets/DB_PASSWORD", rotated + "\n")
    let releaseAfter = try runForge(release, in: project, environment: same)
    XCTAssertEqual(releaseAfter.status, 0, releaseAfter.stderr)
    let new = String(releaseAfter.stdout.dropLast())
    XCTAssertNotEqual(new, old, "a rotated secret is a new release")
    // Without --fresh, a one-off still gets the running release, and says the files changed.
    let pinned = try runForge(
      ["run", "--secrets", "secrets", "printenv", "FORGE_RELEASE"], in: project, environment: same)
    XCTAssertEqual(pinned.stdout, old + "\n", pinned.stderr)

    let reload = try runForge(["reload"], in: project)
    XCTAssertEqual(reload.status, 0, reload.stderr)
    XCTAssertEqual(
      reload.stdoutLines, ["reload: release \(old) → \(new): web changed (environment)", "release \(new) running"])
    try forge.waitForLine(containing: "up with [redacted:DB_PASSWORD] as \(new)", from: "web.1")
    XCTAssertTrue(forge.lines(of: "web.1").contains("bye with [redacted:DB_PASSWORD]"), forge.transcript())
    XCTAssertTrue(eventually { project.read("seen.txt") == rotated }, project.read("seen.txt") ?? "")
    XCTAssertFalse(forge.stdout.text.contains(rotated), forge.transcript())
    XCTAssertFalse(forge.stdout.text.contains(password), forge.transcript())

    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }
}
