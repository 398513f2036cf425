import XCTest

@testable import ForgeCore

final class SettingsTests: XCTestCase {
  private func resolve(
    _ options: [(String, String)] = [], env: [String: String] = [:], cwd: String = "/app"
  ) throws -> Settings {
    var values = OptionValues()
    for (name, value) in options { values.add(name, value) }
    return try Settings.resolve(
      options: values, environment: env.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
      workingDirectory: cwd)
  }

  func testDefaults() throws {
    let settings = try resolve()
    XCTAssertEqual(settings.procfilePath, "Procfile")
    XCTAssertEqual(settings.root, "/app")
    XCTAssertEqual(settings.envPaths, [".env"])
    XCTAssertFalse(settings.envPathsExplicit)
    XCTAssertEqual(settings.formation, Formation.default)
    XCTAssertEqual(settings.formationSource, "--formation")
    XCTAssertNil(settings.portOverride)
    XCTAssertEqual(settings.timeoutSeconds, 5)
    XCTAssertFalse(settings.envOverride)
    XCTAssertNil(settings.color)
    XCTAssertNil(settings.timestamps)
    XCTAssertEqual(settings.logFormat, .text)
    XCTAssertEqual(settings.ttyTypes, [])
    XCTAssertEqual(settings.socketPath, "/app/.forge.sock")
  }

  func testEnvironmentIsKeptInOrder() throws {
    let settings = try Settings.resolve(
      options: OptionValues(), environment: [("B", "2"), ("A", "1")], workingDirectory: "/")
    XCTAssertEqual(settings.environment.map(\.key), ["B", "A"])
  }

  func testProcfileInAnotherDirectorySetsTheRoot() throws {
    let settings = try resolve([("procfile", "sub/../deploy/Procfile.dev")])
    XCTAssertEqual(settings.procfilePath, "sub/../deploy/Procfile.dev")
    XCTAssertEqual(settings.root, "/app/deploy")
    XCTAssertEqual(settings.envPaths, ["/app/deploy/.env"])
    XCTAssertEqual(settings.socketPath, "/app/deploy/.forge.sock")
  }

  func testAbsoluteProcfile() throws {
    let settings = try resolve([("procfile", "/srv/site/Procfile")])
    XCTAssertEqual(settings.root, "/srv/site")
    XCTAssertEqual(settings.envPaths, ["/srv/site/.env"])
  }

  func testRootOption() throws {
    let settings = try resolve([("root", "../other/")], cwd: "/work/app")
    XCTAssertEqual(settings.root, "/work/other")
    XCTAssertEqual(settings.procfilePath, "../other/Procfile")
    XCTAssertEqual(settings.envPaths, ["/work/other/.env"])
    XCTAssertEqual(settings.socketPath, "/work/other/.forge.sock")
  }

  func testRootAndProcfileTogether() throws {
    let settings = try resolve([("root", "/srv"), ("procfile", "conf/Procfile")])
    XCTAssertEqual(settings.root, "/srv")
    XCTAssertEqual(settings.procfilePath, "conf/Procfile")
  }

  func testExplicitEnvFiles() throws {
    let settings = try resolve([("env", " a.env, b.env ,, /etc/c.env")])
    XCTAssertEqual(settings.envPaths, ["a.env", "b.env", "/etc/c.env"])
    XCTAssertTrue(settings.envPathsExplicit)
    let fromVariable = try resolve(env: ["FORGE_ENV": "x.env"])
    XCTAssertEqual(fromVariable.envPaths, ["x.env"])
    XCTAssertTrue(fromVariable.envPathsExplicit)
  }

  func testFlagsWinOverVariablesAndEmptyVariablesAreIgnored() throws {
    XCTAssertEqual(try resolve([("port", "6000")], env: ["FORGE_PORT": "7000"]).portOverride, 6000)
    XCTAssertEqual(try resolve(env: ["FORGE_PORT": "7000"]).portOverride, 7000)
    XCTAssertNil(try resolve(env: ["FORGE_PORT": ""]).portOverride)
    XCTAssertEqual(try resolve(env: ["FORGE_PROCFILE": "P2"]).procfilePath, "P2")
    XCTAssertEqual(try resolve([("procfile", "P1")], env: ["FORGE_PROCFILE": "P2"]).procfilePath, "P1")
  }

  func testTheLastOfARepeatedOptionWins() throws {
    XCTAssertEqual(try resolve([("port", "6000"), ("port", "6100")]).portOverride, 6100)
  }

  func testPortRange() throws {
    XCTAssertEqual(try resolve([("port", "1")]).portOverride, 1)
    XCTAssertEqual(try resolve([("port", "65535")]).portOverride, 65535)
    for bad in ["0", "65536", "-1", "abc", "80x", "1.5"] {
      assertConfigError(try resolve([("port", bad)]), line: 0, path: "--port", bad)
    }
    assertConfigError(try resolve(env: ["FORGE_PORT": "99999"]), line: 0, path: "FORGE_PORT")
  }

  func testTimeout() throws {
    XCTAssertEqual(try resolve([("timeout", "2.5")]).timeoutSeconds, 2.5)
    XCTAssertEqual(try resolve([("timeout", "0")]).timeoutSeconds, 0)
    XCTAssertEqual(try resolve(env: ["FORGE_TIMEOUT": "12"]).timeoutSeconds, 12)
    for bad in ["-1", "abc", "inf", "nan", ""] {
      assertConfigError(try resolve([("timeout", bad)]), line: 0, path: "--timeout", bad)
    }
  }

