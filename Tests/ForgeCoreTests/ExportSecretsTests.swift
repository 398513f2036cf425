import Foundation
import XCTest

@testable import ForgeCore

/// Secrets in `forge export`: which variables are secret, where each format puts them
/// (Kubernetes Secret and ConfigMap, Compose's second env file, systemd credentials), the
/// modes of the files holding values, the platforms' grace period, Compose's published port,
/// and the warnings about values that will not mean the same where the export runs.
final class ExportSecretsTests: ExportTestCase {
  /// A named secret in `.env`, a file of the secrets directory and an `X_FILE` reference.
  private let secretEnv = """
    DATABASE_URL=postgres://db.internal/app
    API_TOKEN=tok-named-0123456789
    SIGNING_KEY_FILE=/etc/app/signing.key
    GREETING=hello-from-config

    """

  private func secretPlan(
    formation: String = "web=2,worker=1,clock=1", expose: [String] = ["web"], fileRefs: Bool = true,
    forgeExecutable: String? = nil
  ) throws -> ExportPlan {
    var options = [("formation", formation), ("timeout", "5")]
    if fileRefs { options.append(("file-refs", "")) }
    let project = try exportProject(
      procfile: procfile, env: secretEnv, options: options,
      secrets: ["DB_PASSWORD": "pw-from-directory-42\n"], files: ["/etc/app/signing.key": "key-from-file-77\n"])
    var plan = try exportPlan(project, expose: expose)
    if let forgeExecutable { plan.forgeExecutable = forgeExecutable }
    return plan
  }

  // MARK: - The plan

  func testSecretKeysComeFromTheSecretsDirectoryFileReferencesAndNames() throws {
    let plan = try secretPlan()
    XCTAssertEqual(
      plan.environment.map(\.key), ["API_TOKEN", "DATABASE_URL", "DB_PASSWORD", "GREETING", "SIGNING_KEY"],
      "SIGNING_KEY_FILE gave way to SIGNING_KEY")
    XCTAssertEqual(plan.secrets.map(\.key), ["API_TOKEN", "DB_PASSWORD", "SIGNING_KEY"])
    XCTAssertEqual(dictionary(plan.secrets)["DB_PASSWORD"], "pw-from-directory-42", "one trailing newline dropped")
    XCTAssertEqual(dictionary(plan.secrets)["SIGNING_KEY"], "key-from-file-77")
    XCTAssertEqual(plan.configuration.map(\.key), ["DATABASE_URL", "GREETING"])
    XCTAssertEqual(plan.credentials.map(\.key), ["DB_PASSWORD", "SIGNING_KEY"], "the secrets read from files")
    XCTAssertEqual(
      plan.credentials.map(\.path), ["\(exportSecretsDirectory)/DB_PASSWORD", "/etc/app/signing.key"])

    // Without --file-refs the reference is an ordinary variable, and no secret.
    let plain = try secretPlan(fileRefs: false)
    XCTAssertEqual(dictionary(plain.configuration)["SIGNING_KEY_FILE"], "/etc/app/signing.key")
    XCTAssertNil(dictionary(plain.environment)["SIGNING_KEY"])
    XCTAssertEqual(plain.credentials.map(\.key), ["DB_PASSWORD"])
  }

  func testRelativeFileReferenceIsMadeAbsoluteFromTheWorkingDirectory() throws {
    let project = try exportProject(
      procfile: procfile, env: "TLS_KEY_FILE=keys/tls.pem\n", options: [("file-refs", "")],
      files: ["keys/tls.pem": "pem-data-0123"])
    XCTAssertEqual(try exportPlan(project).credentials.map(\.path), ["/srv/app/keys/tls.pem"])
  }

  // MARK: - Kubernetes

  func testKubernetesSecretHoldsEverySecretKeyAndTheConfigMapTheRest() throws {
    let files = try ExportFormat.kubernetes.files(try secretPlan())
    let secret = try YAMLReader.loadOne(try exportFile(files, "example-env.secret.yaml").text)
    XCTAssertEqual(
      dig(secret, "stringData") as? [String: String],
      [
        "API_TOKEN": "tok-named-0123456789", "DB_PASSWORD": "pw-from-directory-42", "SIGNING_KEY": "key-from-file-77",
      ])
    let configMap = try YAMLReader.loadOne(try exportFile(files, "example-env.configmap.yaml").text)
    XCTAssertEqual(
      dig(configMap, "data") as? [String: String],
      ["DATABASE_URL": "postgres://db.internal/app", "GREETING": "hello-from-config"])
  }

