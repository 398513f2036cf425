import Foundation
import XCTest

@testable import ForgeCore

// Readers for what `forge export` writes, written from each consumer's documented rules, so the
// tests check the files the way systemd, Kubernetes and Compose will read them.

/// The secrets directory of `exportProject(secrets:)`.
let exportSecretsDirectory = "/run/secrets/example"

/// Builds a project in memory: the Procfile and `.env` of an app rooted at `root`; `secrets`
/// are the files of a secrets directory (`--secrets`, `exportSecretsDirectory`), `files` other
/// files by absolute path (`X_FILE` references), `environment` forge's own environment.
func exportProject(
  procfile: String, env: String? = nil, options: [(String, String)] = [], root: String = "/srv/app",
  secrets: [String: String]? = nil, files: [String: String] = [:], environment: [(key: String, value: String)] = []
) throws -> Project {
  var values = OptionValues()
  values.add("root", root)
  if secrets != nil { values.add("secrets", exportSecretsDirectory) }
  for (name, value) in options { values.add(name, value) }
  let settings = try Settings.resolve(options: values, environment: environment, workingDirectory: root)
  let list = { (directory: String) -> [String]? in
    directory == exportSecretsDirectory ? secrets.map { $0.keys.sorted() } : nil
  }
  return try Project.load(settings, list: list) { path in
    if path == Path.join(root, "Procfile") { return .ok(bytes(procfile)) }
    if path == ".env", let env { return .ok(bytes(env)) }
    if path.hasPrefix(exportSecretsDirectory + "/"),
      let value = secrets?[String(path.dropFirst(exportSecretsDirectory.count + 1))]
    {
      return .ok(bytes(value))
    }
    if let text = files[path] { return .ok(bytes(text)) }
    return .missing
  }
}

/// `probes` are `forge start`'s options (`("ready", "web=port")`, `("after", …)`), read as
/// `forge export` reads them, with `environment` as the FORGE_ variables.
func exportPlan(
  _ project: Project, app: String = "example", directory: String = "/etc/systemd/system", user: String? = nil,
  image: String? = nil, restart: String? = nil, expose: [String] = ["web"], probes: [(String, String)] = [],
  environment: [(key: String, value: String)] = []
) throws -> ExportPlan {
  var policy = RestartPolicy()
  if let restart { try policy.apply(restart, source: "--restart") }
  var options = OptionValues()
  for (name, value) in probes { options.add(name, value) }
  let variables = Variables(environment: environment) { _ in true }
  return try ExportPlan(
    project: project, app: app, directory: directory, user: user, image: image, restart: policy, expose: expose,
    exposeSource: nil, probes: try ExportCommand.probes(options, variables, project))
}

/// The file at `path` among `files`.
func exportFile(_ files: [ExportFile], _ path: String, file: StaticString = #filePath, line: UInt = #line) throws
  -> ExportFile
{
  try XCTUnwrap(files.first { $0.path == path }, "no \(path) in \(files.map(\.path))", file: file, line: line)
}

// MARK: - systemd

/// A unit file as (section, key, value) entries in order. Comments (`#`, `;`) and blank lines
/// are skipped; a line outside a section or without `=` fails the test.
struct UnitFile {
  var entries: [(section: String, key: String, value: String)] = []

  init(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
    var section = ""
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let current = raw.trimmingCharacters(in: .whitespaces)
      if current.isEmpty || current.hasPrefix("#") || current.hasPrefix(";") { continue }
      if current.hasPrefix("[") && current.hasSuffix("]") {
        section = String(current.dropFirst().dropLast())
        continue
      }
      guard !section.isEmpty, let eq = current.firstIndex(of: "=") else {
        XCTFail("not a unit file line: \(current)", file: file, line: line)
        continue
      }
      entries.append((section, String(current[..<eq]), String(current[current.index(after: eq)...])))
    }
  }

  func values(_ section: String, _ key: String) -> [String] {
    entries.filter { $0.section == section && $0.key == key }.map(\.value)
  }

  func value(_ section: String, _ key: String) -> String? {
    let all = values(section, key)
    return all.count == 1 ? all[0] : nil
  }

  var sections: [String] {
    var seen: [String] = []
    for entry in entries where !seen.contains(entry.section) { seen.append(entry.section) }
    return seen
  }
}

