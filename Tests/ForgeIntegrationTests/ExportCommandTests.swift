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

  /// `--metrics` and `FORGE_METRICS` reach the manifests: the port, the scrape annotations and
  /// forge's command in the container; a loopback address is warned about and written.
  func testMetricsReachKubernetesAndCompose() throws {
    let project = try makeProject(["Procfile": procfile])
    let kubernetes = try runForge(
      ["export", "kubernetes", "k8s", "-a", "shop", "--metrics", "0.0.0.0:9100"], in: project)
    XCTAssertEqual(kubernetes.status, 0, kubernetes.stderr)
    XCTAssertEqual(kubernetes.stderr, "")
    let manifest = try XCTUnwrap(project.read("k8s/shop-web.deployment.yaml"))
    for line in [
      "\"prometheus.io/scrape\": \"true\"\n", "\"prometheus.io/port\": \"9100\"\n", "- name: metrics\n",
      "containerPort: 9100\n", "\"--metrics\", \"0.0.0.0:9100\"]\n",
    ] {
      XCTAssertTrue(manifest.contains(line), "\(line) in \(manifest)")
    }
    let compose = try runForge(
      ["export", "compose", "out"], in: project, environment: ["FORGE_METRICS": "127.0.0.1:9100"])
    XCTAssertEqual(compose.status, 0, compose.stderr)
    XCTAssertEqual(compose.stderrLines.count, 1, compose.stderr)
    XCTAssertTrue(compose.stderr.hasPrefix("forge: warning: --metrics 127.0.0.1:9100 is a loopback address"))
    let file = try XCTUnwrap(project.read("out/compose.yaml"))
    XCTAssertTrue(file.contains("expose: [\"5000\", \"9100\"]\n"), file)
    XCTAssertTrue(file.contains("\"--metrics\", \"127.0.0.1:9100\"]\n"), file)
  }

  // MARK: - Secrets, modes, overwriting, warnings

  /// Every file holding a value is mode 0600 — the Kubernetes Secret and ConfigMap too (the
  /// Secret was 0644), also when it replaces one an earlier forge wrote with 0644.
  func testFilesHoldingValuesAreMode0600InEveryFormat() throws {
    let project = try makeProject([
      "Procfile": procfile, ".env": "GREETING=hello-config\nAPI_TOKEN=tok-0123456789\n",
      "secrets/DB_PASSWORD": "pw-0123456789\n",
    ])
    // An earlier export left a Secret of mode 0644, listed in its manifest.
    try project.write("k8s/shop-env.secret.yaml", "old\n")
    try project.write("k8s/.forge-export", "# Written by 'forge export kubernetes'\nshop-env.secret.yaml\n")
    let expected: [String: Int] = [
      "k8s/shop-env.secret.yaml": 0o600, "k8s/shop-env.configmap.yaml": 0o600,
      "k8s/shop-web.deployment.yaml": 0o644, "k8s/shop-web.service.yaml": 0o644,
      "compose/compose.yaml": 0o644, "compose/shop.env": 0o600, "compose/shop.secrets.env": 0o600,
      "systemd/shop.env": 0o600, "systemd/shop-web@.service": 0o644, "systemd/shop.target": 0o644,
    ]
    for (format, directory) in [("kubernetes", "k8s"), ("compose", "compose"), ("systemd", "systemd")] {
      let result = try runForge(
        ["export", format, directory, "-a", "shop", "--secrets", "secrets", "-m", "web=1,worker=1"], in: project)
      XCTAssertEqual(result.status, 0, "\(format): \(result.stderr)")
      XCTAssertEqual(result.stderr, "", format)
    }
    for (path, mode) in expected.sorted(by: { $0.key < $1.key }) {
      XCTAssertEqual(try self.mode(project.path(path)), mode, path)
    }
    let secret = try XCTUnwrap(project.read("k8s/shop-env.secret.yaml"))
    XCTAssertTrue(secret.contains("DB_PASSWORD: \"pw-0123456789\""), secret)
    XCTAssertTrue(secret.contains("API_TOKEN: \"tok-0123456789\""), secret)
    XCTAssertFalse(secret.contains("hello-config"), secret)
    let configMap = try XCTUnwrap(project.read("k8s/shop-env.configmap.yaml"))
    XCTAssertTrue(configMap.contains("GREETING: \"hello-config\""), configMap)
    XCTAssertFalse(configMap.contains("0123456789"), configMap)
    let composeSecrets = try XCTUnwrap(project.read("compose/shop.secrets.env"))
    XCTAssertTrue(composeSecrets.contains("DB_PASSWORD='pw-0123456789'\n"), composeSecrets)
    XCTAssertFalse(try XCTUnwrap(project.read("compose/shop.env")).contains("0123456789"))
  }

  /// A hand-written file where the export would write stops it before anything is written,
  /// naming the file and --force; --force (or FORGE_FORCE) overwrites, and from then on the file
  /// is the export's. A symbolic link in the way is replaced, never written through.
  func testAnExportNeverOverwritesAFileItDidNotWriteUnlessForced() throws {
    let project = try makeProject(["Procfile": procfile, "out/compose.yaml": "services: {mine: {image: x}}\n"])
    let refused = try runForge(["export", "compose", "out", "-a", "shop"], in: project)
    XCTAssertEqual(refused.status, 1, refused.stderr)
    XCTAssertEqual(
      refused.stderr,
      "forge: out/compose.yaml exists and forge export did not write it; nothing written"
        + " (move it away, or use --force to overwrite it)\n")
    XCTAssertEqual(refused.stdout, "")
    XCTAssertEqual(project.read("out/compose.yaml"), "services: {mine: {image: x}}\n")
    XCTAssertFalse(project.exists("out/shop.env"), "nothing written")
    XCTAssertFalse(project.exists("out/.forge-export"), "nothing written")

    let forced = try runForge(["export", "compose", "out", "-a", "shop", "--force"], in: project)
    XCTAssertEqual(forced.status, 0, forced.stderr)
    XCTAssertEqual(forced.stdoutLines, ["wrote out/compose.yaml", "wrote out/shop.env"])
    XCTAssertTrue(project.read("out/compose.yaml")?.hasPrefix("# Generated by forge export") == true)
    // Now the export's own: the next export needs no --force.
    let again = try runForge(["export", "compose", "out", "-a", "shop"], in: project)
    XCTAssertEqual(again.status, 0, again.stderr)

    // Several files in the way, one a symbolic link to a file of the user's.
    try project.write("other/mine.txt", "precious\n")
    try project.write("other/shop.target", "[Unit]\n")
    try FileManager.default.createSymbolicLink(atPath: project.path("other/shop.env"), withDestinationPath: "mine.txt")
    let both = try runForge(["export", "systemd", "other", "-a", "shop"], in: project)
    XCTAssertEqual(both.status, 1, both.stderr)
    XCTAssertEqual(
      both.stderr,
      "forge: other/shop.target, other/shop.env exist and forge export did not write them; nothing written"
        + " (move them away, or use --force to overwrite them)\n")
    let fromEnvironment = try runForge(
      ["export", "systemd", "other", "-a", "shop"], in: project, environment: ["FORGE_FORCE": "true"])
    XCTAssertEqual(fromEnvironment.status, 0, fromEnvironment.stderr)
    XCTAssertEqual(project.read("other/mine.txt"), "precious\n", "the link's target is untouched")
    XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: project.path("other/shop.env")))
    XCTAssertEqual(try mode(project.path("other/shop.env")), 0o600)
  }

  /// The unit's ExecStart, run here as systemd would run it (credentials directory, PORT of
  /// the drop-in, APP.env in the environment): the process gets the secret, its PS and PORT,
  /// and nothing of an env file in the root.
  func testSystemdUnitLoadsSecretsAsCredentialsThroughForge() throws {
    let project = try makeProject([
      "Procfile":
        "web: echo \"pw=$DB_PASSWORD ps=$PS port=$PORT greeting=$GREETING leak=${LEAK-none}\"\nworker: echo w\n",
      ".env": "GREETING=hello\n", "secrets/DB_PASSWORD": "pw-0123456789\n",
    ])
    let export = try runForge(["export", "systemd", "units", "-a", "shop", "--secrets", "secrets"], in: project)
    XCTAssertEqual(export.status, 0, export.stderr)
    let environmentFile = try XCTUnwrap(project.read("units/shop.env"))
    XCTAssertFalse(environmentFile.contains("pw-0123456789"), "a credential stays in its file")
    let unit = try XCTUnwrap(project.read("units/shop-web@.service"))
    let lines = unit.split(separator: "\n").map(String.init)
    XCTAssertTrue(lines.contains("LoadCredential=DB_PASSWORD:\(project.directory)/secrets/DB_PASSWORD"), unit)
    let execStart = try XCTUnwrap(lines.first { $0.hasPrefix("ExecStart=") }?.dropFirst("ExecStart=".count))
    // The unit names the forge that exported it, symbolic links resolved.
    let forge = URL(fileURLWithPath: try ForgeHarness.forgeBinary()).resolvingSymlinksInPath().path
    let prefix =
      "\(forge) run --fresh --env= --secrets %d "
      + "/usr/bin/env PORT=${PORT} PS=web.%i DYNO=web.%i /bin/sh -c "
    XCTAssertTrue(execStart.hasPrefix(prefix), "\(execStart)\nexpected: \(prefix)")

    // As systemd runs instance 1: %d is the credentials directory, ${PORT} the drop-in's, the
    // environment APP.env's. An env file of the root is not read (it changed since the export).
    try project.write("credentials/DB_PASSWORD", "pw-0123456789\n")
    try project.write(".env", "GREETING=stale\nLEAK=from-the-root\n")
    let quotedCommand = String(execStart.dropFirst(prefix.count))
    let command = quotedCommand.dropFirst().dropLast().replacingOccurrences(of: "$$", with: "$")
      .replacingOccurrences(of: "\\\"", with: "\"")
    let run = try runForge(
      [
        "run", "--fresh", "--env=", "--secrets", project.path("credentials"),
        "/usr/bin/env", "PORT=5000", "PS=web.1", "DYNO=web.1", "/bin/sh", "-c", command,
      ], in: project, environment: ["GREETING": "hello", "CREDENTIALS_DIRECTORY": project.path("credentials")])
    XCTAssertEqual(run.status, 0, run.stderr)
    XCTAssertEqual(run.stdout, "pw=pw-0123456789 ps=web.1 port=5000 greeting=hello leak=none\n")
    XCTAssertEqual(run.stderr, "")
  }

  /// Values that cannot work where the export runs are named on stderr (never their values);
  /// the files are written anyway. An env file key the environment overrides is no concern of
  /// an export, which carries the file's value.
  func testExportWarnsAboutLocalReferencesAndValuesFromTheShell() throws {
    let project = try makeProject([
      "Procfile": "web: ./web\nredis: ./redis\n",
      ".env":
        "PATH=/app/bin:${PATH}\nREDIS_URL=redis://127.0.0.1:5100/0\nCACHE_PASSWORD_URL=redis://:pw-12345678@localhost:5100\n",
    ])
    let compose = try runForge(["export", "compose", "compose", "-a", "shop"], in: project)
    XCTAssertEqual(compose.status, 0, compose.stderr)
    XCTAssertEqual(
      compose.stderrLines,
      [
        "forge: warning: PATH took text from the environment forge export ran in (a $VARIABLE the env files"
          + " do not define); the export holds this machine's value",
        "forge: warning: CACHE_PASSWORD_URL points at redis on localhost:5100, which is another container under"
          + " Compose: use its service name, redis:5100",
        "forge: warning: REDIS_URL points at redis on 127.0.0.1:5100, which is another container under Compose:"
          + " use its service name, redis:5100",
      ])
    XCTAssertFalse(compose.stderr.contains("pw-12345678"))
    XCTAssertTrue(
      project.read("compose/shop.env")?.contains("PATH='/app/bin:\(ForgeHarness.path)'\n") == true,
      project.read("compose/shop.env") ?? "")
    // Compose publishes web's port to the host.
    XCTAssertTrue(project.read("compose/compose.yaml")?.contains("ports: [\"127.0.0.1:5000:5000\"]\n") == true)

    let kubernetes = try runForge(["export", "kubernetes", "k8s", "-a", "shop"], in: project)
    XCTAssertEqual(kubernetes.status, 0, kubernetes.stderr)
    XCTAssertTrue(
      kubernetes.stderrLines.contains(
        "forge: warning: REDIS_URL points at redis on 127.0.0.1:5100, which is another pod under Kubernetes:"
          + " use its Service, shop-redis:5100 (export with --expose redis)"), kubernetes.stderr)

    // On one host, as under forge, a local reference works: only the shell's value is said.
    let systemd = try runForge(["export", "systemd", "units", "-a", "shop"], in: project)
    XCTAssertEqual(systemd.status, 0, systemd.stderr)
    XCTAssertEqual(systemd.stderrLines.count, 1, systemd.stderr)
    XCTAssertTrue(systemd.stderr.hasPrefix("forge: warning: PATH took text from the environment"), systemd.stderr)
  }

  /// `forge start` and `forge check` say once that the environment overrides an env file key,
  /// naming it and --env-override; not when the values agree, nor with --env-override.
  func testStartAndCheckWarnOnceAboutEnvFileKeysTheEnvironmentOverrides() throws {
    let project = try makeProject([
      "Procfile": "web: echo \"path=$PATH same=$SAME\"\n", ".env": "PATH=/app/bin:${PATH}\nSAME=same\n",
    ])
    let warning =
      "forge: warning: PATH from .env is overridden by the environment (use --env-override to let the file win)"
    let check = try runForge(["check"], in: project, environment: ["SAME": "same"])
    XCTAssertEqual(check.status, 0, check.stderr)
    XCTAssertEqual(check.stderrLines, [warning])
    let start = try runForge(["start"], in: project, environment: ["SAME": "same"])
    XCTAssertEqual(start.status, 0, start.stderr)
    XCTAssertEqual(start.stderrLines, [warning])
    XCTAssertTrue(start.stdout.contains("| path=\(ForgeHarness.path) same=same\n"), start.stdout)

    let overriding = try runForge(["check", "--env-override"], in: project)
    XCTAssertEqual(overriding.status, 0, overriding.stderr)
    XCTAssertEqual(overriding.stderr, "")
    let started = try runForge(["start", "--env-override"], in: project)
    XCTAssertEqual(started.stderr, "")
    XCTAssertTrue(started.stdout.contains("| path=/app/bin:\(ForgeHarness.path) same=same\n"), started.stdout)
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