  // MARK: - Compose

  func testComposeSecretsGoToTheirOwnEnvFileOfMode0600() throws {
    let plan = try secretPlan()
    let files = try ExportFormat.compose.files(plan)
    XCTAssertEqual(files.map(\.path), ["compose.yaml", "example.env", "example.secrets.env"])
    let secrets = try exportFile(files, "example.secrets.env")
    XCTAssertEqual(secrets.mode, 0o600)
    XCTAssertEqual(try exportFile(files, "example.env").mode, 0o600)
    XCTAssertEqual(
      dictionary(try XCTUnwrap(ComposeReader.environmentFile(secrets.text))), dictionary(plan.secrets))
    let configuration = try XCTUnwrap(ComposeReader.environmentFile(try exportFile(files, "example.env").text))
    XCTAssertEqual(dictionary(configuration), dictionary(plan.configuration))
    let compose = try exportFile(files, "compose.yaml").text
    for (_, value) in plan.environment { XCTAssertFalse(compose.contains(value), value) }
    let services = try XCTUnwrap(dig(try YAMLReader.loadOne(compose), "services") as? [String: Any])
    for type in ["web", "worker", "clock"] {
      XCTAssertEqual(dig(services, type, "env_file") as? [String], ["example.env", "example.secrets.env"], type)
    }
  }

  // MARK: - systemd

  func testSystemdLoadsSecretFilesAsCredentialsAndStartsThroughForge() throws {
    let files = try ExportFormat.systemd.files(try secretPlan())
    let environment = try XCTUnwrap(SystemdReader.environmentFile(try exportFile(files, "example.env").text))
    // The secrets read from files stay in their files; a secret named in .env has no file.
    XCTAssertEqual(environment.map(\.key), ["API_TOKEN", "DATABASE_URL", "GREETING"])
    for type in ["web", "worker", "clock"] {
      let unit = UnitFile(try exportFile(files, "example-\(type)@.service").text)
      XCTAssertEqual(
        unit.values("Service", "LoadCredential"),
        ["DB_PASSWORD:\(exportSecretsDirectory)/DB_PASSWORD", "SIGNING_KEY:/etc/app/signing.key"], type)
      let execStart = try XCTUnwrap(unit.value("Service", "ExecStart"), type)
      let prefix =
        "/usr/local/bin/forge run --fresh --env= --secrets %d "
        + "/usr/bin/env PORT=${PORT} PS=\(type).%i DYNO=\(type).%i "
      XCTAssertTrue(execStart.hasPrefix(prefix), execStart)
      XCTAssertEqual(
        SystemdReader.shellCommand(String(execStart.dropFirst(prefix.count))),
        try XCTUnwrap(plainProcfileCommands[type]), type)
    }
  }

  private let plainProcfileCommands = ["web": "./server --port $PORT", "worker": "./work", "clock": "./tick"]

  func testSystemdWithoutSecretFilesRunsTheShellDirectly() throws {
    let project = try exportProject(procfile: procfile, env: "API_TOKEN=tok-named-0123456789\n")
    let files = try ExportFormat.systemd.files(try exportPlan(project))
    let unit = UnitFile(try exportFile(files, "example-web@.service").text)
    XCTAssertEqual(unit.values("Service", "LoadCredential"), [])
    XCTAssertEqual(
      SystemdReader.shellCommand(try XCTUnwrap(unit.value("Service", "ExecStart"))), "./server --port $PORT")
    XCTAssertTrue(try exportFile(files, "example.env").text.contains("API_TOKEN="))
  }