enum SystemdReader {
  /// What `/bin/sh -c` receives from an `ExecStart=/bin/sh -c "…"` line, as systemd reads it:
  /// specifiers (`%%`) on the raw line, then one double-quoted word with C escapes, then `$$`.
  /// nil when the line uses anything else (another specifier, a variable, a bad escape).
  static func shellCommand(_ execStart: String) -> String? {
    let prefix = "/bin/sh -c \""
    guard execStart.hasPrefix(prefix), execStart.hasSuffix("\"") else { return nil }
    guard let body = specifiers(String(execStart.dropFirst(prefix.count).dropLast())) else { return nil }
    var word = ""
    var characters = body.unicodeScalars.makeIterator()
    while let c = characters.next() {
      if c == "\"" { return nil }  // the word would end early
      guard c == "\\" else {
        word.unicodeScalars.append(c)
        continue
      }
      switch characters.next() {
      case "\\": word += "\\"
      case "\"": word += "\""
      case "t": word += "\t"
      case "n": word += "\n"
      case "r": word += "\r"
      case "x":
        guard let high = characters.next(), let low = characters.next(),
          let value = UInt8(String([Character(high), Character(low)]), radix: 16)
        else { return nil }
        word.unicodeScalars.append(Unicode.Scalar(value))
      default: return nil
      }
    }
    return variables(word)
  }

  /// `%%` → `%`; any other specifier is not ours.
  private static func specifiers(_ text: String) -> String? {
    var out = ""
    var characters = text.makeIterator()
    while let c = characters.next() {
      if c == "%" {
        guard characters.next() == "%" else { return nil }
      }
      out.append(c)
    }
    return out
  }

  /// `$$` → `$`; a `$` starting a variable reference would be expanded by systemd.
  private static func variables(_ text: String) -> String? {
    var out = ""
    var characters = text.makeIterator()
    while let c = characters.next() {
      if c == "$" {
        guard characters.next() == "$" else { return nil }
      }
      out.append(c)
    }
    return out
  }

  /// An EnvironmentFile as systemd's env-file parser reads `KEY="value"` lines: inside double
  /// quotes a backslash before `"`, `\`, `` ` `` or `$` is dropped, before a newline both go,
  /// before anything else it stays.
  static func environmentFile(_ text: String) -> [(key: String, value: String)]? {
    var pairs: [(String, String)] = []
    var characters = Array(text.unicodeScalars)[...]
    while let first = characters.first {
      if first == "\n" {
        characters = characters.dropFirst()
        continue
      }
      if first == "#" {
        while let c = characters.first, c != "\n" { characters = characters.dropFirst() }
        continue
      }
      var key = ""
      while let c = characters.first, c != "=" {
        if c == "\n" { return nil }
        key.unicodeScalars.append(c)
        characters = characters.dropFirst()
      }
      characters = characters.dropFirst()  // =
      guard characters.first == "\"" else { return nil }
      characters = characters.dropFirst()
      var value = ""
      var closed = false
      while let c = characters.popFirst() {
        if c == "\"" {
          closed = true
          break
        }
        if c == "\\", let next = characters.popFirst() {
          if "\"\\`$".unicodeScalars.contains(next) {
            value.unicodeScalars.append(next)
          } else if next != "\n" {
            value += "\\"
            value.unicodeScalars.append(next)
          }
          continue
        }
        value.unicodeScalars.append(c)
      }
      guard closed, characters.first == nil || characters.first == "\n" else { return nil }
      pairs.append((key, value))
    }
    return pairs
  }
}

// MARK: - Compose

enum ComposeReader {
  /// A Compose env file as compose-go (v2) reads the lines forge writes: `KEY='literal'`, or
  /// `KEY="…"` where `\"` drops its backslash, then `\\ \n \r \$` are unescaped and a `$`
  /// that is not escaped would be interpolated (nil then).
  static func environmentFile(_ text: String) -> [(key: String, value: String)]? {
    var pairs: [(String, String)] = []
    var rest = Array(text.unicodeScalars)[...]
    while let first = rest.first {
      if first == "\n" {
        rest = rest.dropFirst()
        continue
      }
      if first == "#" {
        while let c = rest.first, c != "\n" { rest = rest.dropFirst() }
        continue
      }
      var key = ""
      while let c = rest.popFirst(), c != "=" { key.unicodeScalars.append(c) }
      guard let quote = rest.popFirst(), quote == "'" || quote == "\"" else { return nil }
      var raw = ""
      var escaped = false
      var closed = false
      while let c = rest.popFirst() {
        if escaped {
          escaped = false
          if c != quote { raw += "\\" }
          raw.unicodeScalars.append(c)
          continue
        }
        if c == "\\" {
          escaped = true
        } else if c == quote {
          closed = true
          break
        } else {
          raw.unicodeScalars.append(c)
        }
      }
      guard closed else { return nil }
      if quote == "'" {
        pairs.append((key, raw))
        continue
      }
      var value = ""
      var characters = raw.unicodeScalars.makeIterator()
      while let c = characters.next() {
        if c == "$" { return nil }
        guard c == "\\" else {
          value.unicodeScalars.append(c)
          continue
        }
        switch characters.next() {
        case "\\": value += "\\"
        case "n": value += "\n"
        case "r": value += "\r"
        case "$": value += "$"
        case "\"": value += "\""
        // forge writes no other escape; compose-go would turn `\t`, `\0…` into other characters.
        default: return nil
        }
      }
      pairs.append((key, value))
    }
    return pairs
  }
}
