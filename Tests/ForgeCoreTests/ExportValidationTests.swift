import Foundation
import XCTest

@testable import ForgeCore

/// What `forge export` writes, handed to the real tools: `systemd-analyze verify`,
/// `kubernetes-validate --strict` and `docker-compose config` (Compose v2). Each runs on the
/// golden scenarios and on one with values that break naive quoting, and first on a file known
/// to be bad, so a tool that accepts anything cannot pass for a validator. A missing tool is
/// said loudly and fails the test under CI (see `Validator`); `make validators` installs them.
final class ExportValidationTests: ExportTestCase {
  private typealias Scenario = (name: String, files: (ExportFormat, String) throws -> [ExportFile])

  /// The golden scenarios, the tricky env with probes whose commands hold `$`, `%` and quotes,
  /// and secrets of every kind (a directory, a file reference, a name) with values as tricky.
  private var scenarios: [Scenario] {
    get throws {
      let forge = try stubForge()
      return [
        ("Procfile.example", { try GoldenScenario.plain($0, directory: $1) }),
        ("readiness goldens", { try GoldenScenario.probes($0, directory: $1, forge: forge) }),
        ("tricky", { format, directory in try format.files(try self.trickyPlan(directory: directory)) }),
        (
          "secrets",
          { format, directory in try format.files(try self.secretsPlan(directory: directory, forge: forge)) }
        ),
      ]
    }
  }

  /// An executable standing in for forge in units that start through it: systemd-analyze
  /// checks that ExecStart's program exists. Its path has a space and a `%` to quote.
  private func stubForge() throws -> String {
    let path = try temporaryDirectory() + "/bin dir 100%/forge"
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data("#!/bin/sh\nexit 0\n".utf8).write(to: URL(fileURLWithPath: path))
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    return path
  }

  private func secretsPlan(directory: String, forge: String) throws -> ExportPlan {
    let project = try exportProject(
      procfile: procfile, env: trickyEnv + "API_TOKEN='tok \"$x\" 100%'\nSIGNING_KEY_FILE=/etc/app/signing.key\n",
      options: [("formation", "web=2,worker=1,clock=1"), ("file-refs", "")],
      secrets: ["DB_PASSWORD": "pw with 'quotes' \"and\" $dollars\n", "SESSION_SECRET": "multi\nline\\"],
      files: ["/etc/app/signing.key": "key-0123456789"])
    var plan = try exportPlan(project, directory: directory)
    plan.forgeExecutable = forge
    return plan
  }