  func testSystemdQuotesAForgePathThatNeedsIt() throws {
    let files = try ExportFormat.systemd.files(try secretPlan(forgeExecutable: "/opt/my tools/100%/forge"))
    let execStart = try XCTUnwrap(
      UnitFile(try exportFile(files, "example-web@.service").text).value("Service", "ExecStart"))
    XCTAssertTrue(execStart.hasPrefix(#""/opt/my tools/100%%/forge" run "#), execStart)
  }

  // MARK: - Modes

  /// Every file that holds a value of the env files or the secrets is mode 0600, in every
  /// format; the others are 0644.
  func testEveryFileHoldingAValueIsMode0600() throws {
    let plan = try secretPlan()
    for format in ExportFormat.allCases {
      let files = try format.files(plan)
      var holding: [String] = []
      for file in files {
        let holds = plan.environment.contains { file.text.contains($0.value) }
        if holds { holding.append(file.path) }
        XCTAssertEqual(file.mode, holds ? 0o600 : 0o644, "\(format) \(file.path)")
      }
      XCTAssertFalse(holding.isEmpty, "\(format)")
    }
  }

  // MARK: - Grace period

  func testPlatformsWaitTheGracePeriodPlusAMargin() throws {
    let project = try exportProject(procfile: procfile, options: [("timeout", "10.2")])
    let plan = try exportPlan(project)
    XCTAssertEqual(plan.platformStopSeconds, 15.2)
    let kubernetes = try YAMLReader.loadOne(
      try exportFile(try ExportFormat.kubernetes.files(plan), "example-web.deployment.yaml").text)
    XCTAssertEqual(dig(kubernetes, "spec", "template", "spec", "terminationGracePeriodSeconds") as? Int, 16)
    XCTAssertEqual(
      dig(kubernetes, "spec", "template", "spec", "containers", 0, "env", 0, "value") as? String, "10.2",
      "forge in the container keeps -t")
    let compose = try YAMLReader.loadOne(try exportFile(try ExportFormat.compose.files(plan), "compose.yaml").text)
    XCTAssertEqual(dig(compose, "services", "web", "stop_grace_period") as? String, "15.2s")
    XCTAssertEqual(dig(compose, "services", "web", "environment", "FORGE_TIMEOUT") as? String, "10.2")
    let unit = UnitFile(try exportFile(try ExportFormat.systemd.files(plan), "example-web@.service").text)
    XCTAssertEqual(unit.value("Service", "TimeoutStopSec"), "15.2")
  }

  // MARK: - Compose ports

  func testComposePublishesTheFirstExposedTypesPort() throws {
    let services = { (plan: ExportPlan) throws -> [String: Any] in
      try XCTUnwrap(
        dig(
          try YAMLReader.loadOne(try exportFile(try ExportFormat.compose.files(plan), "compose.yaml").text), "services")
          as? [String: Any])
    }
    let one = try services(try exportPlan(try exportProject(procfile: procfile, options: [("formation", "web=1")])))
    XCTAssertEqual(dig(one, "web", "ports") as? [String], ["127.0.0.1:5000:5000"])
    // Several exposed types: the first in the Procfile; the others are reached by service name.
    let both = try services(
      try exportPlan(
        try exportProject(procfile: procfile, options: [("formation", "all=1,worker=3")]), expose: ["worker", "clock"])
    )
    XCTAssertNil(dig(both, "web", "ports"))
    XCTAssertEqual(dig(both, "worker", "ports") as? [String], ["127.0.0.1:5100-5102:5100"])
    XCTAssertNil(dig(both, "clock", "ports"))
    XCTAssertEqual(dig(both, "clock", "expose") as? [String], ["5200"])
    // A type that does not run publishes nothing; the next exposed one does.
    let idle = try services(
      try exportPlan(
        try exportProject(procfile: procfile, options: [("formation", "web=0,worker=1,clock=1")]),
        expose: ["web", "clock"]))
    XCTAssertNil(dig(idle, "web", "ports"))
    XCTAssertEqual(dig(idle, "clock", "ports") as? [String], ["127.0.0.1:5200:5200"])
  }

  // MARK: - Warnings

  func testLoopbackReferencesAreFoundWhereTheyStandAlone() {
    let found = { (value: String) in ExportWarnings.loopbackReferences(in: value).map(\.address) }
    XCTAssertEqual(found("redis://127.0.0.1:5100/0"), ["127.0.0.1:5100"])
    XCTAssertEqual(found("postgres://u:p@LOCALHOST:5432/db"), ["LOCALHOST:5432"])
    XCTAssertEqual(found("http://[::1]:5000/"), ["[::1]:5000"])
    XCTAssertEqual(found("localhost:5000,127.0.0.1:5100"), ["127.0.0.1:5100", "localhost:5000"])
    XCTAssertEqual(found("127.0.0.1:5000"), ["127.0.0.1:5000"])
    for value in [
      "mylocalhost:5000", "10.127.0.0.1:5000", "localhost", "localhost:", "localhost:x", "localhost:123456",
      "127.0.0.1:5000a", "db.internal:5000",
    ] {
      XCTAssertEqual(found(value), [], value)
    }
    XCTAssertEqual(ExportWarnings.loopbackReferences(in: "http://localhost:5100").map(\.port), [5100])
  }

  func testReferencesToAnotherTypeOnLoopbackAreWarnedAboutForContainers() throws {
    let project = try exportProject(
      procfile: "web: ./web\nredis: ./redis\nworker: ./work\n",
      env: "REDIS_URL=redis://127.0.0.1:5100/0\nAPI=http://localhost:5001/\nELSEWHERE=http://127.0.0.1:9999\n"
        + "DB_PASSWORD_URL=postgres://u:secretpw@localhost:5200\n",
      options: [("formation", "web=2,redis=1,worker=1")])
    let plan = try exportPlan(project)
    XCTAssertEqual(
      ExportWarnings.all(plan, format: .compose),
      [
        "API points at web on localhost:5001, which is another container under Compose: use its service name, web:5000",
        "DB_PASSWORD_URL points at worker on localhost:5200, which is another container under Compose:"
          + " use its service name, worker:5200",
        "REDIS_URL points at redis on 127.0.0.1:5100, which is another container under Compose:"
          + " use its service name, redis:5100",
      ])
    let kubernetes = ExportWarnings.all(plan, format: .kubernetes)
    XCTAssertEqual(
      kubernetes.first,
      "API points at web on localhost:5001, which is another pod under Kubernetes: use its Service, example-web:5000")
    XCTAssertEqual(
      kubernetes.last,
      "REDIS_URL points at redis on 127.0.0.1:5100, which is another pod under Kubernetes:"
        + " use its Service, example-redis:5100 (export with --expose redis)")
    XCTAssertFalse(kubernetes.joined().contains("secretpw"), "a warning names the variable, never its value")
    XCTAssertEqual(ExportWarnings.all(plan, format: .systemd), [], "units share the host, as under forge")
  }

  func testValuesThatTookTextFromTheShellAreWarnedAbout() throws {
    let env = """
      PATH=/app/bin:${PATH}
      HOMEDIR=$HOME/app
      LITERAL='$HOME'
      BASE=/srv
      DERIVED=${BASE}/data
      DEFAULTED=${UNSET_HERE:-fallback}
      CHAINED=$HOMEDIR/x

      """
    let project = try exportProject(
      procfile: procfile, env: env, environment: [("PATH", "/usr/bin:/bin"), ("HOME", "/home/dev")])
    XCTAssertEqual(project.expandedFromEnvironment, ["PATH", "HOMEDIR", "CHAINED"])
    let plan = try exportPlan(project)
    XCTAssertEqual(dictionary(plan.environment)["PATH"], "/app/bin:/usr/bin:/bin", "the export holds the value")
    XCTAssertEqual(plan.expandedFromShell, ["CHAINED", "HOMEDIR", "PATH"])
    for format in ExportFormat.allCases {
      XCTAssertEqual(
        ExportWarnings.all(plan, format: format),
        ["CHAINED", "HOMEDIR", "PATH"].map {
          "\($0) took text from the environment forge export ran in (a $VARIABLE the env files do not define);"
            + " the export holds this machine's value"
        }, "\(format)")
    }
    // Without those variables in the environment, the same files take nothing from it.
    XCTAssertEqual(try exportProject(procfile: procfile, env: env).expandedFromEnvironment, [])
  }

  // MARK: - Env file keys the environment overrides

  func testEnvFileKeysOverriddenByTheEnvironmentAreWarnedAboutOnce() throws {
    let env = "PATH=/app/bin\nSAME=same\nFILE_ONLY=1\nPATH=/app/bin:/usr/bin\n"
    let environment = [(key: "PATH", value: "/usr/bin"), (key: "SAME", value: "same"), (key: "OTHER", value: "x")]
    let project = try exportProject(procfile: procfile, env: env, environment: environment)
    XCTAssertEqual(project.shadowed.map(\.key), ["PATH"], "a value equal to the file's changes nothing")
    XCTAssertEqual(
      project.warnings,
      ["PATH from .env is overridden by the environment (use --env-override to let the file win)"])
    let overriding = try exportProject(
      procfile: procfile, env: env, options: [("env-override", "")], environment: environment)
    XCTAssertEqual(overriding.warnings, [])
    XCTAssertEqual(overriding.shadowed.map(\.key), [])
  }
}