  func testLogFormat() throws {
    XCTAssertEqual(try resolve([("log-format", "json")]).logFormat, .json)
    XCTAssertEqual(try resolve(env: ["FORGE_LOG_FORMAT": "json"]).logFormat, .json)
    assertConfigError(try resolve([("log-format", "xml")]), line: 0, path: "--log-format", mentioning: "text or json")
  }

  func testFormationAndItsSource() throws {
    let settings = try resolve(env: ["FORGE_FORMATION": "web=2"])
    XCTAssertEqual(settings.formation, Formation(counts: [("web", 2)], all: nil))
    XCTAssertEqual(settings.formationSource, "FORGE_FORMATION")
    XCTAssertEqual(try resolve([("formation", "all=3")]).formationSource, "--formation")
    assertConfigError(try resolve(env: ["FORGE_FORMATION": "web"]), line: 0, path: "FORGE_FORMATION")
    assertConfigError(try resolve([("formation", "web=x")]), line: 0, path: "--formation")
  }

  func testBooleanFlags() throws {
    XCTAssertEqual(try resolve([("color", "")]).color, true)
    XCTAssertEqual(try resolve([("no-color", "")]).color, false)
    XCTAssertEqual(try resolve([("no-color", "")], env: ["FORGE_COLOR": "1"]).color, false, "the flag wins")
    XCTAssertEqual(try resolve([("timestamp", "")]).timestamps, true)
    XCTAssertEqual(try resolve([("no-timestamp", "")]).timestamps, false)
    XCTAssertEqual(try resolve([("env-override", "")]).envOverride, true)
    for yes in ["1", "true", "TRUE", "yes", "On"] {
      XCTAssertEqual(try resolve(env: ["FORGE_COLOR": yes]).color, true, yes)
    }
    for no in ["0", "false", "No", "off"] {
      XCTAssertEqual(try resolve(env: ["FORGE_TIMESTAMP": no]).timestamps, false, no)
    }
    XCTAssertEqual(try resolve(env: ["FORGE_ENV_OVERRIDE": "yes"]).envOverride, true)
    XCTAssertNil(try resolve(env: ["FORGE_COLOR": ""]).color)
    assertConfigError(try resolve(env: ["FORGE_COLOR": "maybe"]), line: 0, path: "FORGE_COLOR", mentioning: "maybe")
  }

  func testTTYTypes() throws {
    XCTAssertEqual(try resolve([("tty", "web, worker")]).ttyTypes, ["web", "worker"])
    XCTAssertEqual(try resolve(env: ["FORGE_TTY": "web"]).ttyTypes, ["web"])
  }

  func testSocketPath() throws {
    XCTAssertEqual(try resolve([("socket", "run/forge.sock")]).socketPath, "/app/run/forge.sock")
    XCTAssertEqual(try resolve(env: ["FORGE_SOCKET": "/tmp/f.sock"]).socketPath, "/tmp/f.sock")
  }

  func testEnvironmentNames() {
    XCTAssertEqual(Settings.environmentName("env-override"), "FORGE_ENV_OVERRIDE")
    XCTAssertEqual(Settings.environmentName("procfile"), "FORGE_PROCFILE")
  }

  func testLookupTellsTheSource() {
    var options = OptionValues()
    options.add("port", "1")
    let none = Variables(environment: []) { _ in true }
    let environment = Variables(environment: [("FORGE_TIMEOUT", "3")]) { _ in true }
    XCTAssertEqual(Settings.lookup("port", options, none)?.source, "--port")
    XCTAssertEqual(Settings.lookup("timeout", options, environment)?.source, "FORGE_TIMEOUT")
    XCTAssertEqual(Settings.lookup("timeout", options, environment)?.value, "3")
    XCTAssertNil(Settings.lookup("timeout", options, none))
  }

  /// `.forge` ranks below the environment, and its values name their line.
  func testSettingsFileRanksBelowTheEnvironment() throws {
    let file = try SettingsFile.parse(
      Array("# project settings\nFORGE_TIMEOUT=7\nexport FORGE_PORT=6000\n".utf8), path: ".forge",
      known: ["FORGE_TIMEOUT", "FORGE_PORT"])
    let variables = Variables(environment: [("FORGE_PORT", "7000")], file: file) { _ in true }
    let options = OptionValues()
    XCTAssertEqual(Settings.lookup("timeout", options, variables)?.value, "7")
    XCTAssertEqual(Settings.lookup("timeout", options, variables)?.source, ".forge:2")
    XCTAssertEqual(Settings.lookup("port", options, variables)?.value, "7000")
    XCTAssertEqual(Settings.lookup("port", options, variables)?.source, "FORGE_PORT")
  }

  func testSettingsFileRefusesUnknownKeys() {
    XCTAssertThrowsError(
      try SettingsFile.parse(
        Array("FORGE_TIMEOUT=1\n\nFORGE_TIMEOT=2\n".utf8), path: ".forge", known: ["FORGE_TIMEOUT"])
    ) { error in
      XCTAssertEqual("\(error)", ".forge:3: unknown setting FORGE_TIMEOT")
    }
    XCTAssertThrowsError(try SettingsFile.parse(Array("DATABASE_URL=x\n".utf8), path: ".forge", known: [])) { error in
      XCTAssertTrue("\(error)".hasPrefix(".forge:1: expected a FORGE_ setting, got DATABASE_URL"), "\(error)")
    }
  }

  func testOptionValues() {
    var options = OptionValues()
    XCTAssertFalse(options.has("env"))
    options.add("env", "a")
    options.add("env", "b")
    XCTAssertTrue(options.has("env"))
    XCTAssertEqual(options.last("env"), "b")
    XCTAssertEqual(options.all("env"), ["a", "b"])
    XCTAssertEqual(options.all("port"), [])
  }
}
