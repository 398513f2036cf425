import Foundation
import XCTest

@testable import ForgeCore

/// `forge completion`: the scripts cover every command and option (they are generated from the
/// same `specs` the parser uses), parse in their shell, and complete what they should.
final class CompletionTests: XCTestCase {
  private let shells = ["bash", "zsh", "fish"]

  private func script(_ shell: String) throws -> String {
    try XCTUnwrap(CompletionCommand.script(shell), shell)
  }

  /// The commands the dispatcher runs, `forge help` lists, and the scripts complete are the
  /// same, in the same order, and each has its help (`forge help CMD`, `forge CMD --help`): a
  /// command added to `Forge.commands` without them fails here.
  func testCommandsAreThoseTheDispatcherRunsAndForgeHelpLists() {
    let dispatched = Forge.commands.map(\.name)
    XCTAssertEqual(listedInHelp(), dispatched)
    XCTAssertEqual(CompletionCommand.commands.map(\.name), dispatched)
    for name in dispatched {
      XCTAssertEqual(Help.command(name)?.hasPrefix("Usage: forge \(name)"), true, "no help for \(name)")
    }
    // forge's own: no help, no completion.
    for (name, _) in Forge.internalCommands {
      XCTAssertNil(Help.command(name), name)
      XCTAssertFalse(dispatched.contains(name), name)
    }
  }

  /// Every command has its line in the man page's synopsis and its entry under COMMANDS, and
  /// every option of every command is described there.
  func testManPageHasEveryCommandAndOption() throws {
    let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("docs/forge.1")
    let text = try String(contentsOf: page, encoding: .utf8)
    let synopsis = try section(of: text, from: ".SH SYNOPSIS\n", to: ".SH DESCRIPTION\n")
    let commands = try section(of: text, from: ".SH COMMANDS\n", to: ".SH OPTIONS\n")
    // An entry's tag is the line after `.TP`: a font macro, then the command's name.
    let lines = commands.split(separator: "\n", omittingEmptySubsequences: false)
    let tagged = Set(
      zip(lines, lines.dropFirst()).filter { $0.0 == ".TP" && $0.1.hasPrefix(".B") }.compactMap {
        $0.1.split(separator: " ").dropFirst().first.map(String.init)
      })
    for command in CompletionCommand.commands {
      XCTAssertTrue(synopsis.contains("\n.B forge \(command.name)\n"), "synopsis: \(command.name)")
      XCTAssertTrue(tagged.contains(command.name), "no entry under COMMANDS for \(command.name)")
      for spec in command.specs {
        let roff = { (flag: String) in flag.replacingOccurrences(of: "-", with: "\\-") }
        XCTAssertTrue(text.contains(roff("--\(spec.long)")), "\(command.name) --\(spec.long)")
        if let short = spec.short { XCTAssertTrue(text.contains(roff("-\(short)")), "\(command.name) -\(short)") }
      }
    }
  }

  private func listedInHelp() -> [String] {
    var listed: [String] = []
    var inCommands = false
    for line in Help.main.split(separator: "\n", omittingEmptySubsequences: false) {
      if line == "Commands:" {
        inCommands = true
      } else if inCommands && line.isEmpty {
        break
      } else if inCommands, line.hasPrefix("  "), !line.hasPrefix("   ") {
        listed.append(String(line.dropFirst(2).prefix { $0 != " " }))
      }
    }
    return listed
  }

  func testChoicesAreValuesForgeAccepts() {
    let specs = CompletionCommand.allSpecs
    for spec in specs {
      guard case .choices(let words) = CompletionCommand.value(of: spec) else { continue }
      for word in words {
        switch spec.long {
        case "log-format": XCTAssertNotNil(LogFormat(rawValue: word), word)
        case "restart": XCTAssertNotNil(RestartPolicy.Mode(rawValue: word), word)
        default: XCTFail("choices for --\(spec.long) are not checked")
        }
      }
    }
    XCTAssertEqual(
      CompletionCommand.value(of: Options.restart), .choices(["never", "on-failure", "always"]))
    XCTAssertEqual(CompletionCommand.value(of: Options.root), .directory)
    XCTAssertEqual(CompletionCommand.value(of: Options.procfile), .file)
    XCTAssertEqual(CompletionCommand.value(of: Options.formation), .free)
    XCTAssertEqual(CompletionCommand.value(of: Options.json), Optional(.none))
  }

