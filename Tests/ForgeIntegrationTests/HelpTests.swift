import XCTest

/// `forge help`, `forge help COMMAND` and `forge COMMAND --help` through the binary, for every
/// command `forge help` lists (CompletionTests holds that list to the dispatcher's).
final class HelpTests: ForgeTestCase {
  /// The command names of `forge help`'s Commands section.
  private func listed(_ help: String) -> [String] {
    let section = help.components(separatedBy: "\nCommands:\n").last?.components(separatedBy: "\n\n").first ?? ""
    return section.split(separator: "\n").filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }.map {
      String($0.dropFirst(2).prefix { $0 != " " })
    }
  }

  func testEveryCommandHasHelpBothWays() throws {
    let project = try makeProject()
    let main = try runForge(["help"], in: project)
    XCTAssertEqual(main.status, 0, main.stderr)
    let commands = listed(main.stdout)
    for name in ["start", "logs", "events", "attach", "top", "export", "help", "version"] {
      XCTAssertTrue(commands.contains(name), "forge help does not list \(name): \(commands)")
    }
    for name in commands {
      let help = try runForge(["help", name], in: project)
      XCTAssertEqual(help.status, 0, "forge help \(name): \(help.stderr)")
      XCTAssertTrue(help.stdout.hasPrefix("Usage: forge \(name)"), "forge help \(name): \(help.stdout)")
      let option = try runForge([name, "--help"], in: project)
      XCTAssertEqual(option.status, 0, "forge \(name) --help: \(option.stderr)")
      XCTAssertEqual(option.stdout, help.stdout, "forge \(name) --help")
    }
  }

  func testUnknownCommandIsAUsageError() throws {
    let project = try makeProject()
    for arguments in [["help", "nope"], ["nope"]] {
      let result = try runForge(arguments, in: project)
      XCTAssertEqual(result.status, 2, "\(arguments)")
      XCTAssertEqual(result.stderrLines.first, "forge: unknown command 'nope'", "\(arguments)")
    }
  }
}
