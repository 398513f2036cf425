import Foundation
import XCTest

/// `forge export` and `forge completion` through the real binary: what lands on disk, what a
/// second export replaces and removes, and that an exported container command really listens
/// on the port its manifest declares.
final class ExportCommandTests: ForgeTestCase {
  private let procfile = "web: echo web=$PORT\nworker: echo worker=$PORT\n"

  private func mode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return try XCTUnwrap(attributes[.posixPermissions] as? Int)
  }

  func testSystemdExportWritesTheFormationAndAManifest() throws {
    let project = try makeProject(["Procfile": procfile, ".env": "SECRET=s3cret\n"])
    let result = try runForge(
      ["export", "systemd", "out", "-m", "web=2,worker=1", "--app", "Shop"], in: project,
      environment: ["SHELL_ONLY": "not exported"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stderr, "")
    let written = [
      "shop.target", "shop.env", "shop-web@.service", "shop-web@1.service.d/port.conf",
      "shop-web@2.service.d/port.conf", "shop-worker@.service", "shop-worker@1.service.d/port.conf",
    ]
    XCTAssertEqual(result.stdoutLines, written.map { "wrote out/\($0)" })
    for name in written { XCTAssertTrue(project.exists("out/" + name), name) }
    XCTAssertEqual(try mode(project.path("out/shop.env")), 0o600)
    let env = try XCTUnwrap(project.read("out/shop.env"))
    XCTAssertTrue(env.contains("SECRET=\"s3cret\"\n"), env)
    XCTAssertFalse(env.contains("SHELL_ONLY"), "forge's own environment is never exported")
    let unit = try XCTUnwrap(project.read("out/shop-web@.service"))
    XCTAssertTrue(unit.contains("EnvironmentFile=\(project.directory)/out/shop.env\n"), unit)
    XCTAssertTrue(unit.contains("WorkingDirectory=\(project.directory)\n"), unit)
    let manifest = try XCTUnwrap(project.read("out/.forge-export"))
    XCTAssertEqual(manifest.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init), written)
  }

  func testExportAgainRemovesWhatItNoLongerWritesAndNothingElse() throws {
    let project = try makeProject(["Procfile": procfile])
    XCTAssertEqual(
      try runForge(["export", "systemd", "out", "-m", "web=2,worker=1", "-a", "shop"], in: project).status, 0)
    try project.write("out/notes.txt", "mine\n")
    try project.write("out/shop-worker@1.service.d/override.conf", "[Service]\nNice=5\n")

    let result = try runForge(["export", "systemd", "out", "-m", "web=1", "-a", "shop"], in: project)
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(
      result.stdoutLines.filter { $0.hasPrefix("removed ") },
      [
        "removed out/shop-web@2.service.d/port.conf", "removed out/shop-worker@.service",
        "removed out/shop-worker@1.service.d/port.conf",
      ])
    XCTAssertFalse(project.exists("out/shop-web@2.service.d"), "an emptied drop-in directory goes")
    XCTAssertTrue(project.exists("out/notes.txt"))
    XCTAssertTrue(project.exists("out/shop-worker@1.service.d/override.conf"), "a directory with a user's file stays")
    XCTAssertTrue(project.exists("out/shop-web@1.service.d/port.conf"))

    // The same export again writes the same bytes and removes nothing.
    let before = try XCTUnwrap(project.read("out/shop-web@.service"))
    let again = try runForge(["export", "systemd", "out", "-m", "web=1", "-a", "shop"], in: project)
    XCTAssertEqual(again.stdoutLines.filter { $0.hasPrefix("removed ") }, [])
    XCTAssertEqual(project.read("out/shop-web@.service"), before)
  }

  func testDefaultAppNameIsTheRootDirectorysName() throws {
    let project = try makeProject(["Procfile": procfile])
    let result = try runForge(["export", "compose", "out"], in: project)
    XCTAssertEqual(result.status, 0, result.stderr)
    let name = URL(fileURLWithPath: project.directory).lastPathComponent.lowercased()
      .replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: "_", with: "-")
    XCTAssertEqual(result.stdoutLines, ["wrote out/compose.yaml", "wrote out/\(name).env"])
    XCTAssertTrue(project.read("out/compose.yaml")?.contains("image: \"\(name):latest\"") == true)
  }

  func testUnknownFormatIsAUsageErrorListingTheFormats() throws {
    let project = try makeProject(["Procfile": procfile])
    let result = try runForge(["export", "launchd", "out"], in: project)
    XCTAssertEqual(result.status, 2)
    XCTAssertEqual(
      result.stderrLines.first, "forge: unknown export format 'launchd' (formats: systemd, kubernetes, compose)")
    XCTAssertEqual(result.stdout, "")
    XCTAssertFalse(project.exists("out"))
  }

  func testBadInputIsExitStatusTwoAndWritesNothing() throws {
    let project = try makeProject(["Procfile": procfile])
    for arguments in [
      ["export", "systemd"], ["export", "systemd", "out", "--expose", "api"],
      ["export", "kubernetes", "out", "-u", "bob"],
      ["export", "systemd", "out", "--restart", "sometimes"], ["export", "systemd", "out", "-m", "db=1"],
    ] {
      let result = try runForge(arguments, in: project)
      XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
      XCTAssertFalse(project.exists("out"), "\(arguments)")
    }
  }

  /// `--ready`, `--health`, `--after` and their timings reach every format, from the flags or
  /// from their FORGE_ variables, read and checked as `forge start` reads them.
  func testExportCarriesReadinessHealthAndStartOrder() throws {
    let project = try makeProject(["Procfile": "migrate: ./m\nweb: ./w\nworker: ./k\n"])
    let options = [
      "--ready", "web=http:/up,worker=notify", "--health", "web=port", "--after", "web=worker,web=migrate:done",
      "--ready-timeout", "20", "--health-interval", "4", "-a", "shop",
    ]
    for format in ["systemd", "kubernetes", "compose"] {
      let result = try runForge(["export", format, format] + options, in: project)
      XCTAssertEqual(result.status, 0, "\(format): \(result.stderr)")
    }
    let web = try XCTUnwrap(project.read("systemd/shop-web@.service"))
    for line in ["After=shop-worker@1.service", "Wants=shop-migrate@1.service", "TimeoutStartSec=20", "ExecStartPost="]
    {
      XCTAssertTrue(web.contains("\n" + line), "\(line) in \(web)")
    }
    XCTAssertTrue(project.read("systemd/shop-worker@.service")?.contains("\nType=notify\n") == true)
    XCTAssertTrue(project.read("systemd/shop-migrate@.service")?.contains("\nType=oneshot\n") == true)
    XCTAssertTrue(project.exists("kubernetes/shop-migrate.job.yaml"), "a task is a Job")
    XCTAssertFalse(project.exists("kubernetes/shop-migrate.deployment.yaml"))
    let deployment = try XCTUnwrap(project.read("kubernetes/shop-web.deployment.yaml"))
    for text in [
      "readinessProbe:\n            httpGet:", "livenessProbe:\n            tcpSocket:", "periodSeconds: 4\n",
    ] {
      XCTAssertTrue(deployment.contains(text), "\(text) in \(deployment)")
    }
    let compose = try XCTUnwrap(project.read("compose/compose.yaml"))
    for text in ["condition: service_completed_successfully", "condition: service_started", "interval: 4s"] {
      XCTAssertTrue(compose.contains(text), "\(text) in \(compose)")
    }

    // The same from the environment.
    let fromEnvironment = try runForge(
      ["export", "compose", "env-out", "-a", "shop"], in: project,
      environment: ["FORGE_READY": "web=http:/up,worker=notify", "FORGE_AFTER": "web=worker,web=migrate:done"])
    XCTAssertEqual(fromEnvironment.status, 0, fromEnvironment.stderr)
    let again = try XCTUnwrap(project.read("env-out/compose.yaml"))
    XCTAssertTrue(again.contains("condition: service_completed_successfully"), again)
    XCTAssertTrue(again.contains("healthcheck:"), again)
  }

  func testBadReadinessOrStartOrderIsExitStatusTwoAndWritesNothing() throws {
    let project = try makeProject(["Procfile": "migrate: ./m\nweb: ./w\n"])
    for (arguments, message) in [
      (["--ready", "api=port"], "--ready: unknown process type \"api\""),
      (["--health", "web=notify"], "--health: expected port, http:PATH or exec:COMMAND"),
      (["--after", "web=migrate,migrate=web"], "cycle"),
      (["--after", "web=migrate:done", "-m", "web=1,migrate=0"], "web waits for migrate"),
      (["--ready-timeout", "-1"], "--ready-timeout"),
    ] {
      let result = try runForge(["export", "systemd", "out"] + arguments, in: project)
      XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
      XCTAssertFalse(project.exists("out"), "\(arguments)")
    }
  }

  /// The manifest's container command, run here, gives the process the port the manifest
  /// exposes: forge adds the type's Procfile offset to `-p`, as on the host.
  func testKubernetesContainerCommandListensOnTheDeclaredPort() throws {
    let project = try makeProject(["Procfile": procfile])
    let export = try runForge(
      ["export", "kubernetes", "k8s", "--expose", "web,worker", "-p", "6000", "-a", "shop"], in: project)
    XCTAssertEqual(export.status, 0, export.stderr)
    for (type, port) in [("web", 6000), ("worker", 6100)] {
      let manifest = try XCTUnwrap(project.read("k8s/shop-\(type).deployment.yaml"))
      XCTAssertTrue(manifest.contains("- containerPort: \(port)\n"), manifest)
      let commandLine = try XCTUnwrap(manifest.split(separator: "\n").first { $0.contains("command: [") })
      // The flow sequence of double-quoted strings is JSON.
      let json = String(commandLine[commandLine.firstIndex(of: "[")!...])
      let command = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String])
      XCTAssertEqual(command.first, "forge")
      let run = try runForge(Array(command.dropFirst()), in: project)
      XCTAssertEqual(run.status, 0, run.stderr)
      XCTAssertTrue(run.stdoutLines.contains { $0.hasSuffix("\(type)=\(port)") }, run.stdout)
    }
  }

  func testCompletionScriptsThroughTheBinary() throws {
    let project = try makeProject()
    for (shell, marker) in [
      ("bash", "complete -F _forge forge"), ("zsh", "#compdef forge"), ("fish", "complete -c forge"),
    ] {
      let result = try runForge(["completion", shell], in: project)
      XCTAssertEqual(result.status, 0, result.stderr)
      XCTAssertTrue(result.stdout.contains(marker), shell)
    }
    let bad = try runForge(["completion", "tcsh"], in: project)
    XCTAssertEqual(bad.status, 2)
    XCTAssertEqual(bad.stderrLines.first, "forge: unknown shell 'tcsh' (shells: bash, zsh, fish)")
  }
}