  func testEveryOptionOfEveryCommandIsInEveryScript() throws {
    let bash = try script("bash")
    let zsh = try script("zsh")
    let fish = try script("fish")
    for command in CompletionCommand.commands {
      let bashArm = try section(of: bash, from: "    \(command.name))\n", to: "      ;;\n")
      let zshArm = try section(of: zsh, from: "    \(command.name))\n", to: "      ;;\n")
      let fishLines = fish.split(separator: "\n").filter { $0.contains("__fish_seen_subcommand_from \(command.name)'") }
      for spec in command.specs {
        XCTAssertTrue(
          bashArm.contains(" --\(spec.long) ") || bashArm.contains(" --\(spec.long)\"")
            || bashArm.contains("\"--\(spec.long) "), "bash \(command.name) --\(spec.long)")
        XCTAssertTrue(zshArm.contains("--\(spec.long)"), "zsh \(command.name) --\(spec.long)")
        XCTAssertTrue(fishLines.contains { $0.contains(" -l \(spec.long) ") }, "fish \(command.name) --\(spec.long)")
        if let short = spec.short {
          XCTAssertTrue(bashArm.contains(" -\(short) ") || bashArm.contains("\"-\(short) "), "bash -\(short)")
          XCTAssertTrue(zshArm.contains("{-\(short)"), "zsh \(command.name) -\(short)")
          XCTAssertTrue(fishLines.contains { $0.contains(" -s \(short) ") }, "fish \(command.name) -\(short)")
        }
      }
    }
    XCTAssertNil(CompletionCommand.script("tcsh"))
  }

  func testScriptsParseInTheirShells() throws {
    var ran = 0
    for shell in shells {
      let text = try script(shell)
      let file = FileManager.default.temporaryDirectory.appendingPathComponent("forge-completion-\(UUID()).\(shell)")
      try Data(text.utf8).write(to: file)
      defer { try? FileManager.default.removeItem(at: file) }
      guard let result = try runTool([shell, "-n", file.path]) else { continue }
      ran += 1
      XCTAssertEqual(result.status, 0, "\(shell): \(result.output)")
      XCTAssertEqual(result.output, "", shell)
    }
    if ran == 0 { throw XCTSkip("none of bash, zsh, fish is installed") }
  }

  /// Sources the bash script and asks it, as bash's programmable completion would.
  func testBashCompletesCommandsOptionsValuesAndProcessTypes() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forge-completion-\(UUID())")
    try FileManager.default.createDirectory(
      at: directory.appendingPathComponent("outdir"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try Data("web: a\nworker_2: b\n".utf8).write(to: directory.appendingPathComponent("Procfile"))
    let cases: [(words: [String], expected: String)] = [
      (["forge", "ex"], "export"),
      (["forge", "export", ""], "systemd kubernetes compose"),
      (["forge", "export", "-m", "web=1", "systemd", "out"], "outdir"),
      (["forge", "export", "--ex"], "--expose"),
      (["forge", "start", ""], "web worker_2"),
      (["forge", "scale", "w"], "web= worker_2="),
      (["forge", "start", "--restart", "o"], "on-failure"),
      (["forge", "start", "--log-format", ""], "text json"),
      (["forge", "completion", ""], "bash zsh fish"),
      (["forge", "help", "st"], "start stop"),
      (["forge", "help", "l"], "logs"),
      (["forge", "logs", ""], "web worker_2"),
      // -f is --follow for logs: no file name follows it.
      (["forge", "logs", "-f", ""], "web worker_2"),
      (["forge", "start", "-f", "Procfile", ""], "web worker_2"),
      (["forge", "attach", "--st"], "--steal"),
      (["forge", "events", "--"], "--procfile --root --env --socket --json --help"),
      (["forge", "stop", ""], ""),
    ]
    var program = try script("bash") + "\ncd \(directory.path)\n"
    for (words, _) in cases {
      let quoted = words.map { "'\($0)'" }.joined(separator: " ")
      program += "COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1); COMPREPLY=(); _forge 2>/dev/null; "
      program += "echo \"${COMPREPLY[*]}\"\n"
    }
    guard let result = try runTool(["bash", "-c", program]) else { throw XCTSkip("bash is not installed") }
    XCTAssertEqual(result.status, 0, result.output)
    let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    for (index, (words, expected)) in cases.enumerated() {
      XCTAssertEqual(index < lines.count ? lines[index] : nil, expected, "\(words)")
    }
  }

  private func section(of text: String, from start: String, to end: String) throws -> Substring {
    let begin = try XCTUnwrap(text.range(of: start), "no \(start)")
    let finish = try XCTUnwrap(text.range(of: end, range: begin.upperBound..<text.endIndex), "no end after \(start)")
    return text[begin.lowerBound..<finish.upperBound]
  }
}