  private func trickyPlan(directory: String) throws -> ExportPlan {
    let project = try exportProject(
      procfile: procfile + "release: ./migrate --all\n", env: trickyEnv,
      options: [("formation", "web=2,worker=1,clock=3,release=1")])
    return try exportPlan(
      project, directory: directory, expose: ["web", "clock"],
      probes: [
        ("ready", #"web=http:/up?a=1&b='2' c,worker=exec:test "$PORT" -gt 100 && echo 100%,clock=port"#),
        ("health", "web=exec:kill -0 1"), ("after", "web=worker,worker=release:done,clock=web"),
        ("metrics", "0.0.0.0:9100"),
      ])
  }

  func testSystemdUnitsPassSystemdAnalyzeVerify() throws {
    let analyze = try Validator.systemdAnalyze()
    let bad = try temporaryDirectory()
    try write(ExportFile("bad@.service", "[Service]\nType=oneshot\nRestart=always\nExecStart=/bin/true\n"), in: bad)
    let refused = try XCTUnwrap(try verify(analyze, ["bad@1.service"], in: bad))
    XCTAssertNotEqual(refused.status, 0, "systemd-analyze accepted a bad unit: \(refused.output)")

    for scenario in try scenarios {
      let directory = try temporaryDirectory()
      let files = try scenario.files(.systemd, directory)
      for file in files { try write(file, in: directory) }
      let units =
        files.map(\.path).filter { $0.hasSuffix(".target") }
        + files.compactMap { file in
          file.path.hasSuffix(".service.d/port.conf") ? String(file.path.dropLast("/port.conf".count + 2)) : nil
        }
      XCTAssertGreaterThan(units.count, 3, scenario.name)
      let result = try XCTUnwrap(try verify(analyze, units, in: directory))
      XCTAssertEqual(result.status, 0, "\(scenario.name): \(result.output)")
      // verify exits 0 on warnings about settings it ignores (a bad escape, a bad time span).
      XCTAssertFalse(result.output.contains(directory), "\(scenario.name): \(result.output)")
    }
  }

  private func verify(_ analyze: [String], _ units: [String], in directory: String) throws -> (
    status: Int32, output: String
  )? {
    try runTool(analyze + ["verify", "--man=no"] + units, environment: ["SYSTEMD_UNIT_PATH": directory + ":"])
  }

  func testKubernetesManifestsPassKubernetesValidate() throws {
    let validate = try Validator.kubernetesValidate()
    let bad = try written([
      ExportFile("bad.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  portz: []\n")
    ])
    let refused = try XCTUnwrap(try runTool(validate + ["--strict", bad + "/bad.yaml"]))
    XCTAssertNotEqual(refused.status, 0, "kubernetes-validate accepted a bad manifest: \(refused.output)")

    for scenario in try scenarios {
      let files = try scenario.files(.kubernetes, "/k8s")
      let directory = try written(files)
      let result = try XCTUnwrap(try runTool(validate + ["--strict"] + files.map { directory + "/" + $0.path }))
      XCTAssertEqual(result.status, 0, "\(scenario.name): \(result.output)")
      XCTAssertEqual(
        result.output.split(separator: "\n").filter { $0.hasPrefix("INFO ") && $0.contains(" passed ") }.count,
        files.count, "\(scenario.name): \(result.output)")
    }
  }

  func testComposeFilePassesDockerComposeConfig() throws {
    let compose = try Validator.dockerCompose()
    let bad = try written([
      ExportFile("compose.yaml", "services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: soon}\n")
    ])
    let refused = try XCTUnwrap(try runTool(compose + ["-f", bad + "/compose.yaml", "config", "--quiet"]))
    XCTAssertNotEqual(refused.status, 0, "docker-compose accepted a bad file: \(refused.output)")

    for scenario in try scenarios {
      let directory = try written(try scenario.files(.compose, "/compose"))
      for profile in [[], ["--profile", "release"]] {
        let output = directory + "/normalized.json"
        let result = try XCTUnwrap(
          try runTool(
            compose + ["-f", directory + "/compose.yaml"] + profile + ["config", "--format", "json", "-o", output]))
        XCTAssertEqual(result.status, 0, "\(scenario.name) \(profile): \(result.output)")
        // Nothing to say: no variable left to interpolate, nothing obsolete or ignored.
        XCTAssertEqual(result.output, "", "\(scenario.name) \(profile)")
      }
    }
  }

  /// Compose's own reading of the file: `$$` is `$` again, the env file's values are the env
  /// files' variables, depends_on and healthchecks as meant. `config` writes a Compose file
  /// itself, so it doubles every `$` of the model again: undone before comparing.
  func testDockerComposeReadsTheFileAsMeant() throws {
    let compose = try Validator.dockerCompose()
    let plan = try trickyPlan(directory: "/compose")
    let directory = try written(try ExportFormat.compose.files(plan))
    let output = directory + "/normalized.json"
    let result = try XCTUnwrap(
      try runTool(
        compose + [
          "-f", directory + "/compose.yaml", "--profile", "release", "config", "--format", "json", "-o", output,
        ]
      ))
    XCTAssertEqual(result.status, 0, result.output)
    let json = try String(contentsOf: URL(fileURLWithPath: output), encoding: .utf8)
    let model = try JSONSerialization.jsonObject(with: Data(json.replacingOccurrences(of: "$$", with: "$").utf8))
    let services = try XCTUnwrap(dig(model, "services") as? [String: Any])
    XCTAssertEqual(
      dig(services, "worker", "healthcheck", "test") as? [String],
      ["CMD-SHELL", #"test "$PORT" -gt 100 && echo 100%"#])
    XCTAssertEqual(dig(services, "worker", "environment", "PORT") as? String, "6100", "the env file's PORT=6000")
    XCTAssertEqual(
      dig(services, "web", "healthcheck", "test") as? [String],
      [
        "CMD-SHELL",
        #"wget -q -T 1 -O /dev/null "http://127.0.0.1:6000/up?a=1&b='2' c" || "#
          + #"curl -fsS -m 1 -o /dev/null "http://127.0.0.1:6000/up?a=1&b='2' c""#,
      ])
    XCTAssertEqual(dig(services, "web", "depends_on", "worker", "condition") as? String, "service_healthy")
    XCTAssertEqual(
      dig(services, "worker", "depends_on", "release", "condition") as? String, "service_completed_successfully")
    XCTAssertEqual(dig(services, "clock", "depends_on", "web", "condition") as? String, "service_healthy")
    XCTAssertEqual(dig(services, "release", "restart") as? String, "no")
    XCTAssertNil(dig(services, "release", "profiles"), "something waits for it")
    // --metrics: the port on the Compose network, the scrape labels on the container.
    XCTAssertEqual(dig(services, "worker", "labels", "prometheus.io/port") as? String, "9100")
    XCTAssertEqual(dig(services, "worker", "labels", "prometheus.io/scrape") as? String, "true")
    XCTAssertEqual(dig(services, "web", "expose") as? [String], ["6000", "9100"])
    XCTAssertNil(dig(services, "release", "labels"))
    for service in ["web", "worker", "clock", "release"] {
      let environment = try XCTUnwrap(dig(services, service, "environment") as? [String: String?], service)
      for (key, value) in plan.environment { XCTAssertEqual(environment[key], value, "\(service) \(key)") }
    }
  }

  /// Compose reads both env files, the secrets one last: every service gets every variable, the
  /// secrets' values as they were; the first exposed type's port is published on 127.0.0.1.
  func testDockerComposeReadsTheSecretsEnvFileAndThePublishedPort() throws {
    let compose = try Validator.dockerCompose()
    let plan = try secretsPlan(directory: "/compose", forge: ExportPlan.defaultForgeExecutable)
    XCTAssertEqual(plan.secrets.map(\.key), ["API_TOKEN", "DB_PASSWORD", "SESSION_SECRET", "SIGNING_KEY"])
    let directory = try written(try ExportFormat.compose.files(plan))
    let output = directory + "/normalized.json"
    let result = try XCTUnwrap(
      try runTool(compose + ["-f", directory + "/compose.yaml", "config", "--format", "json", "-o", output]))
    XCTAssertEqual(result.status, 0, result.output)
    let json = try String(contentsOf: URL(fileURLWithPath: output), encoding: .utf8)
    let model = try JSONSerialization.jsonObject(with: Data(json.replacingOccurrences(of: "$$", with: "$").utf8))
    for service in ["web", "worker", "clock"] {
      let environment = try XCTUnwrap(dig(model, "services", service, "environment") as? [String: String?], service)
      for (key, value) in plan.environment { XCTAssertEqual(environment[key], value, "\(service) \(key)") }
    }
    let ports = try XCTUnwrap(dig(model, "services", "web", "ports") as? [[String: Any]])
    XCTAssertEqual(ports.count, 1, "\(ports)")
    XCTAssertEqual(dig(ports, 0, "host_ip") as? String, "127.0.0.1")
    // The env file's PORT=6000 is the base port: web.1 and web.2 listen on 6000 and 6001.
    XCTAssertEqual(dig(ports, 0, "published") as? String, "6000-6001")
    XCTAssertEqual(dig(ports, 0, "target") as? Int, 6000)
    XCTAssertNil(dig(model, "services", "worker", "ports"))
  }
}
